package report

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFingerprint(t *testing.T) {
	s := testSigner(t, 1)
	pub := s.key.Public().(ed25519.PublicKey)
	fp := Fingerprint(pub)
	if got, want := len(fp), 64; got != want {
		t.Fatalf("got %d characters, want %d", got, want)
	}
	if got, want := fp[:16], s.KeyID(); got != want {
		t.Errorf("got key id %s from the fingerprint, want %s", got, want)
	}
	if got, want := Fingerprint(testSigner(t, 2).key.Public().(ed25519.PublicKey)) == fp, false; got != want {
		t.Errorf("two keys share fingerprint %s", fp)
	}
}

func TestVerifier_Pin(t *testing.T) {
	a, b := testSigner(t, 1), testSigner(t, 2)
	both := NewVerifier(a.key.Public().(ed25519.PublicKey), b.key.Public().(ed25519.PublicKey))
	signed := mustSign(t, sampleReport(t), a)
	fpA := Fingerprint(a.key.Public().(ed25519.PublicKey))
	for name, pin := range map[string]string{"fingerprint": fpA, "key id": a.KeyID(), "upper case": strings.ToUpper(fpA)} {
		t.Run(name, func(t *testing.T) {
			v, err := both.Pin(pin)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := v.KeyIDs(), []string{a.KeyID()}; len(got) != 1 || got[0] != want[0] {
				t.Fatalf("got keys %v, want %v", got, want)
			}
			if _, err := Verify(signed, v); err != nil {
				t.Errorf("Verify with the pinned key: %v", err)
			}
			if _, err := Verify(mustSign(t, sampleReport(t), b), v); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("a report of the other key: got %v, want ErrUnknownKey", err)
			}
		})
	}
	t.Run("another key", func(t *testing.T) {
		only := NewVerifier(b.key.Public().(ed25519.PublicKey))
		if _, err := only.Pin(fpA); !errors.Is(err, ErrKeyNotPinned) {
			t.Fatalf("got %v, want ErrKeyNotPinned", err)
		}
	})
	for name, pin := range map[string]string{"empty": "", "short": fpA[:15], "not hex": strings.Repeat("z", 64), "between": fpA[:32]} {
		t.Run("malformed "+name, func(t *testing.T) {
			if _, err := both.Pin(pin); !errors.Is(err, ErrBadKeyID) {
				t.Fatalf("got %v, want ErrBadKeyID", err)
			}
		})
	}
}

// historyT saves a report signed by testSigner 1 in the drill history
// lab/drills, writes its public key to lab/drill.pub and returns the
// report's path.
func historyT(tb testing.TB, lab string) string {
	tb.Helper()
	s := testSigner(tb, 1)
	writePubT(tb, s, filepath.Join(lab, PubFile))
	path, err := History{Dir: filepath.Join(lab, "drills")}.Save(sampleReport(tb), s)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

func writePubT(tb testing.TB, s *Signer, path string) {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(s.key.Public())
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestReportTree(t *testing.T) {
	lab := t.TempDir()
	path := historyT(t, lab)
	got, err := ReportTree(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(lab, "drills"); got != want {
		t.Errorf("in a drill history: got %s, want the history %s", got, want)
	}
	lone := filepath.Join(t.TempDir(), "audit", ReportFile)
	got, err = ReportTree(lone)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Dir(lone); got != want {
		t.Errorf("a lone report: got %s, want its directory %s", got, want)
	}
}

func TestFindPublicKey(t *testing.T) {
	t.Run("above the history", func(t *testing.T) {
		lab := t.TempDir()
		got, err := FindPublicKey(historyT(t, lab))
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(lab, PubFile); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})
	for _, place := range []string{"beside the report", "in the history"} {
		t.Run("refused "+place, func(t *testing.T) {
			lab := t.TempDir()
			path := historyT(t, lab)
			dir := filepath.Dir(path)
			if place == "in the history" {
				dir = filepath.Dir(dir)
			}
			planted := filepath.Join(dir, PubFile)
			writePubT(t, testSigner(t, 9), planted)
			_, err := FindPublicKey(path)
			if !errors.Is(err, ErrKeyInReportTree) {
				t.Fatalf("got %v, want ErrKeyInReportTree", err)
			}
			if !strings.Contains(err.Error(), planted) {
				t.Errorf("got %q, want it to name %s", err, planted)
			}
		})
	}
	t.Run("refused beside a lone report", func(t *testing.T) {
		dir := t.TempDir()
		writePubT(t, testSigner(t, 9), filepath.Join(dir, PubFile))
		if _, err := FindPublicKey(filepath.Join(dir, ReportFile)); !errors.Is(err, ErrKeyInReportTree) {
			t.Fatalf("got %v, want ErrKeyInReportTree", err)
		}
	})
	t.Run("refused through a symbolic link", func(t *testing.T) {
		dir := t.TempDir()
		writePubT(t, testSigner(t, 9), filepath.Join(dir, PubFile))
		if err := os.WriteFile(filepath.Join(dir, ReportFile), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(t.TempDir(), ReportFile)
		if err := os.Symlink(filepath.Join(dir, ReportFile), link); err != nil {
			t.Fatal(err)
		}
		if _, err := FindPublicKey(link); !errors.Is(err, ErrKeyInReportTree) {
			t.Fatalf("got %v, want ErrKeyInReportTree", err)
		}
	})
	t.Run("none", func(t *testing.T) {
		if _, err := FindPublicKey(filepath.Join(t.TempDir(), "a", "b", ReportFile)); !errors.Is(err, ErrNoPublicKey) {
			t.Fatalf("got %v, want ErrNoPublicKey", err)
		}
	})
}

func TestWithin(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "lab", "drills"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "lab"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, dir string
		want      bool
	}{
		{"lab/secrets", "lab", true},
		{"lab", "lab", true},
		{"lab/secrets", "lab/drills", false},
		{"lab-2/secrets", "lab", false},
		{"lab/secrets", "link", true},
		{"link/secrets/new", "lab/", true},
		{"lab", "lab/drills", false},
	} {
		got, err := Within(filepath.Join(root, c.path), filepath.Join(root, c.dir))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("Within(%s, %s): got %v, want %v", c.path, c.dir, got, c.want)
		}
	}
}
