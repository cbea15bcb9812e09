package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testMsg is a typical frame body.
type testMsg struct {
	Index   uint64
	Epoch   uint32
	Payload []byte
	Note    string
	Tags    map[string]string
	Nested  *testMsg
}

func encodeFrames(t testing.TB, frames ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	for i, v := range frames {
		if err := enc.Encode(uint8(i+1), v); err != nil {
			t.Fatalf("Encode %d: %v", i, err)
		}
	}
	return buf.Bytes()
}

func rawFrame(version, typ uint8, body []byte) []byte {
	b := []byte{version, typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[2:], uint32(len(body)))
	return append(b, body...)
}

func TestEncoder_Encode(t *testing.T) {
	t.Run("layout", func(t *testing.T) {
		data := encodeFrames(t, "hi")
		// fixstr "hi" is a2 68 69.
		if got, want := data, []byte{1, 1, 0, 0, 0, 3, 0xa2, 'h', 'i'}; !bytes.Equal(got, want) {
			t.Fatalf("got % x, want % x", got, want)
		}
	})
	t.Run("too-large", func(t *testing.T) {
		var buf bytes.Buffer
		enc := NewEncoder(&buf)
		enc.SetMaxFrame(10)
		err := enc.Encode(1, strings.Repeat("x", 20))
		if got, want := err, ErrFrameTooLarge; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if got, want := buf.Len(), 0; got != want {
			t.Fatalf("wrote %d bytes for a refused frame, want %d", got, want)
		}
		if err := enc.Encode(2, "ok"); err != nil {
			t.Fatalf("Encode after refusal: %v", err)
		}
	})
	t.Run("unencodable", func(t *testing.T) {
		var buf bytes.Buffer
		if err := NewEncoder(&buf).Encode(1, complex(1, 2)); err == nil {
			t.Fatal("got nil error encoding a complex128")
		}
		if got, want := buf.Len(), 0; got != want {
			t.Fatalf("wrote %d bytes, want %d", got, want)
		}
	})
	t.Run("buffer-flush", func(t *testing.T) {
		var buf bytes.Buffer
		enc := NewEncoder(&buf)
		for i := range 3 {
			if err := enc.Buffer(uint8(i), i); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := buf.Len(), 0; got != want {
			t.Fatalf("got %d bytes before Flush, want %d", got, want)
		}
		if err := enc.Flush(); err != nil {
			t.Fatal(err)
		}
		dec := NewDecoder(&buf, 0)
		for i := range 3 {
			f, err := dec.Decode()
			if err != nil {
				t.Fatalf("Decode %d: %v", i, err)
			}
			var got int
			if err := f.Unmarshal(&got); err != nil {
				t.Fatal(err)
			}
			if got != i || f.Type != uint8(i) {
				t.Fatalf("frame %d: got type %d value %d", i, f.Type, got)
			}
		}
	})
}

func TestDecoder_Decode(t *testing.T) {
	t.Run("round-trip", func(t *testing.T) {
		in := []testMsg{
			{Index: 1, Epoch: 2, Payload: []byte{0, 1, 2}, Note: "a", Tags: map[string]string{"k": "v"}},
			{Index: 1 << 60, Payload: bytes.Repeat([]byte{0xff}, 200_000), Nested: &testMsg{Note: "inner"}},
			{},
		}
		frames := make([]any, len(in))
		for i := range in {
			frames[i] = in[i]
		}
		dec := NewDecoder(bytes.NewReader(encodeFrames(t, frames...)), 0)
		for i, want := range in {
			f, err := dec.Decode()
			if err != nil {
				t.Fatalf("Decode %d: %v", i, err)
			}
			if got, want := f.Type, uint8(i+1); got != want {
				t.Fatalf("type: got %d, want %d", got, want)
			}
			var got testMsg
			if err := f.Unmarshal(&got); err != nil {
				t.Fatalf("Unmarshal %d: %v", i, err)
			}
			if len(want.Payload) == 0 {
				want.Payload = got.Payload // nil and empty are the same on the wire
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("frame %d: got %+v, want %+v", i, got, want)
			}
		}
		if _, err := dec.Decode(); err != io.EOF {
			t.Fatalf("after last frame: got %v, want io.EOF", err)
		}
	})
	t.Run("no-aliasing", func(t *testing.T) {
		data := encodeFrames(t, testMsg{Payload: []byte("first")}, testMsg{Payload: []byte("other")})
		dec := NewDecoder(bytes.NewReader(data), 0)
		f, err := dec.Decode()
		if err != nil {
			t.Fatal(err)
		}
		var first testMsg
		if err := f.Unmarshal(&first); err != nil {
			t.Fatal(err)
		}
		if _, err := dec.Decode(); err != nil {
			t.Fatal(err)
		}
		if got, want := string(first.Payload), "first"; got != want {
			t.Fatalf("payload changed by the next Decode: got %q, want %q", got, want)
		}
	})
	t.Run("interface-maps", func(t *testing.T) {
		data := encodeFrames(t, map[string]any{"a": map[string]any{"b": "c"}})
		f, err := NewDecoder(bytes.NewReader(data), 0).Decode()
		if err != nil {
			t.Fatal(err)
		}
		var got any
		if err := f.Unmarshal(&got); err != nil {
			t.Fatal(err)
		}
		m, ok := got.(map[string]any)
		if !ok {
			t.Fatalf("got %T, want map[string]any", got)
		}
		if _, ok := m["a"].(map[string]any); !ok {
			t.Fatalf("nested: got %T, want map[string]any", m["a"])
		}
	})
	errCases := []struct {
		name string
		data []byte
		max  int
		want error
	}{
		{"version-0", rawFrame(0, 1, []byte{0xc0}), 0, ErrFrameVersion},
		{"version-2", rawFrame(2, 1, []byte{0xc0}), 0, ErrFrameVersion},
		{"too-large", rawFrame(1, 1, make([]byte, 11)), 10, ErrFrameTooLarge},
		{"huge-length", []byte{1, 1, 0xff, 0xff, 0xff, 0xff}, 0, ErrFrameTooLarge},
		{"empty-body", rawFrame(1, 1, nil), 0, ErrFrameCorrupt},
		{"short-header", []byte{1, 1, 0}, 0, io.ErrUnexpectedEOF},
		{"short-body", rawFrame(1, 1, []byte{1, 2, 3})[:8], 0, io.ErrUnexpectedEOF},
		{"short-big-body", rawFrame(1, 1, make([]byte, 3<<20))[:2<<20], 0, io.ErrUnexpectedEOF},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDecoder(bytes.NewReader(tc.data), tc.max).Decode()
			if got, want := err, tc.want; !errors.Is(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

func TestFrame_Unmarshal(t *testing.T) {
	cases := []struct {
		name string
		body []byte
		want error
	}{
		{"empty", nil, ErrFrameCorrupt},
		{"trailing", []byte{0x01, 0x02}, ErrFrameCorrupt},                      // two fixints
		{"truncated-str", []byte{0xa5, 'a'}, ErrFrameCorrupt},                  // fixstr of 5, 1 byte
		{"wrong-shape", []byte{0xa1, 'x'}, ErrFrameCorrupt},                    // a string into a struct
		{"reserved-byte", []byte{0xc1}, ErrFrameCorrupt},                       // never used
		{"huge-array", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, ErrFrameCorrupt},  // 4G elements, no data
		{"empty-ext16", []byte{0xc8, 0x00, 0x00, 0x30, 0x30}, ErrFrameCorrupt}, // swallowed the next value
		{"fixext1", []byte{0xd4, 0x05, 0x00}, ErrFrameCorrupt},
		{"ext8-not-timestamp", []byte{0xc7, 0x01, 0x05, 0x00}, ErrFrameCorrupt},
		{"truncated-map16", []byte{0xde, 0x00}, ErrFrameCorrupt},
		{"truncated-bin8", []byte{0xc4}, ErrFrameCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v testMsg
			err := Frame{Type: 1, Body: tc.body}.Unmarshal(&v)
			if got, want := err, tc.want; !errors.Is(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
	t.Run("non-pointer", func(t *testing.T) {
		err := Frame{Type: 1, Body: []byte{0x01}}.Unmarshal(testMsg{})
		if got, want := err, ErrUnmarshalTarget; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("nil-pointer", func(t *testing.T) {
		err := Frame{Type: 1, Body: []byte{0x01}}.Unmarshal((*testMsg)(nil))
		if got, want := err, ErrUnmarshalTarget; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	// go-msgpack decodes these into an interface without complaint (the
	// empty ext16 by swallowing the 0x30 after it): only the body check
	// refuses them.
	for _, body := range [][]byte{{0xc8, 0x00, 0x00, 0x30, 0x30}, {0xd4, 0x05, 0x00}, {0x91, 0xc7, 0x01, 0x05, 0x00}} {
		t.Run(fmt.Sprintf("ext-into-interface-% x", body), func(t *testing.T) {
			var v any
			err := Frame{Type: 1, Body: body}.Unmarshal(&v)
			if got, want := err, ErrFrameCorrupt; !errors.Is(got, want) {
				t.Fatalf("got %v (value %#v), want %v", got, v, want)
			}
		})
	}
	t.Run("timestamp", func(t *testing.T) {
		want := time.Date(2026, 11, 24, 15, 0, 0, 123, time.UTC)
		var buf bytes.Buffer
		if err := NewEncoder(&buf).Encode(1, struct{ At time.Time }{want}); err != nil {
			t.Fatal(err)
		}
		fr, err := NewDecoder(&buf, 0).Decode()
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ At time.Time }
		if err := fr.Unmarshal(&got); err != nil {
			t.Fatalf("unmarshal timestamp: %v", err)
		}
		if !got.At.Equal(want) {
			t.Fatalf("got %v, want %v", got.At, want)
		}
	})
	t.Run("huge-array-into-slice", func(t *testing.T) {
		var v []uint64
		err := Frame{Type: 1, Body: []byte{0xdd, 0x7f, 0xff, 0xff, 0xff, 0x01}}.Unmarshal(&v)
		if got, want := err, ErrFrameCorrupt; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

// FuzzDecoder feeds arbitrary bytes to the decoder and unmarshals whatever
// frames come out: nothing may panic, and a frame that unmarshals must
// re-encode to a frame that decodes and unmarshals to the same value.
func FuzzDecoder(f *testing.F) {
	f.Add(encodeFrames(f, testMsg{Index: 7, Payload: []byte("x"), Tags: map[string]string{"a": "b"}}))
	f.Add(encodeFrames(f, "hi", 42, []any{1, "two", 3.0}, map[string]any{"k": []byte{1}}))
	f.Add(encodeFrames(f, testMsg{Nested: &testMsg{Nested: &testMsg{Note: "deep"}}}))
	f.Add(rawFrame(2, 1, []byte{0xc0}))
	f.Add(rawFrame(1, 1, nil))
	f.Add(rawFrame(1, 1, []byte{0x01, 0x02}))
	f.Add(rawFrame(1, 1, []byte{0xdd, 0xff, 0xff, 0xff, 0xff}))
	f.Add(rawFrame(1, 1, []byte{0xde, 0xff, 0xff, 0xa1, 'a'}))
	f.Add([]byte{1, 1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := NewDecoder(bytes.NewReader(data), 1<<16)
		for range 64 {
			fr, err := dec.Decode()
			if err != nil {
				return
			}
			var msg testMsg
			if err := fr.Unmarshal(&msg); err == nil {
				roundTrip(t, fr.Type, &msg, new(testMsg))
			}
			var v any
			if err := fr.Unmarshal(&v); err == nil {
				var again any
				roundTrip(t, fr.Type, v, &again)
			}
		}
	})
}

// roundTrip encodes v, decodes it into out and checks it re-encodes to the
// same bytes.
func roundTrip(t *testing.T, typ uint8, v any, out any) {
	t.Helper()
	var buf bytes.Buffer
	if err := NewEncoder(&buf).Encode(typ, v); err != nil {
		t.Fatalf("re-encode %#v: %v", v, err)
	}
	first := bytes.Clone(buf.Bytes())
	fr, err := NewDecoder(&buf, 0).Decode()
	if err != nil {
		t.Fatalf("decode re-encoded frame: %v", err)
	}
	if fr.Type != typ {
		t.Fatalf("type: got %d, want %d", fr.Type, typ)
	}
	if err := fr.Unmarshal(out); err != nil {
		t.Fatalf("unmarshal re-encoded frame: %v", err)
	}
	var again bytes.Buffer
	if err := NewEncoder(&again).Encode(typ, reflect.ValueOf(out).Elem().Interface()); err != nil {
		t.Fatalf("encode again: %v", err)
	}
	if !bytes.Equal(first, again.Bytes()) {
		t.Fatalf("not stable:\n got % x\nwant % x", again.Bytes(), first)
	}
}

func BenchmarkEncoder_Encode(b *testing.B) {
	msg := testMsg{Index: 123456, Epoch: 3, Payload: bytes.Repeat([]byte{0xab}, 1024), Note: "put ns/key"}
	enc := NewEncoder(io.Discard)
	b.ReportAllocs()
	b.SetBytes(1024)
	for b.Loop() {
		if err := enc.Encode(1, &msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecoder_Decode(b *testing.B) {
	msg := testMsg{Index: 123456, Epoch: 3, Payload: bytes.Repeat([]byte{0xab}, 1024), Note: "put ns/key"}
	one := encodeFrames(b, &msg)
	const n = 1024
	data := bytes.Repeat(one, n)
	r := bytes.NewReader(data)
	dec := NewDecoder(r, 0)
	var out testMsg
	b.ReportAllocs()
	b.SetBytes(1024)
	i := 0
	for b.Loop() {
		if i == n {
			r.Reset(data)
			i = 0
		}
		f, err := dec.Decode()
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Unmarshal(&out); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
