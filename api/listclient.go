package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/monaco-sovereign/jumeau/replicator"
)

// ListOptions select the keys of a list.
type ListOptions struct {
	// Prefix keeps the keys that start with it ("" keeps all).
	Prefix string
	// After resumes a list after the page whose Next it is ("" starts at
	// the first key).
	After string
	// Limit is, for ListPage, the most keys of the page (0: the server's
	// default, 1000); for ListEach and List, the most keys in all (0:
	// every key).
	Limit int
	// Stale reads the node's own copy instead of asking the leader.
	Stale bool
}

// Retries of a list page the node refused as busy (ErrBusy): the pause
// starts at busyPause and doubles up to busyPauseMax.
const (
	busyRetries  = 10
	busyPause    = 50 * time.Millisecond
	busyPauseMax = time.Second
)

// ListPage returns one page of the keys of ns that opts selects, with
// values: at most opts.Limit keys and the server's byte budget (4 MiB by
// default, one larger value alone). Its Next resumes the list.
func (c *Client) ListPage(ctx context.Context, ns string, opts ListOptions) (ListResult, error) {
	q := url.Values{}
	if opts.Prefix != "" {
		q.Set("prefix", opts.Prefix)
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.After != "" {
		q.Set("after", opts.After)
	}
	if opts.Stale {
		q.Set("consistency", "stale")
	}
	p := "/v1/kv/" + url.PathEscape(ns)
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	b, err := c.do(ctx, http.MethodGet, p, nil)
	if err != nil {
		return ListResult{}, err
	}
	var r ListResult
	if err := json.Unmarshal(b, &r); err != nil {
		return ListResult{}, fmt.Errorf("%w: list %s: the page is not complete JSON (the server cut it short: its log and the %s trailer say why): %v", ErrServer, ns, ListErrorTrailer, err)
	}
	return r, nil
}

// ListEach calls fn with each key of ns that opts selects, in key order,
// page by page (following the continuation tokens), until opts.Limit keys
// (0: every key), the end of the list, ctx's end, or an error of fn. A page
// the node refuses as busy is asked again after a pause, a few times. It
// returns the token that resumes the list after the last key fn got, ""
// when the list is complete.
func (c *Client) ListEach(ctx context.Context, ns string, opts ListOptions, fn func(replicator.KV) error) (string, error) {
	left := opts.Limit
	after := opts.After
	for {
		po := opts
		po.After = after
		po.Limit = MaxListLimit
		if opts.Limit > 0 {
			po.Limit = min(left, MaxListLimit)
		}
		page, err := c.listPageRetry(ctx, ns, po)
		if err != nil {
			return after, err
		}
		for _, kv := range page.Items {
			if err := fn(kv); err != nil {
				return after, err
			}
			after = encodeToken(kv.Key)
		}
		// A page that holds no key ends the list even if it names a next
		// one: nothing would move the list forward.
		if page.Next == "" || len(page.Items) == 0 {
			return "", nil
		}
		after = page.Next
		if opts.Limit > 0 {
			left -= len(page.Items)
			if left <= 0 {
				return after, nil
			}
		}
	}
}

// listPageRetry is ListPage, asked again while the node is busy.
func (c *Client) listPageRetry(ctx context.Context, ns string, opts ListOptions) (ListResult, error) {
	pause := busyPause
	for try := 0; ; try++ {
		page, err := c.ListPage(ctx, ns, opts)
		if !errors.Is(err, ErrBusy) || try == busyRetries {
			return page, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ListResult{}, fmt.Errorf("list %s: %w (gave up waiting: %w)", ns, err, ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, busyPauseMax)
	}
}
