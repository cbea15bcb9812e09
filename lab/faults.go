package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/monaco-sovereign/jumeau/transport/faultlink"
)

// The faults of a running lab, through the fault-link process's control
// API (transport/faultlink: Control API) and signals to the nodes. Fault
// tests and drills share them; every call acts at once and returns when
// the links process or the kernel has applied it.

// controlTimeout bounds one request to the links process when ctx has no
// earlier deadline.
const controlTimeout = 5 * time.Second

// SetLink replaces the faults of the link name ("site-a->lux-1"); the
// faults apply to both directions of the traffic it relays.
func (l *Lab) SetLink(ctx context.Context, name string, p faultlink.Params) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("lab: link %s: %w", name, err)
	}
	if err := l.checkLinks(name); err != nil {
		return err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("lab: link %s: %w", name, err)
	}
	return l.control(ctx, http.MethodPut, "/links/"+url.PathEscape(name), body)
}

// Blackhole cuts the named links (every datagram dropped, both
// directions of what each relays), keeping their other faults; HealAll
// undoes it. A link "a->b" carries the connections a dials to b: cutting
// it alone is a one-way partition (b still reaches a through "b->a").
func (l *Lab) Blackhole(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	if err := l.checkLinks(names...); err != nil {
		return err
	}
	body, err := json.Marshal(map[string][]string{"links": names})
	if err != nil {
		return fmt.Errorf("lab: blackhole: %w", err)
	}
	return l.control(ctx, http.MethodPost, "/partition", body)
}

// HealAll gives every link the faults lab up gave it (its baseline):
// partitions and SetLink changes are undone.
func (l *Lab) HealAll(ctx context.Context) error {
	for _, s := range l.Links.Links {
		if err := l.control(ctx, http.MethodPost, "/links/"+url.PathEscape(s.Name)+"/reset", nil); err != nil {
			return err
		}
	}
	return nil
}

// Pause stops the node's process with SIGSTOP (a process frozen by the
// kernel, a VM stall, a long GC pause): its sockets stay open and its
// peers see silence. Resume continues it. A node that is not running is
// left alone.
func (l *Lab) Pause(name string) error { return l.Kill(name, syscall.SIGSTOP) }

// Resume continues a node paused by Pause (SIGCONT).
func (l *Lab) Resume(name string) error { return l.Kill(name, syscall.SIGCONT) }

// LinkNames returns the names of every fault link.
func (l *Lab) LinkNames() []string {
	out := make([]string, 0, len(l.Links.Links))
	for _, s := range l.Links.Links {
		out = append(out, s.Name)
	}
	return out
}

// LinksAcross returns the names of the links between a node of a and a
// node of b, both directions: blackholing them partitions a from b.
// LinksAcross([site-a], [site-b]) is one site-to-site partition;
// LinksAcross(sites, [twin, witness]) isolates the primary region.
func (l *Lab) LinksAcross(a, b []string) []string {
	var out []string
	for _, s := range l.Links.Links {
		if (slices.Contains(a, s.From) && slices.Contains(b, s.To)) || (slices.Contains(b, s.From) && slices.Contains(a, s.To)) {
			out = append(out, s.Name)
		}
	}
	return out
}

// LinksOf returns the names of the links between the named nodes and
// every other node: blackholing them isolates the group.
func (l *Lab) LinksOf(names ...string) []string {
	var rest []string
	for _, n := range l.Nodes {
		if !slices.Contains(names, n.Name) {
			rest = append(rest, n.Name)
		}
	}
	return l.LinksAcross(names, rest)
}

// checkLinks reports the first name that is not one of the lab's links.
func (l *Lab) checkLinks(names ...string) error {
	for _, name := range names {
		if !slices.ContainsFunc(l.Links.Links, func(s LinkSpec) bool { return s.Name == name }) {
			return fmt.Errorf("%w %q: links are named FROM->TO, e.g. site-a->site-b (this lab has %d: see lab.json)", ErrUnknownLink, name, len(l.Links.Links))
		}
	}
	return nil
}

// control sends one request to the links process.
func (l *Lab) control(ctx context.Context, method, path string, body []byte) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, controlTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+l.Links.Control+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrLinkControl, method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s at %s: %w (is the lab up? `jumeau lab up --dir %s`)", ErrLinkControl, method, path, l.Links.Control, err, l.Dir)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s %s: %s: %s", ErrLinkControl, method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}
