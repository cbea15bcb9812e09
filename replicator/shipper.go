package replicator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/transport"
	"github.com/monaco-sovereign/jumeau/wal"
)

// The shipper runs on every site and ships only while its site leads the
// cell: it opens one Ship stream to the twin, learns the twin's durable
// position (resume handshake), checks that position against its own WAL,
// then streams records in frames, keeping up to WindowBytes unacknowledged
// (a 700 km link needs bandwidth x RTT in flight). A leader change ends
// the stream; the next leader resumes from what the twin holds durably,
// so the twin sees no gap and no duplicate.
type shipper struct {
	c      *Cell
	cfg    ShipConfig
	logger *slog.Logger
	m      *shipMetrics

	mu        sync.Mutex
	active    bool
	connected bool
	ackKnown  bool
	acked     uint64
	ackedHash [32]byte // hash of the record at acked, once the twin said
	// lastHeard is when the current session last received a frame from
	// the twin; hbAcks is whether that twin answers heartbeats (an older
	// twin does not, and then an idle link is not evidence of a dead one).
	lastHeard  time.Time
	hbAcks     bool
	sent       uint64
	inflight   []inflightBatch
	inflightB  int
	ackedBytes uint64
	avgRecord  float64 // mean encoded record size (EWMA), for lag bytes
	snapshots  uint64
	lastErr    string
	diverged   string
	ackCh      chan struct{} // closed and replaced at every ack
	oldest     struct {
		index uint64
		time  int64
	}
	lastAlert time.Time
	// downSince is when this leader last had no stream to the target
	// (since it became leader, or since the stream ended).
	downSince time.Time
}

type inflightBatch struct {
	first, last uint64
	lastHash    [32]byte
	bytes       int
	firstTime   int64 // leader time of the first record
	sentAt      time.Time
}

func newShipper(c *Cell, cfg ShipConfig, reg prometheus.Registerer) *shipper {
	s := &shipper{c: c, cfg: cfg, logger: c.logger.With("component", "shipper", "twin", cfg.Twin), ackCh: make(chan struct{}), avgRecord: 256}
	s.m = newShipMetrics(s, reg)
	return s
}

// run ships while this site leads the cell, one session at a time,
// retrying with backoff (slowly after a divergence) until the cell closes.
func (s *shipper) run() {
	defer s.c.wg.Done()
	defer s.m.unregister()
	ctx := s.c.ctx
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if !s.c.IsLeader() {
			s.setActive(false)
			sleepCtx(ctx, 20*time.Millisecond)
			continue
		}
		s.setActive(true)
		start := time.Now()
		err := s.session(ctx)
		s.mu.Lock()
		if s.connected {
			s.downSince = time.Now()
		}
		s.connected = false
		s.inflight, s.inflightB = nil, 0
		if err != nil && ctx.Err() == nil {
			s.lastErr = err.Error()
		}
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			reason := sessionError
			switch {
			case errors.Is(err, ErrDiverged):
				reason = sessionDiverged
			case errors.Is(err, ErrRefused):
				reason = sessionRefused
			case errors.Is(err, errNotLeaderAnymore):
				reason = sessionLeadershipLost
			}
			s.m.sessionErrors.WithLabelValues(string(reason)).Inc()
			if reason != sessionLeadershipLost {
				s.logger.Warn("shipping to the twin stopped; retrying", "err", err, "retry_in", backoff)
			}
		}
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		if errors.Is(err, ErrDiverged) {
			backoff = 5 * time.Second
		}
		sleepCtx(ctx, backoff)
		backoff = min(backoff*2, 2*time.Second)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

var errNotLeaderAnymore = errors.New("leadership moved")

func (s *shipper) setActive(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on && !s.active {
		// A new leadership: until the twin says where it is, count the lag
		// from what this site retains (the twin holds at least what the
		// retention let go only if it was acknowledged; an upper bound).
		s.ackKnown = false
		s.acked = max(s.acked, s.c.deps.WAL.First()-1)
		s.ackedBytes = 0
		s.diverged = ""
		s.downSince = time.Now()
		if s.cfg.StartDown {
			s.downSince = s.downSince.Add(-s.cfg.WriteTimeout - time.Millisecond)
		}
	}
	s.active = on
}

// session runs one Ship stream until it fails or leadership moves.
func (s *shipper) session(parent context.Context) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !s.c.IsLeader() {
					cancel(errNotLeaderAnymore)
					return
				}
			}
		}
	}()
	st, err := s.c.deps.Endpoint.Open(ctx, s.cfg.Twin, transport.KindShip)
	if err != nil {
		return fmt.Errorf("open ship stream to %s: %w", s.cfg.Twin, err)
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	enc := transport.NewEncoder(st)
	enc.SetMaxFrame(maxShipFrame)
	dec := transport.NewDecoder(st, maxShipFrame)
	w := s.c.deps.WAL
	last, _ := w.Last()
	hello := shipHello{Version: shipVersion, Sender: s.c.cfg.Name, Epoch: s.c.cfg.Epoch, Term: s.c.raft.CurrentTerm(), First: w.First(), Last: last,
		Heartbeat: int64(s.cfg.Heartbeat), HeartbeatAcks: true}
	if err := enc.Encode(frameShipHello, &hello); err != nil {
		return s.cause(ctx, fmt.Errorf("send hello: %w", err))
	}
	_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
	var res shipResume
	if err := expectFrame(dec, frameShipResume, &res); err != nil {
		return s.cause(ctx, fmt.Errorf("resume handshake: %w", err))
	}
	_ = st.SetReadDeadline(time.Time{})
	twinHash, err := hash32(res.Hash)
	if err != nil {
		return fmt.Errorf("resume handshake: %w", err)
	}
	heard := time.Now()
	next, err := s.resumePoint(ctx, res.Index, twinHash)
	if errors.Is(err, errNeedSnapshot) {
		idx, h, serr := s.sendSnapshot(ctx, st, enc, dec)
		if serr != nil {
			return s.cause(ctx, serr)
		}
		next, twinHash, err = idx+1, h, nil
		heard = time.Now()
	}
	if err != nil {
		if errors.Is(err, ErrDiverged) {
			s.mu.Lock()
			s.diverged = err.Error()
			s.mu.Unlock()
			s.m.diverged.Set(1)
			s.logger.Error("twin diverges from this leader's WAL: shipping stopped until an operator reconciles", "err", err)
			_ = enc.Encode(frameShipError, &shipError{Code: shipErrDiverged, Msg: err.Error()})
		}
		return s.cause(ctx, err)
	}
	s.m.diverged.Set(0)
	s.mu.Lock()
	s.connected, s.ackKnown, s.acked, s.sent = true, true, next-1, next-1
	s.ackedHash, s.lastHeard, s.hbAcks = twinHash, heard, res.HeartbeatAcks
	s.lastErr = ""
	s.mu.Unlock()
	s.notifyAck()
	s.logger.Info("shipping to the twin", "from_index", next)

	acks := make(chan error, 1)
	go func() { acks <- s.readAcks(dec) }()
	hb := time.NewTicker(s.cfg.Heartbeat)
	defer hb.Stop()
	lastSend := time.Now()
	var buf []byte
	for {
		changed := s.c.fsm.Changed()
		ackCh := s.ackChan()
		for s.windowOpen() {
			var n int
			n, buf, err = s.sendBatch(enc, next, buf)
			if err != nil {
				return s.cause(ctx, err)
			}
			if n == 0 {
				break
			}
			next += uint64(n)
			lastSend = time.Now()
		}
		select {
		case <-ctx.Done():
			return s.cause(ctx, ctx.Err())
		case err := <-acks:
			return s.cause(ctx, err)
		case <-changed:
		case <-ackCh:
		case <-hb.C:
			if since, n := s.oldestUnacked(); n > 0 && since > stallTimeout {
				// Nothing acknowledged for a while with data in flight:
				// after a long blackout QUIC's retransmission timer may
				// have backed off for seconds; start a fresh connection.
				s.c.deps.Endpoint.Redial(s.cfg.Twin)
				return fmt.Errorf("no ack from the twin for %s with %d batches in flight: reconnecting", since.Round(time.Millisecond), n)
			}
			if time.Since(lastSend) >= s.cfg.Heartbeat {
				li := s.lag()
				hb := shipHeartbeat{PrimaryLast: li.last, Sent: time.Now().UnixNano(), LagRecords: li.records, LagAge: int64(li.seconds * 1e9)}
				if err := enc.Encode(frameShipHeartbeat, &hb); err != nil {
					return s.cause(ctx, fmt.Errorf("send heartbeat: %w", err))
				}
				lastSend = time.Now()
			}
		}
	}
}

// cause prefers the session context's cause (leadership moved, cell
// closing) over the I/O error it provoked.
func (s *shipper) cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return err
}

// expectFrame decodes the next ship frame into v if it has type typ; an
// error frame from the peer becomes its error.
func expectFrame(dec *transport.Decoder, typ uint8, v any) error {
	fr, err := dec.Decode()
	if err != nil {
		return err
	}
	if fr.Type == frameShipError {
		var e shipError
		if err := fr.Unmarshal(&e); err != nil {
			return err
		}
		return twinError(&e)
	}
	if fr.Type != typ {
		return fmt.Errorf("unexpected frame type %d, want %d", fr.Type, typ)
	}
	return fr.Unmarshal(v)
}

func twinError(e *shipError) error {
	switch e.Code {
	case shipErrRefused:
		return fmt.Errorf("%w: %s", ErrRefused, e.Msg)
	case shipErrDiverged:
		return fmt.Errorf("%w: %s", ErrDiverged, e.Msg)
	}
	return fmt.Errorf("twin: %s", e.Msg)
}

var errNeedSnapshot = errors.New("twin needs a state snapshot")

// resumePoint checks the twin's durable tip against this site's WAL and
// returns the first index to ship.
func (s *shipper) resumePoint(ctx context.Context, idx uint64, h [32]byte) (uint64, error) {
	w := s.c.deps.WAL
	anchor, anchorHash := w.Anchor()
	switch {
	case idx == 0 && anchor == 0:
		return 1, nil
	case idx < anchor:
		return 0, errNeedSnapshot
	case idx == anchor:
		if h != anchorHash {
			return 0, fmt.Errorf("%w: at index %d the twin has %x, this site %x", ErrDiverged, idx, h[:8], anchorHash[:8])
		}
		return idx + 1, nil
	}
	// A new leader may still be applying the entries its predecessor
	// shipped: wait for its WAL to reach the twin's tip.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ch := s.c.fsm.Changed()
		if last, _ := w.Last(); last >= idx {
			break
		}
		if time.Now().After(deadline) {
			last, _ := w.Last()
			return 0, fmt.Errorf("the twin holds index %d but this leader's WAL ends at %d", idx, last)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
	rec, err := w.Get(idx)
	if errors.Is(err, wal.ErrCompacted) {
		return 0, errNeedSnapshot
	}
	if err != nil {
		return 0, fmt.Errorf("read own record %d: %w", idx, err)
	}
	if rec.Hash != h {
		return 0, fmt.Errorf("%w: at index %d the twin has %x, this site %x", ErrDiverged, idx, h[:8], rec.Hash[:8])
	}
	return idx + 1, nil
}

// sendSnapshot streams a state snapshot and waits for the twin's ack of
// its anchor; it returns that index and its hash.
func (s *shipper) sendSnapshot(ctx context.Context, st *transport.Stream, enc *transport.Encoder, dec *transport.Decoder) (uint64, [32]byte, error) {
	snap, err := newStateSnapshot(s.c.deps.DB)
	if err != nil {
		return 0, [32]byte{}, err
	}
	defer snap.Release()
	s.logger.Info("twin is behind this site's WAL retention: sending a state snapshot", "anchor", snap.anchorIdx)
	start := time.Now()
	if err := enc.Encode(frameShipSnapBegin, &shipSnapBegin{Index: snap.anchorIdx, Hash: snap.anchorHash[:], Epoch: s.c.cfg.Epoch}); err != nil {
		return 0, [32]byte{}, fmt.Errorf("send snapshot: %w", err)
	}
	if err := snap.persist(chunkWriter{enc}); err != nil {
		return 0, [32]byte{}, fmt.Errorf("send snapshot: %w", err)
	}
	if err := enc.Encode(frameShipSnapEnd, &struct{}{}); err != nil {
		return 0, [32]byte{}, fmt.Errorf("send snapshot: %w", err)
	}
	_ = st.SetReadDeadline(time.Now().Add(5 * time.Minute))
	var ack shipAck
	if err := expectFrame(dec, frameShipAck, &ack); err != nil {
		return 0, [32]byte{}, fmt.Errorf("snapshot ack: %w", err)
	}
	_ = st.SetReadDeadline(time.Time{})
	if h, err := hash32(ack.Hash); err != nil || ack.Index != snap.anchorIdx || h != snap.anchorHash {
		return 0, [32]byte{}, fmt.Errorf("%w: twin acked snapshot at %d, sent %d", ErrDiverged, ack.Index, snap.anchorIdx)
	}
	s.mu.Lock()
	s.snapshots++
	s.mu.Unlock()
	s.m.snapshots.Inc()
	s.logger.Info("twin restored the state snapshot", "anchor", snap.anchorIdx, "took", time.Since(start).Round(time.Millisecond))
	return snap.anchorIdx, snap.anchorHash, nil
}

// stallTimeout is how long the shipper waits for an ack, with data in
// flight, before it starts a fresh connection.
const stallTimeout = 2 * time.Second

// oldestUnacked returns how long the oldest unacknowledged batch has
// waited, and how many batches are in flight.
func (s *shipper) oldestUnacked() (time.Duration, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.inflight) == 0 {
		return 0, 0
	}
	return time.Since(s.inflight[0].sentAt), len(s.inflight)
}

func (s *shipper) windowOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflightB < s.cfg.WindowBytes
}

// sendBatch ships the committed records from next on, up to BatchBytes,
// in one frame. It returns how many it sent (0: none available).
func (s *shipper) sendBatch(enc *transport.Encoder, next uint64, buf []byte) (int, []byte, error) {
	w := s.c.deps.WAL
	last, _ := w.Last()
	if next > last {
		return 0, buf, nil
	}
	it := w.Iter(next)
	defer it.Close()
	buf = buf[:0]
	var (
		n                  int
		lastRec            wal.Record
		firstTime          int64
		err                error
		epoch              = s.c.cfg.Epoch
		maxIdx, maxRecords = last, uint64(maxShipRecords)
	)
	for len(buf) < s.cfg.BatchBytes && uint64(n) < maxRecords && it.Next() {
		rec := it.Record()
		if rec.Index > maxIdx {
			break
		}
		if n == 0 {
			firstTime = rec.Time
		}
		if buf, err = appendRecord(buf, &rec); err != nil {
			return 0, buf, fmt.Errorf("encode record %d: %w", rec.Index, err)
		}
		epoch = max(epoch, rec.Epoch)
		lastRec = rec
		n++
	}
	if err := it.Err(); err != nil {
		return 0, buf, fmt.Errorf("read wal from %d: %w", next, err)
	}
	if n == 0 {
		return 0, buf, nil
	}
	li := s.lag()
	m := shipRecords{Epoch: epoch, First: next, Count: uint32(n), RawLen: uint32(len(buf)), Data: buf, PrimaryLast: last, Sent: time.Now().UnixNano(),
		LagRecords: li.records, LagAge: int64(li.seconds * 1e9)}
	if s.cfg.Compression == "zstd" {
		ze, _, err := zstdCoders()
		if err != nil {
			return 0, buf, err
		}
		m.Codec, m.Data = codecZstd, ze.EncodeAll(buf, nil)
	}
	// Record the batch as in flight before it is sent: the twin's ack can
	// come back before Encode returns, and an ack for a batch not yet
	// recorded would look like a divergence. (If the send fails, the
	// session ends and the in-flight list is dropped.)
	s.mu.Lock()
	s.inflight = append(s.inflight, inflightBatch{first: next, last: lastRec.Index, lastHash: lastRec.Hash, bytes: len(buf), firstTime: firstTime, sentAt: time.Now()})
	s.inflightB += len(buf)
	s.sent = lastRec.Index
	s.avgRecord = 0.9*s.avgRecord + 0.1*float64(len(buf))/float64(n)
	s.mu.Unlock()
	if err := enc.Encode(frameShipRecords, &m); err != nil {
		return 0, buf, fmt.Errorf("send records %d..%d: %w", next, lastRec.Index, err)
	}
	s.m.shippedRecords.Add(float64(n))
	s.m.shippedBytes.Add(float64(len(buf)))
	s.m.wireBytes.Add(float64(len(m.Data)))
	return n, buf, nil
}

// readAcks consumes the twin's acks until the stream fails.
func (s *shipper) readAcks(dec *transport.Decoder) error {
	for {
		var ack shipAck
		if err := expectFrame(dec, frameShipAck, &ack); err != nil {
			return fmt.Errorf("read ack: %w", err)
		}
		h, err := hash32(ack.Hash)
		if err != nil {
			return fmt.Errorf("read ack: %w", err)
		}
		s.mu.Lock()
		s.lastHeard = time.Now()
		s.mu.Unlock()
		if err := s.onAck(ack.Index, h); err != nil {
			return err
		}
	}
}

// onAck releases the batches the twin acknowledged (it acks batch ends,
// after its fsync) and checks the hash it reports. An ack of the index
// already acknowledged, with its hash, releases nothing and is the
// twin's answer to a heartbeat.
func (s *shipper) onAck(idx uint64, h [32]byte) error {
	s.mu.Lock()
	if idx == s.acked && (len(s.inflight) == 0 || s.inflight[0].last > idx) {
		if h != s.ackedHash {
			s.mu.Unlock()
			return fmt.Errorf("%w: twin reports index %d with hash %x, this site acknowledged it with %x", ErrDiverged, idx, h[:8], s.ackedHash[:8])
		}
		s.mu.Unlock()
		return nil
	}
	var (
		released int
		bytes    int
		match    = false
		now      = time.Now()
	)
	for released < len(s.inflight) && s.inflight[released].last <= idx {
		b := s.inflight[released]
		if b.last == idx {
			match = b.lastHash == h
		}
		bytes += b.bytes
		s.m.ackLatency.Observe(now.Sub(b.sentAt).Seconds())
		released++
	}
	if released == 0 || !match {
		s.mu.Unlock()
		return fmt.Errorf("%w: twin acked index %d with hash %x, which is not the end of a batch sent with that hash", ErrDiverged, idx, h[:8])
	}
	s.inflight = s.inflight[released:]
	s.inflightB -= bytes
	s.acked, s.ackedHash = idx, h
	s.ackedBytes += uint64(bytes)
	s.mu.Unlock()
	s.m.ackedIndex.Set(float64(idx))
	s.notifyAck()
	return nil
}

func (s *shipper) ackChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ackCh
}

func (s *shipper) notifyAck() {
	s.mu.Lock()
	close(s.ackCh)
	s.ackCh = make(chan struct{})
	s.mu.Unlock()
}

// waitTwin waits until the twin acknowledged WAL index idx (a
// durability=twin write), bounded by ctx and WriteTimeout.
func (s *shipper) waitTwin(ctx context.Context, idx uint64) error {
	s.mu.Lock()
	down := time.Duration(0)
	if !s.connected && !s.downSince.IsZero() {
		down = time.Since(s.downSince)
	}
	s.mu.Unlock()
	if down > s.cfg.WriteTimeout {
		// Unreachable for longer than a write may wait: say so at once
		// rather than make every write wait out the timeout.
		s.m.twinUnconfirmed.Inc()
		return fmt.Errorf("WAL index %d: twin %s unreachable for %s: %w", idx, s.cfg.Twin, down.Round(time.Millisecond), ErrTwinUnconfirmed)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	start := time.Now()
	for {
		s.mu.Lock()
		ok, ch := s.ackKnown && s.acked >= idx && s.active, s.ackCh
		s.mu.Unlock()
		if ok {
			s.m.twinWait.Observe(time.Since(start).Seconds())
			return nil
		}
		select {
		case <-ctx.Done():
			s.m.twinUnconfirmed.Inc()
			return fmt.Errorf("WAL index %d not acknowledged by twin %s within %s: %w",
				idx, s.cfg.Twin, time.Since(start).Round(time.Millisecond), ErrTwinUnconfirmed)
		case <-s.c.ctx.Done():
			return ErrClosed
		case <-ch:
		case <-time.After(20 * time.Millisecond):
			// Leadership may have moved (acks then arrive elsewhere).
			if !s.c.IsLeader() {
				s.m.twinUnconfirmed.Inc()
				return fmt.Errorf("WAL index %d: leadership moved before twin %s acknowledged it: %w", idx, s.cfg.Twin, ErrTwinUnconfirmed)
			}
		}
	}
}

// lagInfo is the shipper's lag at one instant.
type lagInfo struct {
	last, acked, records, bytes uint64
	seconds                     float64
}

// lag measures what the twin lacks: records after its acknowledged
// index, their bytes (shipped ones exactly, the rest by the mean record
// size), and the age of the oldest one.
func (s *shipper) lag() lagInfo {
	w := s.c.deps.WAL
	last, _ := w.Last()
	s.mu.Lock()
	acked, sent, inflightB, avg := s.acked, s.sent, s.inflightB, s.avgRecord
	if !s.ackKnown {
		acked = max(acked, w.First()-1)
	}
	var firstTime int64
	if len(s.inflight) > 0 && s.inflight[0].first == acked+1 {
		firstTime = s.inflight[0].firstTime
	} else if s.oldest.index == acked+1 {
		firstTime = s.oldest.time
	}
	s.mu.Unlock()
	li := lagInfo{last: last, acked: acked}
	if last <= acked {
		return li
	}
	li.records = last - acked
	li.bytes = uint64(inflightB)
	if last > sent {
		li.bytes += uint64(float64(last-max(sent, acked)) * avg)
	}
	if firstTime == 0 {
		idx := max(acked+1, w.First())
		if rec, err := w.Get(idx); err == nil {
			firstTime = rec.Time
			s.mu.Lock()
			s.oldest.index, s.oldest.time = acked+1, rec.Time
			s.mu.Unlock()
		}
	}
	if firstTime != 0 {
		li.seconds = max(0, time.Since(time.Unix(0, firstTime)).Seconds())
	}
	return li
}

// guard applies the RPO policy to a new write on the leader.
func (s *shipper) guard(ctx context.Context) error {
	li := s.lag()
	rpo := s.cfg.RPO.Seconds()
	if li.seconds <= rpo/2 {
		return nil
	}
	switch s.cfg.RPOGuard {
	case GuardBlock:
		if li.seconds > rpo {
			s.m.guardActions.WithLabelValues(string(guardBlocked)).Inc()
			return fmt.Errorf("twin %s lags %.1fs (%d records), past sla.rpo %s: %w", s.cfg.Twin, li.seconds, li.records, s.cfg.RPO, ErrRPOExceeded)
		}
	case GuardThrottle:
		frac := min(1, (li.seconds-rpo/2)/(rpo/2))
		d := time.Duration(frac * float64(MaxThrottle))
		s.m.guardActions.WithLabelValues(string(guardThrottled)).Inc()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("throttled by the RPO guard (twin lag %.1fs): %w", li.seconds, ErrTimeout)
		case <-t.C:
		}
	}
	if li.seconds > rpo {
		s.mu.Lock()
		alert := time.Since(s.lastAlert) > 10*time.Second
		if alert {
			s.lastAlert = time.Now()
		}
		s.mu.Unlock()
		if alert {
			s.m.guardActions.WithLabelValues(string(guardAlerted)).Inc()
			s.logger.Warn("twin lag exceeds the RPO budget", "lag_seconds", li.seconds, "lag_records", li.records, "rpo", s.cfg.RPO, "guard", s.cfg.RPOGuard)
		}
	}
	return nil
}

// status reports the shipper's view.
func (s *shipper) status() ShipStatus {
	li := s.lag()
	s.mu.Lock()
	defer s.mu.Unlock()
	connected, heardAge := s.linkUp(time.Now())
	st := ShipStatus{
		Twin: s.cfg.Twin, Active: s.active, Connected: connected, LastHeardMs: heardAge, AckKnown: s.ackKnown,
		AckedIndex: li.acked, SentIndex: s.sent, LastIndex: li.last,
		LagRecords: li.records, LagBytes: li.bytes, LagSeconds: li.seconds,
		RPOSeconds: s.cfg.RPO.Seconds(), RPOGuard: string(s.cfg.RPOGuard),
		AckedBytes: s.ackedBytes, SnapshotsSent: s.snapshots, LastError: s.lastErr, Diverged: s.diverged,
	}
	if st.RPOSeconds > 0 {
		st.RPOBudgetUsed = st.LagSeconds / st.RPOSeconds
	}
	return st
}

// linkBound is how long a link may stay silent and still be called
// connected: three heartbeats, and never under a second (a heartbeat or
// its answer may wait behind a batch's fsync).
func linkBound(heartbeat time.Duration) time.Duration {
	return max(3*heartbeat, time.Second)
}

// linkUp reports whether the session is up and the twin was heard
// within linkBound, and the age of the last frame heard in ms (-1 when
// no session heard the twin yet). With a twin that does not answer
// heartbeats, an idle link proves nothing: the session alone counts.
// s.mu must be held.
func (s *shipper) linkUp(now time.Time) (bool, int64) {
	age := int64(-1)
	if !s.lastHeard.IsZero() {
		age = now.Sub(s.lastHeard).Milliseconds()
	}
	if !s.connected {
		return false, age
	}
	if !s.hbAcks {
		return true, age
	}
	return now.Sub(s.lastHeard) <= linkBound(s.cfg.Heartbeat), age
}
