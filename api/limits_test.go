package api_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
)

// A flood of clients without a certificate: none gets a request
// answered, and none holds its connection past the handshake deadline,
// whether it sends its (empty) certificate or nothing at all.
func TestServer_Listen_CertificatelessFlood(t *testing.T) {
	const flood = 200
	p := newTestPKI(t)

	t.Run("no certificate", func(t *testing.T) {
		s := startServer(t, p, api.Limits{})
		addr := s.srv.Addr()
		var wg sync.WaitGroup
		answered := make(chan string, flood)
		errs := make(chan error, flood)
		for range flood {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := dial(t, addr, tlsConfig(p, nil))
				if err != nil {
					errs <- err
					return
				}
				resp, _, err := c.do(http.MethodGet, "/healthz", "")
				if err == nil {
					answered <- resp.Status
					return
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(answered)
		close(errs)
		for st := range answered {
			t.Errorf("a client without a certificate got an answer: %s", st)
		}
		for err := range errs {
			var oe *net.OpError
			if !errors.As(err, &oe) {
				t.Errorf("got %v, want the server's TLS alert", err)
			}
		}
		// The alert goes out before the server counts the refusal.
		waitFor(t, "every refusal counted", func() bool { return s.refused(t, "tls") >= flood })
		if got, want := s.refused(t, "tls"), float64(flood); got != want {
			t.Errorf("refused{tls}: got %v, want %v", got, want)
		}
	})

	t.Run("silent after connect", func(t *testing.T) {
		// A short handshake deadline keeps the test short.
		s := startServer(t, p, api.Limits{HandshakeTimeout: 300 * time.Millisecond})
		addr := s.srv.Addr()
		conns := make([]net.Conn, 0, flood)
		for range flood {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			conns = append(conns, c)
		}
		// Every connection is closed by the server: a read sees EOF (or
		// a reset), not our own read deadline, far past the server's.
		for i, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
				t.Fatalf("connection %d: got %v, want it closed by the server's handshake deadline", i, err)
			}
		}
		waitFor(t, "jumeau_api_connections back to 0", func() bool { return s.open(t) == 0 })
	})
}

// One identity over its cap has its extra connections closed right after
// the handshake; another identity still connects, and the first connects
// again once it closes one.
func TestServer_Listen_ClientCap(t *testing.T) {
	const capPerClient = 3
	p := newTestPKI(t)
	s := startServer(t, p, api.Limits{MaxConnections: 20, MaxConnectionsPerClient: capPerClient})
	alice, bob := p.material(t, clientID("alice")), p.material(t, clientID("bob"))

	var held []*rawConn
	for i := range capPerClient {
		c, err := dial(t, s.srv.Addr(), tlsConfig(p, alice))
		if err != nil {
			t.Fatal(err)
		}
		if resp, _, err := c.do(http.MethodGet, "/healthz", ""); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("alice's connection %d under the cap: got %v, %v, want 200", i, resp, err)
		}
		held = append(held, c)
	}
	extra, err := dial(t, s.srv.Addr(), tlsConfig(p, alice))
	if err != nil {
		t.Fatal(err)
	}
	if resp, _, err := extra.do(http.MethodGet, "/healthz", ""); err == nil {
		t.Fatalf("alice's connection over the cap: got %s, want it closed", resp.Status)
	}
	if got, want := s.refused(t, "client_cap"), 1.0; got != want {
		t.Errorf("refused{client_cap}: got %v, want %v", got, want)
	}
	if _, err := newClient(t, s, alice).Get(ctxT(t), "ns", "k", false); err == nil || !strings.Contains(err.Error(), "closed the connection right after the TLS handshake without answering (restarting, or at its connection cap api.max_connections_per_client for client/monaco/alice)") {
		t.Errorf("Go client over the cap: got %v, want an error naming the cap and the identity", err)
	}
	bc, err := dial(t, s.srv.Addr(), tlsConfig(p, bob))
	if err != nil {
		t.Fatal(err)
	}
	if resp, _, err := bc.do(http.MethodGet, "/healthz", ""); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("bob while alice is at her cap: got %v, %v, want 200", resp, err)
	}
	// The held connections still work.
	if resp, _, err := held[0].do(http.MethodGet, "/healthz", ""); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("alice's held connection: got %v, %v, want 200", resp, err)
	}
	_ = held[0].c.Close()
	waitFor(t, "alice connects again after closing one", func() bool {
		c, err := dial(t, s.srv.Addr(), tlsConfig(p, alice))
		if err != nil {
			return false
		}
		resp, _, err := c.do(http.MethodGet, "/healthz", "")
		return err == nil && resp.StatusCode == http.StatusOK
	})
}

// Over the node's cap a connection is closed before its handshake, from
// whichever identity; closing one makes room.
func TestServer_Listen_NodeCap(t *testing.T) {
	const nodeCap = 4
	p := newTestPKI(t)
	s := startServer(t, p, api.Limits{MaxConnections: nodeCap, MaxConnectionsPerClient: nodeCap})
	alice, bob := p.material(t, clientID("alice")), p.material(t, clientID("bob"))

	var held []*rawConn
	for i := range nodeCap {
		c, err := dial(t, s.srv.Addr(), tlsConfig(p, alice))
		if err != nil {
			t.Fatal(err)
		}
		if resp, _, err := c.do(http.MethodGet, "/healthz", ""); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d under the cap: got %v, %v, want 200", i, resp, err)
		}
		held = append(held, c)
	}
	if got, want := s.open(t), float64(nodeCap); got != want {
		t.Errorf("jumeau_api_connections: got %v, want %v", got, want)
	}
	c, err := dial(t, s.srv.Addr(), tlsConfig(p, bob))
	if err == nil {
		resp, _, rerr := c.do(http.MethodGet, "/healthz", "")
		if rerr == nil {
			t.Fatalf("bob over the node's cap: got %s, want the connection closed", resp.Status)
		}
		err = rerr
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
		t.Errorf("bob over the node's cap: got %v, want the connection closed (EOF or reset)", err)
	}
	if got, want := s.refused(t, "node_cap"), 1.0; got != want {
		t.Errorf("refused{node_cap}: got %v, want %v", got, want)
	}
	if _, err := newClient(t, s, bob).Get(ctxT(t), "ns", "k", false); err == nil || !strings.Contains(err.Error(), "closed the connection during the TLS handshake without answering (restarting, or at its connection cap api.max_connections)") {
		t.Errorf("Go client over the cap: got %v, want an error naming the cap", err)
	}
	_ = held[0].c.Close()
	waitFor(t, "bob connects once a connection closed", func() bool {
		c, err := dial(t, s.srv.Addr(), tlsConfig(p, bob))
		if err != nil {
			return false
		}
		resp, _, err := c.do(http.MethodGet, "/healthz", "")
		return err == nil && resp.StatusCode == http.StatusOK
	})
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

// The refusal counters exist, at 0, before the first refusal.
func TestServer_Collectors(t *testing.T) {
	s := startServer(t, newTestPKI(t), api.Limits{})
	for _, r := range []string{"tls", "node_cap", "client_cap"} {
		if got := s.refused(t, r); got != 0 {
			t.Errorf("refused{%s}: got %v, want 0", r, got)
		}
	}
	if got := s.open(t); got != 0 {
		t.Errorf("jumeau_api_connections: got %v, want 0", got)
	}
}

func TestLimits_Validate(t *testing.T) {
	ok := api.DefaultLimits()
	if err := ok.Validate(); err != nil {
		t.Fatalf("DefaultLimits: %v", err)
	}
	cases := []struct {
		name string
		edit func(*api.Limits)
		key  string
	}{
		{"no connections", func(l *api.Limits) { l.MaxConnections = 0 }, "api.max_connections"},
		{"too many connections", func(l *api.Limits) { l.MaxConnections = api.MaxMaxConnections + 1 }, "api.max_connections"},
		{"negative per client", func(l *api.Limits) { l.MaxConnectionsPerClient = -1 }, "api.max_connections_per_client"},
		{"per client over the node", func(l *api.Limits) { l.MaxConnectionsPerClient = l.MaxConnections + 1 }, "api.max_connections_per_client"},
		{"handshake too short", func(l *api.Limits) { l.HandshakeTimeout = time.Millisecond }, "api.handshake_timeout"},
		{"handshake too long", func(l *api.Limits) { l.HandshakeTimeout = time.Hour }, "api.handshake_timeout"},
		{"idle zero", func(l *api.Limits) { l.IdleTimeout = 0 }, "api.idle_timeout"},
		{"idle too long", func(l *api.Limits) { l.IdleTimeout = 2 * time.Hour }, "api.idle_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := api.DefaultLimits()
			tc.edit(&l)
			err := l.Validate()
			if !errors.Is(err, api.ErrInvalidLimits) || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("got %v, want ErrInvalidLimits naming %s", err, tc.key)
			}
		})
	}
}

func TestListen_InvalidLimits(t *testing.T) {
	p := newTestPKI(t)
	mat := p.material(t, clientID("x"))
	_, err := api.Listen(api.Config{Listen: "127.0.0.1:0", TLS: mat, Backend: &memBackend{}, Limits: api.Limits{HandshakeTimeout: -time.Second}})
	if got, want := errors.Is(err, api.ErrInvalidLimits), true; got != want {
		t.Fatalf("got %v, want ErrInvalidLimits", err)
	}
}
