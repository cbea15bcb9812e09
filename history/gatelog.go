package history

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"sync"
	"time"
)

// maxGateLine bounds one gate log line: 19 digits, a space, 20 digits, a
// newline.
const maxGateLine = 19 + 1 + 20 + 1

// AppendGateLine appends the gate log line of a pass in epoch at at (see
// doc.go) to b.
func AppendGateLine(b []byte, epoch uint64, at time.Time) []byte {
	b = strconv.AppendInt(b, at.UnixNano(), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, epoch, 10)
	return append(b, '\n')
}

// DecodeGateLog reads the gate log of node from r. Every line must be
// "<unix-nanos> <epoch>\n" (doc.go); the first that is not stops the
// decoding with ErrMalformed, naming the line. A last line without its
// newline is returned as ErrTornLine with every complete line before it.
func DecodeGateLog(r io.Reader, node string) ([]Pass, error) {
	br := bufio.NewReader(r)
	var out []Pass
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull) || len(line) > maxGateLine:
			return out, fmt.Errorf("%w: %s line %d: longer than %d bytes (want \"<unix-nanos> <epoch>\\n\")", ErrMalformed, node, n, maxGateLine)
		case errors.Is(err, io.EOF):
			if len(line) > 0 {
				return out, fmt.Errorf("%w: %s line %d: %q has no newline (the node was killed while writing it?)", ErrTornLine, node, n, line)
			}
			return out, nil
		case err != nil:
			return out, fmt.Errorf("history: read %s's gate log: %w", node, err)
		}
		p, perr := parseGateLine(line[:len(line)-1])
		if perr != nil {
			return out, fmt.Errorf("%w: %s line %d: %q: %v (want \"<unix-nanos> <epoch>\\n\", decimal, > 0, no leading zeros)", ErrMalformed, node, n, line, perr)
		}
		p.Node = node
		out = append(out, p)
	}
}

// ReadGateLog reads the gate log file of node at path (DecodeGateLog).
func ReadGateLog(path, node string) ([]Pass, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("history: %s's gate log: %w", node, err)
	}
	defer f.Close()
	return DecodeGateLog(f, node)
}

func parseGateLine(b []byte) (Pass, error) {
	ts, ep, ok := bytes.Cut(b, []byte{' '})
	if !ok {
		return Pass{}, errors.New("no space")
	}
	ns, err := parseDecimal(ts, 19)
	if err != nil {
		return Pass{}, fmt.Errorf("unix-nanos: %w", err)
	}
	if ns > math.MaxInt64 {
		return Pass{}, errors.New("unix-nanos: beyond 2^63-1")
	}
	epoch, err := parseDecimal(ep, 20)
	if err != nil {
		return Pass{}, fmt.Errorf("epoch: %w", err)
	}
	return Pass{Epoch: epoch, At: time.Unix(0, int64(ns))}, nil
}

// parseDecimal parses a decimal integer > 0 of at most digits digits,
// without sign or leading zeros.
func parseDecimal(b []byte, digits int) (uint64, error) {
	switch {
	case len(b) == 0:
		return 0, errors.New("empty")
	case len(b) > digits:
		return 0, fmt.Errorf("more than %d digits", digits)
	case b[0] == '0':
		return 0, errors.New("zero or a leading zero")
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a digit", c)
		}
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, errors.New("beyond 2^64-1")
	}
	return v, nil
}

// GateFile appends gate passes to a gate log file: one unbuffered write
// per pass on a file opened O_APPEND, so every line written survives a
// SIGKILL of the process. Its methods are safe for concurrent use.
type GateFile struct {
	f       *os.File
	onError func(error)
	once    sync.Once
	mu      sync.Mutex
	err     error
}

// OpenGateLog opens (or creates) the gate log at path for appending.
// onError, if set, is called once, with the first failed write; later
// passes are still attempted.
func OpenGateLog(path string, onError func(error)) (*GateFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("history: open gate log: %w", err)
	}
	return &GateFile{f: f, onError: onError}, nil
}

// Pass appends the line of one pass; its signature is
// node.Options.WriteLog's.
func (g *GateFile) Pass(epoch uint64, at time.Time) {
	var buf [maxGateLine]byte
	// *os.File serializes concurrent writes; O_APPEND places each whole
	// line at the end.
	if _, err := g.f.Write(AppendGateLine(buf[:0], epoch, at)); err != nil {
		err = fmt.Errorf("history: append to gate log %s: %w", g.f.Name(), err)
		g.once.Do(func() {
			g.mu.Lock()
			g.err = err
			g.mu.Unlock()
			if g.onError != nil {
				g.onError(err)
			}
		})
	}
}

// Err returns the first write error, if any.
func (g *GateFile) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Close closes the file.
func (g *GateFile) Close() error {
	if err := g.f.Close(); err != nil {
		return fmt.Errorf("history: close gate log: %w", err)
	}
	return nil
}
