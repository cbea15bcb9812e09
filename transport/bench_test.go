package transport

import (
	"bytes"
	"io"
	"testing"
)

// benchPair opens a KindShip stream from site-a to site-b over real QUIC on
// 127.0.0.1 and runs sink on the accepted side.
func benchPair(b *testing.B, sink func(*Stream)) *Stream {
	b.Helper()
	p := newTestPKI(b)
	a := p.endpoint(b, "site/monaco/site-a")
	srv := p.endpoint(b, "site/monaco/site-b")
	ctx := testCtx(b)
	s, err := a.Open(ctx, "site-b", KindShip)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		acc, err := srv.Accept(ctx, KindShip)
		if err != nil {
			return
		}
		defer acc.Close()
		sink(acc)
	}()
	b.Cleanup(func() {
		s.Close()
		<-done
	})
	return s
}

// BenchmarkStream_Write measures raw stream throughput, 64 KiB writes.
func BenchmarkStream_Write(b *testing.B) {
	s := benchPair(b, func(acc *Stream) { _, _ = io.Copy(io.Discard, acc) })
	buf := bytes.Repeat([]byte{0x5a}, 64<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := s.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStream_Frames measures frames of a 1 KiB payload encoded on one
// side and decoded and unmarshalled on the other.
func BenchmarkStream_Frames(b *testing.B) {
	s := benchPair(b, func(acc *Stream) {
		dec := NewDecoder(acc, 0)
		var m testMsg
		for {
			f, err := dec.Decode()
			if err != nil {
				return
			}
			if err := f.Unmarshal(&m); err != nil {
				return
			}
		}
	})
	enc := NewEncoder(s)
	msg := testMsg{Index: 1, Epoch: 1, Payload: bytes.Repeat([]byte{0xab}, 1024), Note: "put ns/key"}
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		msg.Index++
		if err := enc.Buffer(1, &msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		b.Fatal(err)
	}
}
