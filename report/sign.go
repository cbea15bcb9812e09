package report

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Names of the drill key files. The drill runner keeps KeyFile in a
// secrets directory of its own and PubFile where auditors and
// FindPublicKey find it (docs/reports.md, "Files").
const (
	KeyFile = "drill.key" // 0600, one "PRIVATE KEY" PEM block (PKCS#8, Ed25519)
	PubFile = "drill.pub" // 0644, one "PUBLIC KEY" PEM block (PKIX, Ed25519)
)

// Envelope constants (doc.go, "Signed envelope").
const (
	envelopeFormat = "jumeau-drill-report"
	// envelopeVersion is the version of the envelope (not of the report
	// it holds, which has its own).
	envelopeVersion = 1
	algEd25519      = "ed25519"
	// MaxEnvelopeSize bounds the signed files Verify and History.List read
	// (a drill of hours with a sample every 100 ms is a few MiB).
	MaxEnvelopeSize = 64 << 20
	maxKeyFileSize  = 64 << 10
)

// Signer signs reports with an Ed25519 drill key.
type Signer struct {
	key   ed25519.PrivateKey
	keyID string
}

// KeyID returns the key id of the signer's public key (see KeyID).
func (s *Signer) KeyID() string { return s.keyID }

// Verifier returns a Verifier that holds the signer's public key.
func (s *Signer) Verifier() *Verifier {
	return NewVerifier(s.key.Public().(ed25519.PublicKey))
}

// NewSigner returns a Signer for key.
func NewSigner(key ed25519.PrivateKey) (*Signer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key of %d bytes, want %d", ErrBadKey, len(key), ed25519.PrivateKeySize)
	}
	return &Signer{key: key, keyID: KeyID(key.Public().(ed25519.PublicKey))}, nil
}

// Verifier checks report signatures against a set of trusted public keys
// (several during a key rotation).
type Verifier struct {
	keys map[string]ed25519.PublicKey // key id -> key
}

// NewVerifier returns a Verifier that trusts keys (Verify refuses, with
// ErrBadKey, a report signed by a key of the wrong length).
func NewVerifier(keys ...ed25519.PublicKey) *Verifier {
	v := &Verifier{keys: make(map[string]ed25519.PublicKey, len(keys))}
	for _, k := range keys {
		v.keys[KeyID(k)] = k
	}
	return v
}

// KeyIDs returns the ids of the trusted keys, sorted.
func (v *Verifier) KeyIDs() []string {
	ids := make([]string, 0, len(v.keys))
	for id := range v.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// KeyID returns the id of an Ed25519 public key: the first 8 bytes of the
// SHA-256 of its PKIX (SubjectPublicKeyInfo) DER encoding, in lower-case
// hex (16 characters): the start of its Fingerprint. It is what
//
//	openssl pkey -pubin -in drill.pub -outform DER | sha256sum | cut -c1-16
//
// prints.
func KeyID(pub ed25519.PublicKey) string { return Fingerprint(pub)[:16] }

// GenerateKey makes the drill key pair: the private key at keyPath (mode
// 0600, its directory created 0700 if needed) and the public key at
// pubPath (0644, its directory created 0755 if needed). Keep keyPath out
// of any directory handed to auditors; give them pubPath. GenerateKey
// keeps what already exists: with both files present it checks that they
// are one pair (ErrKeyMismatch if not); with only the private key it
// writes the public key from it; with only the public key it refuses (the
// private key is lost: move the public key away to make a new pair, and
// give auditors the new one). Files are written to a temporary name,
// fsynced and linked in place, so two concurrent calls end with one pair.
func GenerateKey(keyPath, pubPath string) error {
	if err := os.MkdirAll(filepath.Dir(keyPath), 0o700); err != nil {
		return fmt.Errorf("report: generate drill key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(pubPath), 0o755); err != nil {
		return fmt.Errorf("report: generate drill key: %w", err)
	}
	_, keyErr := os.Stat(keyPath)
	_, pubErr := os.Stat(pubPath)
	switch {
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return fmt.Errorf("report: generate drill key: %w", keyErr)
	case pubErr != nil && !errors.Is(pubErr, fs.ErrNotExist):
		return fmt.Errorf("report: generate drill key: %w", pubErr)
	case keyErr != nil && pubErr == nil:
		return fmt.Errorf("report: generate drill key: %s exists without %s: %w (the private key is lost; move %s away to make a new pair)",
			pubPath, keyPath, ErrBadKey, pubPath)
	}
	if keyErr != nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return fmt.Errorf("report: generate drill key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return fmt.Errorf("report: generate drill key: %w", err)
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := writeExclusive(keyPath, data, 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("report: generate drill key: %w", err)
		}
		// On fs.ErrExist a concurrent call won: use its key.
	}
	signer, err := LoadSigner(keyPath)
	if err != nil {
		return fmt.Errorf("report: generate drill key: %w", err)
	}
	pub := signer.key.Public().(ed25519.PublicKey)
	if pubErr == nil {
		v, err := LoadVerifier(pubPath)
		if err != nil {
			return fmt.Errorf("report: generate drill key: %w", err)
		}
		if _, ok := v.keys[signer.keyID]; !ok || len(v.keys) != 1 {
			return fmt.Errorf("report: generate drill key: %s holds key %s, %s holds %v: %w",
				keyPath, signer.keyID, pubPath, v.KeyIDs(), ErrKeyMismatch)
		}
		return nil
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("report: generate drill key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if err := writeExclusive(pubPath, data, 0o644); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return GenerateKey(keyPath, pubPath) // a concurrent call wrote it: check it
		}
		return fmt.Errorf("report: generate drill key: %w", err)
	}
	return nil
}

// LoadSigner reads a drill private key (PEM "PRIVATE KEY", PKCS#8,
// Ed25519). It refuses a file that group or others may read.
func LoadSigner(path string) (*Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("report: load drill key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("report: load drill key %s: mode %v: %w (chmod 600 %s)", path, fi.Mode().Perm(), ErrKeyPermissions, path)
	}
	data, err := readLimited(path, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("report: load drill key: %w", err)
	}
	s, err := parseSigner(data)
	if err != nil {
		return nil, fmt.Errorf("report: load drill key %s: %w", path, err)
	}
	return s, nil
}

// parseSigner decodes the first "PRIVATE KEY" PEM block of data.
func parseSigner(data []byte) (*Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("%w: no PEM block of type PRIVATE KEY (want the %s that GenerateKey writes)", ErrBadKey, KeyFile)
		}
		if b.Type != "PRIVATE KEY" {
			continue
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: PKCS#8: %v", ErrBadKey, err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: a %T, want an Ed25519 key", ErrBadKey, k)
		}
		return NewSigner(priv)
	}
}

// LoadVerifier reads the trusted drill public keys of a PEM file: every
// "PUBLIC KEY" block (PKIX, Ed25519), at least one. Concatenate drill.pub
// files to trust several keys.
func LoadVerifier(path string) (*Verifier, error) {
	data, err := readLimited(path, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("report: load drill public key: %w", err)
	}
	v, err := parseVerifier(data)
	if err != nil {
		return nil, fmt.Errorf("report: load drill public key %s: %w", path, err)
	}
	return v, nil
}

// parseVerifier decodes every "PUBLIC KEY" PEM block of data.
func parseVerifier(data []byte) (*Verifier, error) {
	var keys []ed25519.PublicKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "PUBLIC KEY" {
			continue
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: PKIX: %v", ErrBadKey, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: a %T, want an Ed25519 key", ErrBadKey, k)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no PEM block of type PUBLIC KEY (want the %s that GenerateKey writes)", ErrBadKey, PubFile)
	}
	return NewVerifier(keys...), nil
}

// envelope is the signed report file.
type envelope struct {
	Format    string          `json:"format"`
	Version   int             `json:"version"`
	Report    json.RawMessage `json:"report"`
	Signature Signature       `json:"signature"`
}

// Signature is the signature part of a signed report.
type Signature struct {
	// Alg is "ed25519".
	Alg string `json:"alg"`
	// KeyID names the signing key (see KeyID).
	KeyID string `json:"key_id"`
	// Sig is the Ed25519 signature of the embedded report's bytes,
	// standard base64 with padding.
	Sig string `json:"sig"`
}

// Sign validates r and returns the signed envelope (doc.go, "Signed
// envelope"): its canonical JSON embedded as is, and an Ed25519 signature
// of exactly those bytes.
func Sign(r *Report, s *Signer) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("report: sign: %w: no signer", ErrBadKey)
	}
	raw, err := r.MarshalCanonical()
	if err != nil {
		return nil, fmt.Errorf("report: sign: %w", err)
	}
	env := envelope{
		Format:  envelopeFormat,
		Version: envelopeVersion,
		Report:  raw,
		Signature: Signature{
			Alg:   algEd25519,
			KeyID: s.keyID,
			Sig:   base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, raw)),
		},
	}
	// Without HTML escaping, which would rewrite the embedded report's
	// bytes ('<' as \u003c) and break the signature.
	out, err := marshalJSON(env, "")
	if err != nil {
		return nil, fmt.Errorf("report: sign: %w", err)
	}
	return append(out, '\n'), nil
}

// decodeEnvelope parses a signed envelope and checks its shape, not its
// signature.
func decodeEnvelope(data []byte) (*envelope, []byte, error) {
	if len(data) > MaxEnvelopeSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(data), MaxEnvelopeSize)
	}
	var env envelope
	if err := decodeStrict(data, &env); err != nil {
		return nil, nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if env.Format != envelopeFormat {
		return nil, nil, fmt.Errorf("%w: format %q, want %q (is this a signed report.json?)", ErrMalformed, env.Format, envelopeFormat)
	}
	if env.Version != envelopeVersion {
		return nil, nil, fmt.Errorf("%w: envelope version %d, want %d", ErrMalformed, env.Version, envelopeVersion)
	}
	if len(env.Report) == 0 || env.Report[0] != '{' {
		return nil, nil, fmt.Errorf("%w: \"report\" is not a JSON object", ErrMalformed)
	}
	if env.Signature.Alg != algEd25519 {
		return nil, nil, fmt.Errorf("%w: %q, want %q", ErrUnsupportedAlg, env.Signature.Alg, algEd25519)
	}
	if len(env.Signature.KeyID) != 16 {
		return nil, nil, fmt.Errorf("%w: key_id %q is not 16 hex characters", ErrMalformed, env.Signature.KeyID)
	}
	if _, err := hex.DecodeString(env.Signature.KeyID); err != nil {
		return nil, nil, fmt.Errorf("%w: key_id %q is not 16 hex characters", ErrMalformed, env.Signature.KeyID)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(env.Signature.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, nil, fmt.Errorf("%w: sig is not standard base64 of %d bytes", ErrMalformed, ed25519.SignatureSize)
	}
	return &env, sig, nil
}

// Verify checks a signed envelope against the verifier's keys and returns
// its report. Errors wrap ErrMalformed (not an envelope), ErrUnsupportedAlg,
// ErrUnknownKey (signed by a key v does not trust), ErrBadSignature (the
// report or the signature was altered), ErrInvalid (signed, but the report
// breaks the model's rules) or ErrBadKey (a trusted key is not a valid
// Ed25519 public key).
func Verify(data []byte, v *Verifier) (*Report, error) {
	r, _, err := verify(data, v)
	return r, err
}

// VerifySignature is Verify that also returns the verified signature (its
// KeyID names the trusted key that signed the report).
func VerifySignature(data []byte, v *Verifier) (*Report, Signature, error) {
	r, sig, err := verify(data, v)
	if err != nil {
		return nil, Signature{}, err
	}
	return r, *sig, nil
}

// verify is Verify that also returns the signature.
func verify(data []byte, v *Verifier) (*Report, *Signature, error) {
	env, sig, err := decodeEnvelope(data)
	if err != nil {
		return nil, nil, fmt.Errorf("report: verify: %w", err)
	}
	if v == nil {
		return nil, nil, fmt.Errorf("report: verify: signed by key %s, no key is trusted (nil Verifier): %w", env.Signature.KeyID, ErrUnknownKey)
	}
	pub, ok := v.keys[env.Signature.KeyID]
	if !ok {
		return nil, nil, fmt.Errorf("report: verify: signed by key %s, trusted keys are %v: %w (verify with the drill.pub of the cluster that signed it)",
			env.Signature.KeyID, v.KeyIDs(), ErrUnknownKey)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, nil, fmt.Errorf("report: verify: trusted key %s has %d bytes, want %d: %w", env.Signature.KeyID, len(pub), ed25519.PublicKeySize, ErrBadKey)
	}
	if !ed25519.Verify(pub, env.Report, sig) {
		return nil, nil, fmt.Errorf("report: verify: key %s: %w: the report was altered after signing", env.Signature.KeyID, ErrBadSignature)
	}
	r, err := decodeReport(env.Report)
	if err != nil {
		return nil, nil, fmt.Errorf("report: verify: signed report: %w", err)
	}
	return r, &env.Signature, nil
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read %s: %w: larger than %d bytes", path, ErrMalformed, limit)
	}
	return data, nil
}

// writeExclusive creates path with data and mode, failing with fs.ErrExist
// if it exists: it writes a temporary file in the same directory, fsyncs
// it, hard-links it to path and fsyncs the directory.
func writeExclusive(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }()
	if err := writeSyncClose(f, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

// writeSyncClose sets f's mode, writes data, fsyncs and closes f.
func writeSyncClose(f *os.File, data []byte, mode os.FileMode) error {
	err := f.Chmod(mode)
	if err == nil {
		_, err = io.Copy(f, bytes.NewReader(data))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir fsyncs a directory so that a new entry in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
