package replicator

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"
)

// KV is one key of a namespace and its (unsealed) value.
type KV struct {
	Key   string `codec:"k" json:"key"`
	Value []byte `codec:"v" json:"value,omitempty"`
}

// ValidateNamespace checks a namespace: 1-64 bytes of [a-z0-9._-].
func ValidateNamespace(ns string) error {
	if len(ns) == 0 || len(ns) > 64 {
		return fmt.Errorf("%w: namespace %q must be 1 to 64 bytes", ErrBadRequest, ns)
	}
	for _, r := range ns {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: namespace %q may only hold a-z, 0-9, '.', '_' and '-'", ErrBadRequest, ns)
		}
	}
	return nil
}

// ValidateKey checks a key: 1 to 1024 bytes of valid UTF-8 holding no
// control character (C0 U+0000-U+001F, DEL U+007F, C1 U+0080-U+009F).
//
// Keys travel as JSON strings (which replace invalid UTF-8 with U+FFFD, so
// two distinct keys could list under one name that reads back neither) and
// are printed one per line by `jumeau ls` (a CR or LF would make one key
// look like two): refusing them at the write keeps every output lossless.
// The error names the byte offset of the first offending byte.
func ValidateKey(key string) error {
	if len(key) == 0 || len(key) > maxNameLen {
		return fmt.Errorf("%w: key must be 1 to %d bytes, got %d", ErrBadRequest, maxNameLen, len(key))
	}
	for i := 0; i < len(key); {
		r, size := utf8.DecodeRuneInString(key[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("%w: key is not valid UTF-8 at byte offset %d (0x%02x): keys are UTF-8 text; encode a binary name first (hex or base64url)",
				ErrBadRequest, i, key[i])
		case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f:
			return fmt.Errorf("%w: key holds the control character %U at byte offset %d: keys may not contain control characters (U+0000-U+001F, U+007F, U+0080-U+009F); remove it or encode the name (hex or base64url)",
				ErrBadRequest, r, i)
		}
		i += size
	}
	return nil
}

// aad binds a sealed value to its namespace and key, so a ciphertext moved
// to another key fails to unseal.
func aad(ns, key string) []byte {
	b := make([]byte, 0, len(ns)+1+len(key))
	b = append(b, ns...)
	b = append(b, 0)
	return append(b, key...)
}

// readSealed returns the sealed value of ns/key from the local state.
func readSealed(db *pebble.DB, ns, key string) ([]byte, error) {
	v, closer, err := db.Get(stateKey(ns, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("get %s/%s: %w", ns, key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", ns, key, err)
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, nil
}

// listSealed visits, in key order, the keys of ns that q (normalized)
// selects with their sealed values, and returns the key to resume after
// when keys remain ("" when none do). It stops at q.Limit keys, or before
// the item that would take the page past q.MaxBytes (counted with the
// sealed value's length, an upper bound of the unsealed item's ItemSize),
// except the page's first item. visit must not keep sealed past its call
// (the iterator reuses it); its error stops the scan and is returned.
func listSealed(db *pebble.DB, ns string, q ListQuery, visit func(key string, sealed []byte) error) (string, error) {
	lower := stateKey(ns, q.Prefix)
	upper := stateKey(ns, "")
	upper[len(upper)-1] = 1 // end of the namespace
	if q.Prefix != "" {
		upper = prefixEnd(lower)
	}
	if q.After != "" {
		// The first key after After: keys hold no NUL byte, so After
		// followed by one is below every longer key.
		lower = append(stateKey(ns, q.After), 0)
	}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return "", fmt.Errorf("list %s: %w", ns, err)
	}
	skip := len(ns) + 2
	keys, used := 0, 0
	last, next := "", ""
	for it.First(); it.Valid(); it.Next() {
		key := string(it.Key()[skip:])
		lv := it.LazyValue()
		size := ItemSize(key, lv.Len())
		if keys == q.Limit || (keys > 0 && used+size > q.MaxBytes) {
			next = last // a key remains: the page is cut
			break
		}
		v, err := it.ValueAndErr()
		if err != nil {
			break // it.Close reports it
		}
		if err := visit(key, v); err != nil {
			it.Close()
			return "", err
		}
		keys++
		used += size
		last = key
	}
	if err := it.Close(); err != nil {
		return "", fmt.Errorf("list %s: %w", ns, err)
	}
	return next, nil
}

func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// StateDigest hashes the whole replicated state of db (every key and
// sealed value, and every wrapped namespace key) in key order, and counts
// the keys. Two replicas at the same WAL index have the same digest. It
// reads a consistent view (a Pebble iterator).
func StateDigest(db *pebble.DB) ([32]byte, int, error) {
	var sum [32]byte
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixState}, UpperBound: []byte{prefixMeta + 1}})
	if err != nil {
		return sum, 0, fmt.Errorf("state digest: %w", err)
	}
	defer it.Close()
	h := sha256.New()
	n := 0
	var lb [binary.MaxVarintLen64]byte
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if k[0] == prefixMeta && !bytes.HasPrefix(k, metaKeyPfx) {
			continue // the applied index differs between a site and the twin
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return sum, 0, fmt.Errorf("state digest: %w", err)
		}
		h.Write(lb[:binary.PutUvarint(lb[:], uint64(len(k)))])
		h.Write(k)
		h.Write(lb[:binary.PutUvarint(lb[:], uint64(len(v)))])
		h.Write(v)
		n++
	}
	if err := it.Error(); err != nil {
		return sum, 0, fmt.Errorf("state digest: %w", err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}
