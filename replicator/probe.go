package replicator

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/monaco-sovereign/jumeau/transport"
	"github.com/monaco-sovereign/jumeau/wal"
)

// Errors of ProbeTwin. A probe the twin refused is not an error: it is
// the expected outcome, reported in ProbeResult.
var (
	// ErrProbeStale means the twin answered the probe's hello with
	// "stale leader" (error 3): a leader of a newer Raft term ships to
	// it, so it never looked at the probe's records. Probe again with the
	// cell's current term (ProbeOptions.Term, from the leader's status).
	ErrProbeStale = errors.New("replicator: probe: the twin hears a leader of a newer term; pass the cell's current term")
	// ErrProbeKind means ProbeTwin was given a kind or options it cannot
	// build a forgery from.
	ErrProbeKind = errors.New("replicator: probe: cannot build this forgery")
)

// ProbeKind is the forgery a ProbeTwin sends.
type ProbeKind string

// The forgeries ProbeTwin can send. Each is one records frame sent on a
// Ship stream right after a genuine hello; the twin must refuse it (error
// frame "refused", alarm) and store nothing of it.
const (
	// ProbeForgedPayload sends records that follow the twin's tip and
	// link to it, one of which had its payload changed after it was
	// sealed: its hash no longer matches ("hash mismatch").
	ProbeForgedPayload ProbeKind = "forged-payload"
	// ProbeBrokenChain sends self-consistent records (payload changed and
	// hash recomputed) that follow the twin's tip but link to a rewritten
	// predecessor, not to the tip's hash ("chain").
	ProbeBrokenChain ProbeKind = "broken-chain"
	// ProbeReplayedFrame sends again a frame of records the twin already
	// holds: ProbeOptions.Captured verbatim when set, else a frame
	// re-announcing the twin's tip index ("gap").
	ProbeReplayedFrame ProbeKind = "replayed-frame"
	// ProbeStaleEpoch sends well-chained records of the epoch before the
	// twin's, in a frame of that epoch ("epoch").
	ProbeStaleEpoch ProbeKind = "stale-epoch"
)

// Phrase names the forged frame in a sentence: "a replayed frame".
func (k ProbeKind) Phrase() string {
	switch k {
	case ProbeForgedPayload:
		return "a frame with an altered payload"
	case ProbeBrokenChain:
		return "a frame with a broken hash chain"
	case ProbeReplayedFrame:
		return "a replayed frame"
	case ProbeStaleEpoch:
		return "a frame of a stale epoch"
	}
	return fmt.Sprintf("a %q frame", string(k))
}

// ProbeKinds lists every ProbeKind.
func ProbeKinds() []ProbeKind {
	return []ProbeKind{ProbeForgedPayload, ProbeBrokenChain, ProbeReplayedFrame, ProbeStaleEpoch}
}

// ProbeOptions are the parameters of one ProbeTwin.
type ProbeOptions struct {
	// Term is the Raft term the probe's hello claims. The twin gives the
	// stream to a hello of a term at least the current leader's (which
	// it drops, to re-dial): use the cell's current term. A lower term is
	// answered "stale" (ErrProbeStale) and the records are never sent.
	Term uint64
	// Epoch is the region epoch of the hello; 0 is taken as 1. The
	// forged records carry the twin's epoch as its resume frame tells
	// (the epoch before it for ProbeStaleEpoch).
	Epoch uint64
	// Records is how many records the forged frame holds (0 is 1; at
	// most 1000).
	Records int
	// Captured, for ProbeReplayedFrame, are records captured earlier on
	// their way to the twin, re-sent verbatim as one frame.
	Captured []wal.Record
	// Timeout bounds the probe's wait for each answer (0: 10s).
	Timeout time.Duration
}

// ProbeResult is what the twin did with a probe.
type ProbeResult struct {
	Kind ProbeKind
	// Twin is the twin's node name; Sender the identity the probe's
	// endpoint presented ("site/monaco/site-a").
	Twin, Sender string
	// TipIndex and TipHash are the twin's durable tip as its resume
	// frame announced it, before the forgery.
	TipIndex uint64
	TipHash  [32]byte
	// TwinEpoch is the twin's epoch (resume frame).
	TwinEpoch uint64
	// First and Count are the indexes of the forged frame.
	First uint64
	Count int
	// Refused is true when the twin answered the forged frame (or the
	// hello) with error "refused"; Reason is its text.
	Refused bool
	Reason  string
	// AtHello is true when the twin refused the hello itself (unknown
	// sender, older epoch): the forged frame was never sent.
	AtHello bool
	// Accepted is true when the twin acknowledged the forged frame:
	// AckIndex is then the index it says it stored. A twin that
	// accepts a forgery is broken.
	Accepted bool
	AckIndex uint64
}

// String describes the outcome in one line for logs and reports.
func (r ProbeResult) String() string {
	switch {
	case r.Refused && r.AtHello:
		return fmt.Sprintf("%s refused the stream of %s at its hello, before %s: %s", r.Twin, r.Sender, r.Kind.Phrase(), r.Reason)
	case r.Refused:
		return fmt.Sprintf("%s refused %s (records %d..%d, tip %d) from %s: %s", r.Twin, r.Kind.Phrase(), r.First, r.First+uint64(max(r.Count, 1))-1, r.TipIndex, r.Sender, r.Reason)
	case r.Accepted:
		return fmt.Sprintf("%s ACCEPTED %s (records %d..%d) from %s and acknowledged index %d", r.Twin, r.Kind.Phrase(), r.First, r.First+uint64(max(r.Count, 1))-1, r.Sender, r.AckIndex)
	}
	return fmt.Sprintf("%s neither refused nor acknowledged %s from %s", r.Twin, r.Kind.Phrase(), r.Sender)
}

// maxProbeRecords bounds ProbeOptions.Records.
const maxProbeRecords = 1000

// ProbeTwin plays a compromised site: on ep (an endpoint holding a site's
// own certificate) it opens a Ship stream to the twin, sends a genuine
// hello (ProbeOptions.Term and Epoch), reads the twin's resume frame and
// sends one records frame forged as kind says, built on the tip the twin
// announced. It returns what the twin answered: refused (error frame,
// with its reason), accepted (an ack: the twin is broken) or neither. The
// stream is closed on return.
//
// The probe really attacks the twin: a refusal raises the twin's alarm
// (log, metric jumeau_twin_refused_total, status twin.alarm) until it
// restarts, and the hello takes the stream over from the cell leader,
// which re-dials within about 100 ms. Errors are failures to probe (no
// connection, stream closed without an answer, ErrProbeStale), not the
// twin's refusal.
func ProbeTwin(ctx context.Context, ep *transport.Endpoint, twin string, kind ProbeKind, opts ProbeOptions) (ProbeResult, error) {
	res := ProbeResult{Kind: kind, Twin: twin, Sender: ep.Identity().String()}
	if opts.Records == 0 {
		opts.Records = 1
	}
	if opts.Records < 0 || opts.Records > maxProbeRecords {
		return res, fmt.Errorf("%w: %d records: use 1 to %d", ErrProbeKind, opts.Records, maxProbeRecords)
	}
	if kind == ProbeReplayedFrame && len(opts.Captured) > maxProbeRecords {
		return res, fmt.Errorf("%w: %d captured records: use at most %d", ErrProbeKind, len(opts.Captured), maxProbeRecords)
	}
	switch kind {
	case ProbeForgedPayload, ProbeBrokenChain, ProbeReplayedFrame, ProbeStaleEpoch:
	default:
		return res, fmt.Errorf("%w: unknown kind %q: use one of %v", ErrProbeKind, kind, ProbeKinds())
	}
	if opts.Epoch == 0 {
		opts.Epoch = 1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	st, err := ep.Open(ctx, twin, transport.KindShip)
	if err != nil {
		return res, fmt.Errorf("replicator: probe %s: %w", twin, err)
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	enc := transport.NewEncoder(st)
	enc.SetMaxFrame(maxShipFrame)
	dec := transport.NewDecoder(st, maxShipFrame)
	// answer reads the twin's next frame: a refusal fills res, a stale
	// answer is ErrProbeStale, anything else not of type typ an error.
	answer := func(stage string, typ uint8, v any) (refused bool, err error) {
		_ = st.SetReadDeadline(time.Now().Add(opts.Timeout))
		fr, err := dec.Decode()
		if err != nil {
			return false, fmt.Errorf("replicator: probe %s: the stream ended before the twin answered the %s: %w", twin, stage, err)
		}
		if fr.Type == frameShipError {
			var e shipError
			if err := fr.Unmarshal(&e); err != nil {
				return false, fmt.Errorf("replicator: probe %s: malformed error frame after the %s: %w", twin, stage, err)
			}
			switch e.Code {
			case shipErrRefused:
				res.Refused, res.Reason = true, e.Msg
				return true, nil
			case shipErrStale:
				return false, fmt.Errorf("%w (term %d): %s", ErrProbeStale, opts.Term, e.Msg)
			}
			return false, fmt.Errorf("replicator: probe %s: the twin answered the %s with error %d: %s", twin, stage, e.Code, e.Msg)
		}
		if fr.Type != typ {
			return false, fmt.Errorf("replicator: probe %s: frame type %d after the %s, want %d", twin, fr.Type, stage, typ)
		}
		if err := fr.Unmarshal(v); err != nil {
			return false, fmt.Errorf("replicator: probe %s: %w", twin, err)
		}
		return false, nil
	}

	id := ep.Identity()
	hello := shipHello{Version: shipVersion, Sender: id.Name, Epoch: opts.Epoch, Term: opts.Term}
	if err := enc.Encode(frameShipHello, &hello); err != nil {
		return res, fmt.Errorf("replicator: probe %s: send hello: %w", twin, err)
	}
	var resume shipResume
	refused, err := answer("hello", frameShipResume, &resume)
	if err != nil || refused {
		res.AtHello = refused
		return res, err
	}
	tipHash, err := hash32(resume.Hash)
	if err != nil {
		return res, fmt.Errorf("replicator: probe %s: resume frame: %w", twin, err)
	}
	res.TipIndex, res.TipHash, res.TwinEpoch = resume.Index, tipHash, resume.Epoch

	frameEpoch, recs, err := forge(kind, resume.Index, tipHash, max(resume.Epoch, 1), opts)
	if err != nil {
		return res, err
	}
	var buf []byte
	for i := range recs {
		if buf, err = appendRecord(buf, &recs[i]); err != nil {
			return res, fmt.Errorf("replicator: probe %s: encode record %d: %w", twin, recs[i].Index, err)
		}
	}
	res.First, res.Count = recs[0].Index, len(recs)
	now := time.Now().UnixNano()
	m := shipRecords{Epoch: frameEpoch, First: recs[0].Index, Count: uint32(len(recs)), RawLen: uint32(len(buf)), Data: buf,
		PrimaryLast: max(resume.Index, recs[len(recs)-1].Index), Sent: now}
	if err := enc.Encode(frameShipRecords, &m); err != nil {
		return res, fmt.Errorf("replicator: probe %s: send records: %w", twin, err)
	}
	var ack shipAck
	if refused, err := answer("forged records", frameShipAck, &ack); err != nil || refused {
		return res, err
	}
	res.Accepted, res.AckIndex = true, ack.Index
	return res, nil
}

// forge builds the records of a probe on the twin's tip (index, hash) in
// the twin's epoch, and the epoch of the frame carrying them.
func forge(kind ProbeKind, tip uint64, tipHash [32]byte, epoch uint64, opts ProbeOptions) (uint64, []wal.Record, error) {
	if kind == ProbeReplayedFrame && len(opts.Captured) > 0 {
		recs := make([]wal.Record, len(opts.Captured))
		copy(recs, opts.Captured)
		var e uint64
		for _, r := range recs {
			e = max(e, r.Epoch)
		}
		return e, recs, nil
	}
	recEpoch := epoch
	if kind == ProbeStaleEpoch {
		if epoch == 0 {
			return 0, nil, fmt.Errorf("%w: the twin is in epoch 0: no older epoch to forge", ErrProbeKind)
		}
		recEpoch = epoch - 1 // epoch 0 when the twin is in the first epoch
	}
	first, prev := tip+1, tipHash
	if kind == ProbeReplayedFrame {
		// Without captured records: a frame re-announcing the twin's tip
		// index (what a replayed frame is to it). Its content cannot be
		// the original's, which the probe never saw; the twin refuses the
		// index before it looks at the content.
		if tip == 0 {
			return 0, nil, fmt.Errorf("%w: the twin holds no record yet: nothing to replay", ErrProbeKind)
		}
		first = tip
		prev = [32]byte{}
	}
	if kind == ProbeBrokenChain {
		// The rewritten predecessor: the tip's hash, altered.
		prev[0] ^= 0xff
	}
	recs := make([]wal.Record, opts.Records)
	now := time.Now().UnixNano()
	for i := range recs {
		payload := make([]byte, 32)
		_, _ = rand.Read(payload)
		recs[i] = wal.Record{
			Index: first + uint64(i), Epoch: recEpoch, Term: opts.Term, Time: now,
			Namespace: "drill-forged", Key: fmt.Sprintf("forged-%d", first+uint64(i)), Op: wal.OpPut,
			Payload: payload, PrevHash: prev,
		}
		recs[i].Seal()
		prev = recs[i].Hash
	}
	if kind == ProbeForgedPayload {
		// Altered after sealing: the hash no longer matches.
		recs[0].Payload = append([]byte("forged:"), recs[0].Payload...)
	}
	return recEpoch, recs, nil
}
