package faultlink

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// MaxQueueDelay bounds the bandwidth queue of a direction in time: a
	// datagram that would wait longer than this to be sent is dropped.
	MaxQueueDelay = time.Second
	// MaxQueueBytes bounds the bandwidth queue of a direction in bytes.
	MaxQueueBytes = 4 << 20
	// maxHeldBytes bounds the buffer memory a direction holds for delayed
	// datagrams (delay line plus bandwidth queue).
	maxHeldBytes = 32 << 20
	// maxHeldPackets bounds how many datagrams a direction holds.
	maxHeldPackets = 16384
	// maxBatch is how many due datagrams the scheduler sends per lock.
	maxBatch = 64

	smallBuf = 2048
	largeBuf = 65536
)

var (
	smallPool = sync.Pool{New: func() any { b := make([]byte, smallBuf); return &b }}
	largePool = sync.Pool{New: func() any { b := make([]byte, largeBuf); return &b }}
)

// getBuf returns a pooled buffer holding a copy of data.
func getBuf(data []byte) *[]byte {
	var p *[]byte
	if len(data) <= smallBuf {
		p = smallPool.Get().(*[]byte)
	} else {
		p = largePool.Get().(*[]byte)
	}
	*p = (*p)[:len(data)]
	copy(*p, data)
	return p
}

// putBuf returns a buffer to its pool.
func putBuf(p *[]byte) {
	if cap(*p) == smallBuf {
		*p = (*p)[:smallBuf]
		smallPool.Put(p)
	} else {
		*p = (*p)[:largeBuf]
		largePool.Put(p)
	}
}

// verdict is what admit decides for a datagram.
type verdict uint8

const (
	sendNow verdict = iota
	sendLater
	dropLoss
	dropBlackhole
	dropOverflow
)

// packet is a datagram waiting in a direction's delivery heap.
type packet struct {
	at   int64 // delivery time, nanoseconds on the link's monotonic clock
	seq  uint64
	buf  *[]byte
	sess *session
}

func (a *packet) before(b *packet) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

// pktHeap is a binary min-heap of packets ordered by (at, seq).
type pktHeap []packet

func (h *pktHeap) push(p packet) {
	*h = append(*h, p)
	q := *h
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if !q[i].before(&q[parent]) {
			break
		}
		q[i], q[parent] = q[parent], q[i]
		i = parent
	}
}

func (h *pktHeap) pop() packet {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = packet{}
	q = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && q[l].before(&q[m]) {
			m = l
		}
		if r < len(q) && q[r].before(&q[m]) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

// counters are a direction's statistics.
type counters struct {
	packets, bytes, lost, blackholed, overflowed, errors atomic.Uint64
}

// direction is one way through a link: client to target, or back. Its
// scheduler goroutine delivers queued datagrams when they are due.
type direction struct {
	send func(b []byte, s *session) error

	mu        sync.Mutex
	p         Params
	rng       *rand.Rand
	busyUntil int64 // bandwidth: when the virtual transmitter is free
	q         pktHeap
	held      int // buffer bytes in q
	seq       uint64
	stats     counters

	wake chan struct{} // capacity 1: the heap top changed
}

func newDirection(p Params, seed uint64, send func([]byte, *session) error) *direction {
	return &direction{
		send: send,
		p:    p,
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		wake: make(chan struct{}, 1),
	}
}

// admit decides, under d.mu, the fate of a datagram of n bytes (held in a
// buffer of bufCap bytes if queued) arriving at now, and when to deliver it.
func (d *direction) admit(now int64, n, bufCap int) (int64, verdict) {
	p := &d.p
	if p.Blackhole {
		return 0, dropBlackhole
	}
	if p.Loss > 0 && (p.Loss >= 1 || d.rng.Float64() < p.Loss) {
		return 0, dropLoss
	}
	at := now
	busy := d.busyUntil
	if p.Bandwidth > 0 {
		start := max(now, d.busyUntil)
		end := start + int64(n)*int64(time.Second)/p.Bandwidth
		limit := min(int64(MaxQueueDelay), int64(MaxQueueBytes)*int64(time.Second)/p.Bandwidth)
		if start > now && end-now > limit {
			return 0, dropOverflow
		}
		busy, at = end, end
	}
	if p.Delay > 0 || p.Jitter > 0 {
		delay := int64(p.Delay)
		if j := int64(p.Jitter); j > 0 {
			delay = max(0, delay+d.rng.Int64N(2*j+1)-j)
		}
		at += delay
	}
	if at > now && (d.held+bufCap > maxHeldBytes || len(d.q) >= maxHeldPackets) {
		return 0, dropOverflow
	}
	d.busyUntil = busy
	if at <= now {
		return now, sendNow
	}
	return at, sendLater
}

// handle applies the faults to one datagram and sends it now or queues it.
// data is only read before handle returns.
func (d *direction) handle(now int64, data []byte, s *session) {
	bufCap := smallBuf
	if len(data) > smallBuf {
		bufCap = largeBuf
	}
	d.mu.Lock()
	at, v := d.admit(now, len(data), bufCap)
	if v == sendLater {
		d.seq++
		d.q.push(packet{at: at, seq: d.seq, buf: getBuf(data), sess: s})
		d.held += bufCap
		top := d.q[0].seq == d.seq
		d.mu.Unlock()
		if top {
			select {
			case d.wake <- struct{}{}:
			default:
			}
		}
		return
	}
	d.mu.Unlock()
	switch v {
	case sendNow:
		d.deliver(data, s)
	case dropLoss:
		d.stats.lost.Add(1)
	case dropBlackhole:
		d.stats.blackholed.Add(1)
	case dropOverflow:
		d.stats.overflowed.Add(1)
	}
}

func (d *direction) deliver(b []byte, s *session) {
	if err := d.send(b, s); err != nil {
		d.stats.errors.Add(1)
		return
	}
	d.stats.packets.Add(1)
	d.stats.bytes.Add(uint64(len(b)))
}

// poke wakes the scheduler so it re-reads the heap and the params.
func (d *direction) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run delivers queued datagrams when due until done is closed.
func (d *direction) run(now func() int64, done <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	batch := make([]packet, 0, maxBatch)
	for {
		d.mu.Lock()
		t := now()
		for len(d.q) > 0 && d.q[0].at <= t && len(batch) < maxBatch {
			pk := d.q.pop()
			d.held -= cap(*pk.buf)
			batch = append(batch, pk)
		}
		wait := int64(-1)
		switch {
		case len(batch) == maxBatch:
			wait = 0
		case len(d.q) > 0:
			wait = d.q[0].at - t
		}
		blackhole := d.p.Blackhole
		d.mu.Unlock()

		for i := range batch {
			pk := &batch[i]
			if blackhole {
				d.stats.blackholed.Add(1)
			} else {
				d.deliver(*pk.buf, pk.sess)
			}
			putBuf(pk.buf)
			*pk = packet{}
		}
		batch = batch[:0]

		if wait == 0 {
			select {
			case <-done:
				return
			default:
				continue
			}
		}
		if wait > 0 {
			timer.Reset(time.Duration(wait))
		} else {
			timer.Stop()
		}
		select {
		case <-done:
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// drain releases every queued buffer; the scheduler must have stopped.
func (d *direction) drain() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.q) > 0 {
		putBuf(d.q.pop().buf)
	}
	d.held = 0
}

// set replaces the params; a bandwidth change restarts the virtual
// transmitter, and a blackhole drops what is queued.
func (d *direction) set(p Params) {
	d.mu.Lock()
	if p.Bandwidth != d.p.Bandwidth {
		d.busyUntil = 0
	}
	d.p = p
	if p.Blackhole {
		d.stats.blackholed.Add(uint64(len(d.q)))
		for len(d.q) > 0 {
			putBuf(d.q.pop().buf)
		}
		d.held = 0
	}
	d.mu.Unlock()
	d.poke()
}

func (d *direction) seed(seed uint64) {
	d.mu.Lock()
	d.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	d.mu.Unlock()
}

func (d *direction) snapshot() DirectionStats {
	d.mu.Lock()
	queued := len(d.q)
	d.mu.Unlock()
	s := DirectionStats{
		Packets:    d.stats.packets.Load(),
		Bytes:      d.stats.bytes.Load(),
		Lost:       d.stats.lost.Load(),
		Blackholed: d.stats.blackholed.Load(),
		Overflowed: d.stats.overflowed.Load(),
		Errors:     d.stats.errors.Load(),
		Queued:     queued,
	}
	s.Dropped = s.Lost + s.Blackholed + s.Overflowed + s.Errors
	return s
}
