package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/pki"
)

// childEnv makes the test binary run main() instead of the tests, so that
// a test can run `jumeau serve` as a real process.
const childEnv = "JUMEAU_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// logBuffer collects a process's stderr, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// entries are the JSON log lines whose msg is msg.
func (l *logBuffer) entries(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil && e["msg"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// serveProc is `jumeau serve` running as a child process.
type serveProc struct {
	cmd    *exec.Cmd
	stderr *logBuffer
	exited chan struct{}
	err    error // after exited
}

func startServe(tb testing.TB, cfgFile string) *serveProc {
	tb.Helper()
	p := &serveProc{stderr: &logBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "serve", "--config", cfgFile)
	p.cmd.Env = append(os.Environ(), childEnv+"=1")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// signal sends sig to the process.
func (p *serveProc) signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("signal %v: %v", sig, err)
	}
}

// waitFor polls cond (every 20 ms, for at most 30 s) while the process
// runs.
func (p *serveProc) waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case <-p.exited:
			tb.Fatalf("waiting for %s: serve exited (%v); its log:\n%s", what, p.err, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("waiting for %s: not within 30s; the log:\n%s", what, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// apiSerial is the serial of the certificate the node's API presents to
// the client creds, "" if the handshake fails.
func apiSerial(addr string, creds *pki.Material) string {
	c := creds.ClientConfig("127.0.0.1")
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, c)
	if err != nil {
		return ""
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
}

func TestServe_SIGHUP(t *testing.T) {
	l, err := lab.Prepare(lab.Options{Dir: t.TempDir(), Sites: 1, Binary: os.Args[0]})
	if err != nil {
		t.Fatal(err)
	}
	site := l.Nodes[0]
	pkiDir := filepath.Join(l.Dir, "pki")
	creds, err := pki.LoadTLS(pki.TLSFiles{CA: l.ClientCreds.CA, Cert: l.ClientCreds.Cert, Key: l.ClientCreds.Key})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	p := startServe(t, site.Config)
	var first string
	p.waitFor(t, "the API", func() bool { first = apiSerial(site.API, creds); return first != "" })

	certFile, keyFile, err := ca.IssueFiles(pkiDir, pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: site.Name}, []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	renewed := readCert(t, certFile).SerialNumber.Text(16)
	t.Run("new certificate served", func(t *testing.T) {
		p.signal(t, syscall.SIGHUP)
		p.waitFor(t, "the renewed certificate on the API", func() bool { return apiSerial(site.API, creds) == renewed })
		logged := p.stderr.entries("reload: serving the new certificate from the next handshake on (open connections keep theirs)")
		if len(logged) != 1 || logged[0]["serial"] != renewed || logged[0]["serial_was"] != first {
			t.Errorf("log: got %v, want one line saying %s -> %s", logged, first, renewed)
		}
	})
	t.Run("bad certificate refused, current kept", func(t *testing.T) {
		good, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(certFile, good, 0o644)
		p.signal(t, syscall.SIGHUP)
		const refused = "reload: refused the certificate and key files; still serving the current certificate"
		p.waitFor(t, "the refusal in the log", func() bool { return len(p.stderr.entries(refused)) == 1 })
		e := p.stderr.entries(refused)[0]
		if e["level"] != "ERROR" || e["serial"] != renewed || e["cert"] != certFile || e["key"] != keyFile {
			t.Errorf("log: got %v, want an ERROR naming %s, %s and the serial kept %s", e, certFile, keyFile, renewed)
		}
		if got := apiSerial(site.API, creds); got != renewed {
			t.Errorf("API serves %q, want %s (kept)", got, renewed)
		}
	})
	t.Run("log level", func(t *testing.T) {
		data, err := os.ReadFile(site.Config)
		if err != nil {
			t.Fatal(err)
		}
		debug := strings.Replace(string(data), "level: info", "level: debug", 1)
		if debug == string(data) {
			t.Fatalf("%s has no log level info", site.Config)
		}
		if err := os.WriteFile(site.Config, []byte(debug), 0o600); err != nil {
			t.Fatal(err)
		}
		p.signal(t, syscall.SIGHUP)
		p.waitFor(t, "the log level change", func() bool { return len(p.stderr.entries("reload: log level changed")) == 1 })
		if e := p.stderr.entries("reload: log level changed")[0]; e["from"] != "info" || e["to"] != "debug" {
			t.Errorf("log: got %v, want from info to debug", e)
		}
	})
	t.Run("still serving, then stops on SIGTERM", func(t *testing.T) {
		if got := apiSerial(site.API, creds); got != renewed {
			t.Fatalf("API: got %q, want %s", got, renewed)
		}
		p.signal(t, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			t.Fatalf("serve did not stop within 30s of SIGTERM; the log:\n%s", p.stderr)
		}
		if p.err != nil {
			t.Fatalf("serve exited with %v, want 0; the log:\n%s", p.err, p.stderr)
		}
	})
}
