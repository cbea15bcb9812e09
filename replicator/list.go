package replicator

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Bounds of a list page (see the "Lists" section of doc.go).
const (
	// DefaultListLimit is how many keys a page holds when the query names
	// no limit.
	DefaultListLimit = 1000
	// MaxListLimit is the most keys one page may hold.
	MaxListLimit = 100000
	// DefaultListPageBytes is a page's byte budget when the query names
	// none.
	DefaultListPageBytes = 4 << 20
	// MaxListPageBytes is the largest byte budget of a page. A page may
	// exceed its budget only with its first item (a value up to
	// maxPayloadLen), so a page always fits a forward frame.
	MaxListPageBytes = 8 << 20
	// MaxConcurrentLists is how many list pages one node works on at once
	// (served locally, served to a follower, or forwarded to the leader);
	// one more is refused with ErrBusy.
	MaxConcurrentLists = 4
)

// ListQuery selects one page of a namespace's keys, in key order.
type ListQuery struct {
	// Prefix keeps the keys that start with it ("" keeps all).
	Prefix string
	// After starts the page after this key: the Next of the previous
	// page ("" starts at the first key). It must start with Prefix.
	After string
	// Limit is the most keys the page holds (0: DefaultListLimit; at
	// most MaxListLimit).
	Limit int
	// MaxBytes is the page's budget in ItemSize bytes (0:
	// DefaultListPageBytes; a larger one than MaxListPageBytes is cut to
	// it). The page stops before the item that would exceed it, but it
	// always holds its first item, however large.
	MaxBytes int
}

// normalize checks q and fills its defaults.
func (q ListQuery) normalize() (ListQuery, error) {
	switch {
	case q.Limit < 0 || q.Limit > MaxListLimit:
		return q, fmt.Errorf("%w: list limit %d: use 1 to %d keys (0 for the default, %d)", ErrBadRequest, q.Limit, MaxListLimit, DefaultListLimit)
	case q.MaxBytes < 0:
		return q, fmt.Errorf("%w: list byte budget %d is negative: use 0 (the default, %d) or more", ErrBadRequest, q.MaxBytes, DefaultListPageBytes)
	case len(q.After) > maxNameLen:
		return q, fmt.Errorf("%w: list after: %d bytes, longer than any key (%d): pass the next key of the previous page", ErrBadRequest, len(q.After), maxNameLen)
	case q.After != "" && !strings.HasPrefix(q.After, q.Prefix):
		return q, fmt.Errorf("%w: list after %q does not start with the prefix %q: continue a list with the prefix it was started with", ErrBadRequest, q.After, q.Prefix)
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	if q.MaxBytes == 0 {
		q.MaxBytes = DefaultListPageBytes
	}
	q.MaxBytes = min(q.MaxBytes, MaxListPageBytes)
	return q, nil
}

// ListPage describes a page whose items were emitted.
type ListPage struct {
	// Keys is how many items the page emitted; Bytes is their ItemSize
	// total.
	Keys  int
	Bytes int
	// Next, when more keys follow, is the page's last key: the After of
	// the next page. It is "" when the list is complete.
	Next string
}

// ItemSize is the size of one key and value in a list response: the JSON
// object {"key":...,"value":"<base64>"} (no value field for an empty value)
// and one separating comma. A page's byte budget counts it, so the budget
// bounds the response a client reads as well as the memory a node holds
// (the encoded item is larger than its raw key and value).
func ItemSize(key string, valueLen int) int {
	kb, _ := json.Marshal(key) // a string always encodes
	n := len(`{"key":`) + len(kb) + len(`}`) + len(`,`)
	if valueLen > 0 {
		n += len(`,"value":""`) + base64.StdEncoding.EncodedLen(valueLen)
	}
	return n
}

// lister serves list pages from one node's state under the node's list
// budget: at most MaxConcurrentLists pages at once.
type lister struct {
	db    *pebble.DB
	keys  Sealer
	slots chan struct{}
	m     *listMetrics
}

func newLister(db *pebble.DB, keys Sealer, reg prometheus.Registerer) *lister {
	return &lister{db: db, keys: keys, slots: make(chan struct{}, MaxConcurrentLists), m: newListMetrics(reg)}
}

// acquire takes one of the node's list slots, or fails with ErrBusy at
// once: a list waits for nothing, so lists never queue up behind each
// other holding memory.
func (l *lister) acquire() (release func(), err error) {
	select {
	case l.slots <- struct{}{}:
		l.m.inProgress.Inc()
		return func() {
			l.m.inProgress.Dec()
			<-l.slots
		}, nil
	default:
		return nil, fmt.Errorf("%w (%d list pages in progress)", ErrBusy, MaxConcurrentLists)
	}
}

// local emits the page q selects from this node's state, unsealing each
// value as it is read: the node holds one value at a time (plus what emit
// keeps).
func (l *lister) local(ctx context.Context, ns string, q ListQuery, emit func(KV) error) (ListPage, error) {
	var page ListPage
	next, err := listSealed(l.db, ns, q, func(key string, sealed []byte) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %s: after %d keys: %w", ns, page.Keys, ErrReadTimeout)
		}
		v, err := l.keys.Unseal(ns, aad(ns, key), sealed)
		if err != nil {
			return fmt.Errorf("unseal %s/%s: %w", ns, key, err)
		}
		if err := emit(KV{Key: key, Value: v}); err != nil {
			return err
		}
		page.Keys++
		page.Bytes += ItemSize(key, len(v))
		return nil
	})
	page.Next = next
	return page, err
}

// observe counts a finished page.
func (l *lister) observe(page ListPage, err error) {
	l.m.observe(page, err)
}

// listMetrics are a node's list pages.
type listMetrics struct {
	collectors
	pages      *prometheus.CounterVec
	pageBytes  prometheus.Histogram
	inProgress prometheus.Gauge
}

// List page results (the result label of jumeau_list_pages_total).
const (
	listOK         = "ok"
	listBusy       = "busy"
	listBadRequest = "bad_request"
	listTimeout    = "timeout"
	listNoLeader   = "no_leader"
	listError      = "error"
)

func newListMetrics(reg prometheus.Registerer) *listMetrics {
	m := &listMetrics{
		collectors: collectors{reg: reg},
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jumeau_list_pages_total",
			Help: "List pages this node served or forwarded, by result (ok, busy, bad_request, timeout, no_leader, error); busy ones were refused by the list budget.",
		}, []string{"result"}),
		pageBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jumeau_list_page_bytes",
			Help:    "Size of the list pages this node served or forwarded (JSON item bytes).",
			Buckets: prometheus.ExponentialBuckets(1<<10, 4, 8), // 1 KiB .. 16 MiB
		}),
		inProgress: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jumeau_list_pages_in_progress",
			Help: "List pages this node works on now (at most " + fmt.Sprint(MaxConcurrentLists) + ").",
		}),
	}
	for _, r := range []string{listOK, listBusy, listBadRequest, listTimeout, listNoLeader, listError} {
		m.pages.WithLabelValues(r)
	}
	m.add(m.pages, m.pageBytes, m.inProgress)
	return m
}

func (m *listMetrics) observe(page ListPage, err error) {
	result := listOK
	switch {
	case err == nil:
		m.pageBytes.Observe(float64(page.Bytes))
	case errors.Is(err, ErrBusy):
		result = listBusy
	case errors.Is(err, ErrBadRequest):
		result = listBadRequest
	case errors.Is(err, ErrReadTimeout), errors.Is(err, context.DeadlineExceeded):
		result = listTimeout
	case errors.Is(err, ErrNoLeader), errors.Is(err, ErrNotLeader):
		result = listNoLeader
	default:
		result = listError
	}
	m.pages.WithLabelValues(result).Inc()
}

// List emits, in key order, one page of the keys of ns that q selects,
// with their values, and reports what it emitted: at most q.Limit keys
// and q.MaxBytes bytes (ItemSize; the first item always). ListPage.Next
// resumes the list. emit is called as each value is read and unsealed; an
// error from emit stops the page and is returned.
//
// A linearizable list is served by the leader after a read barrier; on a
// follower the leader's page is forwarded in one frame, then emitted. A
// stale list reads this site's state. The node works on at most
// MaxConcurrentLists pages at once and refuses more with ErrBusy; a list
// that does not complete before ctx's deadline fails with ErrReadTimeout.
func (c *Cell) List(ctx context.Context, ns string, q ListQuery, cons Consistency, emit func(KV) error) (ListPage, error) {
	page, err := c.list(ctx, ns, q, cons, false, emit)
	c.lists.observe(page, err)
	return page, err
}

// list is List; forwarded marks a page a follower asked this leader for:
// it is served here or refused (never forwarded again).
func (c *Cell) list(ctx context.Context, ns string, q ListQuery, cons Consistency, forwarded bool, emit func(KV) error) (ListPage, error) {
	if err := ValidateNamespace(ns); err != nil {
		return ListPage{}, err
	}
	q, err := q.normalize()
	if err != nil {
		return ListPage{}, err
	}
	release, err := c.lists.acquire()
	if err != nil {
		return ListPage{}, err
	}
	defer release()
	if cons == Linearizable {
		if !c.IsLeader() {
			if forwarded {
				return ListPage{}, ErrNotLeader
			}
			leader := c.Leader()
			if leader == "" || leader == c.cfg.Name {
				return ListPage{}, ErrNoLeader
			}
			return c.fwd.list(ctx, leader, ns, q, emit)
		}
		if err := c.readBarrier(ctx); err != nil {
			return ListPage{}, err
		}
	}
	return c.lists.local(ctx, ns, q, emit)
}

// List emits one page of the keys of ns from the twin's copy (stale reads
// only), like Cell.List.
func (t *Twin) List(ctx context.Context, ns string, q ListQuery, cons Consistency, emit func(KV) error) (ListPage, error) {
	page, err := t.list(ctx, ns, q, cons, emit)
	t.lists.observe(page, err)
	return page, err
}

func (t *Twin) list(ctx context.Context, ns string, q ListQuery, cons Consistency, emit func(KV) error) (ListPage, error) {
	if err := ValidateNamespace(ns); err != nil {
		return ListPage{}, err
	}
	if cons != Stale {
		return ListPage{}, errStaleOnly
	}
	q, err := q.normalize()
	if err != nil {
		return ListPage{}, err
	}
	release, err := t.lists.acquire()
	if err != nil {
		return ListPage{}, err
	}
	defer release()
	return t.lists.local(ctx, ns, q, emit)
}
