package faultlink

import (
	"math/rand/v2"
	"testing"
	"time"
)

func testDirection(p Params) *direction {
	return newDirection(p, 42, func([]byte, *session) error { return nil })
}

func TestDirection_Admit(t *testing.T) {
	ms := int64(time.Millisecond)

	t.Run("pass through", func(t *testing.T) {
		d := testDirection(Params{})
		if at, v := d.admit(100, 1200, smallBuf); v != sendNow || at != 100 {
			t.Errorf("got (%d, %d), want (100, sendNow)", at, v)
		}
	})

	t.Run("delay", func(t *testing.T) {
		d := testDirection(Params{Delay: 5 * time.Millisecond})
		if at, v := d.admit(100, 1200, smallBuf); v != sendLater || at != 100+5*ms {
			t.Errorf("got (%d, %d), want (%d, sendLater)", at, v, 100+5*ms)
		}
	})

	t.Run("jitter range", func(t *testing.T) {
		p := Params{Delay: 5 * time.Millisecond, Jitter: 8 * time.Millisecond}
		d := testDirection(p)
		lo, hi := int64(1<<62), int64(0)
		zero := 0
		for range 5000 {
			at, _ := d.admit(0, 100, smallBuf)
			lo, hi = min(lo, at), max(hi, at)
			if at == 0 {
				zero++
			}
		}
		if lo < 0 || hi > int64(p.Delay+p.Jitter) {
			t.Errorf("delays in [%d, %d], want within [0, %d]", lo, hi, int64(p.Delay+p.Jitter))
		}
		if hi < int64(p.Delay+p.Jitter)-ms {
			t.Errorf("largest delay %d, want near %d", hi, int64(p.Delay+p.Jitter))
		}
		// Samples below zero are clamped: about 3/17 of them.
		if zero < 5000*3/17/2 {
			t.Errorf("clamped to zero: got %d of 5000, want about %d", zero, 5000*3/17)
		}
	})

	t.Run("seeded", func(t *testing.T) {
		p := Params{Delay: 5 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.3}
		a, b := testDirection(p), testDirection(p)
		a.seed(7)
		b.seed(7)
		for i := range 100 {
			at1, v1 := a.admit(0, 100, smallBuf)
			at2, v2 := b.admit(0, 100, smallBuf)
			if at1 != at2 || v1 != v2 {
				t.Fatalf("datagram %d: got (%d, %d) and (%d, %d), want equal", i, at1, v1, at2, v2)
			}
		}
	})

	t.Run("loss rate", func(t *testing.T) {
		d := testDirection(Params{Loss: 0.25})
		lost := 0
		for range 10000 {
			if _, v := d.admit(0, 100, smallBuf); v == dropLoss {
				lost++
			}
		}
		if lost < 2250 || lost > 2750 {
			t.Errorf("lost: got %d of 10000, want about 2500", lost)
		}
	})

	t.Run("blackhole before loss", func(t *testing.T) {
		d := testDirection(Params{Loss: 1, Blackhole: true})
		if _, v := d.admit(0, 100, smallBuf); v != dropBlackhole {
			t.Errorf("got %d, want dropBlackhole", v)
		}
	})

	t.Run("bandwidth spacing", func(t *testing.T) {
		d := testDirection(Params{Bandwidth: 1000, Delay: time.Millisecond})
		// 100 bytes at 1000 B/s take 100ms each.
		for i := range 5 {
			at, v := d.admit(0, 100, smallBuf)
			if want := int64(i+1)*100*ms + ms; v != sendLater || at != want {
				t.Errorf("datagram %d: got (%d, %d), want (%d, sendLater)", i, at, v, want)
			}
		}
		// Once the queue has drained the transmitter is idle again.
		if at, _ := d.admit(2000*ms, 100, smallBuf); at != 2101*ms {
			t.Errorf("after idle: got %d, want %d", at, 2101*ms)
		}
	})

	t.Run("tail drop", func(t *testing.T) {
		d := testDirection(Params{Bandwidth: 1000})
		accepted := 0
		for range 20 {
			if _, v := d.admit(0, 100, smallBuf); v == sendLater {
				accepted++
			}
		}
		// One second of queue at 1000 B/s: ten datagrams of 100 bytes.
		if accepted != 10 {
			t.Errorf("accepted: got %d, want 10", accepted)
		}
		// Bounded by MaxQueueBytes when that is less than a second.
		d = testDirection(Params{Bandwidth: 8 << 20})
		accepted = 0
		for range 100 {
			if _, v := d.admit(0, 65536, largeBuf); v == sendLater {
				accepted++
			}
		}
		if want := MaxQueueBytes / 65536; accepted != want {
			t.Errorf("accepted at 8 MiB/s: got %d, want %d", accepted, want)
		}
	})

	t.Run("idle transmitter sends one oversized datagram", func(t *testing.T) {
		d := testDirection(Params{Bandwidth: 10})
		if _, v := d.admit(0, 1000, smallBuf); v != sendLater {
			t.Errorf("first: got %d, want sendLater", v)
		}
		if _, v := d.admit(0, 1000, smallBuf); v != dropOverflow {
			t.Errorf("second: got %d, want dropOverflow", v)
		}
	})

	t.Run("memory bound", func(t *testing.T) {
		d := testDirection(Params{Delay: time.Second})
		d.held = maxHeldBytes - smallBuf
		if _, v := d.admit(0, 100, smallBuf); v != sendLater {
			t.Errorf("at the bound: got %d, want sendLater", v)
		}
		d.held = maxHeldBytes - smallBuf + 1
		if _, v := d.admit(0, 100, smallBuf); v != dropOverflow {
			t.Errorf("over the bound: got %d, want dropOverflow", v)
		}
	})
}

func TestPktHeap_Pop(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h pktHeap
	for i := range 1000 {
		h.push(packet{at: rng.Int64N(50), seq: uint64(i)})
	}
	prev := packet{at: -1}
	for i := range 1000 {
		p := h.pop()
		if !prev.before(&p) {
			t.Fatalf("pop %d: got (%d, %d) after (%d, %d), want increasing (at, seq)", i, p.at, p.seq, prev.at, prev.seq)
		}
		prev = p
	}
	if got := len(h); got != 0 {
		t.Errorf("len after popping all: got %d, want 0", got)
	}
}

func TestBuffers(t *testing.T) {
	for _, n := range []int{0, 1, smallBuf, smallBuf + 1, largeBuf} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i)
		}
		b := getBuf(data)
		if got := *b; len(got) != n || string(got) != string(data) {
			t.Errorf("getBuf(%d bytes): got %d bytes, want a copy", n, len(got))
		}
		putBuf(b)
	}
}
