package api_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/api"
)

// A certificate revoked while its keep-alive connection is open is
// refused on that connection's next request, and a new connection fails
// its handshake with a message saying it is revoked.
func TestServer_Auth_RevokedOnOpenConnection(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, api.Limits{})
	mat := p.material(t, clientID("stolen"))
	c, err := dial(t, s.srv.Addr(), tlsConfig(p, mat))
	if err != nil {
		t.Fatal(err)
	}
	resp, body, err := c.do(http.MethodPut, "/v1/kv/ns/k", "v")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("put before the revocation: got %v, %q, %v, want 200", resp, body, err)
	}
	if err := p.ca.Revoke(p.dir, mat.Certificate.Leaf.SerialNumber); err != nil {
		t.Fatal(err)
	}
	// Same connection: 200 until the node sees the new list, then 401.
	waitFor(t, "the open connection refused", func() bool {
		resp, body, err = c.do(http.MethodGet, "/v1/kv/ns/k", "")
		if err != nil {
			t.Fatalf("request on the open connection: %v (want an HTTP answer)", err)
		}
		return resp.StatusCode != http.StatusOK
	})
	if got, want := resp.StatusCode, http.StatusUnauthorized; got != want {
		t.Fatalf("status after the revocation: got %d, want %d (%s)", got, want, body)
	}
	var eb struct{ Error, Code string }
	if err := json.Unmarshal([]byte(body), &eb); err != nil {
		t.Fatal(err)
	}
	if got, want := eb.Code, "unauthenticated"; got != want || !strings.Contains(eb.Error, "revoked") {
		t.Fatalf("error body: got %+v, want code %s and a message saying revoked", eb, want)
	}
	if got, want := resp.Close, true; got != want {
		t.Errorf("Connection: close: got %v, want %v (the server drops the connection)", got, want)
	}

	cl := newClient(t, s, mat)
	_, err = cl.Get(ctxT(t), "ns", "k", false)
	if !errors.Is(err, api.ErrUnauthenticated) || !strings.Contains(err.Error(), "it is revoked") {
		t.Fatalf("new connection: got %v, want ErrUnauthenticated saying the certificate is revoked", err)
	}
}
