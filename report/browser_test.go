//go:build browser

package report

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestBrowser_screenshot opens a drill's report.html in headless Chromium
// and checks the screenshot for the chart's two series and the checks
// table's pass and fail rows, by their fixed colours. Run it with
//
//	go test -tags browser -run Browser ./report/
//
// Set JUMEAU_REPORT_SCREENSHOT=path to keep the PNG.
func TestBrowser_screenshot(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (%v): apt-get install -y chromium (or scripts/need-chromium.sh)", err)
	}
	dir := t.TempDir()
	path, err := History{Dir: filepath.Join(dir, "drills")}.Save(sampleReport(t), testSigner(t, 1))
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	page := filepath.Join(filepath.Dir(path), HTMLFile)
	shot := filepath.Join(dir, "shot.png")
	out := runChromium(t, bin, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
		"--force-device-scale-factor=1", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--screenshot="+shot, "--window-size=1280,1600", "file://"+page)
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v\n%s", err, out)
	}
	if keep := os.Getenv("JUMEAU_REPORT_SCREENSHOT"); keep != "" {
		if err := os.WriteFile(keep, data, 0o644); err != nil {
			t.Fatalf("keep screenshot: %v", err)
		}
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if got, want := img.Bounds().Dx(), 1280; got != want {
		t.Fatalf("screenshot width: got %d, want %d", got, want)
	}
	found := map[string]colourHits{}
	for _, c := range []struct {
		name, hex string
		min       int // pixels at least
	}{
		{"acked series", ColorAcked, 500},    // ~1000 px of a 2.5 px line
		{"lag series", ColorLag, 200},        // ~300 px (the lag ends at the fault)
		{"passed rows", ColorPassRow, 20000}, // 4 rows of ~1150 x 25 px
		{"failed row", ColorFailRow, 5000},   // 1 row
		{"FAIL badge", ColorFail, 300},
	} {
		h := countColour(img, mustHex(t, c.hex), 3)
		t.Logf("%s %s: %d pixels, rows %d-%d", c.name, c.hex, h.n, h.minY, h.maxY)
		if h.n < c.min {
			t.Errorf("%s (%s): %d pixels, want at least %d: the page did not render it", c.name, c.hex, h.n, c.min)
		}
		found[c.name] = h
	}
	// The checks table is above the chart, as the page lays them out.
	if rows, acked := found["failed row"], found["acked series"]; rows.n > 0 && acked.n > 0 && rows.maxY >= acked.minY {
		t.Errorf("checks table (rows %d-%d) is not above the chart (from row %d)", rows.minY, rows.maxY, acked.minY)
	}
}

// runChromium runs chromium in its own process group, killed whole after
// a minute, and returns its output.
func runChromium(tb testing.TB, bin string, args ...string) []byte {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "HOME="+tb.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	// Helpers chromium forked may outlive it: end the group.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err != nil {
		tb.Fatalf("chromium: %v\n%s", err, out.Bytes())
	}
	return out.Bytes()
}

type colourHits struct{ n, minY, maxY int }

// countColour counts the pixels of img within tol of want on every channel.
func countColour(img image.Image, want [3]uint8, tol int) colourHits {
	h := colourHits{minY: -1, maxY: -1}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r>>8, want[0], tol) && near(g>>8, want[1], tol) && near(bl>>8, want[2], tol) {
				if h.n == 0 {
					h.minY = y
				}
				h.n++
				h.maxY = y
			}
		}
	}
	return h
}

func near(v uint32, want uint8, tol int) bool {
	d := int(v) - int(want)
	return d >= -tol && d <= tol
}

func mustHex(tb testing.TB, s string) [3]uint8 {
	tb.Helper()
	if len(s) != 7 || s[0] != '#' {
		tb.Fatalf("colour %q is not #rrggbb", s)
	}
	var c [3]uint8
	for i := range c {
		v, err := strconv.ParseUint(s[1+2*i:3+2*i], 16, 8)
		if err != nil {
			tb.Fatalf("colour %q: %v", s, fmt.Errorf("channel %d: %w", i, err))
		}
		c[i] = uint8(v)
	}
	return c
}
