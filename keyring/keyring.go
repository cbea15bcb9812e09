package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

var (
	// ErrNoKey means the namespace has no data key (or none of the generation a
	// sealed value names).
	ErrNoKey = errors.New("keyring: no data key for namespace")
	// ErrKeyExists means Install was given a key that differs from the one
	// the namespace already has.
	ErrKeyExists = errors.New("keyring: namespace already has a different data key")
	// ErrUnseal means a sealed value is malformed, was tampered with, or is
	// unsealed with the wrong aad.
	ErrUnseal = errors.New("keyring: cannot unseal value")
	// ErrUnwrap means a wrapped data key is malformed, was made with another
	// KEK, or for another namespace.
	ErrUnwrap = errors.New("keyring: cannot unwrap data key")
	// ErrWrongKEK means the KEK does not match the one the keyring file was
	// created with.
	ErrWrongKEK = errors.New("keyring: key-encryption key does not match the keyring file")
	// ErrBadKEK means a KEK value is malformed or unusable.
	ErrBadKEK = errors.New("keyring: invalid key-encryption key")
	// ErrKEKPermissions means a KEK file is accessible to its group or others.
	ErrKEKPermissions = errors.New("keyring: KEK file is accessible to group or others")
	// ErrNoKEK means neither a KEK file nor a KEK environment variable is set.
	ErrNoKEK = errors.New("keyring: no key-encryption key configured")
	// ErrCorrupt means the keyring file cannot be decoded.
	ErrCorrupt = errors.New("keyring: corrupt keyring file")
	// ErrPersist means the keyring file could not be written (full disk,
	// no file descriptor left, unwritable directory). From Install it
	// means the key IS installed in memory and usable; the file lacks it
	// until a later write succeeds (see Install).
	ErrPersist = errors.New("keyring: cannot write the keyring file")
	// ErrInvalidNamespace means a namespace name is empty, longer than
	// MaxNamespaceLen bytes, or not valid UTF-8.
	ErrInvalidNamespace = errors.New("keyring: invalid namespace name")
)

const (
	// MaxNamespaceLen is the longest namespace name, in bytes.
	MaxNamespaceLen = 255
	// DEKSize is the size in bytes of a data key (AES-256).
	DEKSize = 32

	sealVersion  = 1
	headerSize   = 1 + 4 // version, generation
	nonceSize    = 12
	tagSize      = 16
	wrapVersion  = 1
	wrappedSize  = headerSize + nonceSize + DEKSize + tagSize
	wrapAADLabel = "jumeau/keyring/dek\x00"

	// SealOverhead is how many bytes Seal adds to a plaintext.
	SealOverhead = headerSize + nonceSize + tagSize
)

// dataKey is an installed data key.
type dataKey struct {
	gen     uint32
	wrapped []byte // as installed, persisted as is
	aead    cipher.AEAD
	raw     [DEKSize]byte // compared by Install for idempotence
}

// table maps namespace to key. A published table is never modified.
type table map[string]*dataKey

// Keyring holds the data keys of every namespace, backed by one file.
type Keyring struct {
	path    string
	kekAEAD cipher.AEAD
	check   []byte

	mu   sync.Mutex // serialises Install and Flush (file writes)
	keys atomic.Pointer[table]
	// stale is set while the file lacks keys held in memory (its last
	// write failed); writeFailures counts failed writes.
	stale         atomic.Bool
	writeFailures atomic.Uint64
}

// Open opens the keyring file at path with kek, creating an empty keyring
// file if none exists. A KEK other than the file's fails with ErrWrongKEK; a
// file that cannot be decoded fails with ErrCorrupt.
func Open(path string, kek KEK) (*Keyring, error) {
	if kek.IsZero() {
		return nil, fmt.Errorf("open keyring %s: zero KEK: %w (fix: use LoadKEK or GenerateKEK)", path, ErrBadKEK)
	}
	kekAEAD, err := newAEAD(kek.b[:])
	if err != nil {
		return nil, fmt.Errorf("open keyring %s: %w", path, err)
	}
	k := &Keyring{path: path, kekAEAD: kekAEAD, check: kek.check()}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		empty := table{}
		if err := k.persist(empty); err != nil {
			return nil, fmt.Errorf("open keyring %s: create: %w", path, err)
		}
		k.keys.Store(&empty)
		return k, nil
	case err != nil:
		return nil, fmt.Errorf("open keyring %s: %w", path, err)
	}
	f, err := decodeFile(data)
	if err != nil {
		return nil, fmt.Errorf("open keyring %s: %w", path, err)
	}
	if subtle.ConstantTimeCompare(f.check, k.check) != 1 {
		return nil, fmt.Errorf("open keyring %s: %w (fix: use the KEK this keyring was created with)", path, ErrWrongKEK)
	}
	t := make(table, len(f.keys))
	for ns, wrapped := range f.keys {
		dk, err := k.unwrap(ns, wrapped)
		if err != nil {
			return nil, fmt.Errorf("open keyring %s: namespace %q: %w", path, ns, err)
		}
		t[ns] = dk
	}
	k.keys.Store(&t)
	return k, nil
}

// Path returns the keyring file's path.
func (k *Keyring) Path() string { return k.path }

// Has reports whether the namespace has a data key.
func (k *Keyring) Has(ns string) bool {
	_, ok := (*k.keys.Load())[ns]
	return ok
}

// Namespaces returns the namespaces that have a data key, sorted.
func (k *Keyring) Namespaces() []string {
	t := *k.keys.Load()
	out := make([]string, 0, len(t))
	for ns := range t {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// Generate returns a new random data key for ns wrapped by the KEK. It does
// not install it: the caller replicates the wrapped key and every replica
// calls Install with it. The key's generation is one more than the
// namespace's current key, 1 for a namespace without a key.
func (k *Keyring) Generate(ns string) ([]byte, error) {
	if err := validNamespace(ns); err != nil {
		return nil, fmt.Errorf("generate data key for %q: %w", ns, err)
	}
	gen := uint32(1)
	if dk, ok := (*k.keys.Load())[ns]; ok {
		if dk.gen == ^uint32(0) {
			return nil, fmt.Errorf("generate data key for %q: generation %d is the last: %w", ns, dk.gen, ErrKeyExists)
		}
		gen = dk.gen + 1
	}
	var dek [DEKSize]byte
	if _, err := rand.Read(dek[:]); err != nil {
		return nil, fmt.Errorf("generate data key for %q: %w", ns, err)
	}
	out := make([]byte, headerSize, wrappedSize)
	out[0] = wrapVersion
	binary.BigEndian.PutUint32(out[1:headerSize], gen)
	out = k.kekAEAD.Seal(out, nil, dek[:], wrapAAD(out[:headerSize], ns))
	clear(dek[:])
	return out, nil
}

// Install unwraps a key made by Generate (on any replica sharing the KEK),
// makes it the data key of ns and persists it. Installing the key ns
// already has is a no-op; a different key fails with ErrKeyExists. A
// wrapped key made with another KEK, for another namespace, or damaged
// fails with ErrUnwrap.
//
// If the keyring file cannot be written, the key is installed in memory
// all the same (Has, Seal and Unseal use it) and Install fails with
// ErrPersist: its callers install keys already committed to the
// replicated state, which is the keys' durable home, and a failed file
// write must not stop a replica from reading what it applied. Until a
// later Install or Flush succeeds, Stale reports true; at the next Open
// the caller installs again the keys the file lacks.
func (k *Keyring) Install(ns string, wrapped []byte) error {
	if err := validNamespace(ns); err != nil {
		return fmt.Errorf("install data key for %q: %w", ns, err)
	}
	dk, err := k.unwrap(ns, wrapped)
	if err != nil {
		return fmt.Errorf("install data key for %q: %w", ns, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := *k.keys.Load()
	if old, ok := cur[ns]; ok {
		if old.gen == dk.gen && subtle.ConstantTimeCompare(old.raw[:], dk.raw[:]) == 1 {
			return nil
		}
		return fmt.Errorf("install data key for %q: installed generation %d, offered generation %d: %w", ns, old.gen, dk.gen, ErrKeyExists)
	}
	next := make(table, len(cur)+1)
	for n, v := range cur {
		next[n] = v
	}
	next[ns] = dk
	k.keys.Store(&next)
	if err := k.write(next); err != nil {
		return fmt.Errorf("install data key for %q: installed in memory, but %w", ns, err)
	}
	return nil
}

// Flush rewrites the keyring file from the keys in memory (a file left
// stale by a failed write is brought up to date). The cell leader calls
// it before it creates a namespace key, so that a site unable to write
// its keyring file refuses the request rather than committing a key it
// cannot persist. It fails with ErrPersist.
func (k *Keyring) Flush() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.write(*k.keys.Load())
}

// Stale reports whether the keyring file lacks keys installed in memory
// (the last write of the file failed).
func (k *Keyring) Stale() bool { return k.stale.Load() }

// WriteFailures returns how many writes of the keyring file have failed
// since Open.
func (k *Keyring) WriteFailures() uint64 { return k.writeFailures.Load() }

// write persists t, keeping stale and writeFailures; k.mu is held.
func (k *Keyring) write(t table) error {
	if err := k.persist(t); err != nil {
		k.stale.Store(true)
		k.writeFailures.Add(1)
		return fmt.Errorf("%w: %w (fix the cause: free disk space or file descriptors, or make its directory writable)", ErrPersist, err)
	}
	k.stale.Store(false)
	return nil
}

// Seal encrypts plaintext with the data key of ns, authenticating aad too.
// The result's layout is documented in the package documentation. It fails
// with ErrNoKey if ns has no key.
func (k *Keyring) Seal(ns string, aad, plaintext []byte) ([]byte, error) {
	dk, ok := (*k.keys.Load())[ns]
	if !ok {
		return nil, fmt.Errorf("seal for %q: %w", ns, ErrNoKey)
	}
	out := make([]byte, headerSize, headerSize+nonceSize+len(plaintext)+tagSize)
	out[0] = sealVersion
	binary.BigEndian.PutUint32(out[1:headerSize], dk.gen)
	return dk.aead.Seal(out, nil, plaintext, sealAAD(out[:headerSize], aad)), nil
}

// Unseal decrypts a value made by Seal for ns with the same aad. A malformed,
// tampered or mismatched value fails with ErrUnseal; a value sealed with a key
// generation ns does not have fails with ErrNoKey.
func (k *Keyring) Unseal(ns string, aad, sealed []byte) ([]byte, error) {
	if len(sealed) < SealOverhead {
		return nil, fmt.Errorf("unseal for %q: %d bytes, want at least %d: %w", ns, len(sealed), SealOverhead, ErrUnseal)
	}
	if v := sealed[0]; v != sealVersion {
		return nil, fmt.Errorf("unseal for %q: version %d, want %d: %w", ns, v, sealVersion, ErrUnseal)
	}
	dk, ok := (*k.keys.Load())[ns]
	if !ok {
		return nil, fmt.Errorf("unseal for %q: %w", ns, ErrNoKey)
	}
	if gen := binary.BigEndian.Uint32(sealed[1:headerSize]); gen != dk.gen {
		return nil, fmt.Errorf("unseal for %q: key generation %d, installed %d: %w", ns, gen, dk.gen, ErrNoKey)
	}
	pt, err := dk.aead.Open(nil, nil, sealed[headerSize:], sealAAD(sealed[:headerSize], aad))
	if err != nil {
		return nil, fmt.Errorf("unseal for %q: %w", ns, ErrUnseal)
	}
	return pt, nil
}

// unwrap decrypts and checks a wrapped data key for ns.
func (k *Keyring) unwrap(ns string, wrapped []byte) (*dataKey, error) {
	if len(wrapped) != wrappedSize {
		return nil, fmt.Errorf("unwrap: %d bytes, want %d: %w", len(wrapped), wrappedSize, ErrUnwrap)
	}
	if v := wrapped[0]; v != wrapVersion {
		return nil, fmt.Errorf("unwrap: version %d, want %d: %w", v, wrapVersion, ErrUnwrap)
	}
	gen := binary.BigEndian.Uint32(wrapped[1:headerSize])
	if gen == 0 {
		return nil, fmt.Errorf("unwrap: generation 0: %w", ErrUnwrap)
	}
	raw, err := k.kekAEAD.Open(nil, nil, wrapped[headerSize:], wrapAAD(wrapped[:headerSize], ns))
	if err != nil {
		return nil, fmt.Errorf("unwrap generation %d: wrong KEK, other namespace or damaged blob: %w", gen, ErrUnwrap)
	}
	aead, err := newAEAD(raw)
	if err != nil {
		return nil, fmt.Errorf("unwrap generation %d: %w", gen, err)
	}
	dk := &dataKey{gen: gen, wrapped: slices.Clone(wrapped), aead: aead}
	copy(dk.raw[:], raw)
	clear(raw)
	return dk, nil
}

// newAEAD returns AES-256-GCM with random nonces prepended to the ciphertext.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("new AES cipher: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("new GCM: %w", err)
	}
	return aead, nil
}

// sealAAD returns the GCM additional data of a sealed value.
func sealAAD(header, aad []byte) []byte {
	b := make([]byte, 0, len(header)+len(aad))
	return append(append(b, header...), aad...)
}

// wrapAAD returns the GCM additional data of a wrapped data key.
func wrapAAD(header []byte, ns string) []byte {
	b := make([]byte, 0, len(wrapAADLabel)+len(header)+len(ns))
	return append(append(append(b, wrapAADLabel...), header...), ns...)
}

// validNamespace checks a namespace name.
func validNamespace(ns string) error {
	switch {
	case ns == "":
		return fmt.Errorf("empty name: %w", ErrInvalidNamespace)
	case len(ns) > MaxNamespaceLen:
		return fmt.Errorf("%d bytes, at most %d: %w", len(ns), MaxNamespaceLen, ErrInvalidNamespace)
	case !utf8.ValidString(ns):
		return fmt.Errorf("not valid UTF-8: %w", ErrInvalidNamespace)
	}
	return nil
}
