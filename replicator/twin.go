package replicator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/keyring"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/transport"
	"github.com/monaco-sovereign/jumeau/wal"
)

// TwinDeps are the parts the twin runs on.
type TwinDeps struct {
	DB       *pebble.DB
	WAL      *wal.Log
	Endpoint *transport.Endpoint
	Keys     Sealer
	Logger   *slog.Logger
	// Registerer receives the twin's Prometheus metrics; nil skips them.
	Registerer prometheus.Registerer
	// OnFatal is called once if the twin can no longer store what it
	// receives (a disk failure); the program should stop.
	OnFatal func(error)
	// OnHeard, if set, is called whenever a frame from the primary
	// arrives (the failover detector's evidence that it is alive).
	OnHeard func()
}

// Twin is the Luxembourg twin: it accepts the WAL shipped by the primary
// cell's leader, verifies every record (sender, epoch, index, chain link,
// hash) before storing it, applies it to its own copy of the state in the
// same synced Pebble batch, and acknowledges what is durable. It serves
// stale reads and refuses writes until it is promoted.
type Twin struct {
	cfg    TwinConfig
	deps   TwinDeps
	logger *slog.Logger
	m      *twinMetrics
	lists  *lister

	applyMu sync.Mutex // one writer of the WAL and state

	mu          sync.Mutex
	maxTerm     uint64
	epoch       uint64
	session     *twinSession
	sender      string
	primaryLast uint64
	primaryTime time.Time
	lastRecv    time.Time
	lastFrame   time.Time // any frame of the current or last ship stream
	recvBytes   uint64
	snapshots   uint64
	refused     uint64
	alarm       string
	alarmTime   time.Time
	fatal       error
	// lag is the primary's last reported lag of this twin (records, age).
	lagKnown   bool
	lagRecords uint64
	lagAge     time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type twinSession struct {
	cancel context.CancelFunc
	done   chan struct{}
	// bound is how long the stream may stay silent and still count as
	// connected; hbAcks is whether the sender wants heartbeats answered.
	bound  time.Duration
	hbAcks bool
}

// unknownHeartbeat is the heartbeat assumed of a sender that does not
// state its own: the longest a shipper may be configured with.
const unknownHeartbeat = 10 * time.Second

// OpenTwin starts the twin's receiver on the endpoint.
func OpenTwin(cfg TwinConfig, deps TwinDeps) (*Twin, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.DB == nil || deps.WAL == nil || deps.Endpoint == nil || deps.Keys == nil {
		return nil, errors.New("replicator: open twin: missing dependency (db, wal, endpoint and keys are required)")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := reinstallKeys(deps.DB, deps.Keys); err != nil {
		return nil, err
	}
	t := &Twin{cfg: cfg, deps: deps, logger: logger.With("component", "twin"), epoch: cfg.Epoch}
	if last, _ := deps.WAL.Last(); last > deps.WAL.First()-1 {
		rec, err := deps.WAL.Get(last)
		if err != nil {
			return nil, fmt.Errorf("replicator: open twin: read last record: %w", err)
		}
		t.epoch = max(t.epoch, rec.Epoch)
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.m = newTwinMetrics(t, deps.Registerer)
	t.lists = newLister(deps.DB, deps.Keys, deps.Registerer)
	t.wg.Add(1)
	go t.serve()
	return t, nil
}

// Close stops receiving; the data stays on disk.
func (t *Twin) Close() error {
	t.cancel()
	t.wg.Wait()
	t.m.unregister()
	t.lists.m.unregister()
	return nil
}

func (t *Twin) serve() {
	defer t.wg.Done()
	for {
		st, err := t.deps.Endpoint.Accept(t.ctx, transport.KindShip)
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			t.logger.Warn("accept ship stream", "err", err)
			sleepCtx(t.ctx, 50*time.Millisecond)
			continue
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.handle(st)
		}()
	}
}

// refusal is a check a shipped batch or stream failed.
type refusal struct {
	reason refusalReason // metric label
	err    error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refuse(reason refusalReason, format string, args ...any) *refusal {
	return &refusal{reason: reason, err: fmt.Errorf("%w: "+format, append([]any{ErrRefused}, args...)...)}
}

// raise records an alarm: log, metric, status.
func (t *Twin) raise(peer pki.Identity, r *refusal) {
	t.mu.Lock()
	t.refused++
	t.alarm = fmt.Sprintf("%s (from %s)", r.err, peer)
	t.alarmTime = time.Now()
	t.mu.Unlock()
	t.m.refused.WithLabelValues(string(r.reason)).Inc()
	t.logger.Error("ALARM: twin refused shipped data; nothing of it was stored", "peer", peer.String(), "reason", string(r.reason), "err", r.err)
}

func (t *Twin) handle(st *transport.Stream) {
	defer st.Close()
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	enc := transport.NewEncoder(st)
	dec := transport.NewDecoder(st, t.cfg.MaxFrame)
	peer := st.Peer()
	sendErr := func(code uint8, err error) {
		_ = enc.Encode(frameShipError, &shipError{Code: code, Msg: err.Error()})
	}
	// Senders are the primary cell's sites or, after a promotion, the
	// promoted twin shipping to the sites of the region it replaced.
	if (peer.Role != pki.RoleSite && peer.Role != pki.RoleTwin) || peer.Region != t.cfg.PrimaryRegion || !slices.Contains(t.cfg.Sites, peer.Name) {
		r := refuse(refusedSender, "%s is not a primary node allowed to ship here (%s region, senders %v)", peer, t.cfg.PrimaryRegion, t.cfg.Sites)
		t.raise(peer, r)
		sendErr(shipErrRefused, r)
		return
	}
	_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
	fr, err := dec.Decode()
	if err != nil {
		t.logger.Debug("ship stream ended before hello", "peer", peer.String(), "err", err)
		return
	}
	var hello shipHello
	if fr.Type != frameShipHello || fr.Unmarshal(&hello) != nil || hello.Version != shipVersion || hello.Sender != peer.Name {
		r := refuse(refusedProtocol, "bad hello (frame type %d, version %d, sender %q)", fr.Type, hello.Version, hello.Sender)
		t.raise(peer, r)
		sendErr(shipErrRefused, r)
		return
	}
	_ = st.SetReadDeadline(time.Time{})
	t.mu.Lock()
	epoch := max(t.epoch, t.cfg.SenderEpoch)
	t.mu.Unlock()
	if hello.Epoch < epoch {
		r := refuse(refusedEpoch, "sender is in epoch %d, the twin in %d", hello.Epoch, epoch)
		t.raise(peer, r)
		sendErr(shipErrRefused, r)
		return
	}
	sess, err := t.takeOver(ctx, cancel, hello.Term)
	if err == nil {
		hb := time.Duration(hello.Heartbeat)
		if hb <= 0 {
			hb = unknownHeartbeat
		}
		t.mu.Lock()
		sess.bound, sess.hbAcks = linkBound(hb), hello.HeartbeatAcks
		t.lastFrame = time.Now()
		t.mu.Unlock()
	}
	if err != nil {
		t.logger.Info("ship stream from a stale leader refused", "peer", peer.String(), "term", hello.Term, "err", err)
		sendErr(shipErrStale, err)
		return
	}
	defer func() {
		t.mu.Lock()
		if t.session == sess {
			t.session = nil
		}
		t.mu.Unlock()
		close(sess.done)
	}()
	t.mu.Lock()
	t.sender = peer.Name
	t.primaryLast = max(t.primaryLast, hello.Last)
	t.lagKnown = true // what the primary holds beyond the tip is now known
	t.mu.Unlock()
	if t.deps.OnHeard != nil {
		t.deps.OnHeard()
	}
	last, h := t.deps.WAL.Last()
	if err := enc.Encode(frameShipResume, &shipResume{Index: last, Hash: h[:], Epoch: epoch, HeartbeatAcks: sess.hbAcks}); err != nil {
		return
	}
	t.logger.Info("primary ships to the twin", "peer", peer.String(), "term", hello.Term, "resume_from", last+1)

	frames := make(chan shipFrame, 64)
	go func() {
		defer close(frames)
		for {
			fr, err := dec.Decode()
			if err != nil {
				select {
				case frames <- shipFrame{err: err}:
				case <-ctx.Done():
				}
				return
			}
			t.mu.Lock()
			t.lastFrame = time.Now()
			t.mu.Unlock()
			sf := shipFrame{typ: fr.Type}
			switch fr.Type {
			case frameShipRecords:
				sf.rec = new(shipRecords)
				err = fr.Unmarshal(sf.rec)
			case frameShipHeartbeat:
				sf.hb = new(shipHeartbeat)
				err = fr.Unmarshal(sf.hb)
			case frameShipSnapBegin:
				sf.snap = new(shipSnapBegin)
				err = fr.Unmarshal(sf.snap)
			case frameShipSnapChunk:
				var c shipSnapChunk
				err = fr.Unmarshal(&c)
				sf.chunk = c.Data
			case frameShipSnapEnd:
			case frameShipError:
				var e shipError
				if fr.Unmarshal(&e) == nil {
					err = twinError(&e)
				} else {
					err = errors.New("malformed error frame")
				}
			default:
				err = refuse(refusedProtocol, "unexpected frame type %d", fr.Type)
			}
			if err != nil && !errors.As(err, new(*refusal)) && fr.Type != frameShipError {
				err = refuse(refusedProtocol, "frame type %d does not decode: %v", fr.Type, err)
			}
			sf.err = err
			select {
			case frames <- sf:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	err = t.receive(ctx, enc, frames, sess.hbAcks)
	var r *refusal
	switch {
	case errors.As(err, &r):
		t.raise(peer, r)
		sendErr(shipErrRefused, r)
	case errors.Is(err, errTwinFatal):
		sendErr(shipErrInternal, err)
	case err != nil && ctx.Err() == nil:
		t.logger.Info("ship stream ended", "peer", peer.String(), "err", err)
	}
}

type shipFrame struct {
	typ   uint8
	rec   *shipRecords
	hb    *shipHeartbeat
	snap  *shipSnapBegin
	chunk []byte
	err   error
}

// takeOver makes this stream the one the twin receives from: a stream
// from a leader of the same or a newer term replaces the current one
// (which is cancelled and waited for); an older term is refused.
func (t *Twin) takeOver(ctx context.Context, cancel context.CancelFunc, term uint64) (*twinSession, error) {
	for {
		t.mu.Lock()
		if term < t.maxTerm {
			t.mu.Unlock()
			return nil, fmt.Errorf("a leader of term %d ships already; this stream is of term %d", t.maxTerm, term)
		}
		cur := t.session
		if cur == nil {
			t.maxTerm = term
			s := &twinSession{cancel: cancel, done: make(chan struct{})}
			t.session = s
			t.mu.Unlock()
			return s, nil
		}
		t.mu.Unlock()
		cur.cancel()
		select {
		case <-cur.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

var errTwinFatal = errors.New("replicator: twin storage failed")

// receive applies frames until the stream ends or a check fails.
// With hbAcks, every heartbeat is answered with an ack of the twin's tip
// (the index the sender last had acknowledged), so the sender hears the
// twin on an idle link.
func (t *Twin) receive(ctx context.Context, enc *transport.Encoder, frames <-chan shipFrame, hbAcks bool) error {
	for {
		var sf shipFrame
		select {
		case <-ctx.Done():
			return ctx.Err()
		case f, ok := <-frames:
			if !ok {
				return io.EOF
			}
			sf = f
		}
		if sf.err != nil {
			return sf.err
		}
		switch sf.typ {
		case frameShipHeartbeat:
			t.noteSender(sf.hb.PrimaryLast, sf.hb.Sent)
			t.noteLag(sf.hb.LagRecords, sf.hb.LagAge)
			if hbAcks {
				idx, h := t.deps.WAL.Last()
				if err := enc.Encode(frameShipAck, &shipAck{Index: idx, Hash: h[:]}); err != nil {
					return err
				}
			}
		case frameShipRecords:
			// Group commit: take every records frame already received,
			// store them in one synced batch and ack once.
			group := []*shipRecords{sf.rec}
			var pending *shipFrame
		drain:
			for len(group) < 64 {
				select {
				case f, ok := <-frames:
					if !ok {
						break drain
					}
					if f.err == nil && f.typ == frameShipRecords {
						group = append(group, f.rec)
						continue
					}
					pending = &f
					break drain
				default:
					break drain
				}
			}
			idx, h, err := t.apply(group)
			if err != nil {
				return err
			}
			if err := enc.Encode(frameShipAck, &shipAck{Index: idx, Hash: h[:]}); err != nil {
				return err
			}
			if pending != nil {
				if pending.err != nil {
					return pending.err
				}
				if pending.typ == frameShipHeartbeat {
					t.noteSender(pending.hb.PrimaryLast, pending.hb.Sent)
					t.noteLag(pending.hb.LagRecords, pending.hb.LagAge)
				} else {
					return refuse(refusedProtocol, "frame type %d in the middle of records", pending.typ)
				}
			}
		case frameShipSnapBegin:
			idx, h, err := t.restore(ctx, sf.snap, frames)
			if err != nil {
				return err
			}
			if err := enc.Encode(frameShipAck, &shipAck{Index: idx, Hash: h[:]}); err != nil {
				return err
			}
		default:
			return refuse(refusedProtocol, "unexpected frame type %d", sf.typ)
		}
	}
}

func (t *Twin) noteSender(primaryLast uint64, sent int64) {
	t.mu.Lock()
	t.primaryLast = max(t.primaryLast, primaryLast)
	t.primaryTime = time.Unix(0, sent)
	t.lastRecv = time.Now()
	t.mu.Unlock()
	if t.deps.OnHeard != nil {
		t.deps.OnHeard()
	}
}

func (t *Twin) noteLag(records uint64, age int64) {
	t.mu.Lock()
	t.lagKnown, t.lagRecords, t.lagAge = true, records, time.Duration(age)
	t.mu.Unlock()
}

// LastKnownLag is what the twin lacks as far as it knows: the records the
// primary last said it had beyond the twin's tip, and the age the primary
// last reported for the oldest record the twin lacked (0 when it lacks
// none). Records committed after the primary's last frame are unknown
// here (see the failover package's loss check). known is false if no
// primary spoke to this process yet.
func (t *Twin) LastKnownLag() (records uint64, age time.Duration, known bool) {
	last, _ := t.deps.WAL.Last()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.primaryLast > last {
		records = t.primaryLast - last
		age = t.lagAge
	}
	return records, age, t.lagKnown
}

// apply verifies and stores a group of records frames in one synced batch.
// On a refusal nothing of the group is stored.
func (t *Twin) apply(group []*shipRecords) (uint64, [32]byte, error) {
	t.applyMu.Lock()
	defer t.applyMu.Unlock()
	if err := t.failed(); err != nil {
		return 0, [32]byte{}, err
	}
	start := time.Now()
	w := t.deps.WAL
	t.mu.Lock()
	epoch := t.epoch
	t.mu.Unlock()
	// Size the batch for the group up front: every record is stored twice
	// (WAL record and state value), and growing a batch by doubling cost
	// a sixth of the twin's CPU in the catch-up profile.
	size := 0
	for _, m := range group {
		size += 2*int(m.RawLen) + 64*int(m.Count)
	}
	b := t.deps.DB.NewBatchWithSize(min(size, 64<<20))
	defer b.Close()
	keySeen := map[string]bool{}
	var (
		installs   [][2]string
		count      int
		bytes      uint64
		primary    uint64
		sent       int64
		lagRecords uint64
		lagAge     int64
	)
	drop := func(r *refusal) (uint64, [32]byte, error) {
		if err := w.Reload(); err != nil {
			return 0, [32]byte{}, t.fail(fmt.Errorf("reload wal after a refused batch: %w", err))
		}
		return 0, [32]byte{}, r
	}
	for _, m := range group {
		if m.Epoch < epoch {
			return drop(refuse(refusedEpoch, "frame of epoch %d, the twin is in epoch %d", m.Epoch, epoch))
		}
		recs, err := unpackRecords(m)
		if err != nil {
			return drop(refuse(refusedCorrupt, "records frame from index %d: %v", m.First, err))
		}
		if recs[0].Index != m.First {
			return drop(refuse(refusedProtocol, "frame says it starts at %d, its first record is %d", m.First, recs[0].Index))
		}
		for i := range recs {
			rec := &recs[i]
			if rec.Epoch < epoch || rec.Epoch > m.Epoch {
				return drop(refuse(refusedEpoch, "record %d of epoch %d outside %d..%d", rec.Index, rec.Epoch, epoch, m.Epoch))
			}
			if err := w.StageVerified(b, *rec); err != nil {
				reason := refusedCorrupt
				switch {
				case errors.Is(err, wal.ErrGap):
					reason = refusedGap
				case errors.Is(err, wal.ErrChainBroken):
					reason = refusedChain
				}
				return drop(refuse(reason, "%v", err))
			}
			epoch = rec.Epoch
			if stageState(b, rec, keySeen, func(ns string) bool { return hasNSKey(t.deps.DB, ns) }) {
				installs = append(installs, [2]string{rec.Namespace, string(rec.Payload)})
			}
			count++
		}
		bytes += uint64(m.RawLen)
		primary = max(primary, m.PrimaryLast)
		sent = m.Sent
		lagRecords, lagAge = m.LagRecords, m.LagAge
	}
	if err := b.Commit(pebble.Sync); err != nil {
		if rerr := w.Reload(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return 0, [32]byte{}, t.fail(fmt.Errorf("commit %d records: %w", count, err))
	}
	for _, kv := range installs {
		if err := t.deps.Keys.Install(kv[0], []byte(kv[1])); err != nil {
			if errors.Is(err, keyring.ErrPersist) {
				// The key is in memory and in Pebble; only the keyring
				// file's copy is stale until the next write or start.
				t.logger.Warn("namespace key installed, but the keyring file could not be written", "namespace", kv[0], "err", err)
				continue
			}
			// The twin still stores the namespace's records; it cannot
			// serve its reads until the key-encryption key is right.
			t.logger.Error("cannot install a namespace key (reads of that namespace will fail)", "namespace", kv[0], "err", err)
		}
	}
	t.m.commitLatency.Observe(time.Since(start).Seconds())
	t.m.records.Add(float64(count))
	t.m.bytes.Add(float64(bytes))
	idx, h := w.Last()
	t.mu.Lock()
	t.epoch = epoch
	t.recvBytes += bytes
	t.mu.Unlock()
	t.noteSender(primary, sent)
	t.noteLag(lagRecords, lagAge)
	return idx, h, nil
}

// restore receives a state snapshot (catch-up when the twin is behind the
// leader's WAL retention, or was wiped) and replaces its state with it.
func (t *Twin) restore(ctx context.Context, begin *shipSnapBegin, frames <-chan shipFrame) (uint64, [32]byte, error) {
	t.applyMu.Lock()
	defer t.applyMu.Unlock()
	if err := t.failed(); err != nil {
		return 0, [32]byte{}, err
	}
	w := t.deps.WAL
	if last, _ := w.Last(); begin.Index <= last {
		return 0, [32]byte{}, refuse(refusedSnapshot, "snapshot at index %d would roll back the twin, which holds up to %d", begin.Index, last)
	}
	t.mu.Lock()
	epoch := t.epoch
	t.mu.Unlock()
	if begin.Epoch < epoch {
		return 0, [32]byte{}, refuse(refusedEpoch, "snapshot of epoch %d, the twin is in epoch %d", begin.Epoch, epoch)
	}
	wantHash, err := hash32(begin.Hash)
	if err != nil {
		return 0, [32]byte{}, refuse(refusedProtocol, "snapshot begin: %v", err)
	}
	t.logger.Info("restoring a state snapshot from the primary", "anchor", begin.Index)
	r := &frameChunkReader{ctx: ctx, frames: frames}
	b := t.deps.DB.NewBatch()
	defer b.Close()
	_, nsKeys, err := readSnapshot(r, b, w, nil)
	if err == nil && !r.ended {
		// readSnapshot stops at the trailer: the end frame must follow.
		_, err = r.Read(make([]byte, 1))
		if err == io.EOF && r.ended {
			err = nil
		} else if err == nil {
			err = errors.New("data after the snapshot trailer")
		}
	}
	if err == nil {
		if a, h := w.Anchor(); a != begin.Index || h != wantHash {
			err = fmt.Errorf("snapshot anchored at %d, announced %d", a, begin.Index)
		}
	}
	if err != nil {
		if rerr := w.Reload(); rerr != nil {
			return 0, [32]byte{}, t.fail(fmt.Errorf("reload wal after a failed snapshot: %w", rerr))
		}
		var rf *refusal
		if r.err != nil && !errors.As(r.err, &rf) {
			// The stream failed (network, sender gone): not an attack.
			return 0, [32]byte{}, fmt.Errorf("receive snapshot: %w", r.err)
		}
		if errors.As(err, &rf) || errors.Is(err, ErrBadSnapshot) || errors.Is(err, wal.ErrCorrupt) || errors.Is(err, wal.ErrChainBroken) {
			return 0, [32]byte{}, refuse(refusedSnapshot, "%v", err)
		}
		return 0, [32]byte{}, fmt.Errorf("receive snapshot: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		if rerr := w.Reload(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return 0, [32]byte{}, t.fail(fmt.Errorf("commit snapshot: %w", err))
	}
	for _, kv := range nsKeys {
		if err := t.deps.Keys.Install(string(kv[0]), kv[1]); err != nil {
			t.logger.Error("cannot install a namespace key from the snapshot", "namespace", string(kv[0]), "err", err)
		}
	}
	t.mu.Lock()
	t.snapshots++
	t.mu.Unlock()
	t.m.snapshots.Inc()
	idx, h := w.Last()
	t.logger.Info("state snapshot restored", "anchor", idx)
	return idx, h, nil
}

// frameChunkReader reads a snapshot's bytes from chunk frames until the
// end frame.
type frameChunkReader struct {
	ctx    context.Context
	frames <-chan shipFrame
	buf    []byte
	ended  bool
	err    error // the first failure Read returned
}

func (r *frameChunkReader) Read(p []byte) (int, error) {
	n, err := r.read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

func (r *frameChunkReader) read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.ended {
			return 0, io.EOF
		}
		select {
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		case f, ok := <-r.frames:
			if !ok {
				return 0, io.ErrUnexpectedEOF
			}
			if f.err != nil {
				return 0, f.err
			}
			switch f.typ {
			case frameShipSnapChunk:
				r.buf = f.chunk
			case frameShipSnapEnd:
				r.ended = true
			default:
				return 0, refuse(refusedProtocol, "frame type %d inside a snapshot", f.typ)
			}
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (t *Twin) failed() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fatal
}

// fail halts the receiver after a storage failure.
func (t *Twin) fail(err error) error {
	err = fmt.Errorf("%w: %w", errTwinFatal, err)
	t.mu.Lock()
	first := t.fatal == nil
	if first {
		t.fatal = err
	}
	t.mu.Unlock()
	if first {
		t.logger.Error("twin storage failed: receiver halted (restart the twin)", "err", err)
		if t.deps.OnFatal != nil {
			t.deps.OnFatal(err)
		}
	}
	return err
}

// Put refuses: the twin is read-only until promoted.
func (t *Twin) Put(ctx context.Context, ns, key string, value []byte, d Durability) (Result, error) {
	return Result{}, t.readOnly()
}

// Delete refuses: the twin is read-only until promoted.
func (t *Twin) Delete(ctx context.Context, ns, key string, d Durability) (Result, error) {
	return Result{}, t.readOnly()
}

// readOnly is ErrReadOnly naming the primary this replica follows: its
// region and, once it shipped here, the node that ships.
func (t *Twin) readOnly() error {
	t.mu.Lock()
	sender := t.sender
	t.mu.Unlock()
	if sender == "" {
		return fmt.Errorf("%w: %s is a replica of primary region %s", ErrReadOnly, t.cfg.Name, t.cfg.PrimaryRegion)
	}
	return fmt.Errorf("%w: %s is a replica of primary region %s (its primary node shipping here: %s)", ErrReadOnly, t.cfg.Name, t.cfg.PrimaryRegion, sender)
}

// errStaleOnly explains why the twin refuses a linearizable read.
var errStaleOnly = fmt.Errorf("%w: this node is a replica of the primary (the twin, or a demoted site): it serves stale reads of its copy only (see status for its lag); ask for a stale read (--stale, consistency=stale), or send the read to the primary", ErrReadOnly)

// Get reads ns/key from the twin's copy (stale reads only).
func (t *Twin) Get(ctx context.Context, ns, key string, cons Consistency) ([]byte, error) {
	if err := ValidateNamespace(ns); err != nil {
		return nil, err
	}
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if cons != Stale {
		return nil, errStaleOnly
	}
	sealed, err := readSealed(t.deps.DB, ns, key)
	if err != nil {
		return nil, err
	}
	v, err := t.deps.Keys.Unseal(ns, aad(ns, key), sealed)
	if err != nil {
		return nil, fmt.Errorf("unseal %s/%s: %w", ns, key, err)
	}
	return v, nil
}

// Status reports what the twin holds and receives.
func (t *Twin) Status() TwinStatus {
	w := t.deps.WAL
	last, h := w.Last()
	t.mu.Lock()
	defer t.mu.Unlock()
	st := TwinStatus{
		Name: t.cfg.Name, PrimaryRegion: t.cfg.PrimaryRegion, Epoch: t.epoch,
		Sender: t.sender, LastHeardMs: -1,
		WALFirst: w.First(), WALLast: last, WALHash: fmt.Sprintf("%x", h),
		PrimaryLastIndex: t.primaryLast, PrimaryTime: t.primaryTime, LastReceived: t.lastRecv,
		ReceivedBytes: t.recvBytes, SnapshotsRestored: t.snapshots,
		Refused: t.refused, Alarm: t.alarm, AlarmTime: t.alarmTime,
	}
	now := time.Now()
	if !t.lastFrame.IsZero() {
		st.LastHeardMs = now.Sub(t.lastFrame).Milliseconds()
	}
	st.Connected = t.session != nil && now.Sub(t.lastFrame) <= t.session.bound
	if t.primaryLast > last {
		st.LagRecords = t.primaryLast - last
	}
	if t.fatal != nil {
		st.FSMError = t.fatal.Error()
	}
	return st
}
