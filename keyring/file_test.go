package keyring

import (
	"bytes"
	"errors"
	"maps"
	"testing"
)

func FuzzDecodeFile(f *testing.F) {
	check := bytes.Repeat([]byte{0xaa}, kekCheckSize)
	w := make([]byte, wrappedSize)
	w[0], w[4] = 1, 1
	good, err := encodeFile(check, map[string][]byte{"a": w, "tenant-é": w})
	if err != nil {
		f.Fatal(err)
	}
	empty, err := encodeFile(check, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(empty)
	f.Add([]byte(`{"format":"jumeau-keyring","version":1,"kek_check":"","keys":{}}`))
	f.Add([]byte(`{"keys":{"":"AA=="}}`))
	f.Add([]byte("null"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeFile(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeFile: got %v, want ErrCorrupt", err)
			}
			return
		}
		enc, err := encodeFile(c.check, c.keys)
		if err != nil {
			t.Fatalf("encodeFile: %v", err)
		}
		c2, err := decodeFile(enc)
		if err != nil {
			t.Fatalf("decode of re-encoded file: %v\n%s", err, enc)
		}
		if !bytes.Equal(c.check, c2.check) || !maps.EqualFunc(c.keys, c2.keys, bytes.Equal) {
			t.Fatalf("round trip changed the contents:\n%s", enc)
		}
	})
}
