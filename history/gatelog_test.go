package history_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/history"
)

func TestDecodeGateLog(t *testing.T) {
	t0 := time.Unix(1767225600, 123456789)
	var b []byte
	b = history.AppendGateLine(b, 1, t0)
	b = history.AppendGateLine(b, 2, t0.Add(time.Second))
	b = history.AppendGateLine(b, 18446744073709551615, t0.Add(2*time.Second))
	if got, want := string(b), "1767225600123456789 1\n1767225601123456789 2\n1767225602123456789 18446744073709551615\n"; got != want {
		t.Fatalf("AppendGateLine: got %q, want %q", got, want)
	}

	t.Run("valid", func(t *testing.T) {
		ps, err := history.DecodeGateLog(bytes.NewReader(b), "site-a")
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 3 {
			t.Fatalf("got %d passes, want 3", len(ps))
		}
		if ps[0].Node != "site-a" || ps[0].Epoch != 1 || !ps[0].At.Equal(t0) || ps[2].Epoch != 18446744073709551615 {
			t.Errorf("got %+v, want site-a epoch 1 at %v ... epoch 2^64-1", ps, t0)
		}
	})
	t.Run("empty", func(t *testing.T) {
		ps, err := history.DecodeGateLog(strings.NewReader(""), "site-a")
		if err != nil || len(ps) != 0 {
			t.Fatalf("got %v, %v, want no pass and no error", ps, err)
		}
	})
	t.Run("torn", func(t *testing.T) {
		in := append(bytes.Clone(b), "17672256031234"...)
		ps, err := history.DecodeGateLog(bytes.NewReader(in), "site-a")
		if !errors.Is(err, history.ErrTornLine) || !strings.Contains(err.Error(), "line 4") {
			t.Fatalf("got %v, want ErrTornLine at line 4", err)
		}
		if len(ps) != 3 {
			t.Errorf("got %d passes, want the 3 complete lines", len(ps))
		}
	})
	for _, tc := range []struct{ name, line string }{
		{"blank", "\n"},
		{"no-space", "1767225600123456789\n"},
		{"no-epoch", "1767225600123456789 \n"},
		{"no-time", " 1\n"},
		{"two-spaces", "1767225600123456789  1\n"},
		{"three-fields", "1767225600123456789 1 1\n"},
		{"zero-epoch", "1767225600123456789 0\n"},
		{"zero-time", "0 1\n"},
		{"leading-zero", "01767225600123456789 1\n"},
		{"sign", "+1767225600123456789 1\n"},
		{"negative", "-1767225600123456789 1\n"},
		{"letter", "17672256001234567x9 1\n"},
		{"crlf", "1767225600123456789 1\r\n"},
		{"time-beyond-int64", "9223372036854775808 1\n"},
		{"time-20-digits", "17672256001234567890 1\n"},
		{"epoch-beyond-uint64", "1767225600123456789 18446744073709551616\n"},
		{"long", strings.Repeat("1", 5000) + " 1\n"},
	} {
		t.Run("malformed/"+tc.name, func(t *testing.T) {
			in := "1767225600123456789 1\n" + tc.line + "1767225600123456790 1\n"
			ps, err := history.DecodeGateLog(strings.NewReader(in), "site-a")
			if !errors.Is(err, history.ErrMalformed) || !strings.Contains(err.Error(), "site-a line 2") {
				t.Fatalf("got %v, want ErrMalformed naming site-a line 2", err)
			}
			if len(ps) != 1 {
				t.Errorf("got %d passes, want the 1 line before it", len(ps))
			}
		})
	}
}

func TestGateFile_Pass(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.log")
	g, err := history.OpenGateLog(path, func(err error) { t.Errorf("write failed: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				g.Pass(uint64(w+1), t0.Add(time.Duration(i)))
			}
		}()
	}
	wg.Wait()
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening appends.
	g, err = history.OpenGateLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.Pass(9, t0)
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	ps, err := history.ReadGateLog(path, "lux-1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(ps), 801; got != want {
		t.Fatalf("got %d passes, want %d", got, want)
	}
	perEpoch := map[uint64]int{}
	for _, p := range ps {
		perEpoch[p.Epoch]++
	}
	for e := uint64(1); e <= 8; e++ {
		if perEpoch[e] != 100 {
			t.Errorf("epoch %d: got %d passes, want 100", e, perEpoch[e])
		}
	}
	if last := ps[len(ps)-1]; last.Epoch != 9 || !last.At.Equal(t0) {
		t.Errorf("got last %+v, want epoch 9 at %v", last, t0)
	}
}

func TestGateFile_Err(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.log")
	var calls int
	g, err := history.OpenGateLog(path, func(error) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	g.Pass(1, time.Now())
	g.Pass(1, time.Now())
	if calls != 1 || g.Err() == nil {
		t.Fatalf("got %d onError calls, Err %v, want 1 call and the error", calls, g.Err())
	}
}

func TestOpenGateLog_badPath(t *testing.T) {
	_, err := history.OpenGateLog(filepath.Join(t.TempDir(), "missing", "gate.log"), nil)
	if err == nil {
		t.Fatal("got no error for a file in a missing directory")
	}
}

// gateChildEnv makes the test binary a child that writes passes to the
// named gate log and SIGKILLs itself.
const gateChildEnv = "JUMEAU_HISTORY_GATE_CHILD"

func TestGateFile_SIGKILL(t *testing.T) {
	if path := os.Getenv(gateChildEnv); path != "" {
		g, err := history.OpenGateLog(path, nil)
		if err != nil {
			os.Exit(3)
		}
		for i := 1; i <= 1000; i++ {
			g.Pass(uint64(i), time.Unix(0, int64(i)))
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(10 * time.Second)
		os.Exit(4)
	}
	path := filepath.Join(t.TempDir(), "gate.log")
	cmd := exec.Command(os.Args[0], "-test.run=^TestGateFile_SIGKILL$")
	cmd.Env = append(os.Environ(), gateChildEnv+"="+path)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: got %v, want killed by SIGKILL", err)
	}
	ps, err := history.ReadGateLog(path, "site-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1000 {
		t.Fatalf("got %d passes after SIGKILL, want all 1000", len(ps))
	}
	for i, p := range ps {
		if p.Epoch != uint64(i+1) {
			t.Fatalf("pass %d: got epoch %d, want %d", i, p.Epoch, i+1)
		}
	}
}

func FuzzDecodeGateLog(f *testing.F) {
	f.Add([]byte("1767225600123456789 1\n1767225601123456789 2\n"))
	f.Add([]byte("1 18446744073709551615\n9223372036854775807 1\n"))
	f.Add([]byte("1767225600123456789 1\n176722"))
	f.Add([]byte("01 1\n"))
	f.Add([]byte("1 0\n"))
	f.Add([]byte(""))
	f.Add([]byte("\n\n"))
	f.Add([]byte("9223372036854775808 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := history.DecodeGateLog(bytes.NewReader(data), "n")
		// Every decoded pass re-encodes to exactly the bytes it came from
		// (the format is canonical).
		var re []byte
		for _, p := range ps {
			if p.Node != "n" || p.Epoch == 0 || p.At.UnixNano() <= 0 {
				t.Fatalf("decoded an invalid pass %+v", p)
			}
			re = history.AppendGateLine(re, p.Epoch, p.At)
		}
		if !bytes.HasPrefix(data, re) {
			t.Fatalf("re-encoded %q is not a prefix of the input %q", re, data)
		}
		switch {
		case err == nil:
			if !bytes.Equal(re, data) {
				t.Fatalf("no error, but re-encoded %q != input %q", re, data)
			}
		case errors.Is(err, history.ErrTornLine):
			rest := data[len(re):]
			if len(rest) == 0 || bytes.IndexByte(rest, '\n') >= 0 {
				t.Fatalf("torn line %q after %d complete bytes: want a tail without newline", rest, len(re))
			}
		case errors.Is(err, history.ErrMalformed):
			if !strings.Contains(err.Error(), "line "+strconv.Itoa(len(ps)+1)) {
				t.Fatalf("got %v, want it to name line %d", err, len(ps)+1)
			}
		default:
			t.Fatalf("got %v, want nil, ErrTornLine or ErrMalformed", err)
		}
	})
}
