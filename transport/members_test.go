package transport

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
	dto "github.com/prometheus/client_model/go"
	"github.com/quic-go/quic-go"
)

// The deployment of these tests: the Monaco cell, the twin, the witness.
var (
	siteA   = mustID("site/monaco/site-a")
	siteB   = mustID("site/monaco/site-b")
	siteC   = mustID("site/monaco/site-c")
	twinLux = mustID("twin/luxembourg/lux-1")
	witness = mustID("witness/witness/witness-1")
	cellABC = []string{"site-a", "site-b", "site-c"}
	nodesOf = []pki.Identity{siteA, siteB, siteC, twinLux, witness}
)

func mustID(s string) pki.Identity {
	id, err := pki.ParseIdentity(s)
	if err != nil {
		panic(err)
	}
	return id
}

// admitter is an endpoint with the default policy and members, for the
// admission rule alone (no socket).
func admitter(t testing.TB, self pki.Identity, cell []string) *Endpoint {
	t.Helper()
	m, err := NewMembers(self, nodesOf, cell)
	if err != nil {
		t.Fatal(err)
	}
	e := &Endpoint{cfg: Config{Members: m}}
	for k, roles := range DefaultPolicy() {
		e.policy[k] = roles
	}
	return e
}

// TestEndpoint_admit is the stream kind x identity matrix of doc.go. Each
// row is what one node (self, in the cell it belongs to) lets a peer do:
// "c" connect, then r raft, f forward, s ship, l lease, k control.
func TestEndpoint_admit(t *testing.T) {
	rogues := []string{
		"site/monaco/site-z",     // valid certificate, not a node
		"site/luxembourg/rogue",  // not a node, other region
		"site/luxembourg/site-b", // a node's name in another region
		"twin/monaco/lux-1",      // the twin's name in the primary region
		"site/luxembourg/lux-1",  // the twin's name with the site role
		"client/monaco/app-1",    // an API client
		"admin/monaco/ops-1",     // an operator
		"auditor/monaco/aud-1",   // an auditor
	}
	type row struct {
		peer string
		want string // letters of the allowed: c r f s l k
	}
	cases := []struct {
		name string
		self pki.Identity
		cell []string
		rows []row
	}{
		{"site-in-cell", siteA, cellABC, []row{
			{"site/monaco/site-b", "crflk"},
			{"site/monaco/site-c", "crflk"},
			{"twin/luxembourg/lux-1", "cslk"},
			{"witness/witness/witness-1", "clk"},
		}},
		{"site-as-replica", siteA, nil, []row{
			{"site/monaco/site-b", "clk"},
			{"twin/luxembourg/lux-1", "cslk"},
			{"witness/witness/witness-1", "clk"},
		}},
		{"twin", twinLux, nil, []row{
			{"site/monaco/site-a", "cslk"},
			{"witness/witness/witness-1", "clk"},
		}},
		{"promoted-twin", twinLux, []string{"lux-1"}, []row{
			{"site/monaco/site-a", "cslk"},
			{"witness/witness/witness-1", "clk"},
		}},
		{"witness", witness, nil, []row{
			{"site/monaco/site-a", "clk"},
			{"twin/luxembourg/lux-1", "clk"},
		}},
	}
	letters := map[Kind]string{KindRaft: "r", KindForward: "f", KindShip: "s", KindLease: "l", KindControl: "k"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := admitter(t, tc.self, tc.cell)
			rows := tc.rows
			for _, r := range rogues {
				rows = append(rows, row{r, ""})
			}
			for _, r := range rows {
				peer := mustID(r.peer)
				got := ""
				if e.member(peer) == nil {
					got += "c"
				}
				for _, k := range Kinds() {
					err := e.admit(k, peer)
					if err == nil {
						got += letters[k]
						continue
					}
					if !errors.Is(err, ErrNotMember) && !errors.Is(err, pki.ErrRoleNotAllowed) {
						t.Errorf("%s %s: error %v wraps neither ErrNotMember nor ErrRoleNotAllowed", r.peer, k, err)
					}
				}
				if got != r.want {
					t.Errorf("%s: got %q, want %q", r.peer, got, r.want)
				}
			}
		})
	}
}

func TestNewMembers(t *testing.T) {
	t.Run("duplicate-name", func(t *testing.T) {
		_, err := NewMembers(siteA, []pki.Identity{siteB, mustID("twin/luxembourg/site-b")}, nil)
		if err == nil || !strings.Contains(err.Error(), "site-b") {
			t.Fatalf("got %v, want an error naming site-b", err)
		}
	})
	t.Run("self-with-other-region", func(t *testing.T) {
		_, err := NewMembers(siteA, []pki.Identity{mustID("site/luxembourg/site-a")}, nil)
		if err == nil {
			t.Fatal("got nil, want an error: the list names this node with another region")
		}
	})
	t.Run("set-cell", func(t *testing.T) {
		m, err := NewMembers(siteA, nodesOf, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Admit(KindRaft, siteB); !errors.Is(err, ErrNotMember) {
			t.Fatalf("before SetCell: got %v, want ErrNotMember", err)
		}
		m.SetCell(cellABC)
		if err := m.Admit(KindRaft, siteB); err != nil {
			t.Fatalf("after SetCell: got %v, want nil", err)
		}
	})
}

// memberEndpoint starts id's endpoint with the test deployment's members.
func (p *testPKI) memberEndpoint(t testing.TB, id pki.Identity, cell []string, opts ...func(*Config)) *Endpoint {
	t.Helper()
	m, err := NewMembers(id, nodesOf, cell)
	if err != nil {
		t.Fatal(err)
	}
	return p.endpoint(t, id.String(), append([]func(*Config){func(c *Config) { c.Members = m }}, opts...)...)
}

// TestEndpoint_rogueSite attacks a site with valid certificates of the
// deployment's CA for identities that are not members: none may open a
// Raft, Forward or Lease stream, and every refusal is counted.
func TestEndpoint_rogueSite(t *testing.T) {
	p := newTestPKI(t)
	a := p.memberEndpoint(t, siteA, cellABC)
	for _, k := range []Kind{KindRaft, KindForward, KindLease} {
		echo(t, a, k)
	}
	ctx := testCtx(t)

	// A member opens each kind: the attack below is refused for who the
	// peer is, not because the streams cannot work.
	b := p.memberEndpoint(t, siteB, cellABC)
	for _, k := range []Kind{KindRaft, KindForward, KindLease} {
		s, err := b.Open(ctx, "site-a", k)
		if err != nil {
			t.Fatalf("member site-b: Open %s: %v", k, err)
		}
		if _, err := exchange(t, s, 1, testMsg{Note: "member"}); err != nil {
			t.Fatalf("member site-b: %s exchange: %v", k, err)
		}
		s.Close()
	}

	for _, rogue := range []string{"site/monaco/site-z", "site/luxembourg/rogue", "site/luxembourg/site-c"} {
		t.Run(rogue, func(t *testing.T) {
			r := p.endpoint(t, rogue) // no Members: it opens whatever it likes
			before := counter(t, a.m.peersRefused, kindConnection, string(reasonNotMember))
			for _, k := range []Kind{KindRaft, KindForward, KindLease} {
				s, err := r.Open(ctx, "site-a", k)
				if err == nil {
					_, err = exchange(t, s, 1, testMsg{Note: "AppendEntries, term 99"})
					s.Close()
				}
				if err == nil {
					t.Fatalf("%s stream from %s: got an answer, want a refusal", k, rogue)
				}
			}
			if got := counter(t, a.m.peersRefused, kindConnection, string(reasonNotMember)); got <= before {
				t.Fatalf("connections refused as not_member: got %v, want more than %v", got, before)
			}
		})
	}
	for _, k := range []Kind{KindRaft, KindForward, KindLease} {
		if got, want := counter(t, a.m.accepted, k.String()), 1.0; got != want {
			t.Errorf("%s streams accepted: got %v, want %v (site-b's only)", k, got, want)
		}
	}
}

// TestEndpoint_Open_notMember: a node whose dialed peer presents the right
// name with another role or region refuses it (a misissued certificate at
// the address of a member).
func TestEndpoint_Open_notMember(t *testing.T) {
	p := newTestPKI(t)
	a := p.memberEndpoint(t, siteA, cellABC)
	fake := p.endpoint(t, "site/luxembourg/site-b")
	p.setAddr("site-b", fake.Addr().String())
	_, err := a.Open(testCtx(t), "site-b", KindRaft)
	if got, want := err, ErrPeerMismatch; !errors.Is(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// dialRaw opens a QUIC connection to e with m's certificate, without an
// endpoint (so without its one-connection-per-peer cache).
func dialRaw(t testing.TB, e *Endpoint, m *pki.Material) *quic.Conn {
	t.Helper()
	conn, err := quic.DialAddr(testCtx(t), e.Addr().String(), m.ClientConfig("", ALPN), &quic.Config{})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.CloseWithError(0, "") })
	return conn
}

// closedWith waits for conn to be closed by the peer and returns the
// application error code.
func closedWith(t testing.TB, conn *quic.Conn) quic.ApplicationErrorCode {
	t.Helper()
	select {
	case <-conn.Context().Done():
	case <-time.After(testDeadline):
		t.Fatal("timed out waiting for the connection to close")
	}
	var ae *quic.ApplicationError
	if err := context.Cause(conn.Context()); !errors.As(err, &ae) || !ae.Remote {
		t.Fatalf("connection ended with %v, want a close from the peer", err)
	}
	return ae.ErrorCode
}

// TestEndpoint_connLimit holds connections open with one valid member
// certificate: past MaxConnsPerPeer they are closed, while another member
// still connects; past MaxConns every identity is refused.
func TestEndpoint_connLimit(t *testing.T) {
	p := newTestPKI(t)
	a := p.memberEndpoint(t, siteA, cellABC, func(c *Config) { c.MaxConns, c.MaxConnsPerPeer = 3, 2 })
	mb, mc := p.material(t, siteB), p.material(t, siteC)
	waitConns := func(want float64) {
		t.Helper()
		waitFor(t, "inbound connections", func() bool { return gauge(t, a) == want })
	}
	b1, b2 := dialRaw(t, a, mb), dialRaw(t, a, mb)
	waitConns(2)
	b3 := dialRaw(t, a, mb)
	if got, want := closedWith(t, b3), connTooMany; got != want {
		t.Fatalf("third site-b connection: closed with %#x, want %#x", got, want)
	}
	c1 := dialRaw(t, a, mc)
	waitConns(3)
	c2 := dialRaw(t, a, mc)
	if got, want := closedWith(t, c2), connTooMany; got != want {
		t.Fatalf("connection over MaxConns: closed with %#x, want %#x", got, want)
	}
	for _, c := range []*quic.Conn{b1, b2, c1} {
		if err := c.Context().Err(); err != nil {
			t.Fatalf("a connection within the limits was closed: %v", context.Cause(c.Context()))
		}
	}
	if got, want := counter(t, a.m.peersRefused, kindConnection, string(reasonConnLimit)), 2.0; got != want {
		t.Fatalf("conn_limit refusals: got %v, want %v", got, want)
	}
	// A closed connection frees its slot.
	_ = b1.CloseWithError(0, "")
	waitConns(2)
	dialRaw(t, a, mb)
	waitConns(3)
}

func gauge(t testing.TB, e *Endpoint) float64 {
	t.Helper()
	var m dto.Metric
	if err := e.m.conns.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// TestEndpoint_revokedPeer revokes a member's certificate while it has a
// connection open: the connection is closed, and it cannot connect again.
func TestEndpoint_revokedPeer(t *testing.T) {
	p := newTestPKI(t)
	fast := func(c *Config) { c.RevocationCheckEvery = 20 * time.Millisecond }
	a := p.memberEndpoint(t, siteA, cellABC, fast)
	echo(t, a, KindLease)
	mb := p.material(t, siteB)
	cfg := p.testConfig(mb)
	m, err := NewMembers(siteB, nodesOf, cellABC)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Members = m
	fast(&cfg)
	b := p.listen(t, cfg)
	ctx := testCtx(t)
	s, err := b.Open(ctx, "site-a", KindLease)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exchange(t, s, 1, testMsg{Note: "before"}); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	leaf, err := x509.ParseCertificate(mb.Certificate.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ca.Revoke(p.caDir, leaf.SerialNumber); err != nil {
		t.Fatal(err)
	}
	// The open stream dies with its connection.
	waitFor(t, "the revoked peer's stream to fail", func() bool {
		_, err := exchange(t, s, 1, testMsg{Note: "after"})
		return err != nil
	})
	if got := counter(t, a.m.peersRefused, kindConnection, string(reasonRevoked)); got < 1 {
		t.Fatalf("revoked connections closed: got %v, want at least 1", got)
	}
	// And a new connection is refused in the handshake.
	s2, err := b.Open(ctx, "site-a", KindLease)
	if err == nil {
		_, err = exchange(t, s2, 1, testMsg{Note: "again"})
	}
	if err == nil {
		t.Fatal("a revoked peer opened a new stream")
	}
}

// TestEndpoint_Open_consensusIsolated fills the flow-control windows of
// forward streams the peer does not read (a huge forwarded read in
// flight): a Raft exchange with the same peer still goes through, since
// consensus traffic has its own connection.
func TestEndpoint_Open_consensusIsolated(t *testing.T) {
	p := newTestPKI(t)
	a := p.memberEndpoint(t, siteA, cellABC)
	b := p.memberEndpoint(t, siteB, cellABC)
	echo(t, a, KindRaft)
	ctx := testCtx(t)
	// Forward streams a accepts but never reads.
	var (
		mu   sync.Mutex
		held []*Stream
		wg   sync.WaitGroup
	)
	actx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, s := range held {
			s.Close()
		}
	})
	wg.Go(func() {
		for {
			s, err := a.Accept(actx, KindForward)
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, s)
			mu.Unlock()
		}
	})
	chunk := make([]byte, 64<<10)
	stalled := 0
	for i := 0; i < 8; i++ {
		s, err := b.Open(ctx, "site-a", KindForward)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// Write until the flow-control window blocks the stream.
		_ = s.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		for n := 0; n < 16<<20; n += len(chunk) {
			if _, err := s.Write(chunk); err != nil {
				stalled++
				break
			}
		}
	}
	if stalled == 0 {
		t.Fatal("no forward stream stalled: the test did not fill the flow-control windows")
	}
	s, err := b.Open(ctx, "site-a", KindRaft)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := exchange(t, s, 1, testMsg{Note: "heartbeat"}); err != nil {
		t.Fatalf("raft exchange behind stalled forward streams: %v", err)
	}
}
