//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLab_FullDisk: one site's data directory sits on a small tmpfs that
// fills up under load. The site must stop (Pebble does not go on after a
// failed write) and say why; the two others keep committing, no
// acknowledged write is lost, and once the site's data is moved back to a
// roomy disk it restarts and catches up.
func TestLab_FullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs as a site's data directory (CI runs as root)")
	}
	l := upLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	leader, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	victim := followerOf(l, leader)
	vn, _ := l.Node(victim)

	// Move the victim's data onto a 16 MiB tmpfs.
	if err := l.Kill(victim, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitExit(ctx, victim); err != nil {
		t.Fatal(err)
	}
	saved := vn.DataDir + ".saved"
	if err := os.Rename(vn.DataDir, saved); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(vn.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", vn.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	mounted := true
	defer func() {
		if mounted {
			_ = exec.Command("umount", "-l", vn.DataDir).Run()
		}
	}()
	if out, err := exec.Command("cp", "-a", saved+"/.", vn.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("copy data onto tmpfs: %v: %s", err, out)
	}
	if err := l.Start(victim); err != nil {
		t.Fatal(err)
	}
	l, _ = reload(t, l.Dir)

	ld := newLoader(t, l)
	stop := ld.start(ctx, 32, 400000)

	// The victim must stop by itself once its disk is full.
	if err := l.WaitExit(ctx, victim); err != nil {
		stop()
		t.Fatalf("site %s on a full disk kept running: %v", victim, err)
	}
	logb, _ := os.ReadFile(vn.Log)
	if !strings.Contains(string(logb), "no space left on device") {
		t.Errorf("site %s stopped, but its log does not say the disk is full", victim)
	}
	base := ld.ackedCount()
	waitAcked(t, ld, base+300) // the two other sites go on
	stop()
	ld.verify(t, leader)

	// Back on a roomy disk (as an operator would), the site catches up.
	if out, err := exec.Command("cp", "-a", vn.DataDir+"/.", saved).CombinedOutput(); err != nil {
		t.Fatalf("copy data back: %v: %s", err, out)
	}
	if out, err := exec.Command("umount", vn.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
	mounted = false
	if err := os.Remove(vn.DataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(saved, vn.DataDir); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(victim); err != nil {
		t.Fatal(err)
	}
	waitStatusConverged(t, l)
	ld.verify(t, victim)
}
