package replicator

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/monaco-sovereign/jumeau/keyring"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/transport"
	"github.com/monaco-sovereign/jumeau/transport/transporttest"
	"github.com/monaco-sovereign/jumeau/wal"
)

// twinRig is a twin receiver on real QUIC plus a hand-driven "site" that
// speaks the ship protocol, so tests can send forged, replayed and
// misaddressed frames.
type twinRig struct {
	tb   testing.TB
	net  *transporttest.Net
	twin *Twin
	db   *pebble.DB
	w    *wal.Log
	// src is the primary's WAL the rig ships from (a valid chain).
	src *wal.Log
}

func newTwinRig(tb testing.TB) *twinRig {
	tb.Helper()
	r := &twinRig{tb: tb, net: transporttest.New(tb)}
	var err error
	r.db = openTestDB(tb)
	if r.w, err = wal.Open(r.db, wal.Options{}); err != nil {
		tb.Fatal(err)
	}
	kek, err := keyring.GenerateKEK()
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := keyring.Open(filepath.Join(tb.TempDir(), "keyring"), kek)
	if err != nil {
		tb.Fatal(err)
	}
	ep := r.endpoint(pki.Identity{Role: pki.RoleTwin, Region: "luxembourg", Name: "lux-1"})
	cfg := DefaultTwinConfig()
	cfg.Name, cfg.Sites = "lux-1", []string{"site-a", "site-b", "site-c"}
	if r.twin, err = OpenTwin(cfg, TwinDeps{DB: r.db, WAL: r.w, Endpoint: ep, Keys: keys}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = r.twin.Close() })
	if r.src, err = wal.Open(openTestDB(tb), wal.Options{}); err != nil {
		tb.Fatal(err)
	}
	return r
}

func openTestDB(tb testing.TB) *pebble.DB {
	tb.Helper()
	db, err := pebble.Open(tb.TempDir(), &pebble.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func (r *twinRig) endpoint(id pki.Identity) *transport.Endpoint {
	r.tb.Helper()
	return r.net.Endpoint(id)
}

// produce appends n valid records to the source WAL and returns them.
func (r *twinRig) produce(n int) []wal.Record {
	r.tb.Helper()
	recs := make([]*wal.Record, n)
	for i := range recs {
		last, _ := r.src.Last()
		recs[i] = &wal.Record{Epoch: 1, Term: 1, Time: time.Now().UnixNano(), Namespace: "ns", Key: fmt.Sprintf("k%d", int(last)+i+1), Op: wal.OpPut, Payload: []byte("sealed")}
	}
	if err := r.src.Append(false, recs...); err != nil {
		r.tb.Fatal(err)
	}
	out := make([]wal.Record, n)
	for i, p := range recs {
		out[i] = *p
	}
	return out
}

// shipConn is the hand-driven site's stream to the twin.
type shipConn struct {
	tb  testing.TB
	st  *transport.Stream
	enc *transport.Encoder
	dec *transport.Decoder
}

func (r *twinRig) connect(id pki.Identity, term uint64) (*shipConn, shipResume, error) {
	r.tb.Helper()
	ep := r.endpoint(id)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := ep.Open(ctx, "lux-1", transport.KindShip)
	if err != nil {
		r.tb.Fatal(err)
	}
	r.tb.Cleanup(func() { _ = st.Close() })
	c := &shipConn{tb: r.tb, st: st, enc: transport.NewEncoder(st), dec: transport.NewDecoder(st, maxShipFrame)}
	c.enc.SetMaxFrame(maxShipFrame)
	if err := c.enc.Encode(frameShipHello, &shipHello{Version: shipVersion, Sender: id.Name, Epoch: 1, Term: term}); err != nil {
		r.tb.Fatal(err)
	}
	var res shipResume
	err = c.read(frameShipResume, &res)
	return c, res, err
}

func (c *shipConn) read(typ uint8, v any) error {
	_ = c.st.SetReadDeadline(time.Now().Add(10 * time.Second))
	return expectFrame(c.dec, typ, v)
}

func (c *shipConn) send(recs []wal.Record) (shipAck, error) {
	c.tb.Helper()
	var buf []byte
	for i := range recs {
		var err error
		if buf, err = appendRecord(buf, &recs[i]); err != nil {
			c.tb.Fatal(err)
		}
	}
	m := shipRecords{Epoch: 1, First: recs[0].Index, Count: uint32(len(recs)), RawLen: uint32(len(buf)), Data: buf}
	if err := c.enc.Encode(frameShipRecords, &m); err != nil {
		return shipAck{}, err
	}
	var ack shipAck
	err := c.read(frameShipAck, &ack)
	return ack, err
}

var site = pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-a"}

func TestTwin_Receive(t *testing.T) {
	r := newTwinRig(t)
	c, res, err := r.connect(site, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Index != 0 {
		t.Fatalf("resume index: got %d, want 0", res.Index)
	}
	recs := r.produce(10)
	ack, err := c.send(recs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ack.Index, uint64(10); got != want {
		t.Fatalf("ack: got %d, want %d", got, want)
	}
	if h, _ := hash32(ack.Hash); h != recs[9].Hash {
		t.Fatalf("ack hash: got %x, want %x", h[:8], recs[9].Hash[:8])
	}
	v, err := readSealed(r.db, "ns", "k10")
	if err != nil || string(v) != "sealed" {
		t.Fatalf("state k10: got %q, %v", v, err)
	}
	if st := r.twin.Status(); st.Alarm != "" || st.WALLast != 10 || st.Sender != "site-a" {
		t.Fatalf("status: got %+v", st)
	}
}

// TestTwin_Refuse sends data the twin must refuse; each case checks that
// the stream is refused with the reason, the alarm is raised, and nothing
// reached the WAL or the state.
func TestTwin_Refuse(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   pki.Identity
		// prepare ships valid records first (on a first stream) and
		// returns the records to send next.
		next func(r *twinRig, first *shipConn, good []wal.Record) []wal.Record
		want string
	}{
		{
			name: "forged chain hash",
			id:   site,
			next: func(r *twinRig, _ *shipConn, good []wal.Record) []wal.Record {
				bad := r.produce(3)
				bad[1].PrevHash[0] ^= 0xff // valid frame, wrong chain link
				bad[1].Seal()
				bad[2].PrevHash = bad[1].Hash
				bad[2].Seal()
				return bad
			},
			want: "chain",
		},
		{
			name: "altered payload",
			id:   site,
			next: func(r *twinRig, _ *shipConn, good []wal.Record) []wal.Record {
				bad := r.produce(2)
				bad[0].Payload = []byte("ransom") // hash no longer matches
				return bad
			},
			want: "hash mismatch",
		},
		{
			name: "replayed old frame",
			id:   site,
			next: func(r *twinRig, _ *shipConn, good []wal.Record) []wal.Record {
				return good[:5]
			},
			want: "gap",
		},
		{
			name: "record of an older epoch",
			id:   site,
			next: func(r *twinRig, _ *shipConn, good []wal.Record) []wal.Record {
				bad := r.produce(1)
				bad[0].Epoch = 0
				bad[0].Seal()
				return bad
			},
			want: "epoch",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTwinRig(t)
			c, _, err := r.connect(tc.id, 1)
			if err != nil {
				t.Fatal(err)
			}
			good := r.produce(5)
			if _, err := c.send(good); err != nil {
				t.Fatal(err)
			}
			before := r.twin.Status()
			bad := tc.next(r, c, good)
			_, err = c.send(bad)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("send: got %v, want ErrRefused", err)
			}
			after := r.twin.Status()
			if after.WALLast != before.WALLast || after.WALHash != before.WALHash {
				t.Fatalf("wal moved: %d %s -> %d %s", before.WALLast, before.WALHash, after.WALLast, after.WALHash)
			}
			if after.Refused != 1 || after.Alarm == "" {
				t.Fatalf("alarm not raised: %+v", after)
			}
			for _, rec := range bad {
				if rec.Index > before.WALLast {
					if _, err := readSealed(r.db, rec.Namespace, rec.Key); !errors.Is(err, ErrNotFound) {
						t.Fatalf("refused record %d reached the state: %v", rec.Index, err)
					}
				}
			}
			if !strings.Contains(strings.ToLower(after.Alarm), tc.want) {
				t.Fatalf("alarm %q does not mention %q", after.Alarm, tc.want)
			}
		})
	}
}

func TestTwin_RefuseSender(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   pki.Identity
	}{
		{"site of another region", pki.Identity{Role: pki.RoleSite, Region: "paris", Name: "site-a"}},
		{"site not in the cell", pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTwinRig(t)
			_, _, err := r.connect(tc.id, 1)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("connect: got %v, want ErrRefused", err)
			}
			if st := r.twin.Status(); st.Alarm == "" || st.Refused != 1 {
				t.Fatalf("alarm not raised: %+v", st)
			}
		})
	}
}

// TestTwin_LeaderChange checks that a newer leader's stream takes over
// and resumes at the twin's tip, and that an older term is refused.
func TestTwin_LeaderChange(t *testing.T) {
	r := newTwinRig(t)
	c1, _, err := r.connect(site, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.send(r.produce(7)); err != nil {
		t.Fatal(err)
	}
	c2, res, err := r.connect(pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-b"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Index, uint64(7); got != want {
		t.Fatalf("resume: got %d, want %d", got, want)
	}
	if ack, err := c2.send(r.produce(3)); err != nil || ack.Index != 10 {
		t.Fatalf("new leader send: got %+v, %v", ack, err)
	}
	if _, _, err := r.connect(pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-c"}, 2); err == nil || errors.Is(err, ErrRefused) {
		t.Fatalf("stale term: got %v, want a stale-leader error", err)
	}
	if st := r.twin.Status(); st.Alarm != "" {
		t.Fatalf("a leader change raised an alarm: %s", st.Alarm)
	}
}
