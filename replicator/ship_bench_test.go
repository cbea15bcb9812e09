package replicator_test

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/transport/faultlink"
	"github.com/monaco-sovereign/jumeau/wal"
)

// shipRound is how many 1 KiB writes one catch-up round ships.
const shipRound = 16384

// shipProfile, if set, profiles the CPU during each timed catch-up only
// (the writes of a round are not in it): one file per path and round,
// PREFIX-PATH-ROUND.pprof, to merge with go tool pprof.
var shipProfile = flag.String("ship.cpuprofile", "", "write CPU profiles of BenchmarkShip_CatchUp's timed catch-ups to `PREFIX`-PATH-ROUND.pprof")

// shipPath is the network path between the cell leader and the twin.
type shipPath struct {
	name string
	// direct: no fault-link relay (the leader dials the twin itself).
	direct bool
	// rtt is the WAN round trip through the relay (0: a relay that adds
	// nothing).
	rtt time.Duration
	// restart holds the shipping back by stopping the twin (the shipper
	// then catches up on a new connection) instead of cutting the WAN
	// (the connection survives, and QUIC recovers from the blackhole). The
	// direct path has no relay to cut.
	restart bool
}

var shipPaths = []shipPath{
	{name: "direct", direct: true, restart: true},
	{name: "relay", rtt: 0},
	{name: "wan-12ms", rtt: 12 * time.Millisecond},
	{name: "wan-12ms-restart", rtt: 12 * time.Millisecond, restart: true},
}

// shipFigures are one path's measured throughputs, one per run (-count
// runs each sub-benchmark that many times in a row), for its ratio
// sub-benchmark.
type shipFigures struct {
	ship, bare []float64 // MB/s
	ratios     int       // ratio runs done
	roundBytes int64     // record bytes of one catch-up round
}

// BenchmarkShip_CatchUp measures WAL shipping throughput against a bare
// quic-go stream carrying the same bytes, in the same run.
//
// ship/PATH: a one-site cell with a twin. Each round holds the shipping
// back (WAN cut with CutWAN; on the direct path, which has no relay to
// cut, and on the -restart paths, the twin is stopped), writes shipRound
// records of 1 KiB on the leader, releases the twin (Heal, or restart) and
// times the catch-up from
// the twin's first stored batch until the twin's WAL holds the leader's
// last index. MB/s counts encoded WAL record bytes (the shipper's payload)
// over that time; heal_to_first_ms is the untimed wait from the release to
// that first batch (QUIC's probe backoff after a blackhole, or the
// shipper's reconnect backoff after a restart).
//
// bare/PATH: the same record bytes of a round on one quic-go stream
// (mutual TLS 1.3 with the lab's kind of certificates, same key exchange
// preferences), written in chunks of twin.batch_bytes; the receiver reads
// everything and answers one byte; each round is a new stream on a warm
// connection.
//
// ratio/PATH reports ship_MB/s, bare_MB/s and their ratio from the two
// sub-benchmarks just run.
//
// For the figures: go test -run '^$' -bench Ship_CatchUp -benchtime 3x -count 3 ./replicator/
func BenchmarkShip_CatchUp(b *testing.B) {
	for _, p := range shipPaths {
		f := &shipFigures{}
		b.Run("ship/"+p.name, func(b *testing.B) { benchShip(b, p, f) })
		b.Run("bare/"+p.name, func(b *testing.B) { benchBare(b, p, f) })
		b.Run("ratio/"+p.name, func(b *testing.B) {
			// b.Loop runs this function once per -count run: its k-th run
			// pairs the k-th ship and bare figures.
			k := f.ratios
			f.ratios++
			if k >= len(f.ship) || k >= len(f.bare) {
				b.Skipf("ratio/%s needs ship/%s and bare/%s in the same run (widen -bench)", p.name, p.name, p.name)
			}
			for b.Loop() {
			}
			b.ReportMetric(f.ship[k], "ship_MB/s")
			b.ReportMetric(f.bare[k], "bare_MB/s")
			b.ReportMetric(f.ship[k]/f.bare[k], "ratio")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func benchShip(b *testing.B, p shipPath, f *shipFigures) {
	opts := cluster.Options{Sites: 1, Twin: true, Direct: p.direct, WANRTT: p.rtt}
	c := cluster.New(b, opts)
	if !p.direct && p.rtt == 0 {
		c.SetLinks(faultlink.Params{}) // the lab's WAN links default to 12 ms
	}
	leader := c.Node(c.WaitLeader(""))
	cell, lw := leader.Cell(), leader.WAL()
	// The namespace's key record, then a converged twin.
	if _, err := cell.Put(ctxT(b, 10*time.Second), "ship", "warm", []byte("up"), replicator.DurabilityTwin); err != nil {
		b.Fatalf("warm-up write: %v", err)
	}
	twinLast := func() uint64 {
		if tw := c.Twin(); tw != nil {
			last, _ := tw.WAL().Last()
			return last
		}
		return 0
	}
	value := make([]byte, 1024)
	var (
		round             int
		countedBytes      int64
		totalBytes        int64
		timed, healToWait time.Duration
		commits           uint64
		commitSecs        float64
	)
	for b.Loop() {
		b.StopTimer()
		base, _ := lw.Last()
		if tl := twinLast(); tl != base {
			b.Fatalf("round %d: twin at %d before the cut, leader at %d", round, tl, base)
		}
		if p.restart {
			c.Stop(c.TwinName())
		} else {
			c.CutWAN()
		}
		writeRound(b, cell, round, value)
		last, _ := lw.Last()
		sizes := recordSizes(b, lw, base+1, last)
		released := time.Now()
		if p.restart {
			c.Start(c.TwinName())
		} else {
			c.Heal()
		}
		first := pollUntil(b, 30*time.Second, 100*time.Microsecond, func() (uint64, bool) {
			tl := twinLast()
			return tl, tl > base
		})
		commits0, commitSecs0 := twinCommits(b, c)
		stopProfile := startProfile(b, p.name, round)
		b.StartTimer()
		t0 := time.Now()
		pollUntil(b, 60*time.Second, 100*time.Microsecond, func() (uint64, bool) {
			tl := twinLast()
			return tl, tl >= last
		})
		timed += time.Since(t0)
		stopProfile()
		commits1, commitSecs1 := twinCommits(b, c)
		commits += commits1 - commits0
		commitSecs += commitSecs1 - commitSecs0
		healToWait += t0.Sub(released)
		for _, n := range sizes[first-base:] {
			countedBytes += int64(n)
		}
		for _, n := range sizes {
			totalBytes += int64(n)
		}
		round++
	}
	if err := c.WaitTwinConverged(ctxT(b, 30*time.Second)); err != nil {
		b.Fatalf("after %d rounds: %v", round, err)
	}
	if countedBytes == 0 {
		b.Fatalf("the twin stored each round in one batch: nothing left to time (raise shipRound)")
	}
	b.SetBytes(countedBytes / int64(round))
	f.roundBytes = totalBytes / int64(round)
	f.ship = append(f.ship, float64(countedBytes)/timed.Seconds()/1e6)
	b.ReportMetric(float64(healToWait.Milliseconds())/float64(round), "heal_to_first_ms")
	// Where the catch-up time goes on the twin: its group commits (verify,
	// stage, one synced Pebble batch) per round, and their share of it
	// (about 1 when the twin's receive loop is busy all along; the first
	// group's commit may be counted although it ended just before t0).
	b.ReportMetric(float64(commits)/float64(round), "twin_commits/op")
	b.ReportMetric(commitSecs/timed.Seconds(), "twin_commit_share")
}

// startProfile starts a CPU profile of the round if -ship.cpuprofile is
// set, and returns its stop function.
func startProfile(tb testing.TB, path string, round int) func() {
	tb.Helper()
	if *shipProfile == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s-%s-%d.pprof", *shipProfile, path, round))
	if err != nil {
		tb.Fatalf("cpu profile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		tb.Fatalf("cpu profile: %v (do not combine with -cpuprofile)", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			tb.Errorf("cpu profile: %v", err)
		}
	}
}

// twinCommits reads the running twin's group-commit histogram: how many
// commits, and their total seconds.
func twinCommits(tb testing.TB, c *cluster.Cluster) (uint64, float64) {
	tb.Helper()
	mfs, err := c.Twin().Registry().Gather()
	if err != nil {
		tb.Fatalf("twin metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "jumeau_twin_commit_latency_seconds" && len(mf.GetMetric()) == 1 {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	tb.Fatalf("twin metrics: no jumeau_twin_commit_latency_seconds")
	return 0, 0
}

// writeRound writes shipRound values of 1 KiB on the leader with 64
// concurrent writers, as a group-committing client load would.
func writeRound(tb testing.TB, cell *replicator.Cell, round int, value []byte) {
	tb.Helper()
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		failed atomic.Pointer[error]
	)
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > shipRound || failed.Load() != nil {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := cell.Put(ctx, "ship", fmt.Sprintf("r%04d-%06d", round, i), value, replicator.DurabilityCell)
				cancel()
				if err != nil {
					failed.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		tb.Fatalf("round %d: write: %v", round, *err)
	}
}

// recordSizes returns the encoded size of the records from..to of w.
func recordSizes(tb testing.TB, w *wal.Log, from, to uint64) []int {
	tb.Helper()
	sizes := make([]int, 0, to-from+1)
	it := w.Iter(from)
	defer it.Close()
	for it.Next() && it.Record().Index <= to {
		rec := it.Record()
		enc, err := rec.MarshalBinary()
		if err != nil {
			tb.Fatalf("encode record %d: %v", rec.Index, err)
		}
		sizes = append(sizes, len(enc))
	}
	if err := it.Err(); err != nil {
		tb.Fatalf("read records %d..%d: %v", from, to, err)
	}
	if uint64(len(sizes)) != to-from+1 {
		tb.Fatalf("read %d records of %d..%d", len(sizes), from, to)
	}
	return sizes
}

// pollUntil calls check every interval until it reports done, and
// returns its value; it fails tb after timeout.
func pollUntil(tb testing.TB, timeout, interval time.Duration, check func() (uint64, bool)) uint64 {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, done := check()
		if done {
			return v
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not done within %v (at %d)", timeout, v)
		}
		time.Sleep(interval)
	}
}

func benchBare(b *testing.B, p shipPath, f *shipFigures) {
	total := f.roundBytes
	if total == 0 {
		total = shipRound * 1024
		b.Logf("ship/%s did not run: carrying %d value bytes per round", p.name, total)
	}
	chunk := replicator.DefaultShipConfig().BatchBytes
	srvTLS, cliTLS := bareTLS(b)
	cfg := &quic.Config{MaxIdleTimeout: 30 * time.Second, KeepAlivePeriod: 5 * time.Second}
	ln, err := quic.ListenAddr("127.0.0.1:0", srvTLS, cfg)
	if err != nil {
		b.Fatalf("bare quic listen: %v", err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	addr := ln.Addr().String()
	if !p.direct {
		link, err := faultlink.New("bare", "127.0.0.1:0", addr, faultlink.Params{Delay: p.rtt / 2}, nil)
		if err != nil {
			b.Fatalf("bare relay: %v", err)
		}
		b.Cleanup(func() { _ = link.Close() })
		addr = link.Addr()
	}
	var srv sync.WaitGroup
	srv.Go(func() { bareServe(ln, total) })
	b.Cleanup(srv.Wait)
	ctx := ctxT(b, 5*time.Minute)
	conn, err := quic.DialAddr(ctx, addr, cliTLS, cfg)
	if err != nil {
		b.Fatalf("bare quic dial %s: %v", addr, err)
	}
	b.Cleanup(func() { _ = conn.CloseWithError(0, "done") })
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(total)
	var timed time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := bareRound(ctx, conn, buf, total); err != nil {
			b.Fatalf("bare stream: %v", err)
		}
		timed += time.Since(t0)
	}
	f.bare = append(f.bare, float64(total)*float64(b.N)/timed.Seconds()/1e6)
}

// bareRound sends total bytes on a new stream in chunks of len(buf) and
// waits for the receiver's one-byte acknowledgement.
func bareRound(ctx context.Context, conn *quic.Conn, buf []byte, total int64) error {
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	for sent := int64(0); sent < total; {
		n := min(int64(len(buf)), total-sent)
		if _, err := st.Write(buf[:n]); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		sent += n
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	var ack [1]byte
	if _, err := io.ReadFull(st, ack[:]); err != nil {
		return fmt.Errorf("read ack: %w", err)
	}
	return nil
}

// bareServe accepts one connection and answers every stream that carried
// exactly total bytes with one byte, until the connection ends.
func bareServe(ln *quic.Listener, total int64) {
	conn, err := ln.Accept(context.Background())
	if err != nil {
		return
	}
	buf := make([]byte, 64<<10)
	for {
		st, err := conn.AcceptStream(context.Background())
		if err != nil {
			return
		}
		var got int64
		for {
			n, err := st.Read(buf)
			got += int64(n)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					return
				}
				break
			}
		}
		if got != total {
			st.CancelWrite(1)
			continue
		}
		_, _ = st.Write([]byte{1})
		_ = st.Close()
	}
}

// bareTLS issues a site and a twin certificate from a fresh CA and
// returns the twin's server and the site's client TLS configs, as a jumeau
// endpoint would use them (TLS 1.3, mutual, hybrid key exchange first).
func bareTLS(tb testing.TB) (srv, cli *tls.Config) {
	tb.Helper()
	dir := tb.TempDir()
	ca, err := pki.InitCA(filepath.Join(dir, "ca"), "bench CA")
	if err != nil {
		tb.Fatalf("bench CA: %v", err)
	}
	load := func(id pki.Identity) *pki.Material {
		cert, key, err := ca.IssueFiles(dir, id, []string{"127.0.0.1"}, pki.DefaultValidity)
		if err != nil {
			tb.Fatalf("issue %s: %v", id, err)
		}
		m, err := pki.LoadTLS(pki.TLSFiles{CA: filepath.Join(dir, "ca", pki.CACertFile), Cert: cert, Key: key})
		if err != nil {
			tb.Fatalf("load %s: %v", id, err)
		}
		return m
	}
	site := load(pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-a"})
	twin := load(pki.Identity{Role: pki.RoleTwin, Region: "luxembourg", Name: "lux-1"})
	const alpn = "jumeau-bare"
	return twin.ServerConfig(alpn), site.ClientConfig("", alpn)
}
