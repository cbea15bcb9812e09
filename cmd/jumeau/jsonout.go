package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// writeOp names the write a put or del did, in their --json output.
type writeOp string

// The writes of put and del.
const (
	writeOpPut    writeOp = "put"
	writeOpDelete writeOp = "delete"
)

// writeDoc is what put and del print with --json: the key written and
// where the write landed in the Raft log and the WAL.
type writeDoc struct {
	Op         writeOp `json:"op"`
	Namespace  string  `json:"namespace"`
	Key        string  `json:"key"`
	Durability string  `json:"durability"`
	WALIndex   uint64  `json:"wal_index"`
	RaftIndex  uint64  `json:"raft_index"`
}

// writeJSONHelp documents the --json flag of put and del.
const writeJSONHelp = `print JSON: {"op","namespace","key","durability","wal_index","raft_index"}`

// printWrite writes the result of put or del: JSON with asJSON, else the
// line "ok wal_index=N raft_index=N".
func printWrite(w io.Writer, asJSON bool, d writeDoc) error {
	if asJSON {
		return printJSON(w, d)
	}
	_, err := fmt.Fprintf(w, "ok wal_index=%d raft_index=%d\n", d.WALIndex, d.RaftIndex)
	return err
}

// validateDoc is one element of `drill validate --json`: a file and
// either what it holds (valid) or its problems.
type validateDoc struct {
	File     string          `json:"file"`
	Valid    bool            `json:"valid"`
	Name     string          `json:"name,omitempty"`
	Steps    int             `json:"steps,omitempty"`
	Duration string          `json:"duration,omitempty"`
	Checks   int             `json:"checks,omitempty"`
	Problems []validateIssue `json:"problems,omitempty"`
}

// validateIssue is one problem of a scenario file: its line (0 when
// unknown), its field path and what is wrong.
type validateIssue struct {
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// validateIssues lists the problems in err: each *scenarios.Error with
// its line and field, any other error by its message.
func validateIssues(err error) []validateIssue {
	var out []validateIssue
	var walk func(error)
	walk = func(err error) {
		var se *scenarios.Error
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if errors.As(err, &se) {
			out = append(out, validateIssue{Line: se.Line, Field: se.Path, Message: se.Msg})
			return
		}
		out = append(out, validateIssue{Message: err.Error()})
	}
	walk(err)
	return out
}

// verifyDoc is one element of `drill verify --json`: a report and, when
// its signature verified, the key and the drill's outcome.
type verifyDoc struct {
	Report   string       `json:"report"`
	Verified bool         `json:"verified"`
	Error    string       `json:"error,omitempty"`
	KeyID    string       `json:"key_id,omitempty"`
	KeyFile  string       `json:"key_file,omitempty"`
	Pinned   bool         `json:"pinned"`
	Drill    *verifyDrill `json:"drill,omitempty"`
}

// verifyDrill is the outcome a verified report records.
type verifyDrill struct {
	Scenario   string    `json:"scenario"`
	StartedAt  time.Time `json:"started_at"`
	Passed     bool      `json:"passed"`
	LostWrites int64     `json:"rpo_lost_writes"`
	RTOMs      int64     `json:"rto_ms"`
}

// labNodeDoc is one node of `lab up --json`.
type labNodeDoc struct {
	lab.Node
	// WasRunning is true when lab up found the node running and left it.
	WasRunning bool `json:"was_running"`
}

// labUpDoc is what `lab up --json` prints: the lab, its primary and its
// processes.
type labUpDoc struct {
	Dir          string       `json:"dir"`
	Primary      lab.Primary  `json:"primary"`
	Nodes        []labNodeDoc `json:"nodes"`
	LinksControl string       `json:"links_control"`
	LinksPID     int          `json:"links_pid"`
}

// labUpDocOf builds the --json output of lab up; running names the nodes
// that ran before.
func labUpDocOf(l *lab.Lab, primary lab.Primary, running map[string]bool) labUpDoc {
	d := labUpDoc{Dir: l.Dir, Primary: primary, Nodes: []labNodeDoc{}, LinksControl: l.Links.Control, LinksPID: l.Links.PID}
	for _, n := range l.Nodes {
		d.Nodes = append(d.Nodes, labNodeDoc{Node: n, WasRunning: running[n.Name]})
	}
	return d
}

// labDownDoc is what `lab down --json` prints: the lab and the nodes
// whose processes it stopped (their data stays).
type labDownDoc struct {
	Dir   string   `json:"dir"`
	Nodes []string `json:"nodes"`
}

// labDownDocOf builds the --json output of lab down.
func labDownDocOf(l *lab.Lab) labDownDoc {
	d := labDownDoc{Dir: l.Dir, Nodes: []string{}}
	for _, n := range l.Nodes {
		d.Nodes = append(d.Nodes, n.Name)
	}
	return d
}
