package failover

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// State is the region epoch as a node knows it: which region (and which
// node of it) is the primary in that epoch. Every promotion bumps Epoch
// at the witness first.
type State struct {
	Epoch         uint64    `json:"epoch"`
	PrimaryRegion string    `json:"primary_region"`
	PrimaryNode   string    `json:"primary_node,omitempty"`
	Changed       time.Time `json:"changed,omitzero"`
	// StartIndex and StartHash are the WAL position the epoch's primary
	// starts from: the twin's tip when it was promoted, the drained tip of
	// a switchover. Records a former primary holds beyond StartIndex are
	// its forked tail. Zero in epochs that began before this was kept.
	StartIndex uint64   `json:"start_index,omitempty" codec:"start_index"`
	StartHash  [32]byte `json:"-" codec:"start_hash"` // (status shows it in hex)
}

const (
	stateVersion   = 2
	stateVersionV1 = 1 // no start position
	maxNameLen     = 255
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes s (format in doc.go).
func (s State) MarshalBinary() ([]byte, error) {
	if len(s.PrimaryRegion) > maxNameLen || len(s.PrimaryNode) > maxNameLen {
		return nil, fmt.Errorf("failover: epoch state: names are limited to %d bytes", maxNameLen)
	}
	b := []byte{stateVersion}
	b = binary.BigEndian.AppendUint64(b, s.Epoch)
	b = append(b, byte(len(s.PrimaryRegion)))
	b = append(b, s.PrimaryRegion...)
	b = append(b, byte(len(s.PrimaryNode)))
	b = append(b, s.PrimaryNode...)
	var changed int64
	if !s.Changed.IsZero() {
		changed = s.Changed.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(changed))
	b = binary.BigEndian.AppendUint64(b, s.StartIndex)
	b = append(b, s.StartHash[:]...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable)), nil
}

// UnmarshalBinary decodes an epoch state, checking its checksum.
func (s *State) UnmarshalBinary(b []byte) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrCorruptState, why) }
	if len(b) < 1+8+1+1+8+4 {
		return bad("too short")
	}
	if b[0] != stateVersion && b[0] != stateVersionV1 {
		return bad(fmt.Sprintf("version %d", b[0]))
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return bad("checksum mismatch")
	}
	var out State
	out.Epoch = binary.BigEndian.Uint64(body[1:])
	rest := body[9:]
	name := func() (string, bool) {
		if len(rest) < 1 || int(rest[0]) > len(rest)-1 {
			return "", false
		}
		n := int(rest[0])
		v := string(rest[1 : 1+n])
		rest = rest[1+n:]
		return v, true
	}
	var ok bool
	if out.PrimaryRegion, ok = name(); !ok {
		return bad("primary region")
	}
	if out.PrimaryNode, ok = name(); !ok {
		return bad("primary node")
	}
	want := 8
	if b[0] == stateVersion {
		want += 8 + 32
	}
	if len(rest) != want {
		return bad("length")
	}
	if ns := int64(binary.BigEndian.Uint64(rest)); ns != 0 {
		out.Changed = time.Unix(0, ns)
	}
	if b[0] == stateVersion {
		out.StartIndex = binary.BigEndian.Uint64(rest[8:])
		copy(out.StartHash[:], rest[16:])
	}
	if out.Epoch == 0 || out.PrimaryRegion == "" {
		return bad("epoch 0 or no primary region")
	}
	*s = out
	return nil
}

// Store keeps a node's epoch state in a file, replaced atomically and
// synced on every change, so a promotion survives a crash.
type Store struct {
	path string
	mu   sync.Mutex
	st   State
}

// OpenStore loads path, or creates it with initial when it does not
// exist. A file that exists but does not decode is an error (never
// silently reset: that could re-open an old epoch).
func OpenStore(path string, initial State) (*Store, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var st State
		if err := st.UnmarshalBinary(b); err != nil {
			return nil, fmt.Errorf("failover: epoch file %s: %w (restore it from a backup or from the witness; do not delete it)", path, err)
		}
		return &Store{path: path, st: st}, nil
	case errors.Is(err, os.ErrNotExist):
		if initial.Epoch == 0 || initial.PrimaryRegion == "" {
			return nil, fmt.Errorf("failover: epoch file %s: initial state needs an epoch >= 1 and a primary region", path)
		}
		s := &Store{path: path}
		if err := s.Save(initial); err != nil {
			return nil, err
		}
		return s, nil
	default:
		return nil, fmt.Errorf("failover: epoch file: %w", err)
	}
}

// State returns the current state.
func (s *Store) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// Save replaces the state durably. The epoch never goes backwards.
func (s *Store) Save(st State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.Epoch < s.st.Epoch {
		return fmt.Errorf("failover: save epoch %d: the store holds epoch %d already", st.Epoch, s.st.Epoch)
	}
	b, err := st.MarshalBinary()
	if err != nil {
		return err
	}
	if err := writeSynced(s.path, b); err != nil {
		return fmt.Errorf("failover: save epoch %d: %w", st.Epoch, err)
	}
	s.st = st
	return nil
}

// writeSynced writes data to a temporary file, syncs it, renames it over
// path and syncs the directory.
func writeSynced(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
