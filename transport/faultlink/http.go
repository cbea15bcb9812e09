package faultlink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxBody bounds control API request bodies.
const maxBody = 64 << 10

// LinkInfo is a link as the control API shows it.
type LinkInfo struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Target   string `json:"target"`
	Params   Params `json:"params"`
	Baseline Params `json:"baseline"`
	Stats    Stats  `json:"stats"`
}

// Info returns the link's description for the control API.
func (l *Link) Info() LinkInfo {
	return LinkInfo{
		Name:     l.name,
		Listen:   l.Addr(),
		Target:   l.Target(),
		Params:   l.Params(),
		Baseline: l.baseline,
		Stats:    l.Stats(),
	}
}

// partitionRequest is the body of POST /partition.
type partitionRequest struct {
	Links []string `json:"links"`
}

// Handler returns the HTTP control API of the set (see the package
// documentation). Every response is JSON; errors are {"error": "..."}.
func (s *Set) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/links", func(w http.ResponseWriter, r *http.Request) {
		if !allow(w, r, http.MethodGet) {
			return
		}
		links := s.Links()
		out := make([]LinkInfo, 0, len(links))
		for _, l := range links {
			out = append(out, l.Info())
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("/links/{name}", func(w http.ResponseWriter, r *http.Request) {
		if !allow(w, r, http.MethodGet, http.MethodPut) {
			return
		}
		l, ok := s.lookup(w, r.PathValue("name"))
		if !ok {
			return
		}
		if r.Method == http.MethodPut {
			var p Params
			if !readJSON(w, r, &p) {
				return
			}
			if err := l.Set(p); err != nil {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
		}
		writeJSON(w, http.StatusOK, l.Info())
	})
	mux.HandleFunc("/links/{name}/reset", func(w http.ResponseWriter, r *http.Request) {
		if !allow(w, r, http.MethodPost) {
			return
		}
		l, ok := s.lookup(w, r.PathValue("name"))
		if !ok {
			return
		}
		l.Reset()
		writeJSON(w, http.StatusOK, l.Info())
	})
	mux.HandleFunc("/partition", func(w http.ResponseWriter, r *http.Request) {
		if !allow(w, r, http.MethodPost) {
			return
		}
		var req partitionRequest
		if !readJSON(w, r, &req) {
			return
		}
		cut := make(map[string]bool, len(req.Links))
		for _, name := range req.Links {
			if _, ok := s.lookup(w, name); !ok {
				return
			}
			cut[name] = true
		}
		names := s.Partition(func(n string) bool { return cut[n] })
		writeJSON(w, http.StatusOK, map[string][]string{"cut": names})
	})
	mux.HandleFunc("/heal", func(w http.ResponseWriter, r *http.Request) {
		if !allow(w, r, http.MethodPost) {
			return
		}
		s.Heal()
		writeJSON(w, http.StatusOK, map[string]bool{"healed": true})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route %s %s (fix: use GET /links, GET|PUT /links/{name}, POST /links/{name}/reset, POST /partition, POST /heal)", r.Method, r.URL.Path))
	})
	return mux
}

// lookup finds a link or writes a 404.
func (s *Set) lookup(w http.ResponseWriter, name string) (*Link, bool) {
	l, ok := s.Get(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no link %q (fix: GET /links lists the links)", name))
	}
	return l, ok
}

// allow writes a 405 unless r's method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allowed := strings.Join(methods, ", ")
	w.Header().Set("Allow", allowed)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (fix: use %s)", r.Method, r.URL.Path, allowed))
	return false
}

// readJSON decodes the request body into v, or writes a 400.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBody))
			return false
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf("read body: %v", err))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("decode JSON body: %v", err))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "decode JSON body: data after the JSON value (fix: send one JSON object)")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"error": fmt.Sprintf("encode response: %v", err)})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
