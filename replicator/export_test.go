package replicator

import "github.com/hashicorp/raft"

// CellTransport exposes a cell's Raft transport to the external tests.
func CellTransport(c *Cell) *raft.NetworkTransport { return c.trans }
