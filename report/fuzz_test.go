package report

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"testing"
)

// FuzzVerify feeds Verify the bytes of a report.json from disk. Only the
// seed key signs, so whatever Verify accepts must be one of the seeds'
// reports, byte for byte; everything else must fail with a sentinel.
func FuzzVerify(f *testing.F) {
	s := testSigner(f, 1)
	signed := mustSign(f, smallReport(f), s)
	f.Add(signed)
	f.Add(bytes.Replace(signed, []byte(`"passed":true`), []byte(`"passed":false`), 1))
	f.Add(signRaw(f, []byte(`{"scenario":"x"}`), s))
	f.Add([]byte(`{"format":"jumeau-drill-report","version":1,"report":{},"signature":{"alg":"ed25519","key_id":"0011223344556677","sig":""}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	v := s.Verifier()
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Verify(data, v)
		if err != nil {
			if r != nil {
				t.Fatalf("a report and an error: %v", err)
			}
			for _, want := range []error{ErrMalformed, ErrUnsupportedAlg, ErrUnknownKey, ErrBadSignature, ErrInvalid} {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("verified report does not validate: %v", err)
		}
		env, _, err := decodeEnvelope(data)
		if err != nil {
			t.Fatalf("verified envelope does not decode: %v", err)
		}
		raw, err := r.MarshalCanonical()
		if err != nil {
			t.Fatalf("MarshalCanonical: %v", err)
		}
		if !bytes.Equal(raw, env.Report) {
			t.Fatalf("verified report is not what was signed:\n got %s\nwant %s", raw, env.Report)
		}
	})
}

// FuzzDecodeReport feeds the report decoder (which Verify reaches only
// with a good signature) directly: what it accepts must validate and
// survive a round trip.
func FuzzDecodeReport(f *testing.F) {
	raw, err := smallReport(f).MarshalCanonical()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(bytes.Replace(raw, []byte(`"rto_ms":1000`), []byte(`"rto_ms":-1`), 1))
	f.Add([]byte(`{"scenario":"x","passed":true,"rpo":{"lost_writes":0,"lost_bytes":0,"window_ms":0},"rto_ms":0,"checks":[{"name":"a","expected":"","measured":"","passed":true}],"timeline":[],"version":1,"started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:01Z","jumeau_version":"","topology":{"nodes":[],"wan_rtt_ms":0},"load":{"sent":0,"acked":0,"failed":0}}`))
	f.Add([]byte(`{"timeline":[{"t_ms":1,"sample":{"acked_per_sec":1e308,"lag_ms":null}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeReport(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		raw, err := r.MarshalCanonical()
		if err != nil {
			t.Fatalf("accepted report does not marshal: %v", err)
		}
		back, err := decodeReport(raw)
		if err != nil {
			t.Fatalf("canonical JSON does not decode: %v", err)
		}
		again, err := back.MarshalCanonical()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, again) {
			t.Fatalf("canonical JSON is not stable:\n%s\n%s", raw, again)
		}
		if err := WriteHTML(&bytes.Buffer{}, r); err != nil {
			t.Fatalf("WriteHTML of a valid report: %v", err)
		}
		if !json.Valid(raw) {
			t.Fatalf("canonical JSON is not valid JSON")
		}
	})
}

// FuzzParseKeys feeds the PEM decoders of drill.key and drill.pub.
func FuzzParseKeys(f *testing.F) {
	s := testSigner(f, 1)
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		f.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(s.key.Public())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if signer, err := parseSigner(data); err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("parseSigner: error wraps no sentinel: %v", err)
			}
		} else if len(signer.KeyID()) != 16 {
			t.Fatalf("key id %q", signer.KeyID())
		}
		if v, err := parseVerifier(data); err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("parseVerifier: error wraps no sentinel: %v", err)
			}
		} else if len(v.KeyIDs()) == 0 {
			t.Fatalf("a verifier with no key")
		}
	})
}
