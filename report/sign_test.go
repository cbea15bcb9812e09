package report

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if err := GenerateKey(filepath.Join(dir, KeyFile), filepath.Join(dir, PubFile)); err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	for name, want := range map[string]os.FileMode{KeyFile: 0o600, PubFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode: got %v, want %v", name, got, want)
		}
	}
	for name, want := range map[string]string{KeyFile: "PRIVATE KEY", PubFile: "PUBLIC KEY"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		b, rest := pem.Decode(data)
		if b == nil || b.Type != want || len(bytes.TrimSpace(rest)) != 0 {
			t.Errorf("%s: want exactly one PEM block of type %q", name, want)
		}
	}
	s, err := LoadSigner(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatalf("LoadSigner: %v", err)
	}
	v, err := LoadVerifier(filepath.Join(dir, PubFile))
	if err != nil {
		t.Fatalf("LoadVerifier: %v", err)
	}
	if got, want := v.KeyIDs(), []string{s.KeyID()}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("key ids: got %v, want %v", got, want)
	}

	t.Run("keeps an existing pair", func(t *testing.T) {
		if err := GenerateKey(filepath.Join(dir, KeyFile), filepath.Join(dir, PubFile)); err != nil {
			t.Fatalf("GenerateKey again: %v", err)
		}
		again, err := LoadSigner(filepath.Join(dir, KeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := again.KeyID(), s.KeyID(); got != want {
			t.Fatalf("key id: got %s, want %s (the key was replaced)", got, want)
		}
	})
	t.Run("writes a missing public key", func(t *testing.T) {
		if err := os.Remove(filepath.Join(dir, PubFile)); err != nil {
			t.Fatal(err)
		}
		if err := GenerateKey(filepath.Join(dir, KeyFile), filepath.Join(dir, PubFile)); err != nil {
			t.Fatalf("GenerateKey: %v", err)
		}
		v, err := LoadVerifier(filepath.Join(dir, PubFile))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := v.KeyIDs()[0], s.KeyID(); got != want {
			t.Fatalf("key id: got %s, want %s", got, want)
		}
	})
	t.Run("mismatched pair", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other")
		if err := GenerateKey(filepath.Join(other, KeyFile), filepath.Join(other, PubFile)); err != nil {
			t.Fatal(err)
		}
		copyFile(t, filepath.Join(other, PubFile), filepath.Join(dir, PubFile))
		if err := GenerateKey(filepath.Join(dir, KeyFile), filepath.Join(dir, PubFile)); !errors.Is(err, ErrKeyMismatch) {
			t.Fatalf("got %v, want ErrKeyMismatch", err)
		}
	})
	t.Run("public key alone", func(t *testing.T) {
		lone := t.TempDir()
		copyFile(t, filepath.Join(dir, PubFile), filepath.Join(lone, PubFile))
		err := GenerateKey(filepath.Join(lone, KeyFile), filepath.Join(lone, PubFile))
		if !errors.Is(err, ErrBadKey) {
			t.Fatalf("got %v, want ErrBadKey", err)
		}
		if _, serr := os.Stat(filepath.Join(lone, KeyFile)); serr == nil {
			t.Fatalf("GenerateKey wrote a private key that does not match the public key")
		}
	})
	t.Run("private key in a directory of its own", func(t *testing.T) {
		lab := t.TempDir()
		keyPath, pubPath := filepath.Join(lab, "secrets", KeyFile), filepath.Join(lab, PubFile)
		if err := GenerateKey(keyPath, pubPath); err != nil {
			t.Fatal(err)
		}
		for path, want := range map[string]os.FileMode{filepath.Dir(keyPath): 0o700 | os.ModeDir, keyPath: 0o600, pubPath: 0o644} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() & (os.ModeDir | os.ModePerm); got != want {
				t.Errorf("%s: got mode %v, want %v", path, got, want)
			}
		}
		if _, err := os.Stat(filepath.Join(lab, KeyFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a private key beside the public one: %v, want none", err)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		cdir := t.TempDir()
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = GenerateKey(filepath.Join(cdir, KeyFile), filepath.Join(cdir, PubFile)) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if err := GenerateKey(filepath.Join(cdir, KeyFile), filepath.Join(cdir, PubFile)); err != nil {
			t.Fatalf("the pair left by concurrent calls does not match: %v", err)
		}
	})
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestLoadSigner(t *testing.T) {
	dir := t.TempDir()
	if err := GenerateKey(filepath.Join(dir, KeyFile), filepath.Join(dir, PubFile)); err != nil {
		t.Fatal(err)
	}
	t.Run("readable by others", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), KeyFile)
		copyFile(t, filepath.Join(dir, KeyFile), p) // 0644
		_, err := LoadSigner(p)
		if !errors.Is(err, ErrKeyPermissions) {
			t.Fatalf("got %v, want ErrKeyPermissions", err)
		}
		if !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("got %q, want it to say how to fix it", err)
		}
	})
	t.Run("not ed25519", func(t *testing.T) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), KeyFile)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadSigner(p); !errors.Is(err, ErrBadKey) {
			t.Fatalf("got %v, want ErrBadKey", err)
		}
	})
	t.Run("public key given", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "k")
		copyFile(t, filepath.Join(dir, PubFile), p)
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadSigner(p); !errors.Is(err, ErrBadKey) {
			t.Fatalf("got %v, want ErrBadKey", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := LoadSigner(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("got %v, want os.ErrNotExist", err)
		}
	})
}

func TestLoadVerifier(t *testing.T) {
	a, b := testSigner(t, 1), testSigner(t, 2)
	var bundle []byte
	for _, s := range []*Signer{a, b} {
		der, err := x509.MarshalPKIXPublicKey(s.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	p := filepath.Join(t.TempDir(), "trusted.pub")
	if err := os.WriteFile(p, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := LoadVerifier(p)
	if err != nil {
		t.Fatalf("LoadVerifier: %v", err)
	}
	r := sampleReport(t)
	for _, s := range []*Signer{a, b} {
		if _, err := Verify(mustSign(t, r, s), v); err != nil {
			t.Errorf("report signed by %s: %v", s.KeyID(), err)
		}
	}
	t.Run("empty", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "empty.pub")
		if err := os.WriteFile(p, []byte("nothing here\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadVerifier(p); !errors.Is(err, ErrBadKey) {
			t.Fatalf("got %v, want ErrBadKey", err)
		}
	})
}

func TestKeyID(t *testing.T) {
	s := testSigner(t, 1)
	der, err := x509.MarshalPKIXPublicKey(s.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	if got, want := s.KeyID(), hex.EncodeToString(sum[:])[:16]; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestVerify_Version1(t *testing.T) {
	s := testSigner(t, 1)
	r := sampleReport(t)
	r.Version, r.ScenarioSHA256, r.Operator, r.WAL, r.Load.Failures = 1, "", nil, nil, nil
	raw, err := marshalJSON(r.canonical(), "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(signRaw(t, raw, s), s.Verifier())
	if err != nil {
		t.Fatalf("a signed version 1 report: got %v, want it verified", err)
	}
	if got.Version != 1 || got.Operator != nil {
		t.Errorf("got version %d, operator %v; want 1 and none", got.Version, got.Operator)
	}
}

func TestVerify(t *testing.T) {
	s := testSigner(t, 1)
	v := s.Verifier()
	r := sampleReport(t)
	signed := mustSign(t, r, s)

	got, err := Verify(signed, v)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Scenario != r.Scenario || got.RTOMs != r.RTOMs || got.Passed != r.Passed || len(got.Timeline) != len(r.Timeline) {
		t.Fatalf("verified report differs: got %+v", got)
	}
	if again := mustSign(t, got, s); !bytes.Equal(again, signed) {
		t.Fatalf("signing the verified report again gives other bytes")
	}

	invalid := sampleReport(t)
	invalid.Passed = true // breaks "passed == every check passed"
	rawInvalid, err := json.Marshal(invalid.canonical())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		v    *Verifier
		want error
	}{
		{"flipped verdict", bytes.Replace(signed, []byte(`"passed":false`), []byte(`"passed":true `), 1), v, ErrBadSignature},
		{"lower rto", bytes.Replace(signed, []byte(`"rto_ms":3620`), []byte(`"rto_ms":1620`), 1), v, ErrBadSignature},
		{"other signature", bytes.Replace(signed, []byte(`"sig":"`), []byte(`"sig":"AA`), 1), v, ErrMalformed},
		{"unknown key", signed, testSigner(t, 2).Verifier(), ErrUnknownKey},
		{"no verifier", signed, nil, ErrUnknownKey},
		{"other alg", bytes.Replace(signed, []byte(`"alg":"ed25519"`), []byte(`"alg":"rsa"`), 1), v, ErrUnsupportedAlg},
		{"other format", bytes.Replace(signed, []byte(`"format":"jumeau-drill-report"`), []byte(`"format":"x"`), 1), v, ErrMalformed},
		{"other version", bytes.Replace(signed, []byte(`"version":1,"report"`), []byte(`"version":2,"report"`), 1), v, ErrMalformed},
		{"unknown field", bytes.Replace(signed, []byte(`{"format"`), []byte(`{"x":1,"format"`), 1), v, ErrMalformed},
		{"trailing data", append(bytes.Clone(signed), "{}"...), v, ErrMalformed},
		{"report not an object", []byte(`{"format":"jumeau-drill-report","version":1,"report":[1],"signature":{"alg":"ed25519","key_id":"0011223344556677","sig":""}}`), v, ErrMalformed},
		{"bad key id", bytes.Replace(signed, []byte(`"key_id":"`), []byte(`"key_id":"zz`), 1), v, ErrMalformed},
		{"empty", nil, v, ErrMalformed},
		{"not JSON", []byte("PASS"), v, ErrMalformed},
		{"too large", bytes.Repeat([]byte(" "), MaxEnvelopeSize+1), v, ErrMalformed},
		{"signed but invalid", signRaw(t, rawInvalid, s), v, ErrInvalid},
		{"signed but malformed", signRaw(t, []byte(`{"scenario":1}`), s), v, ErrMalformed},
		{"short trusted key", signed, &Verifier{keys: map[string]ed25519.PublicKey{s.KeyID(): {1, 2, 3}}}, ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(tt.data, tt.v)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatalf("got a report with error %v", err)
			}
		})
	}
	t.Run("whitespace around the envelope", func(t *testing.T) {
		if _, err := Verify(append([]byte("\n  "), signed...), v); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
}

func TestSign(t *testing.T) {
	t.Run("invalid report", func(t *testing.T) {
		r := sampleReport(t)
		r.RTOMs = -1
		if _, err := Sign(r, testSigner(t, 1)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("got %v, want ErrInvalid", err)
		}
	})
	t.Run("no signer", func(t *testing.T) {
		if _, err := Sign(sampleReport(t), nil); !errors.Is(err, ErrBadKey) {
			t.Fatalf("got %v, want ErrBadKey", err)
		}
	})
	t.Run("bad private key", func(t *testing.T) {
		if _, err := NewSigner(ed25519.PrivateKey{1, 2}); !errors.Is(err, ErrBadKey) {
			t.Fatalf("got %v, want ErrBadKey", err)
		}
	})
	t.Run("signature covers the embedded bytes", func(t *testing.T) {
		s := testSigner(t, 1)
		env, sig, err := decodeEnvelope(mustSign(t, sampleReport(t), s))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := sampleReport(t).MarshalCanonical()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(env.Report, raw) {
			t.Fatalf("embedded report is not the canonical JSON")
		}
		if !ed25519.Verify(s.key.Public().(ed25519.PublicKey), raw, sig) {
			t.Fatalf("signature does not cover exactly the embedded bytes")
		}
	})
}
