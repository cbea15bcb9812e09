package drill

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/report"
)

func TestOperatorFromCert(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.InitCA(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	id := pki.Identity{Role: pki.RoleAdmin, Region: "monaco", Name: "oncall"}
	certFile, _, err := ca.IssueFiles(dir, id, nil, pki.DefaultValidity)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OperatorFromCert(certFile)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	sum := sha256.Sum256(b.Bytes)
	if got.Identity != id.String() || got.Source != report.OperatorCertificate || got.CertSHA256 != hex.EncodeToString(sum[:]) || got.OSUser == "" {
		t.Errorf("got %+v, want identity %s from the certificate, its SHA-256 %x and the OS user", got, id, sum)
	}
	t.Run("not a certificate", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "x.crt")
		if err := os.WriteFile(p, []byte("nope"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := OperatorFromCert(p); err == nil {
			t.Fatal("got no error, want one for a file without a certificate")
		}
	})
}

func TestOperatorFromOS(t *testing.T) {
	got := OperatorFromOS()
	if got.Identity == "" || got.Identity != got.OSUser || got.Source != report.OperatorOSUser || got.CertSHA256 != "" {
		t.Errorf("got %+v, want the OS user as identity, source os_user, no certificate", got)
	}
}

func TestWalPositions(t *testing.T) {
	got := walPositions([]string{"site-a", "site-b", "lux-1"}, map[string]walPos{
		"site-a": {index: 7, hash: "ab"},
		"lux-1":  {index: 6, hash: "cd", err: "shipping diverged: at 6"},
	})
	want := []report.WALPosition{
		{Node: "site-a", Index: 7, Hash: "ab"},
		{Node: "site-b", Note: "no status: the node did not answer"},
		{Node: "lux-1", Index: 6, Hash: "cd", Note: "shipping diverged: at 6"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d]: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
