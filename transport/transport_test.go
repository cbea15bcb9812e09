package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/quic-go/quic-go"
)

// testDeadline bounds every wait in these tests.
const testDeadline = 15 * time.Second

// syncBuffer is a bytes.Buffer safe for concurrent writers (log output).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testPKI is a CA in a temporary directory plus a name -> address registry
// that endpoints use as their Resolve.
type testPKI struct {
	ca    *pki.CA
	caDir string

	mu    sync.Mutex
	addrs map[string]string
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := pki.InitCA(dir, "transport test CA")
	if err != nil {
		t.Fatalf("InitCA: %v", err)
	}
	return &testPKI{ca: ca, caDir: dir, addrs: make(map[string]string)}
}

func (p *testPKI) material(t testing.TB, id pki.Identity) *pki.Material {
	t.Helper()
	certFile, keyFile, err := p.ca.IssueFiles(t.TempDir(), id, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatalf("IssueFiles: %v", err)
	}
	m, err := pki.LoadTLS(pki.TLSFiles{CA: filepath.Join(p.caDir, pki.CACertFile), Cert: certFile, Key: keyFile})
	if err != nil {
		t.Fatalf("LoadTLS: %v", err)
	}
	return m
}

func (p *testPKI) setAddr(name, addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addrs[name] = addr
}

func (p *testPKI) resolve(name string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.addrs[name]
	if !ok {
		return "", fmt.Errorf("no address for %q", name)
	}
	return a, nil
}

// testConfig returns a config for m listening on an ephemeral port.
func (p *testPKI) testConfig(m *pki.Material) Config {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.TLS = m
	cfg.Resolve = p.resolve
	return cfg
}

// endpoint starts an endpoint for id (role/region/name), registers its
// address and closes it at the end of the test.
func (p *testPKI) endpoint(t testing.TB, id string, opts ...func(*Config)) *Endpoint {
	t.Helper()
	ident, err := pki.ParseIdentity(id)
	if err != nil {
		t.Fatal(err)
	}
	cfg := p.testConfig(p.material(t, ident))
	for _, o := range opts {
		o(&cfg)
	}
	return p.listen(t, cfg)
}

func (p *testPKI) listen(t testing.TB, cfg Config) *Endpoint {
	t.Helper()
	e, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	p.setAddr(e.Identity().Name, e.Addr().String())
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close %s: %v", e.Identity().Name, err)
		}
	})
	return e
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	t.Cleanup(cancel)
	return ctx
}

// echo serves streams of kind on e: every frame is decoded as testMsg and
// sent back. It stops at the end of the test.
func echo(t testing.TB, e *Endpoint, kind Kind) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		streams []*Stream
	)
	t.Cleanup(func() {
		cancel()
		mu.Lock()
		for _, s := range streams {
			s.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			s, err := e.Accept(ctx, kind)
			if err != nil {
				return
			}
			mu.Lock()
			streams = append(streams, s)
			mu.Unlock()
			wg.Go(func() {
				defer s.Close()
				dec, enc := NewDecoder(s, 0), NewEncoder(s)
				for {
					f, err := dec.Decode()
					if err != nil {
						return
					}
					var m testMsg
					if err := f.Unmarshal(&m); err != nil {
						return
					}
					if err := enc.Encode(f.Type, &m); err != nil {
						return
					}
				}
			})
		}
	})
}

// exchange sends msg on s and reads the echo.
func exchange(t testing.TB, s *Stream, typ uint8, msg testMsg) (testMsg, error) {
	t.Helper()
	_ = s.SetDeadline(time.Now().Add(testDeadline))
	if err := NewEncoder(s).Encode(typ, &msg); err != nil {
		return testMsg{}, err
	}
	f, err := NewDecoder(s, 0).Decode()
	if err != nil {
		return testMsg{}, err
	}
	if f.Type != typ {
		return testMsg{}, fmt.Errorf("echo type %d, want %d", f.Type, typ)
	}
	var got testMsg
	return got, f.Unmarshal(&got)
}

// counter reads one series of a CounterVec.
func counter(t testing.TB, v *prometheus.CounterVec, labels ...string) float64 {
	t.Helper()
	var m dto.Metric
	if err := v.WithLabelValues(labels...).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// waitFor polls cond until it holds or the test deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfig_Validate(t *testing.T) {
	p := newTestPKI(t)
	good := p.testConfig(p.material(t, pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-a"}))
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	cases := []struct {
		field string
		mod   func(*Config)
	}{
		{"Config.Listen", func(c *Config) { c.Listen = "" }},
		{"Config.Listen", func(c *Config) { c.Listen = "7001" }},
		{"Config.TLS", func(c *Config) { c.TLS = nil }},
		{"Config.TLS", func(c *Config) { c.TLS = &pki.Material{} }},
		{"Config.Resolve", func(c *Config) { c.Resolve = nil }},
		{"Config.Policy", func(c *Config) { c.Policy = nil }},
		{"Config.Policy", func(c *Config) { c.Policy = map[Kind][]pki.Role{9: {pki.RoleSite}} }},
		{"Config.Policy[raft]", func(c *Config) { c.Policy = map[Kind][]pki.Role{KindRaft: {"root"}} }},
		{"Config.HandshakeTimeout", func(c *Config) { c.HandshakeTimeout = 0 }},
		{"Config.IdleTimeout", func(c *Config) { c.IdleTimeout = -1 }},
		{"Config.KeepAlivePeriod", func(c *Config) { c.KeepAlivePeriod = c.IdleTimeout }},
		{"Config.AcceptBacklog", func(c *Config) { c.AcceptBacklog = 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			c := good
			tc.mod(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("got nil error")
			}
			if got, want := err.Error(), tc.field; !strings.Contains(got, want) {
				t.Fatalf("got %q, want it to name %s", got, want)
			}
			if _, err := Listen(c); err == nil {
				t.Fatal("Listen accepted an invalid config")
			}
		})
	}
}

func TestKind_String(t *testing.T) {
	for k, want := range map[Kind]string{KindRaft: "raft", KindForward: "forward", KindShip: "ship", KindLease: "lease", KindControl: "control", 0: "kind(0)", 9: "kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d): got %q, want %q", k, got, want)
		}
	}
}

func TestEndpoint_Open(t *testing.T) {
	p := newTestPKI(t)
	a := p.endpoint(t, "site/monaco/site-a")
	b := p.endpoint(t, "site/monaco/site-b")
	echo(t, b, KindShip)
	ctx := testCtx(t)

	t.Run("round-trip", func(t *testing.T) {
		s, err := a.Open(ctx, "site-b", KindShip)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		if got, want := s.Peer(), b.Identity(); got != want {
			t.Fatalf("Peer: got %v, want %v", got, want)
		}
		if got, want := s.Kind(), KindShip; got != want {
			t.Fatalf("Kind: got %v, want %v", got, want)
		}
		if got, want := s.RemoteAddr().String(), b.Addr().String(); got != want {
			t.Fatalf("RemoteAddr: got %v, want %v", got, want)
		}
		if got, want := s.LocalAddr().String(), a.Addr().String(); got != want {
			t.Fatalf("LocalAddr: got %v, want %v", got, want)
		}
		for i := range 5 {
			want := testMsg{Index: uint64(i), Payload: bytes.Repeat([]byte{byte(i)}, 1000*i), Note: "n"}
			got, err := exchange(t, s, uint8(i+1), want)
			if err != nil {
				t.Fatalf("exchange %d: %v", i, err)
			}
			if got.Index != want.Index || !bytes.Equal(got.Payload, want.Payload) || got.Note != want.Note {
				t.Fatalf("exchange %d: got %+v, want %+v", i, got, want)
			}
		}
	})
	t.Run("metrics", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		for _, c := range append(a.Collectors(), b.Collectors()...) {
			if err := reg.Register(c); err != nil {
				t.Fatalf("Register: %v", err)
			}
		}
		if got := counter(t, a.m.opened, "ship"); got < 1 {
			t.Fatalf("a opened ship: got %v, want >= 1", got)
		}
		if got := counter(t, b.m.accepted, "ship"); got < 1 {
			t.Fatalf("b accepted ship: got %v, want >= 1", got)
		}
		if got := counter(t, a.m.bytesSent, "ship"); got < 1000 {
			t.Fatalf("a bytes sent: got %v, want >= 1000", got)
		}
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("Gather: %v", err)
		}
	})
	t.Run("unknown-peer", func(t *testing.T) {
		_, err := a.Open(ctx, "site-z", KindShip)
		if err == nil || !strings.Contains(err.Error(), "site-z") {
			t.Fatalf("got %v, want an error naming site-z", err)
		}
	})
	t.Run("unknown-kind", func(t *testing.T) {
		_, err := a.Open(ctx, "site-b", 0)
		if got, want := err, ErrUnknownKind; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

func TestEndpoint_Open_concurrent(t *testing.T) {
	p := newTestPKI(t)
	a := p.endpoint(t, "site/monaco/site-a")
	b := p.endpoint(t, "site/monaco/site-b")
	echo(t, b, KindForward)
	ctx := testCtx(t)

	const streams, frames = 16, 20
	errs := make(chan error, streams)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Go(func() {
			s, err := a.Open(ctx, "site-b", KindForward)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			for j := range frames {
				want := testMsg{Index: uint64(i*1000 + j), Payload: []byte(fmt.Sprintf("stream %d frame %d", i, j))}
				got, err := exchange(t, s, 1, want)
				if err != nil {
					errs <- fmt.Errorf("stream %d frame %d: %w", i, j, err)
					return
				}
				if got.Index != want.Index || !bytes.Equal(got.Payload, want.Payload) {
					errs <- fmt.Errorf("stream %d frame %d: got %+v, want %+v", i, j, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// All the concurrent Opens shared one dial.
	if got, want := counter(t, a.m.dials, "ok"), 1.0; got != want {
		t.Fatalf("dials: got %v, want %v", got, want)
	}
	if got, want := counter(t, b.m.accepted, "forward"), float64(streams); got != want {
		t.Fatalf("accepted: got %v, want %v", got, want)
	}
}

func TestEndpoint_Open_foreignCA(t *testing.T) {
	p := newTestPKI(t)
	foreign := newTestPKI(t)
	a := p.endpoint(t, "site/monaco/site-a")
	echo(t, a, KindShip)
	ctx := testCtx(t)

	t.Run("foreign-client", func(t *testing.T) {
		// The intruder trusts our CA but its certificate is from another.
		stolen := foreign.material(t, pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-b"})
		m := &pki.Material{Certificate: stolen.Certificate, Pool: a.cfg.TLS.Pool, Identity: stolen.Identity}
		intruder := p.listen(t, p.testConfig(m))
		before := counter(t, a.m.handshakeFailures, "in")
		s, err := intruder.Open(ctx, "site-a", KindShip)
		if err == nil {
			_, err = exchange(t, s, 1, testMsg{Note: "let me in"})
			s.Close()
		}
		if err == nil {
			t.Fatal("a foreign-CA client exchanged data")
		}
		waitFor(t, "handshake failure counted", func() bool { return counter(t, a.m.handshakeFailures, "in") > before })
		if got, want := counter(t, a.m.accepted, "ship"), 0.0; got != want {
			t.Fatalf("accepted: got %v, want %v", got, want)
		}
	})
	t.Run("foreign-server", func(t *testing.T) {
		impostor := foreign.endpoint(t, "site/monaco/site-c")
		p.setAddr("site-c", impostor.Addr().String())
		_, err := a.Open(ctx, "site-c", KindShip)
		if got, want := err, pki.ErrUntrusted; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if got := counter(t, a.m.handshakeFailures, "out"); got < 1 {
			t.Fatalf("handshake failures out: got %v, want >= 1", got)
		}
	})
}

func TestEndpoint_Open_refused(t *testing.T) {
	p := newTestPKI(t)
	var logs syncBuffer
	site := p.endpoint(t, "site/monaco/site-a", func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	twin := p.endpoint(t, "twin/lux/twin")
	echo(t, site, KindRaft)
	ctx := testCtx(t)

	t.Run("by-acceptor", func(t *testing.T) {
		// A twin may connect (it ships and leases) but not speak Raft.
		s, err := twin.Open(ctx, "site-a", KindRaft)
		if err != nil {
			t.Fatalf("Open: %v (the refusal must come from the acceptor)", err)
		}
		defer s.Close()
		_, err = exchange(t, s, 1, testMsg{Note: "vote for me"})
		if got, want := err, ErrRefused; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if got, want := counter(t, site.m.refused, "raft", "local"), 1.0; got != want {
			t.Fatalf("site refused: got %v, want %v", got, want)
		}
		if got, want := counter(t, twin.m.refused, "raft", "remote"), 1.0; got != want {
			t.Fatalf("twin saw refusals: got %v, want %v", got, want)
		}
		if got, want := counter(t, site.m.peersRefused, "raft", "role"), 1.0; got != want {
			t.Fatalf("site refused peers by role: got %v, want %v", got, want)
		}
		if got, want := counter(t, site.m.accepted, "raft"), 0.0; got != want {
			t.Fatalf("site accepted: got %v, want %v", got, want)
		}
		for _, want := range []string{"refused peer", "kind=raft", "twin/lux/twin"} {
			if got := logs.String(); !strings.Contains(got, want) {
				t.Fatalf("log %q does not contain %q", got, want)
			}
		}
	})
	t.Run("by-opener", func(t *testing.T) {
		// A twin may not serve Raft: the site refuses before opening.
		_, err := site.Open(ctx, "twin", KindRaft)
		if got, want := err, ErrRefused; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if got, want := err, pki.ErrRoleNotAllowed; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("policy-allows", func(t *testing.T) {
		echo(t, twin, KindShip)
		s, err := site.Open(ctx, "twin", KindShip)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		if _, err := exchange(t, s, 1, testMsg{Index: 1}); err != nil {
			t.Fatalf("exchange: %v", err)
		}
	})
}

func TestEndpoint_Open_peerMismatch(t *testing.T) {
	p := newTestPKI(t)
	a := p.endpoint(t, "site/monaco/site-a")
	c := p.endpoint(t, "site/monaco/site-c")
	// site-b's address leads to site-c.
	p.setAddr("site-b", c.Addr().String())
	_, err := a.Open(testCtx(t), "site-b", KindShip)
	if got, want := err, ErrPeerMismatch; !errors.Is(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got, want := counter(t, a.m.dials, "mismatch"), 1.0; got != want {
		t.Fatalf("mismatch dials: got %v, want %v", got, want)
	}
}

func TestEndpoint_Open_badHeader(t *testing.T) {
	p := newTestPKI(t)
	a := p.endpoint(t, "site/monaco/site-a")
	b := p.endpoint(t, "site/monaco/site-b")
	ctx := testCtx(t)
	for name, hdr := range map[string][]byte{
		"magic":   []byte("HTTP/1"),
		"version": {'j', 'm', 'e', 'u', 2, byte(KindShip)},
		"kind":    {'j', 'm', 'e', 'u', 1, 77},
	} {
		t.Run(name, func(t *testing.T) {
			pc, err := a.conn(ctx, connKey{"site-b", classBulk})
			if err != nil {
				t.Fatal(err)
			}
			qs, err := pc.conn.OpenStreamSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := qs.Write(hdr); err != nil {
				t.Fatal(err)
			}
			_ = qs.SetReadDeadline(time.Now().Add(testDeadline))
			_, err = qs.Read(make([]byte, 1))
			var se *quic.StreamError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a stream reset", err)
			}
			want := codeProtocol
			if name == "kind" {
				want = codeRefused
			}
			if got := se.ErrorCode; got != want {
				t.Fatalf("code: got %#x, want %#x", got, want)
			}
		})
	}
	if got, want := counter(t, b.m.accepted, "ship"), 0.0; got != want {
		t.Fatalf("accepted: got %v, want %v", got, want)
	}
}

func TestEndpoint_Open_peerRestart(t *testing.T) {
	for _, graceful := range []bool{true, false} {
		name := "crash"
		if graceful {
			name = "graceful"
		}
		t.Run(name, func(t *testing.T) {
			p := newTestPKI(t)
			a := p.endpoint(t, "site/monaco/site-a")
			bm := p.material(t, pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-b"})
			bcfg := p.testConfig(bm)
			b, err := Listen(bcfg)
			if err != nil {
				t.Fatal(err)
			}
			p.setAddr("site-b", b.Addr().String())
			bcfg.Listen = b.Addr().String()
			bEcho, stopEcho := context.WithCancel(context.Background())
			serveOnce := func(e *Endpoint) {
				go func() {
					s, err := e.Accept(bEcho, KindShip)
					if err != nil {
						return
					}
					defer s.Close()
					f, err := NewDecoder(s, 0).Decode()
					if err != nil {
						return
					}
					var m testMsg
					if f.Unmarshal(&m) == nil {
						_ = NewEncoder(s).Encode(f.Type, &m)
					}
					_, _ = io.Copy(io.Discard, s)
				}()
			}
			defer stopEcho()
			serveOnce(b)
			ctx := testCtx(t)
			s, err := a.Open(ctx, "site-b", KindShip)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := exchange(t, s, 1, testMsg{Index: 1}); err != nil {
				t.Fatalf("first exchange: %v", err)
			}
			s.Close()

			if err := b.close(graceful); err != nil {
				t.Fatalf("close b: %v", err)
			}
			b2 := p.listen(t, bcfg) // same address, same key
			for range 20 {
				serveOnce(b2)
			}
			// Poll: the first Open may still pick the dead connection if
			// the crash was not noticed yet; the stateless reset from b2
			// kills it and a later Open re-dials.
			deadline := time.Now().Add(testDeadline)
			for attempt := 0; ; attempt++ {
				if time.Now().After(deadline) || attempt == 20 {
					t.Fatal("no exchange with the restarted peer")
				}
				if attempt > 0 {
					time.Sleep(10 * time.Millisecond) // poll interval
				}
				s, err := a.Open(ctx, "site-b", KindShip)
				if err != nil {
					t.Logf("attempt %d: %v", attempt, err)
					continue
				}
				_, err = exchange(t, s, 1, testMsg{Index: 2})
				s.Close()
				if err == nil {
					break
				}
				t.Logf("attempt %d: %v", attempt, err)
			}
			if got, want := counter(t, a.m.dials, "ok"), 2.0; got != want {
				t.Fatalf("dials: got %v, want %v", got, want)
			}
		})
	}
}

func TestEndpoint_Accept(t *testing.T) {
	p := newTestPKI(t)
	a := p.endpoint(t, "site/monaco/site-a")
	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := a.Accept(ctx, KindRaft)
		if got, want := err, context.Canceled; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("unknown-kind", func(t *testing.T) {
		_, err := a.Accept(context.Background(), 6)
		if got, want := err, ErrUnknownKind; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("closed", func(t *testing.T) {
		e := p.endpoint(t, "site/monaco/site-x")
		done := make(chan error, 1)
		go func() {
			_, err := e.Accept(context.Background(), KindRaft)
			done <- err
		}()
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		err := <-done
		if got, want := err, ErrClosed; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if got, want := err, net.ErrClosed; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if _, err := e.Open(context.Background(), "site-a", KindRaft); !errors.Is(err, ErrClosed) {
			t.Fatalf("Open after Close: got %v, want %v", err, ErrClosed)
		}
		if err := e.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// TestStream_netConn checks the net.Conn contract of Stream.
func TestStream_netConn(t *testing.T) {
	p := newTestPKI(t)
	a := p.endpoint(t, "site/monaco/site-a")
	b := p.endpoint(t, "site/monaco/site-b")
	ctx := testCtx(t)
	pair := func(t *testing.T) (opened, accepted *Stream) {
		t.Helper()
		o, err := a.Open(ctx, "site-b", KindControl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		acc, err := b.Accept(ctx, KindControl)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1)
		if _, err := io.ReadFull(acc, buf); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close(); acc.Close() })
		return o, acc
	}
	t.Run("close-gives-eof", func(t *testing.T) {
		o, acc := pair(t)
		if _, err := o.Write([]byte("last")); err != nil {
			t.Fatal(err)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		_ = acc.SetReadDeadline(time.Now().Add(testDeadline))
		got, err := io.ReadAll(acc)
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		if want := "last"; string(got) != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		if _, err := o.Write([]byte("more")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close: got %v, want %v", err, net.ErrClosed)
		}
		if _, err := o.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: got %v, want %v", err, net.ErrClosed)
		}
		if err := o.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("close-unblocks-read", func(t *testing.T) {
		o, _ := pair(t)
		done := make(chan error, 1)
		go func() {
			_, err := o.Read(make([]byte, 1))
			done <- err
		}()
		o.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("got %v, want %v", err, net.ErrClosed)
		}
	})
	t.Run("close-unblocks-write", func(t *testing.T) {
		o, _ := pair(t)
		done := make(chan error, 1)
		go func() {
			// Far more than the flow-control window: blocks, since the
			// peer does not read.
			big := make([]byte, 1<<20)
			for range 64 {
				if _, err := o.Write(big); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		waitFor(t, "writer to block", func() bool { return counter(t, a.m.bytesSent, "control") > 0 })
		o.Close()
		if err := <-done; err == nil {
			t.Fatal("Write of 64 MiB to a non-reading peer succeeded across Close")
		}
	})
	t.Run("read-deadline", func(t *testing.T) {
		o, _ := pair(t)
		_ = o.SetReadDeadline(time.Now().Add(-time.Second))
		_, err := o.Read(make([]byte, 1))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("got %v, want a timeout net.Error", err)
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("got %v, want os.ErrDeadlineExceeded", err)
		}
	})
	t.Run("peer-stops-reading", func(t *testing.T) {
		o, acc := pair(t)
		acc.Close()
		_ = o.SetWriteDeadline(time.Now().Add(testDeadline))
		var err error
		for range 1000 {
			if _, err = o.Write([]byte("are you there?")); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("got %v, want %v", err, io.ErrClosedPipe)
		}
	})
	t.Run("string", func(t *testing.T) {
		o, acc := pair(t)
		if got, want := o.String(), "control stream to site/monaco/site-b"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		if got, want := acc.String(), "control stream from site/monaco/site-a"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}
