package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/monaco-sovereign/jumeau/internal/ratelog"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// MaxListLimit is the most keys one list page may hold (limit=).
const MaxListLimit = replicator.MaxListLimit

// ListErrorTrailer is the HTTP trailer that carries the reason when a list
// page fails after its first item was sent: the body then stops in the
// middle of its JSON, so no client can take it for a complete page.
const ListErrorTrailer = "Jumeau-List-Error"

// ListResult is the body of a list page. Next, when set, is the
// continuation token of the following page: pass it as after= (the Go
// client's ListOptions.After). Without it the list is complete.
type ListResult struct {
	Items []replicator.KV `json:"items"`
	Next  string          `json:"next,omitempty"`
}

// encodeToken is the continuation token after key. The token is opaque to
// clients; it holds the key so that any site can resume the list.
func encodeToken(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

// decodeToken is the key a continuation token resumes after; the token
// must come from a list of the same prefix.
func decodeToken(tok, prefix string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 {
		return "", fmt.Errorf("%w: after %q is not a continuation token: pass the next value of the previous page unchanged", replicator.ErrBadRequest, tok)
	}
	if !strings.HasPrefix(string(b), prefix) {
		return "", fmt.Errorf("%w: after %q continues a list of another prefix than %q: pass the prefix the list was started with", replicator.ErrBadRequest, tok, prefix)
	}
	return string(b), nil
}

// listQuery reads a list page's parameters: prefix, limit and after.
func listQuery(r *http.Request) (replicator.ListQuery, error) {
	v := r.URL.Query()
	q := replicator.ListQuery{Prefix: v.Get("prefix"), Limit: replicator.DefaultListLimit}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			return q, fmt.Errorf("%w: limit %q: use an integer within 1..%d", replicator.ErrBadRequest, s, MaxListLimit)
		}
		q.Limit = n
	}
	if tok := v.Get("after"); tok != "" {
		after, err := decodeToken(tok, q.Prefix)
		if err != nil {
			return q, err
		}
		q.After = after
	}
	return q, nil
}

// list serves one page of a list, written as the backend reads it: the
// page's bounds (keys and bytes) bound the node's memory, and streaming
// keeps the response from being built again in an encoder's buffer.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	cons, err := consistency(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	q, err := listQuery(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	lw := &listWriter{w: w}
	if dl, ok := r.Context().Deadline(); ok {
		lw.deadline = dl.Add(listWriteGrace)
	}
	page, err := s.cfg.Backend.List(r.Context(), r.PathValue("ns"), q, cons, lw.item)
	switch {
	case err != nil && !lw.started:
		s.failList(w, err)
	case err != nil:
		lw.abort(err)
		if ok, suppressed := listAborts.Allow("", time.Now()); ok {
			s.logger.Warn("list page cut after its first items", "ns", r.PathValue("ns"), "remote", r.RemoteAddr, "err", err, "suppressed", suppressed)
		}
	default:
		lw.finish(page.Next)
	}
}

// failList answers a list that failed before its first item: the list's
// own errors here, the others as every route does.
func (s *Server) failList(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, replicator.ErrBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "busy", err.Error())
	default:
		s.fail(w, err)
	}
}

// listWriter writes a list page as JSON, item by item, in the shape of
// ListResult: {"items":[{"key":...,"value":"<base64>"},...],"next":"..."}.
// Each item takes exactly replicator.ItemSize bytes (the last one a comma
// less).
type listWriter struct {
	w        http.ResponseWriter
	deadline time.Time // for writing the page; zero: none
	started  bool
	err      error // the first write error; later writes are skipped
}

// listWriteGrace is how long after the request's deadline a page may
// still be written: a client that stops reading must not hold the page
// (and one of the node's list slots) much longer than its request.
const listWriteGrace = 2 * time.Second

func (lw *listWriter) write(s string) {
	if lw.err == nil {
		_, lw.err = io.WriteString(lw.w, s)
	}
}

func (lw *listWriter) start() {
	lw.started = true
	if !lw.deadline.IsZero() {
		_ = http.NewResponseController(lw.w).SetWriteDeadline(lw.deadline)
	}
	h := lw.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Trailer", ListErrorTrailer)
	lw.w.WriteHeader(http.StatusOK)
	lw.write(`{"items":[`)
}

func (lw *listWriter) item(kv replicator.KV) error {
	if !lw.started {
		lw.start()
	} else {
		lw.write(",")
	}
	kb, _ := json.Marshal(kv.Key) // a string always encodes
	lw.write(`{"key":`)
	lw.write(string(kb))
	if len(kv.Value) > 0 {
		lw.write(`,"value":"`)
		if lw.err == nil {
			enc := base64.NewEncoder(base64.StdEncoding, lw.w)
			if _, err := enc.Write(kv.Value); err != nil {
				lw.err = err
			} else {
				lw.err = enc.Close()
			}
		}
		lw.write(`"`)
	}
	lw.write(`}`)
	if lw.err != nil {
		return fmt.Errorf("api: write list item: %w", lw.err)
	}
	return nil
}

// finish ends the page; next is the last key when more remain.
func (lw *listWriter) finish(next string) {
	if !lw.started {
		lw.start()
	}
	lw.write("]")
	if next != "" {
		lw.write(`,"next":"` + encodeToken(next) + `"`) // base64url needs no escaping
	}
	lw.write("}\n")
}

// abort ends a page that failed after its first item: the JSON stays
// unterminated and the reason goes in the trailer.
func (lw *listWriter) abort(err error) {
	msg := strings.NewReplacer("\r", " ", "\n", " ").Replace(err.Error())
	lw.w.Header().Set(ListErrorTrailer, msg)
}

// listAborts rate-limits the log of pages cut after their first items
// (a client that stops reading, a deadline): one line per interval.
var listAborts = ratelog.New(10 * time.Second)
