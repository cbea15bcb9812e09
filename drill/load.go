package drill

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/history"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// maxWrites bounds the writes of one drill (sent by the load and the
// probes): a drill of 24 h at 1e6 writes/s is refused before it starts.
const maxWrites = 2_000_000

// written is what the read-back needs of one write.
type written struct {
	ns   string
	dur  replicator.Durability
	size int
}

// loadGen is the drill's load generator: new keys at a paced rate, each
// write recorded in the history.
type loadGen struct {
	w     scenarios.Workload
	log   *slog.Logger
	runID string
	// hist is the drill's history (shared with the attack executors);
	// own holds the load's writes only: the RPO and RTO are measured on
	// them, not on what an attack wrote.
	hist    *history.History
	own     *history.History
	clients map[string]*clientRef
	targets []string // data nodes, in the order writes move through on errors

	preferred atomic.Pointer[string] // the node writes go to
	seq       atomic.Int64
	// counters: [durability][sent, acked, failed]
	counts [2][3]atomic.Int64
	// fails groups the failed writes by cause.
	fails failureTally

	mu   sync.Mutex
	keys map[string]written
}

// clientRef is an API client of a node.
type clientRef struct {
	name string
	c    *api.Client
}

func newLoadGen(log *slog.Logger, w scenarios.Workload, runID string, h *history.History, clients map[string]*api.Client, targets []string) *loadGen {
	g := &loadGen{log: log, w: w, runID: runID, hist: h, own: history.New(), clients: map[string]*clientRef{}, targets: targets, keys: map[string]written{}}
	for name, c := range clients {
		g.clients[name] = &clientRef{name: name, c: c}
	}
	if len(targets) > 0 {
		g.setPreferred(targets[0])
	}
	return g
}

func (g *loadGen) setPreferred(name string) { g.preferred.Store(&name) }

func (g *loadGen) target() string {
	if p := g.preferred.Load(); p != nil {
		return *p
	}
	return ""
}

// next is the data node after name, in target order.
func (g *loadGen) next(name string) string {
	i := slices.Index(g.targets, name)
	return g.targets[(i+1)%len(g.targets)]
}

// keyOf is the key of write seq.
func keyOf(runID string, seq int64) string { return fmt.Sprintf("%s-%08d", runID, seq) }

// valueOf is the value written under key: the key, '|', then bytes
// derived from the key, size bytes in all (at least the key and '|').
func valueOf(key string, size int) []byte {
	v := make([]byte, 0, max(size, len(key)+1))
	v = append(v, key...)
	v = append(v, '|')
	h := fnv.New64a()
	h.Write([]byte(key))
	x := h.Sum64()
	for len(v) < size {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v = append(v, 'a'+byte(x%26))
	}
	return v
}

// durabilityOf draws the durability of write seq from the mix
// (deterministic: the same sequence gives the same draws).
func durabilityOf(m scenarios.Mix, seq int64) replicator.Durability {
	x := uint64(seq)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	x ^= x >> 31
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	u := float64(x>>11) / float64(1<<53)
	if u < m.Twin {
		return replicator.DurabilityTwin
	}
	return replicator.DurabilityCell
}

// run writes from `from` to `to` at the workload's rate with its
// clients, and returns when every write is answered or timed out.
func (g *loadGen) run(ctx context.Context, from, to time.Time) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Until(from)):
	}
	ctx, cancel := context.WithDeadline(ctx, to)
	defer cancel()
	tokens := make(chan struct{}, g.w.Clients)
	var wg sync.WaitGroup
	for range g.w.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range tokens {
				seq := g.seq.Add(1)
				if seq > maxWrites {
					return
				}
				g.write(context.WithoutCancel(ctx), seq, g.w.Namespaces[int(seq)%len(g.w.Namespaces)], durabilityOf(g.w.Durability, seq), g.w.ValueSize)
			}
		}()
	}
	began := time.Now()
	var issued int64
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
pace:
	for {
		select {
		case <-ctx.Done():
			break pace
		case now := <-tick.C:
			due := int64(now.Sub(began).Seconds() * g.w.Rate)
			for ; issued < due; issued++ {
				select {
				case tokens <- struct{}{}:
				default:
					// Every client is busy (writes hang in a fault): the
					// load is open-loop, this write is skipped.
				}
			}
		}
	}
	close(tokens)
	wg.Wait()
}

// write sends one write to the preferred node, records it, and moves the
// preferred node on when it fails.
func (g *loadGen) write(ctx context.Context, seq int64, ns string, d replicator.Durability, size int) (string, bool) {
	key := keyOf(g.runID, seq)
	v := valueOf(key, size)
	target := g.target()
	ref := g.clients[target]
	g.mu.Lock()
	g.keys[key] = written{ns: ns, dur: d, size: len(v)}
	g.mu.Unlock()
	g.counts[d][0].Add(1)
	sent := time.Now()
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	res, err := ref.c.Put(wctx, ns, key, v, d.String())
	cancel()
	w := history.Write{Key: key, Size: len(v), Node: target, Durability: d, Sent: sent, Done: time.Now(), Acked: err == nil}
	if err == nil {
		w.WALIndex = res.WALIndex
	}
	if err != nil {
		w.Err = history.Classify(err, key)
		g.counts[d][2].Add(1)
		g.fails.add(err)
		// Move on, unless another write moved it already.
		if p := g.preferred.Load(); p != nil && *p == target {
			g.preferred.CompareAndSwap(p, ptr(g.next(target)))
		}
	} else {
		g.counts[d][1].Add(1)
	}
	g.hist.Record(w)
	g.own.Record(w)
	if took := w.Done.Sub(w.Sent); took > writeTimeout+500*time.Millisecond {
		g.log.Warn("drill: a write took longer than its timeout", "key", key, "node", target, "took", took, "err", err)
	}
	return target, err == nil
}

func ptr(s string) *string { return &s }

// totals returns sent, acked, failed of every durability.
func (g *loadGen) totals() (sent, acked, failed int64) {
	for d := range g.counts {
		sent += g.counts[d][0].Load()
		acked += g.counts[d][1].Load()
		failed += g.counts[d][2].Load()
	}
	return sent, acked, failed
}

// written returns the namespace and durability of every key written.
func (g *loadGen) written() map[string]written {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]written, len(g.keys))
	for k, v := range g.keys {
		out[k] = v
	}
	return out
}
