package replicator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/transport"
	"github.com/monaco-sovereign/jumeau/wal"
)

// compromised is the identity of the site the probes come from: a genuine
// site of the cell (site-a ships genuinely in the rig).
var compromised = pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-b"}

// probeRig is a twin that received 5 genuine records from site-a (term
// 1), and a probing endpoint with site-b's certificate.
func probeRig(tb testing.TB) (*twinRig, []wal.Record, *transport.Endpoint) {
	tb.Helper()
	r := newTwinRig(tb)
	c, _, err := r.connect(site, 1)
	if err != nil {
		tb.Fatal(err)
	}
	good := r.produce(5)
	if _, err := c.send(good); err != nil {
		tb.Fatal(err)
	}
	return r, good, r.endpoint(compromised)
}

func probe(tb testing.TB, ep *transport.Endpoint, kind ProbeKind, opts ProbeOptions) (ProbeResult, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return ProbeTwin(ctx, ep, "lux-1", kind, opts)
}

// TestProbeTwin_Refused sends each forgery and fails if the twin stored
// any of it, acknowledged it, or did not raise its alarm.
func TestProbeTwin_Refused(t *testing.T) {
	for _, tc := range []struct {
		kind     ProbeKind
		captured bool
		want     string
	}{
		{ProbeForgedPayload, false, "hash mismatch"},
		{ProbeBrokenChain, false, "chain"},
		{ProbeReplayedFrame, false, "gap"},
		{ProbeReplayedFrame, true, "gap"},
		{ProbeStaleEpoch, false, "epoch"},
	} {
		name := string(tc.kind)
		if tc.captured {
			name += " captured"
		}
		t.Run(name, func(t *testing.T) {
			r, good, ep := probeRig(t)
			before := r.twin.Status()
			opts := ProbeOptions{Term: 1, Epoch: 1, Records: 3}
			if tc.captured {
				opts.Captured = good[1:4]
			}
			res, err := probe(t, ep, tc.kind, opts)
			if err != nil {
				t.Fatalf("probe: %v", err)
			}
			if res.Accepted {
				t.Fatalf("the twin accepted a forgery: %s", res)
			}
			if !res.Refused || res.AtHello {
				t.Fatalf("not refused on the records: %+v", res)
			}
			if !strings.Contains(strings.ToLower(res.Reason), tc.want) {
				t.Fatalf("reason %q does not mention %q", res.Reason, tc.want)
			}
			if got, want := res.TipIndex, uint64(5); got != want {
				t.Fatalf("tip: got %d, want %d", got, want)
			}
			after := r.twin.Status()
			if after.WALLast != before.WALLast || after.WALHash != before.WALHash {
				t.Fatalf("twin WAL moved: %d %s -> %d %s", before.WALLast, before.WALHash, after.WALLast, after.WALHash)
			}
			if after.Alarm == "" || after.Refused != before.Refused+1 {
				t.Fatalf("alarm not raised: %+v", after)
			}
			if !strings.Contains(res.String(), "refused "+tc.kind.Phrase()) {
				t.Fatalf("String: got %q", res.String())
			}
			if _, err := readSealed(r.db, "drill-forged", "forged-6"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a forged record reached the state: %v", err)
			}
		})
	}
}

// TestProbeTwin_Accepted checks that the probe reports an acknowledgement
// as such: the next genuine records, sent as a "replay", are accepted.
func TestProbeTwin_Accepted(t *testing.T) {
	r, _, ep := probeRig(t)
	next := r.produce(2)
	res, err := probe(t, ep, ProbeReplayedFrame, ProbeOptions{Term: 1, Epoch: 1, Captured: next})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Accepted || res.Refused || res.AckIndex != 7 {
		t.Fatalf("got %+v, want accepted at 7", res)
	}
	if !strings.Contains(res.String(), "ACCEPTED") {
		t.Fatalf("String: got %q", res.String())
	}
}

func TestProbeTwin_RefusedAtHello(t *testing.T) {
	r, _, _ := probeRig(t)
	ep := r.endpoint(pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-z"})
	res, err := probe(t, ep, ProbeForgedPayload, ProbeOptions{Term: 1, Epoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Refused || !res.AtHello || !strings.Contains(res.Reason, "not a primary node") {
		t.Fatalf("got %+v, want refused at hello", res)
	}
}

func TestProbeTwin_Errors(t *testing.T) {
	r, _, ep := probeRig(t)
	t.Run("stale term", func(t *testing.T) {
		c, _, err := r.connect(site, 4)
		if err != nil {
			t.Fatal(err)
		}
		defer c.st.Close()
		before := r.twin.Status()
		if _, err := probe(t, ep, ProbeForgedPayload, ProbeOptions{Term: 3, Epoch: 1}); !errors.Is(err, ErrProbeStale) {
			t.Fatalf("got %v, want ErrProbeStale", err)
		}
		if after := r.twin.Status(); after.Refused != before.Refused {
			t.Fatalf("a stale hello counted as a refusal: %+v", after)
		}
	})
	t.Run("unknown kind", func(t *testing.T) {
		if _, err := probe(t, ep, "bogus", ProbeOptions{Term: 5}); !errors.Is(err, ErrProbeKind) {
			t.Fatalf("got %v, want ErrProbeKind", err)
		}
	})
	t.Run("too many records", func(t *testing.T) {
		if _, err := probe(t, ep, ProbeBrokenChain, ProbeOptions{Term: 5, Records: maxProbeRecords + 1}); !errors.Is(err, ErrProbeKind) {
			t.Fatalf("got %v, want ErrProbeKind", err)
		}
	})
}
