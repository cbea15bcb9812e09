package replicator

import (
	"bytes"
	"errors"
	"testing"

	"github.com/monaco-sovereign/jumeau/wal"
)

func TestCommand_Unmarshal(t *testing.T) {
	good := command{Op: wal.OpPut, Epoch: 3, Time: 42, Namespace: "ns", Key: "k", Payload: []byte("sealed")}
	enc := good.marshal()
	t.Run("roundtrip", func(t *testing.T) {
		var got command
		if err := got.unmarshal(enc); err != nil {
			t.Fatal(err)
		}
		if got.Op != good.Op || got.Epoch != good.Epoch || got.Time != good.Time || got.Namespace != good.Namespace ||
			got.Key != good.Key || !bytes.Equal(got.Payload, good.Payload) {
			t.Fatalf("got %+v, want %+v", got, good)
		}
	})
	bad := map[string][]byte{
		"empty":    nil,
		"version":  append([]byte{9}, enc[1:]...),
		"op":       append([]byte{1, 77}, enc[2:]...),
		"trailing": append(append([]byte(nil), enc...), 0),
		"short":    enc[:len(enc)-1],
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			var c command
			if err := c.unmarshal(b); !errors.Is(err, ErrBadCommand) {
				t.Fatalf("got %v, want ErrBadCommand", err)
			}
		})
	}
}

func FuzzCommandUnmarshal(f *testing.F) {
	f.Add((&command{Op: wal.OpPut, Epoch: 1, Time: 1, Namespace: "a", Key: "b", Payload: []byte("c")}).marshal())
	f.Add((&command{Op: wal.OpDelete, Namespace: "a", Key: "b"}).marshal())
	f.Add([]byte{1, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c command
		if err := c.unmarshal(b); err != nil {
			return
		}
		if got := c.marshal(); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs: got %x, want %x", got, b)
		}
	})
}

func TestBatch_Unmarshal(t *testing.T) {
	cs := []*command{{Op: wal.OpPut, Namespace: "a", Key: "1", Payload: []byte("x")}, {Op: wal.OpDelete, Namespace: "a", Key: "2"}}
	enc := marshalBatch(cs)
	got, err := unmarshalBatch(enc)
	if err != nil || len(got) != 2 || got[1].Key != "2" || got[1].Op != wal.OpDelete {
		t.Fatalf("got %+v, %v, want the two commands back", got, err)
	}
	for name, b := range map[string][]byte{
		"empty":    nil,
		"no ops":   {batchVersion, 0},
		"version":  append([]byte{1}, enc[1:]...),
		"trailing": append(append([]byte(nil), enc...), 7),
		"short":    enc[:len(enc)-2],
		"huge n":   {batchVersion, 0xff, 0xff, 0x03},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := unmarshalBatch(b); !errors.Is(err, ErrBadCommand) {
				t.Fatalf("got %v, want ErrBadCommand", err)
			}
		})
	}
}

func FuzzBatchUnmarshal(f *testing.F) {
	f.Add(marshalBatch([]*command{{Op: wal.OpPut, Namespace: "a", Key: "b", Payload: []byte("c")}}))
	f.Add(marshalBatch([]*command{{Op: wal.OpKey, Namespace: "a"}, {Op: wal.OpDelete, Namespace: "a", Key: "k"}}))
	f.Add([]byte{batchVersion, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		cmds, err := unmarshalBatch(b)
		if err != nil {
			return
		}
		ptrs := make([]*command, len(cmds))
		for i := range cmds {
			ptrs[i] = &cmds[i]
		}
		if got := marshalBatch(ptrs); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs: got %x, want %x", got, b)
		}
	})
}
