package report

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHistory_Save(t *testing.T) {
	s := testSigner(t, 1)
	h := History{Dir: filepath.Join(t.TempDir(), "drills")}
	r := sampleReport(t)
	path, err := h.Save(r, s)
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	if got, want := path, filepath.Join(h.Dir, "20260314T091502Z-earthquake-total", ReportFile); got != want {
		t.Fatalf("path: got %s, want %s", got, want)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(data, s.Verifier())
	if err != nil {
		t.Fatalf("Verify of the saved report: %v", err)
	}
	if got.Scenario != r.Scenario {
		t.Fatalf("scenario: got %q, want %q", got.Scenario, r.Scenario)
	}
	page, err := os.ReadFile(filepath.Join(filepath.Dir(path), HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"earthquake-total", s.KeyID(), "<svg"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("%s does not contain %q", HTMLFile, want)
		}
	}
	leftovers, err := filepath.Glob(filepath.Join(h.Dir, ".tmp-*"))
	if err != nil || len(leftovers) != 0 {
		t.Fatalf("temporary directories left: %v %v", leftovers, err)
	}

	t.Run("same second", func(t *testing.T) {
		second, err := h.Save(r, s)
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
		if got, want := filepath.Base(filepath.Dir(second)), "20260314T091502Z-earthquake-total-2"; got != want {
			t.Fatalf("directory: got %s, want %s", got, want)
		}
	})
	t.Run("hostile scenario name", func(t *testing.T) {
		r := sampleReport(t)
		r.Scenario = "../../etc/<passwd> ÉTÉ"
		p, err := h.Save(r, s)
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
		if got, want := filepath.Dir(filepath.Dir(p)), h.Dir; got != want {
			t.Fatalf("saved outside the history: %s", p)
		}
		if got, want := filepath.Base(filepath.Dir(p)), "20260314T091502Z-etc-passwd-t"; got != want {
			t.Fatalf("directory: got %s, want %s", got, want)
		}
	})
	t.Run("invalid report", func(t *testing.T) {
		r := sampleReport(t)
		r.Checks = nil
		if _, err := h.Save(r, s); !errors.Is(err, ErrInvalid) {
			t.Fatalf("got %v, want ErrInvalid", err)
		}
	})
	t.Run("no directory", func(t *testing.T) {
		if _, err := (History{}).Save(sampleReport(t), s); err == nil {
			t.Fatalf("Save with no Dir: want an error")
		}
	})
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"earthquake-total":       "earthquake-total",
		"My Drill #2":            "my-drill-2",
		"..":                     "scenario",
		"":                       "scenario",
		"a/../b":                 "a-..-b",
		strings.Repeat("x", 100): strings.Repeat("x", 64),
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestHistory_List(t *testing.T) {
	s := testSigner(t, 1)
	h := History{Dir: t.TempDir()}
	for i, name := range []string{"earthquake-one-site", "cyberattack-ransomware", "earthquake-total"} {
		r := passingReport(t)
		r.Scenario = name
		shift := time.Duration(i) * time.Hour
		r.StartedAt, r.FinishedAt = r.StartedAt.Add(shift), r.FinishedAt.Add(shift)
		r.RTOMs = int64(1000 * (i + 1))
		if _, err := h.Save(r, s); err != nil {
			t.Fatalf("Save: %v", err)
		}
	}
	list, err := h.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Scenario)
		if e.Err != nil || e.Verified || !e.Passed || e.KeyID != s.KeyID() {
			t.Errorf("%s: err %v, verified %t, passed %t, key %s", e.Scenario, e.Err, e.Verified, e.Passed, e.KeyID)
		}
	}
	if got, want := strings.Join(names, ","), "earthquake-total,cyberattack-ransomware,earthquake-one-site"; got != want {
		t.Fatalf("order: got %s, want %s (newest first)", got, want)
	}
	if got, want := list[0].RTOMs, int64(3000); got != want {
		t.Fatalf("rto: got %d, want %d", got, want)
	}
	if got, want := list[0].Time, sampleStart.Add(2*time.Hour); !got.Equal(want) {
		t.Fatalf("time: got %v, want %v", got, want)
	}

	t.Run("verified", func(t *testing.T) {
		hv := History{Dir: h.Dir, Verifier: s.Verifier()}
		list, err := hv.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list {
			if !e.Verified || e.Err != nil {
				t.Errorf("%s: verified %t, err %v", e.Scenario, e.Verified, e.Err)
			}
		}
	})
	t.Run("tampered", func(t *testing.T) {
		p := list[1].Path
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.Replace(data, []byte(`"lost_writes":212`), []byte(`"lost_writes":0  `), 1)
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(data, s.Verifier()); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Verify of the tampered file: got %v, want ErrBadSignature", err)
		}
		hv := History{Dir: h.Dir, Verifier: s.Verifier()}
		got, err := hv.List()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || !errors.Is(got[1].Err, ErrBadSignature) || got[1].Verified {
			t.Fatalf("tampered entry: got err %v, verified %t; want ErrBadSignature", got[1].Err, got[1].Verified)
		}
		if got[0].Err != nil || got[2].Err != nil {
			t.Fatalf("other entries: %v, %v", got[0].Err, got[2].Err)
		}
	})
	t.Run("directory without a report", func(t *testing.T) {
		if err := os.Mkdir(filepath.Join(h.Dir, "20250101T000000Z-stray"), 0o750); err != nil {
			t.Fatal(err)
		}
		got, err := h.List()
		if err != nil {
			t.Fatal(err)
		}
		last := got[len(got)-1]
		if !errors.Is(last.Err, ErrMalformed) {
			t.Fatalf("got %v, want ErrMalformed", last.Err)
		}
		if want := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC); !last.Time.Equal(want) {
			t.Fatalf("time from the directory name: got %v, want %v", last.Time, want)
		}
	})
	t.Run("missing history", func(t *testing.T) {
		got, err := History{Dir: filepath.Join(h.Dir, "none")}.List()
		if err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v; want an empty history", got, err)
		}
	})
}
