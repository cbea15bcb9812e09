package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/monaco-sovereign/jumeau/replicator"
)

// ListResult is the body of a list.
type ListResult struct {
	Items []replicator.KV `json:"items"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	cons, err := consistency(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	limit := 1000
	if v := r.URL.Query().Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > 100000 {
			s.fail(w, fmt.Errorf("%w: limit %q: use an integer within 1..100000", replicator.ErrBadRequest, v))
			return
		}
	}
	kvs, err := s.cfg.Backend.List(r.Context(), r.PathValue("ns"), r.URL.Query().Get("prefix"), limit, cons)
	if err != nil {
		s.fail(w, err)
		return
	}
	if kvs == nil {
		kvs = []replicator.KV{}
	}
	writeJSON(w, http.StatusOK, ListResult{Items: kvs})
}
