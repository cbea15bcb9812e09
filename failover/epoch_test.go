package failover

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestState_MarshalBinary(t *testing.T) {
	want := State{Epoch: 7, PrimaryRegion: "luxembourg", PrimaryNode: "lux-1", Changed: time.Unix(0, 1234567), StartIndex: 99, StartHash: [32]byte{1, 2, 3}}
	b, err := want.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got State
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !got.Changed.Equal(want.Changed) || got.Epoch != want.Epoch || got.PrimaryRegion != want.PrimaryRegion || got.PrimaryNode != want.PrimaryNode ||
		got.StartIndex != want.StartIndex || got.StartHash != want.StartHash {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range b {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x40
		if err := new(State).UnmarshalBinary(bad); !errors.Is(err, ErrCorruptState) {
			t.Fatalf("byte %d flipped: got %v, want ErrCorruptState", i, err)
		}
	}
}

// A version 1 file (before the start position was kept) still reads.
func TestState_UnmarshalBinary_v1(t *testing.T) {
	v1 := []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 10}
	v1 = append(v1, "luxembourg"...)
	v1 = append(v1, 5)
	v1 = append(v1, "lux-1"...)
	v1 = append(v1, 0, 0, 0, 0, 0, 0, 0, 0)
	v1 = binary.BigEndian.AppendUint32(v1, crc32.Checksum(v1, crcTable))
	var got State
	if err := got.UnmarshalBinary(v1); err != nil {
		t.Fatal(err)
	}
	if want := (State{Epoch: 2, PrimaryRegion: "luxembourg", PrimaryNode: "lux-1"}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestOpenStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epoch")
	s, err := OpenStore(path, initial)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(State{Epoch: 3, PrimaryRegion: "luxembourg"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(State{Epoch: 2, PrimaryRegion: "monaco"}); err == nil {
		t.Fatal("the epoch went backwards")
	}
	// The initial state never overrides what is on disk.
	s2, err := OpenStore(path, initial)
	if err != nil || s2.State().Epoch != 3 {
		t.Fatalf("reopen: got %+v, %v, want epoch 3", s2.State(), err)
	}
	// A damaged file is refused, never reset to the initial epoch.
	b, _ := os.ReadFile(path)
	b[3] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(path, initial); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("damaged file: got %v, want ErrCorruptState", err)
	}
}

// FuzzStateUnmarshal: an epoch file from disk never panics the decoder,
// and what it accepts re-encodes to the same bytes.
func FuzzStateUnmarshal(f *testing.F) {
	b, _ := State{Epoch: 2, PrimaryRegion: "luxembourg", PrimaryNode: "lux-1", Changed: time.Unix(5, 0)}.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var s State
		if s.UnmarshalBinary(data) != nil {
			return
		}
		out, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(data) {
			t.Fatalf("re-encoding differs")
		}
	})
}
