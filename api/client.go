package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// Client talks to the API of one node or, made with NewMultiClient, of
// several: it sends each request to the node that answered last and moves
// on to the next one where that is safe (see NewMultiClient).
type Client struct {
	eps []*endpoint
	// cur is the index in eps of the endpoint that answered last.
	cur atomic.Int64
	mat *pki.Material
}

// endpoint is one node's API: its base URL and the HTTP client that
// holds its connections.
type endpoint struct {
	name string // as the caller gave it
	base string
	addr string // host:port
	hc   *http.Client
	d    *dialer
}

// ClientOptions tune a Client.
type ClientOptions struct {
	// MaxConns bounds the connections kept to each node (default 64).
	MaxConns int
	// Timeout bounds each request to one node (default 15s).
	Timeout time.Duration
}

// NewClient returns a client for endpoint ("host:port" or
// "https://host:port") authenticated with mat.
func NewClient(endpoint string, mat *pki.Material, opts ClientOptions) (*Client, error) {
	return NewMultiClient([]string{endpoint}, mat, opts)
}

// newEndpoint parses endpoint and builds its HTTP client.
func newEndpoint(addr string, mat *pki.Material, opts ClientOptions) (*endpoint, error) {
	name := addr
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%w: endpoint %q: want host:port or https://host:port", ErrBadEndpoint, name)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 64
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	host := u.Hostname()
	tc := mat.ClientConfig(host, "h2", "http/1.1")
	// Send the certificate even when the server's request names other
	// CAs: the server then says why it refuses it (unknown authority)
	// instead of seeing no certificate at all.
	cert := mat.Certificate
	tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	d := &dialer{net: &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}, tc: tc}
	tr := &http.Transport{
		MaxIdleConns:        opts.MaxConns,
		MaxIdleConnsPerHost: opts.MaxConns,
		MaxConnsPerHost:     opts.MaxConns,
		IdleConnTimeout:     90 * time.Second,
		// HTTP/2 when the server offers it (ALPN; dialTLS returns the
		// *tls.Conn net/http reads it from): requests share a few
		// multiplexed connections instead of one connection each, far
		// below the server's per-client connection cap. HTTP/1.1 with a
		// pool of keep-alive connections otherwise.
		ForceAttemptHTTP2: true,
		DialTLSContext:    d.dialTLS,
	}
	hostPort := u.Host
	if u.Port() == "" {
		hostPort = net.JoinHostPort(host, "443")
	}
	return &endpoint{name: name, base: strings.TrimRight(u.String(), "/"), addr: hostPort, hc: &http.Client{Transport: tr, Timeout: opts.Timeout}, d: d}, nil
}

// Close releases idle connections.
func (c *Client) Close() {
	for _, e := range c.eps {
		e.hc.CloseIdleConnections()
	}
}

func kvPath(ns, key string) string {
	return "/v1/kv/" + url.PathEscape(ns) + "/" + escapeKey(key)
}

func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// doOne sends one request to e. sent reports whether the request may
// have reached the node (its headers were written): a write that fails
// after that has an unknown outcome. answered reports whether the error
// is the node's answer rather than a transport failure.
func (c *Client) doOne(ctx context.Context, e *endpoint, method, path string, body []byte) (b []byte, sent, answered bool, err error) {
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, false, false, fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	var fresh, wrote, answer atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn:              func(i httptrace.GotConnInfo) { fresh.Store(!i.Reused) },
		WroteHeaders:         func() { wrote.Store(true) },
		GotFirstResponseByte: func() { answer.Store(true) },
	}))
	resp, err := e.hc.Do(req)
	if err != nil {
		if !answer.Load() && !isTimeout(err) && !errors.Is(err, syscall.ECONNREFUSED) {
			// The server refused the connection after the handshake
			// without an answer: a TLS 1.3 alert on our certificate
			// (which our write may meet as a reset before we read
			// it, and which the HTTP/2 transport does not report),
			// or a connection cap (a bare close). A probe connection
			// tells which.
			perr := e.d.probe(ctx, e.addr)
			_, alert := remoteAlert(perr)
			switch {
			case alert:
				err = fmt.Errorf("%w (a probe connection after the request failed: %w)", perr, err)
			case fresh.Load() && isClose(err):
				// A new connection closed before a byte of an answer:
				// refused right after the handshake.
				err = &closedEarlyError{err: err}
			case perr != nil:
				err = fmt.Errorf("%w (a probe connection after the request failed: %w)", perr, err)
			}
		}
		return nil, wrote.Load(), false, c.explainTransport(method, path, err)
	}
	defer resp.Body.Close()
	b, err = io.ReadAll(io.LimitReader(resp.Body, MaxValueSize*2))
	if err != nil {
		return nil, true, false, fmt.Errorf("api: %s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return b, true, true, nil
	}
	var eb errorBody
	if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
		eb.Error = strings.TrimSpace(string(b))
	}
	base := ErrServer
	switch eb.Code {
	case "not_found":
		base = ErrNotFound
	case "bad_request":
		base = ErrBadRequest
	case "unauthenticated":
		base = ErrUnauthenticated
	case "forbidden":
		base = ErrForbidden
	case "no_leader":
		base = ErrUnavailable
	case "timeout":
		base = ErrTimeout
	case "read_timeout":
		base = ErrReadTimeout
	case "busy":
		base = ErrBusy
	case "not_implemented":
		base = ErrNotImplemented
	case "read_only":
		base = ErrReadOnly
	case "twin_unconfirmed":
		base = ErrTwinUnconfirmed
	case "rpo_exceeded":
		base = ErrRPOExceeded
	case "no_twin":
		base = ErrNoTwin
	case "lease_expired":
		base = ErrLeaseExpired
	case "fenced":
		base = ErrFenced
	case "refused":
		base = ErrRefused
	case "switching":
		base = ErrSwitching
	case "too_large":
		base = ErrTooLarge
	case "nospace":
		base = ErrNoSpace
	case "method_not_allowed":
		base = ErrMethodNotAllowed
	}
	return nil, true, true, fmt.Errorf("%w: %s (HTTP %d)", base, eb.Error, resp.StatusCode)
}

// Put writes value under ns/key with the given durability ("" = cell).
func (c *Client) Put(ctx context.Context, ns, key string, value []byte, durability string) (WriteResult, error) {
	p := kvPath(ns, key)
	if durability != "" {
		p += "?durability=" + url.QueryEscape(durability)
	}
	b, err := c.do(ctx, http.MethodPut, p, value)
	if err != nil {
		return WriteResult{}, err
	}
	var r WriteResult
	if err := json.Unmarshal(b, &r); err != nil {
		return WriteResult{}, fmt.Errorf("%w: bad PUT response: %v", ErrServer, err)
	}
	return r, nil
}

// Delete removes ns/key with the given durability ("" = cell).
func (c *Client) Delete(ctx context.Context, ns, key string, durability string) (WriteResult, error) {
	p := kvPath(ns, key)
	if durability != "" {
		p += "?durability=" + url.QueryEscape(durability)
	}
	b, err := c.do(ctx, http.MethodDelete, p, nil)
	if err != nil {
		return WriteResult{}, err
	}
	var r WriteResult
	if err := json.Unmarshal(b, &r); err != nil {
		return WriteResult{}, fmt.Errorf("%w: bad DELETE response: %v", ErrServer, err)
	}
	return r, nil
}

// Get reads ns/key; stale reads are served by the node itself.
func (c *Client) Get(ctx context.Context, ns, key string, stale bool) ([]byte, error) {
	p := kvPath(ns, key)
	if stale {
		p += "?consistency=stale"
	}
	return c.do(ctx, http.MethodGet, p, nil)
}

// List returns up to limit keys of ns under prefix (limit <= 0: every
// key), with values, following the continuation tokens page by page. It
// holds them all in memory; ListEach hands them over page by page
// instead. Next resumes the list when keys remain.
func (c *Client) List(ctx context.Context, ns, prefix string, limit int, stale bool) (ListResult, error) {
	res := ListResult{Items: []replicator.KV{}}
	next, err := c.ListEach(ctx, ns, ListOptions{Prefix: prefix, Limit: limit, Stale: stale}, func(kv replicator.KV) error {
		res.Items = append(res.Items, kv)
		return nil
	})
	if err != nil {
		return ListResult{}, err
	}
	res.Next = next
	return res, nil
}

// Status returns the node's status document, decoded into v.
func (c *Client) Status(ctx context.Context, v any) error {
	b, err := c.do(ctx, http.MethodGet, "/v1/status", nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: bad status response: %v", ErrServer, err)
	}
	return nil
}

// Sandbox asks the twin for a live, non-disruptive drill: it promotes a
// clone of its store in isolation and reports what it measured. It needs
// admin credentials.
func (c *Client) Sandbox(ctx context.Context, v any) error {
	b, err := c.do(ctx, http.MethodPost, "/v1/drill/sandbox", nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: bad sandbox response: %v", ErrServer, err)
	}
	return nil
}

// Switchover asks the primary to hand its role to region to (planned
// failover or failback). It needs admin credentials.
func (c *Client) Switchover(ctx context.Context, to string, v any) error {
	b, err := c.do(ctx, http.MethodPost, "/v1/failover/switchover?to="+url.QueryEscape(to), nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: bad switchover response: %v", ErrServer, err)
	}
	return nil
}

// Promote asks the node (the twin) to become the primary; force accepts a
// loss above the automatic bound. It needs admin credentials.
func (c *Client) Promote(ctx context.Context, force bool, v any) error {
	b, err := c.do(ctx, http.MethodPost, "/v1/failover/promote?force="+strconv.FormatBool(force), nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: bad promote response: %v", ErrServer, err)
	}
	return nil
}
