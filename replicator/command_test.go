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
