// Command etcd-bench is the etcd baseline for jumeau's benchmarks: it writes
// N values of SIZE bytes under unique keys with C concurrent clients that
// share a few gRPC connections (as etcd's own benchmark tool does) and prints
// the same JSON line as `jumeau bench --json`, with target "etcd".
//
// It is a separate Go module so that jumeau itself does not depend on etcd.
// By default it writes to the current leader only, like `jumeau bench --to
// leader`, so neither side pays a follower-to-leader forwarding hop.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// benchResult is the JSON line printed; its fields and names match
// `jumeau bench --json` (cmd/jumeau/bench.go) so both can be compared.
type benchResult struct {
	Ops       int64   `json:"ops"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"`
	P50ms     float64 `json:"p50_ms"`
	P90ms     float64 `json:"p90_ms"`
	P99ms     float64 `json:"p99_ms"`
	Maxms     float64 `json:"max_ms"`
	Clients   int     `json:"clients"`
	Size      int     `json:"size"`
	Target    string  `json:"target"`
	FirstErr  string  `json:"first_error,omitempty"`
}

// options are the command-line flags.
type options struct {
	endpoints            string
	cacert, cert, key    string
	clients, conns       int
	ops, size            int
	maxTime, dialTimeout time.Duration
	prefix               string
	leaderOnly           bool
}

// putFunc writes one value; the benchmark loop is independent of etcd so it
// can be tested without a server.
type putFunc func(ctx context.Context, worker int, key string, value []byte) error

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "etcd-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("etcd-bench", flag.ContinueOnError)
	fs.StringVar(&o.endpoints, "endpoints", "https://127.0.0.1:2379", "comma-separated client URLs of the members")
	fs.StringVar(&o.cacert, "cacert", "", "CA certificate (PEM) that signed the members' certificates")
	fs.StringVar(&o.cert, "cert", "", "client certificate (PEM)")
	fs.StringVar(&o.key, "key", "", "client key (PEM)")
	fs.IntVar(&o.clients, "clients", 64, "concurrent clients")
	fs.IntVar(&o.conns, "conns", 4, "gRPC connections shared by the clients")
	fs.IntVar(&o.ops, "ops", 20000, "total puts")
	fs.IntVar(&o.size, "size", 1024, "value size in bytes")
	fs.DurationVar(&o.maxTime, "max-time", 2*time.Minute, "stop after this long even if fewer puts were made")
	fs.DurationVar(&o.dialTimeout, "dial-timeout", 5*time.Second, "connection and leader lookup timeout")
	fs.StringVar(&o.prefix, "prefix", "", "key prefix (default: bench/<random>/), keys are <prefix>k<9 digits>")
	fs.BoolVar(&o.leaderOnly, "leader", true, "write to the leader only (like jumeau bench --to leader); false spreads over all endpoints")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.clients < 1 || o.conns < 1 || o.ops < 1 || o.size < 0 || o.maxTime <= 0 {
		return errors.New("need --clients >= 1, --conns >= 1, --ops >= 1, --size >= 0 and --max-time > 0")
	}
	if o.conns > o.clients {
		o.conns = o.clients
	}
	if o.prefix == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.prefix = "bench/" + hex.EncodeToString(b[:]) + "/"
	}
	tlsCfg, err := tlsConfig(o.cacert, o.cert, o.key)
	if err != nil {
		return err
	}
	eps := strings.Split(o.endpoints, ",")
	if o.leaderOnly {
		if eps, err = leaderEndpoint(ctx, eps, tlsCfg, o.dialTimeout); err != nil {
			return err
		}
	}
	cs := make([]*clientv3.Client, o.conns)
	for i := range cs {
		c, err := clientv3.New(clientv3.Config{
			Endpoints: eps, TLS: tlsCfg, DialTimeout: o.dialTimeout, Logger: zap.NewNop(),
		})
		if err != nil {
			return fmt.Errorf("connect %d to %v: %w", i, eps, err)
		}
		defer c.Close()
		cs[i] = c
	}
	put := func(ctx context.Context, w int, key string, value []byte) error {
		_, err := cs[w%len(cs)].Put(ctx, key, string(value))
		return err
	}
	res := runBench(ctx, put, o.prefix, o.clients, o.ops, o.size, o.maxTime)
	res.Target = "etcd"
	return json.NewEncoder(out).Encode(res)
}

// tlsConfig builds the client's mutual-TLS configuration; with no files it
// returns nil (plain HTTP endpoints).
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	if caFile == "" || certFile == "" || keyFile == "" {
		return nil, errors.New("TLS needs all of --cacert, --cert and --key")
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("read CA %s: no PEM certificate", caFile)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load client certificate %s: %w", certFile, err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// leaderEndpoint asks each endpoint for its status and returns the one whose
// member is the leader.
func leaderEndpoint(ctx context.Context, eps []string, tlsCfg *tls.Config, timeout time.Duration) ([]string, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, TLS: tlsCfg, DialTimeout: timeout, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("connect to %v: %w", eps, err)
	}
	defer c.Close()
	var lastErr error
	for _, ep := range eps {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		st, err := c.Status(sctx, ep)
		cancel()
		if err != nil {
			lastErr = fmt.Errorf("status of %s: %w", ep, err)
			continue
		}
		if st.Header != nil && st.Leader == st.Header.MemberId {
			return []string{ep}, nil
		}
	}
	if lastErr != nil {
		return nil, fmt.Errorf("find leader: %w", lastErr)
	}
	return nil, fmt.Errorf("find leader: none of %v is the leader", eps)
}

// runBench makes ops puts of size bytes with clients goroutines, each put to
// a unique key, and stops early after maxTime. Percentiles are computed as in
// `jumeau bench` (sorted latencies, index p*(n-1), microsecond resolution).
func runBench(ctx context.Context, put putFunc, prefix string, clients, ops, size int, maxTime time.Duration) benchResult {
	ctx, cancel := context.WithTimeout(ctx, maxTime)
	defer cancel()
	value := make([]byte, size)
	_, _ = rand.Read(value)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	lats := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(ops) {
					return
				}
				t0 := time.Now()
				if err := put(ctx, w, fmt.Sprintf("%sk%09d", prefix, i), value); err != nil {
					if ctx.Err() != nil {
						return
					}
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	res := summarize(lats, time.Since(start), size)
	res.Errors, res.Clients = errs.Load(), clients
	if v, ok := firstErr.Load().(string); ok {
		res.FirstErr = v
	}
	return res
}

// summarize turns per-client latencies of successful puts into a result.
func summarize(lats [][]time.Duration, elapsed time.Duration, size int) benchResult {
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000
	}
	el := elapsed.Seconds()
	n := float64(len(all))
	return benchResult{
		Ops: int64(len(all)), Seconds: el,
		OpsPerSec: n / el, MBPerSec: n * float64(size) / el / 1e6,
		P50ms: pct(0.50), P90ms: pct(0.90), P99ms: pct(0.99), Maxms: pct(1.0), Size: size,
	}
}
