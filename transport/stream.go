package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
)

var _ net.Conn = (*Stream)(nil)

// Stream is one bidirectional QUIC stream of a given Kind to an
// authenticated peer. It is a net.Conn: Close ends the write side (FIN) and
// stops reading; deadlines are the QUIC stream's. Read and Write may run
// concurrently with each other and with Close.
type Stream struct {
	qs     *quic.Stream
	conn   *quic.Conn
	kind   Kind
	peer   pki.Identity
	opened bool // we opened it (refusals come from the peer)

	sent, received prometheus.Counter
	refused        prometheus.Counter // remote refusals seen

	mu      sync.Mutex
	writing int // Writes in progress
	closed  bool
	// refusedOnce makes sure a refusal is counted once per stream.
	refusedOnce sync.Once
}

func newStream(qs *quic.Stream, conn *quic.Conn, kind Kind, peer pki.Identity, opened bool, m *metrics) *Stream {
	k := kind.String()
	return &Stream{
		qs: qs, conn: conn, kind: kind, peer: peer, opened: opened,
		sent:     m.bytesSent.WithLabelValues(k),
		received: m.bytesReceived.WithLabelValues(k),
		refused:  m.refused.WithLabelValues(k, "remote"),
	}
}

// Kind returns the stream's purpose.
func (s *Stream) Kind() Kind { return s.kind }

// Peer returns the authenticated identity of the other end.
func (s *Stream) Peer() pki.Identity { return s.peer }

// Read reads from the stream. At the peer's Close it returns io.EOF. If the
// peer refused the stream the error wraps ErrRefused.
func (s *Stream) Read(p []byte) (int, error) {
	n, err := s.qs.Read(p)
	if n > 0 {
		s.received.Add(float64(n))
	}
	if err != nil {
		err = s.mapErr("read", err)
	}
	return n, err
}

// Write writes to the stream. If the peer refused the stream the error
// wraps ErrRefused; after Close it is net.ErrClosed.
func (s *Stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, fmt.Errorf("write %s stream to %s: %w", s.kind, s.peer.Name, net.ErrClosed)
	}
	s.writing++
	s.mu.Unlock()

	n, err := s.qs.Write(p)

	s.mu.Lock()
	s.writing--
	s.mu.Unlock()
	if n > 0 {
		s.sent.Add(float64(n))
	}
	if err != nil {
		err = s.mapErr("write", err)
	}
	return n, err
}

// Close closes the write side (the peer reads io.EOF after the data already
// written) and stops reading. A Write blocked at the time is aborted
// instead. Close is idempotent.
func (s *Stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.qs.CancelRead(codeClosed)
	if s.writing > 0 {
		// quic-go forbids Close concurrent with Write; CancelWrite is
		// allowed and unblocks the Write.
		s.qs.CancelWrite(codeClosed)
		return nil
	}
	return s.qs.Close()
}

// abort resets both directions with code, for refusals and shutdown.
func (s *Stream) abort(code quic.StreamErrorCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.qs.CancelRead(code)
	s.qs.CancelWrite(code)
}

// LocalAddr returns the local UDP address of the connection.
func (s *Stream) LocalAddr() net.Addr { return s.conn.LocalAddr() }

// RemoteAddr returns the UDP address of the peer (or of the relay in front
// of it).
func (s *Stream) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (s *Stream) SetDeadline(t time.Time) error { return s.qs.SetDeadline(t) }

// SetReadDeadline sets the read deadline; an expired deadline makes Read
// return an error that is a net.Error with Timeout() true.
func (s *Stream) SetReadDeadline(t time.Time) error { return s.qs.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.qs.SetWriteDeadline(t) }

// String describes the stream for logs: "raft stream to site/monaco/site-b".
func (s *Stream) String() string {
	dir := "from"
	if s.opened {
		dir = "to"
	}
	return fmt.Sprintf("%s stream %s %s", s.kind, dir, s.peer)
}

// mapErr turns QUIC stream errors into this package's errors. io.EOF and
// deadline errors are returned as they are (callers compare them directly).
func (s *Stream) mapErr(op string, err error) error {
	if err == io.EOF {
		return err
	}
	var se *quic.StreamError
	if errors.As(err, &se) {
		switch {
		case se.Remote && se.ErrorCode == codeRefused:
			s.refusedOnce.Do(func() { s.refused.Inc() })
			return fmt.Errorf("%s %s: %w", op, s, ErrRefused)
		case se.Remote && se.ErrorCode == codeProtocol:
			return fmt.Errorf("%s %s: %w: peer rejected the stream header", op, s, ErrProtocol)
		case se.Remote && se.ErrorCode == codeShutdown:
			return fmt.Errorf("%s %s: peer is shutting down: %w", op, s, net.ErrClosed)
		case se.Remote && se.ErrorCode == codeClosed:
			// The peer closed its end (Close cancels its reading).
			return fmt.Errorf("%s %s: peer closed the stream: %w", op, s, io.ErrClosedPipe)
		case !se.Remote:
			return fmt.Errorf("%s %s: %w", op, s, net.ErrClosed)
		}
	}
	if errors.Is(err, quic.ErrStreamClosed) {
		return fmt.Errorf("%s %s: %w", op, s, net.ErrClosed)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !isConnError(err) {
		return err // deadline exceeded: keep the net.Error as is
	}
	return fmt.Errorf("%s %s: %w", op, s, err)
}

// isConnError reports whether err is the death of the whole connection
// (which may also claim Timeout, e.g. the idle timeout).
func isConnError(err error) bool {
	var (
		idle *quic.IdleTimeoutError
		hs   *quic.HandshakeTimeoutError
		app  *quic.ApplicationError
		tr   *quic.TransportError
		sr   *quic.StatelessResetError
	)
	return errors.As(err, &idle) || errors.As(err, &hs) || errors.As(err, &app) || errors.As(err, &tr) || errors.As(err, &sr)
}
