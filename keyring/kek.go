package keyring

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
)

// KEKSize is the size in bytes of a key-encryption key (AES-256).
const KEKSize = 32

// kekCheckLabel is the HMAC message whose tag identifies a KEK in the keyring file.
const kekCheckLabel = "jumeau/keyring/kek-check/v1"

// kekCheckSize is the number of HMAC bytes kept as the KEK check value.
const kekCheckSize = 16

// KEK is a 256-bit key-encryption key. Its String and GoString methods never
// reveal the key; use Encode to write a KEK file.
type KEK struct {
	b [KEKSize]byte
}

// GenerateKEK returns a new random KEK.
func GenerateKEK() (KEK, error) {
	var k KEK
	if _, err := rand.Read(k.b[:]); err != nil {
		return KEK{}, fmt.Errorf("generate KEK: %w", err)
	}
	return k, nil
}

// Encode returns the KEK as 64 lowercase hexadecimal digits, the form LoadKEK
// reads back. Write it to a file with mode 0600.
func (k KEK) Encode() string { return hex.EncodeToString(k.b[:]) }

// String returns a redacted placeholder so a KEK cannot leak into logs.
func (k KEK) String() string { return "keyring.KEK(redacted)" }

// GoString returns a redacted placeholder so a KEK cannot leak through %#v.
func (k KEK) GoString() string { return k.String() }

// IsZero reports whether k is the zero value (no key).
func (k KEK) IsZero() bool {
	var zero [KEKSize]byte
	return subtle.ConstantTimeCompare(k.b[:], zero[:]) == 1
}

// check returns the KEK check value stored in keyring files.
func (k KEK) check() []byte {
	m := hmac.New(sha256.New, k.b[:])
	m.Write([]byte(kekCheckLabel))
	return m.Sum(nil)[:kekCheckSize]
}

// LoadKEK reads the KEK from file if file is not empty, else from the
// environment variable envVar. The file must not be accessible to its group or
// to others. The value is 32 bytes as 64 hex digits or base64, surrounding
// whitespace ignored. A file that is configured but missing is an error: LoadKEK
// never falls back from a named file to the environment.
func LoadKEK(file, envVar string) (KEK, error) {
	if file != "" {
		fi, err := os.Stat(file)
		if err != nil {
			return KEK{}, fmt.Errorf("load KEK from file %s: %w", file, err)
		}
		if !fi.Mode().IsRegular() {
			return KEK{}, fmt.Errorf("load KEK from file %s: not a regular file: %w", file, ErrBadKEK)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return KEK{}, fmt.Errorf("load KEK from file %s: mode %04o: %w (fix: chmod 600 %s)", file, perm, ErrKEKPermissions, file)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return KEK{}, fmt.Errorf("load KEK from file %s: %w", file, err)
		}
		k, err := ParseKEK(data)
		if err != nil {
			return KEK{}, fmt.Errorf("load KEK from file %s: %w", file, err)
		}
		return k, nil
	}
	if envVar == "" {
		return KEK{}, fmt.Errorf("load KEK: %w (fix: name a KEK file or an environment variable)", ErrNoKEK)
	}
	v, ok := os.LookupEnv(envVar)
	if !ok || v == "" {
		return KEK{}, fmt.Errorf("load KEK from environment variable %s: variable is unset or empty: %w (fix: export %s=<64 hex digits>, or name a KEK file)", envVar, ErrNoKEK, envVar)
	}
	k, err := ParseKEK([]byte(v))
	if err != nil {
		return KEK{}, fmt.Errorf("load KEK from environment variable %s: %w", envVar, err)
	}
	return k, nil
}

// ParseKEK decodes a KEK from 64 hex digits or from base64 (standard or URL
// alphabet, padded or not) of 32 bytes; surrounding whitespace is ignored.
// The all-zero key is refused.
func ParseKEK(text []byte) (KEK, error) {
	s := bytes.TrimSpace(text)
	var k KEK
	decoded := false
	if len(s) == hex.EncodedLen(KEKSize) {
		if n, err := hex.Decode(k.b[:], s); err == nil && n == KEKSize {
			decoded = true
		}
	}
	if !decoded {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if enc.DecodedLen(len(s)) < KEKSize || enc.DecodedLen(len(s)) > KEKSize+2 {
				continue
			}
			buf := make([]byte, enc.DecodedLen(len(s)))
			n, err := enc.Decode(buf, s)
			if err == nil && n == KEKSize {
				copy(k.b[:], buf[:n])
				decoded = true
				break
			}
		}
	}
	if !decoded {
		return KEK{}, fmt.Errorf("parse KEK (%d characters): %w (want 32 bytes as 64 hex digits or as base64)", len(s), ErrBadKEK)
	}
	if k.IsZero() {
		return KEK{}, fmt.Errorf("parse KEK: all-zero key: %w (fix: generate a random KEK)", ErrBadKEK)
	}
	return k, nil
}
