package faultlink

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"
)

// echoServer starts a UDP echo server on 127.0.0.1 and returns its address.
func echoServer(tb testing.TB) string {
	tb.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = conn.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	tb.Cleanup(func() {
		_ = conn.Close()
		<-done
	})
	return conn.LocalAddr().String()
}

func startLink(tb testing.TB, target string, p Params) *Link {
	tb.Helper()
	l, err := New("test", "127.0.0.1:0", target, p, nil)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	l.Seed(1)
	tb.Cleanup(func() { _ = l.Close() })
	return l
}

func dial(tb testing.TB, addr string) *net.UDPConn {
	tb.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func send(tb testing.TB, c *net.UDPConn, msg []byte) {
	tb.Helper()
	if _, err := c.Write(msg); err != nil {
		tb.Fatalf("write: %v", err)
	}
}

// recv reads one datagram, failing the test after timeout.
func recv(tb testing.TB, c *net.UDPConn, timeout time.Duration) []byte {
	tb.Helper()
	buf := make([]byte, 65536)
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		tb.Fatal(err)
	}
	n, err := c.Read(buf)
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	return buf[:n]
}

// exchange sends msg and returns the round trip time of its echo.
func exchange(tb testing.TB, c *net.UDPConn, msg []byte) time.Duration {
	tb.Helper()
	start := time.Now()
	send(tb, c, msg)
	if got := recv(tb, c, 5*time.Second); !bytes.Equal(got, msg) {
		tb.Fatalf("echo: got %q, want %q", head(got), head(msg))
	}
	return time.Since(start)
}

// recvUntil reads datagrams until one equals marker and returns those before it.
func recvUntil(tb testing.TB, c *net.UDPConn, marker []byte) [][]byte {
	tb.Helper()
	var before [][]byte
	deadline := time.Now().Add(5 * time.Second)
	for range 10000 {
		got := recv(tb, c, time.Until(deadline))
		if bytes.Equal(got, marker) {
			return before
		}
		before = append(before, got)
	}
	tb.Fatalf("marker %q not received", marker)
	return nil
}

// waitFor polls cond until it holds or 5 seconds pass.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func head(b []byte) []byte { return b[:min(len(b), 16)] }

func msg(i int) []byte { return []byte(fmt.Sprintf("datagram-%04d", i)) }

func TestLink_Relay(t *testing.T) {
	t.Run("echo", func(t *testing.T) {
		l := startLink(t, echoServer(t), Params{})
		c := dial(t, l.Addr())
		const n = 100
		for i := range n {
			exchange(t, c, msg(i))
		}
		waitFor(t, "stats", func() bool { return l.Stats().ToClient.Packets == n })
		st := l.Stats()
		if got, want := st.ToTarget.Packets, uint64(n); got != want {
			t.Errorf("to-target packets: got %d, want %d", got, want)
		}
		if got, want := st.ToTarget.Bytes, uint64(n*len(msg(0))); got != want {
			t.Errorf("to-target bytes: got %d, want %d", got, want)
		}
		if got, want := st.ToTarget.Dropped+st.ToClient.Dropped, uint64(0); got != want {
			t.Errorf("dropped: got %d, want %d", got, want)
		}
		if got, want := st.Sessions, 1; got != want {
			t.Errorf("sessions: got %d, want %d", got, want)
		}
	})

	t.Run("large datagrams", func(t *testing.T) {
		l := startLink(t, echoServer(t), Params{Delay: time.Millisecond})
		c := dial(t, l.Addr())
		for _, size := range []int{0, 1, 2048, 2049, 60000} {
			exchange(t, c, bytes.Repeat([]byte{byte(size)}, size))
		}
	})

	t.Run("clients", func(t *testing.T) {
		l := startLink(t, echoServer(t), Params{})
		clients := []*net.UDPConn{dial(t, l.Addr()), dial(t, l.Addr()), dial(t, l.Addr())}
		for i := range 10 {
			for j, c := range clients {
				send(t, c, []byte(fmt.Sprintf("client %d msg %d", j, i)))
			}
			for j, c := range clients {
				got, want := recv(t, c, 5*time.Second), fmt.Sprintf("client %d msg %d", j, i)
				if string(got) != want {
					t.Fatalf("client %d: got %q, want %q", j, got, want)
				}
			}
		}
		if got, want := l.Stats().Sessions, 3; got != want {
			t.Errorf("sessions: got %d, want %d", got, want)
		}
	})

	t.Run("accessors", func(t *testing.T) {
		target := echoServer(t)
		l := startLink(t, target, Params{Delay: 3 * time.Millisecond})
		if got, want := l.Name(), "test"; got != want {
			t.Errorf("Name: got %q, want %q", got, want)
		}
		if got, want := l.Target(), target; got != want {
			t.Errorf("Target: got %q, want %q", got, want)
		}
		if got, want := l.Params(), (Params{Delay: 3 * time.Millisecond}); got != want {
			t.Errorf("Params: got %v, want %v", got, want)
		}
	})
}

func TestNew(t *testing.T) {
	for name, c := range map[string]struct{ listen, target string }{
		"bad listen":  {"nonsense", "127.0.0.1:9"},
		"bad target":  {"127.0.0.1:0", "no-port"},
		"listen used": {echoServer(t), "127.0.0.1:9"},
	} {
		if l, err := New("x", c.listen, c.target, Params{}, nil); err == nil {
			_ = l.Close()
			t.Errorf("%s: got nil error, want one", name)
		}
	}
	if _, err := New("x", "127.0.0.1:0", "127.0.0.1:9", Params{Loss: 2}, nil); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("invalid params: got %v, want ErrInvalidParams", err)
	}
}

func TestLink_Delay(t *testing.T) {
	const delay = 25 * time.Millisecond
	l := startLink(t, echoServer(t), Params{Delay: delay})
	c := dial(t, l.Addr())
	for i := range 5 {
		if got, want := exchange(t, c, msg(i)), 2*delay; got < want {
			t.Errorf("round trip %d: got %v, want >= %v (delay each way)", i, got, want)
		}
	}

	t.Run("order", func(t *testing.T) {
		for i := range 50 {
			send(t, c, msg(i))
		}
		for i := range 50 {
			if got, want := recv(t, c, 5*time.Second), msg(i); !bytes.Equal(got, want) {
				t.Fatalf("datagram %d: got %q, want %q", i, got, want)
			}
		}
	})
}

func TestLink_Jitter(t *testing.T) {
	l := startLink(t, echoServer(t), Params{Delay: 10 * time.Millisecond, Jitter: 10 * time.Millisecond})
	c := dial(t, l.Addr())
	sent := map[string]bool{}
	for i := range 40 {
		send(t, c, msg(i))
		sent[string(msg(i))] = true
	}
	for range 40 {
		got := string(recv(t, c, 5*time.Second))
		if !sent[got] {
			t.Fatalf("got %q, not sent or received twice", got)
		}
		delete(sent, got)
	}
}

func TestLink_Loss(t *testing.T) {
	t.Run("all", func(t *testing.T) {
		l := startLink(t, echoServer(t), Params{Loss: 1})
		c := dial(t, l.Addr())
		for i := range 50 {
			send(t, c, msg(i))
		}
		waitFor(t, "50 lost", func() bool { return l.Stats().ToTarget.Lost == 50 })
		if err := l.Set(Params{}); err != nil {
			t.Fatal(err)
		}
		send(t, c, []byte("marker"))
		if got := recvUntil(t, c, []byte("marker")); len(got) != 0 {
			t.Errorf("with loss 1: got %d datagrams through, want 0", len(got))
		}
	})

	t.Run("none", func(t *testing.T) {
		l := startLink(t, echoServer(t), Params{Loss: 0})
		c := dial(t, l.Addr())
		for i := range 200 {
			exchange(t, c, msg(i))
		}
		if got := l.Stats().ToTarget.Lost; got != 0 {
			t.Errorf("lost: got %d, want 0", got)
		}
	})
}

func TestLink_Blackhole(t *testing.T) {
	l := startLink(t, echoServer(t), Params{})
	c := dial(t, l.Addr())
	exchange(t, c, []byte("before"))
	if err := l.Set(Params{Blackhole: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		send(t, c, msg(i))
	}
	waitFor(t, "20 blackholed", func() bool { return l.Stats().ToTarget.Blackholed == 20 })
	if err := l.Set(Params{}); err != nil {
		t.Fatal(err)
	}
	send(t, c, []byte("healed"))
	if got := recvUntil(t, c, []byte("healed")); len(got) != 0 {
		t.Errorf("through a blackhole: got %d datagrams, want 0", len(got))
	}

	t.Run("drops queued", func(t *testing.T) {
		if err := l.Set(Params{Delay: 300 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		before := l.Stats().ToTarget.Blackholed
		for i := range 10 {
			send(t, c, msg(i))
		}
		waitFor(t, "10 queued", func() bool { return l.Stats().ToTarget.Queued == 10 })
		if err := l.Set(Params{Delay: 300 * time.Millisecond, Blackhole: true}); err != nil {
			t.Fatal(err)
		}
		if got := l.Stats().ToTarget.Queued; got != 0 {
			t.Errorf("queued after Set(blackhole): got %d, want 0", got)
		}
		if got, want := l.Stats().ToTarget.Blackholed-before, uint64(10); got != want {
			t.Errorf("queued datagrams blackholed: got %d, want %d", got, want)
		}
		if err := l.Set(Params{}); err != nil {
			t.Fatal(err)
		}
		send(t, c, []byte("after"))
		if got := recvUntil(t, c, []byte("after")); len(got) != 0 {
			t.Errorf("queued datagrams delivered after blackhole: got %d, want 0", len(got))
		}
	})
}

func TestLink_Bandwidth(t *testing.T) {
	t.Run("cap", func(t *testing.T) {
		const rate, size, n = 20000, 1000, 10
		l := startLink(t, echoServer(t), Params{Bandwidth: rate})
		c := dial(t, l.Addr())
		start := time.Now()
		for i := range n {
			send(t, c, append(msg(i), make([]byte, size-len(msg(i)))...))
		}
		for range n {
			recv(t, c, 5*time.Second)
		}
		elapsed := time.Since(start)
		if want := time.Duration(n * size * int64(time.Second) / rate); elapsed < want {
			t.Errorf("%d bytes at %d B/s: got %v, want >= %v", n*size, rate, elapsed, want)
		}
		if st := l.Stats(); st.ToTarget.Overflowed+st.ToClient.Overflowed != 0 {
			t.Errorf("overflowed: got %+v, want none (queue fits)", st)
		}
	})

	t.Run("tail drop", func(t *testing.T) {
		l := startLink(t, echoServer(t), Params{Bandwidth: 2000})
		c := dial(t, l.Addr())
		for i := range 20 {
			send(t, c, append(msg(i), make([]byte, 1000)...))
		}
		// At 2000 B/s a one-second queue holds two of these datagrams.
		waitFor(t, "tail drops", func() bool { return l.Stats().ToTarget.Overflowed > 0 })
	})
}

func TestLink_Set(t *testing.T) {
	base := Params{Delay: time.Millisecond}
	l := startLink(t, echoServer(t), base)
	c := dial(t, l.Addr())
	exchange(t, c, []byte("warm"))

	p := Params{Delay: 40 * time.Millisecond, Jitter: time.Millisecond}
	if err := l.Set(p); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if got := l.Params(); got != p {
		t.Errorf("Params: got %v, want %v", got, p)
	}
	if got, want := exchange(t, c, []byte("slow")), 2*(p.Delay-p.Jitter); got < want {
		t.Errorf("round trip after Set: got %v, want >= %v", got, want)
	}

	if err := l.Set(Params{Loss: -1}); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("Set invalid: got %v, want ErrInvalidParams", err)
	}
	if got := l.Params(); got != p {
		t.Errorf("Params after invalid Set: got %v, want %v", got, p)
	}

	l.Reset()
	if got := l.Params(); got != base {
		t.Errorf("Params after Reset: got %v, want %v", got, base)
	}
	if got := l.Baseline(); got != base {
		t.Errorf("Baseline: got %v, want %v", got, base)
	}
}

func TestLink_Close(t *testing.T) {
	target := echoServer(t)
	before := runtime.NumGoroutine()
	l, err := New("closing", "127.0.0.1:0", target, Params{Delay: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c := dial(t, l.Addr())
		send(t, c, []byte("queued"))
	}
	waitFor(t, "3 sessions and queued datagrams", func() bool {
		st := l.Stats()
		return st.Sessions == 3 && st.ToTarget.Queued == 3
	})
	if got, want := l.running.Load(), int32(3+3); got != want {
		t.Errorf("goroutines while running: got %d, want %d (3 fixed + 1 per session)", got, want)
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Close: not returned after 5s; %d goroutines still running", l.running.Load())
	}
	if got := l.running.Load(); got != 0 {
		t.Errorf("goroutines after Close: got %d, want 0", got)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	st := l.Stats()
	if st.Sessions != 0 || st.ToTarget.Queued != 0 {
		t.Errorf("after Close: got %+v, want no sessions and nothing queued", st)
	}
	waitFor(t, "goroutine count back", func() bool { return runtime.NumGoroutine() <= before })
}

func TestLink_SessionIdle(t *testing.T) {
	l, err := newLink("idle", "127.0.0.1:0", echoServer(t), Params{}, nil, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := dial(t, l.Addr())
	exchange(t, c, []byte("one"))
	waitFor(t, "session expiry", func() bool { return l.Stats().Sessions == 0 })
	waitFor(t, "session reader exit", func() bool { return l.running.Load() == 3 })
	exchange(t, c, []byte("two"))
	if got, want := l.Stats().Sessions, 1; got != want {
		t.Errorf("sessions after new traffic: got %d, want %d", got, want)
	}
}

// BenchmarkRelay compares direct UDP with a link with no faults (the direct
// path) and a link with a small delay (the scheduler path), in the same run:
// ping-pong, and 16 or 64 datagrams of 1200 bytes in flight.
func BenchmarkRelay(b *testing.B) {
	target := echoServer(b)
	l := startLink(b, target, Params{})
	slow := startLink(b, target, Params{Delay: 100 * time.Microsecond})
	for _, bc := range []struct {
		name, addr string
		window     int
	}{
		{"direct/pingpong", target, 1},
		{"link/pingpong", l.Addr(), 1},
		{"direct/window16", target, 16},
		{"link/window16", l.Addr(), 16},
		{"link-delay100us/window64", slow.Addr(), 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := dial(b, bc.addr)
			payload := make([]byte, 1200)
			buf := make([]byte, 2048)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			inflight, timeouts := 0, 0
			for b.Loop() {
				for inflight < bc.window {
					if _, err := c.Write(payload); err != nil {
						b.Fatal(err)
					}
					inflight++
				}
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := c.Read(buf); err != nil {
					// A datagram lost in a socket buffer: carry on.
					inflight = 0
					timeouts++
					continue
				}
				inflight--
			}
			b.ReportMetric(float64(timeouts), "timeouts")
			for _, link := range []*Link{l, slow} {
				if bc.addr != link.Addr() {
					continue
				}
				st := link.Stats()
				b.ReportMetric(float64(st.ToTarget.Dropped+st.ToClient.Dropped), "link-drops")
			}
			// Drain what is still in flight so the next case starts clean.
			for ; inflight > 0; inflight-- {
				_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				if _, err := c.Read(buf); err != nil {
					break
				}
			}
		})
	}
}
