package faultlink

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
)

// MaxNameLen is the longest link name, in bytes.
const MaxNameLen = 64

// Set is a named collection of links, such as every link of a lab topology,
// with partition helpers and an HTTP control API. It is safe for concurrent use.
type Set struct {
	log *slog.Logger

	mu     sync.Mutex
	links  map[string]*Link
	closed bool
}

// NewSet returns an empty set. A nil logger discards.
func NewSet(logger *slog.Logger) *Set {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Set{log: logger, links: make(map[string]*Link)}
}

// Add starts a link (see New) and adds it to the set under name.
func (s *Set) Add(name, listen, target string, p Params) (*Link, error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("add link %q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("add link %s: %w", name, ErrClosed)
	}
	if _, ok := s.links[name]; ok {
		return nil, fmt.Errorf("add link %s: %w (fix: pick another name or Remove it first)", name, ErrLinkExists)
	}
	l, err := New(name, listen, target, p, s.log)
	if err != nil {
		return nil, fmt.Errorf("add link %s: %w", name, err)
	}
	s.links[name] = l
	return l, nil
}

// Get returns the link named name.
func (s *Set) Get(name string) (*Link, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[name]
	return l, ok
}

// Links returns the links sorted by name.
func (s *Set) Links() []*Link {
	s.mu.Lock()
	out := make([]*Link, 0, len(s.links))
	for _, l := range s.links {
		out = append(out, l)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *Link) int { return strings.Compare(a.name, b.name) })
	return out
}

// Remove closes the link named name and removes it from the set.
func (s *Set) Remove(name string) error {
	s.mu.Lock()
	l, ok := s.links[name]
	delete(s.links, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("remove link %s: %w", name, ErrNoLink)
	}
	return l.Close()
}

// Partition blackholes every link whose name cut returns true for, keeping
// their other faults, and returns the names of those links. Links cut
// returns false for are left as they are. Heal undoes it.
//
// With one link per ordered pair of nodes named "a->b", isolating node a is
//
//	s.Partition(func(n string) bool { return strings.HasPrefix(n, "a->") || strings.HasSuffix(n, "->a") })
func (s *Set) Partition(cut func(name string) bool) []string {
	var names []string
	for _, l := range s.Links() {
		if !cut(l.name) {
			continue
		}
		// Turning a blackhole on cannot make valid params invalid.
		_ = l.update(func(p *Params) { p.Blackhole = true })
		names = append(names, l.name)
	}
	s.log.Info("partition", "cut", names)
	return names
}

// Heal turns the blackhole off on every link, keeping their other faults.
func (s *Set) Heal() {
	for _, l := range s.Links() {
		_ = l.update(func(p *Params) { p.Blackhole = false })
	}
	s.log.Info("partition healed")
}

// Close closes every link and empties the set; Add fails afterwards.
func (s *Set) Close() error {
	s.mu.Lock()
	links := s.links
	s.links = map[string]*Link{}
	s.closed = true
	s.mu.Unlock()
	var errs []error
	for _, l := range links {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// validName checks that a link name can appear as one URL path segment.
func validName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%d bytes, want 1 to %d: %w", len(name), MaxNameLen, ErrInvalidName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-:>", c) >= 0
		if !ok {
			return fmt.Errorf("character %q at %d: %w (fix: use letters, digits and \"._-:>\")", c, i, ErrInvalidName)
		}
	}
	return nil
}
