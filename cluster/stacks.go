package cluster

import (
	"bytes"
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strings"
)

// modulePath prefixes the functions of this module in a stack trace.
const modulePath = "github.com/monaco-sovereign/jumeau/"

// StackSummary describes where this process's goroutines are, for a test
// that has stopped making progress: one line per distinct place in this
// module's code where goroutines wait (the innermost frame of this
// module, else of a dependency), with their count, state and longest
// wait, the test functions' goroutines first. A hang then fits in the
// last lines of a CI log, where a full dump of thousands of goroutines
// does not. At most max lines are returned.
func StackSummary(max int) string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	type place struct {
		where, state string
		count        int
		test         bool
	}
	places := map[string]*place{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		lines := strings.Split(string(g), "\n")
		if len(lines) < 3 {
			continue
		}
		state := lines[0] // goroutine N [chan receive, 3 minutes]:
		if i := strings.IndexByte(state, '['); i >= 0 {
			state = strings.TrimSuffix(state[i+1:], "]:")
		}
		var where string
		test := false
		// Frames come in pairs: function, then file:line.
		for i := 1; i+1 < len(lines); i += 2 {
			fn, loc := lines[i], strings.TrimSpace(lines[i+1])
			if !strings.HasPrefix(fn, modulePath) || strings.Contains(fn, "cluster.StackSummary") {
				continue
			}
			frame := funcName(fn) + " at " + shortLoc(loc)
			if strings.Contains(loc, "_test.go:") {
				test = true
				if where != "" {
					frame = where + " <- " + frame
				}
				where = frame
				break
			}
			if where == "" {
				where = frame
			}
		}
		if where == "" {
			// No frame of this module: the innermost frame of a
			// dependency (raft, quic-go, pebble), else skip it (runtime
			// and standard library housekeeping).
			for i := 1; i+1 < len(lines); i += 2 {
				fn := lines[i]
				if first, _, _ := strings.Cut(fn, "/"); strings.Contains(first, ".") {
					where = funcName(fn) + " at " + shortLoc(strings.TrimSpace(lines[i+1]))
					break
				}
			}
		}
		if where == "" {
			continue
		}
		key := where + "|" + waitKind(state)
		p := places[key]
		if p == nil {
			p = &place{where: where, state: state, test: test}
			places[key] = p
		}
		p.count++
		if len(state) > len(p.state) {
			p.state = state // the one with the longest wait annotation
		}
	}
	list := make([]*place, 0, len(places))
	for _, p := range places {
		list = append(list, p)
	}
	slices.SortFunc(list, func(a, b *place) int {
		if a.test != b.test {
			if a.test {
				return -1
			}
			return 1
		}
		return cmp.Or(b.count-a.count, strings.Compare(a.where, b.where))
	})
	var out strings.Builder
	for i, p := range list {
		if i == max {
			fmt.Fprintf(&out, "... and %d more places\n", len(list)-max)
			break
		}
		fmt.Fprintf(&out, "%4d [%s] %s\n", p.count, p.state, p.where)
	}
	return out.String()
}

// waitKind is a goroutine state without its duration ("chan receive").
func waitKind(state string) string {
	kind, _, _ := strings.Cut(state, ",")
	return kind
}

// funcName trims a frame's function to package.Func, without arguments.
func funcName(fn string) string {
	fn = strings.TrimPrefix(fn, modulePath)
	if i := strings.LastIndexByte(fn, '('); i > 0 && strings.HasSuffix(fn, ")") {
		fn = fn[:i]
	}
	return fn
}

// shortLoc trims a frame's location to file:line.
func shortLoc(loc string) string {
	loc, _, _ = strings.Cut(loc, " +0x")
	if i := strings.LastIndexByte(loc, '/'); i >= 0 {
		loc = loc[i+1:]
	}
	return loc
}
