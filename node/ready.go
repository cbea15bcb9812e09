package node

import (
	"fmt"
	"time"
)

// Readiness is the answer of /readyz on the metrics listener: whether
// this node does its part in the deployment now, and why (or why not).
//
// What ready means depends on the node's mode (mode.go):
//
//	cell, primary   the cell has a leader (this site or another one) and
//	                this node's state machine has not halted: writes can
//	                commit and reads are served
//	twin, replica   a primary site ships to this node (a stream is open)
//	                and its state machine has not halted: the copy keeps
//	                up with the primary
//	witness         it holds a region epoch, which it grants leases and
//	                promotion votes in
//
// A node that is closing (shutting down, or restarting in a new mode) is
// not ready.
type Readiness struct {
	Ready  bool   `json:"ready"`
	Role   string `json:"role"`
	Mode   string `json:"mode"`
	Reason string `json:"reason"`
}

// Ready reports the node's readiness (see Readiness).
func (n *Node) Ready() Readiness {
	r := Readiness{Role: n.cfg.Node.Role, Mode: n.Mode()}
	select {
	case <-n.done:
		r.Reason = "the node is closing"
		return r
	default:
	}
	switch r.Mode {
	case modeCell, modePrimary:
		c := n.Cell()
		if c == nil {
			r.Reason = "the cell is not started yet"
			return r
		}
		st := c.Status()
		switch {
		case st.FSMError != "":
			r.Reason = "the state machine halted: " + st.FSMError + " (restart the node)"
		case st.Leader == "":
			r.Reason = fmt.Sprintf("the cell has no leader: a quorum of %v is not reachable", st.Peers)
		default:
			r.Ready, r.Reason = true, "the cell has a leader: "+st.Leader
		}
	case modeTwin, modeReplica:
		t := n.Twin()
		if t == nil {
			r.Reason = "the receiver is not started yet"
			return r
		}
		st := t.Status()
		switch {
		case st.FSMError != "":
			r.Reason = "the state machine halted: " + st.FSMError + " (restart the node)"
		case !st.Connected && st.LastReceived.IsZero():
			r.Reason = "no primary site has shipped to this node since it started"
		case !st.Connected:
			r.Reason = fmt.Sprintf("no primary site ships to this node (last received %s ago from %s)",
				time.Since(st.LastReceived).Round(time.Second), st.Sender)
		default:
			r.Ready, r.Reason = true, "receiving from "+st.Sender
		}
	case modeWitness:
		if n.fo == nil {
			r.Reason = "the epoch store is not open yet"
			return r
		}
		st := n.fo.store.State()
		if st.Epoch == 0 {
			r.Reason = "no region epoch"
			return r
		}
		r.Ready, r.Reason = true, fmt.Sprintf("holds region epoch %d (primary %s)", st.Epoch, st.PrimaryRegion)
	default:
		r.Reason = "unknown mode " + r.Mode
	}
	return r
}
