package transport

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"reflect"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

const (
	// FrameVersion is the version byte of every frame this package writes.
	FrameVersion = 1
	// FrameHeaderLen is the size of a frame header: version, type, length.
	FrameHeaderLen = 6
	// DefaultMaxFrame is the largest frame body accepted by default.
	DefaultMaxFrame = 16 << 20

	// readChunk bounds how much body buffer is allocated ahead of the bytes
	// actually received, so a peer announcing a large frame and sending
	// nothing cannot make us allocate the whole announced length.
	readChunk = 1 << 20
	ioBufSize = 64 << 10
)

// msgpackHandle is the one codec configuration of frame bodies:
// str and bin are distinct types (WriteExt), raw bytes decoded into an
// interface become strings, maps decoded into an interface are
// map[string]any (never map[interface{}]interface{}), and map keys are
// written sorted (Canonical), so equal values encode to equal bytes.
var msgpackHandle = func() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.WriteExt = true
	h.RawToString = true
	h.Canonical = true
	h.MapType = reflect.TypeOf(map[string]any(nil))
	return h
}()

var decoderPool = sync.Pool{New: func() any { return codec.NewDecoderBytes(nil, msgpackHandle) }}

// Frame is one decoded frame.
type Frame struct {
	// Type says what Body holds; its meaning belongs to the stream's user.
	Type uint8
	// Body is one msgpack value. A Frame returned by Decoder.Decode shares
	// Body with the decoder: it is valid until the next Decode.
	Body []byte
}

// Unmarshal decodes the body into v, which must be a non-nil pointer
// (preferably to a struct). The body must hold exactly one msgpack value
// with no extension type but timestamps; anything else, including bytes
// after the value, is refused with ErrFrameCorrupt before decoding. Byte slices in v never
// alias Body.
func (f Frame) Unmarshal(v any) error {
	if rv := reflect.ValueOf(v); rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("unmarshal frame type %d into %T: %w", f.Type, v, ErrUnmarshalTarget)
	}
	if len(f.Body) == 0 {
		return fmt.Errorf("unmarshal frame type %d: %w: empty body", f.Type, ErrFrameCorrupt)
	}
	if problem := scanValue(f.Body); problem != "" {
		return fmt.Errorf("unmarshal frame type %d into %T: %w: %s", f.Type, v, ErrFrameCorrupt, problem)
	}
	d := decoderPool.Get().(*codec.Decoder)
	d.ResetBytes(f.Body)
	err := d.Decode(v)
	n := d.NumBytesRead()
	d.ResetBytes([]byte{}) // drop the reference to Body
	decoderPool.Put(d)
	if err != nil {
		return fmt.Errorf("unmarshal frame type %d (%d bytes) into %T: %w: %w", f.Type, len(f.Body), v, ErrFrameCorrupt, err)
	}
	if n != len(f.Body) {
		return fmt.Errorf("unmarshal frame type %d into %T: %w: %d trailing bytes after %d", f.Type, v, ErrFrameCorrupt, len(f.Body)-n, n)
	}
	return nil
}

// Encoder writes frames to a stream. It buffers: Encode flushes after each
// frame, Buffer does not (call Flush). It is not safe for concurrent use.
type Encoder struct {
	w       *bufio.Writer
	enc     *codec.Encoder
	body    []byte
	maxBody int
	hdr     [FrameHeaderLen]byte
}

// NewEncoder returns an Encoder writing to w. Bodies larger than
// DefaultMaxFrame are refused (see SetMaxFrame).
func NewEncoder(w io.Writer) *Encoder {
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(w, ioBufSize)
	}
	e := &Encoder{w: bw, maxBody: DefaultMaxFrame, body: make([]byte, 0, 4096)}
	e.enc = codec.NewEncoderBytes(&e.body, msgpackHandle)
	return e
}

// SetMaxFrame sets the largest body Encode accepts; n <= 0 restores
// DefaultMaxFrame. It should match the peer decoder's limit.
func (e *Encoder) SetMaxFrame(n int) {
	if n <= 0 || n > math.MaxUint32 {
		n = min(DefaultMaxFrame, math.MaxUint32)
	}
	e.maxBody = n
}

// Encode writes one frame of type typ whose body is v in msgpack, and
// flushes. Nothing is written if v cannot be encoded or is too large.
func (e *Encoder) Encode(typ uint8, v any) error {
	if err := e.Buffer(typ, v); err != nil {
		return err
	}
	return e.Flush()
}

// Buffer is Encode without the flush: frames accumulate in the buffer (and
// are written when it fills) until Flush.
func (e *Encoder) Buffer(typ uint8, v any) error {
	out := e.body[:0]
	e.enc.ResetBytes(&out)
	if err := e.enc.Encode(v); err != nil {
		return fmt.Errorf("encode frame type %d from %T: %w", typ, v, err)
	}
	if cap(out) > cap(e.body) {
		e.body = out[:0] // keep the grown buffer
	}
	if len(out) > e.maxBody {
		return fmt.Errorf("encode frame type %d: %w: %d bytes, limit %d", typ, ErrFrameTooLarge, len(out), e.maxBody)
	}
	e.hdr[0] = FrameVersion
	e.hdr[1] = typ
	binary.BigEndian.PutUint32(e.hdr[2:], uint32(len(out)))
	if _, err := e.w.Write(e.hdr[:]); err != nil {
		return fmt.Errorf("write frame type %d: %w", typ, err)
	}
	if _, err := e.w.Write(out); err != nil {
		return fmt.Errorf("write frame type %d: %w", typ, err)
	}
	return nil
}

// Flush writes buffered frames to the underlying writer.
func (e *Encoder) Flush() error {
	if err := e.w.Flush(); err != nil {
		return fmt.Errorf("flush frames: %w", err)
	}
	return nil
}

// Decoder reads frames from a stream, through a buffer. It is not safe for
// concurrent use.
type Decoder struct {
	r      *bufio.Reader
	maxLen int
	hdr    [FrameHeaderLen]byte
	body   []byte
}

// NewDecoder returns a Decoder reading from r that refuses bodies longer than
// maxLen (maxLen <= 0 means DefaultMaxFrame).
func NewDecoder(r io.Reader, maxLen int) *Decoder {
	if maxLen <= 0 || maxLen > math.MaxUint32 {
		maxLen = min(DefaultMaxFrame, math.MaxUint32)
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, ioBufSize)
	}
	return &Decoder{r: br, maxLen: maxLen}
}

// Decode reads the next frame. At a clean end of stream (no byte of a new
// frame) it returns io.EOF itself; a frame cut short wraps
// io.ErrUnexpectedEOF. A wrong version byte is ErrFrameVersion, a length
// above the limit ErrFrameTooLarge and a zero length ErrFrameCorrupt; after
// those errors the stream is out of sync and must be closed. The returned
// Body is reused by the next Decode.
func (d *Decoder) Decode() (Frame, error) {
	if _, err := io.ReadFull(d.r, d.hdr[:]); err != nil {
		if err == io.EOF {
			return Frame{}, io.EOF
		}
		return Frame{}, fmt.Errorf("read frame header: %w", err)
	}
	if d.hdr[0] != FrameVersion {
		return Frame{}, fmt.Errorf("read frame: %w: %d (want %d)", ErrFrameVersion, d.hdr[0], FrameVersion)
	}
	typ := d.hdr[1]
	n := binary.BigEndian.Uint32(d.hdr[2:])
	if uint64(n) > uint64(d.maxLen) {
		return Frame{}, fmt.Errorf("read frame type %d: %w: %d bytes, limit %d", typ, ErrFrameTooLarge, n, d.maxLen)
	}
	if n == 0 {
		return Frame{}, fmt.Errorf("read frame type %d: %w: empty body", typ, ErrFrameCorrupt)
	}
	body, err := d.readBody(int(n))
	if err != nil {
		return Frame{}, fmt.Errorf("read frame type %d body (%d bytes): %w", typ, n, err)
	}
	return Frame{Type: typ, Body: body}, nil
}

// readBody reads exactly n bytes into the reused buffer, growing it at most
// readChunk ahead of what has arrived.
func (d *Decoder) readBody(n int) ([]byte, error) {
	if n <= cap(d.body) {
		b := d.body[:n]
		if _, err := io.ReadFull(d.r, b); err != nil {
			return nil, noEOF(err)
		}
		return b, nil
	}
	b := d.body[:0]
	for len(b) < n {
		step := min(n-len(b), readChunk)
		b = growLen(b, step)
		if _, err := io.ReadFull(d.r, b[len(b)-step:]); err != nil {
			d.body = b[:0]
			return nil, noEOF(err)
		}
	}
	d.body = b[:0]
	return b, nil
}

// growLen extends b by n bytes, reallocating (amortised doubling) if needed.
func growLen(b []byte, n int) []byte {
	if len(b)+n <= cap(b) {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, max(2*cap(b), len(b)+n))
	copy(nb, b)
	return nb
}

// noEOF turns io.EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
