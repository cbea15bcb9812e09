package replicator

import (
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// guardedLogStore reports the first failed write of the Raft log to
// onFail. Pebble surfaces a failed write of its WAL (full disk, I/O error)
// at the next synced write, which is the Raft log append that precedes
// any new acknowledgement; from then on the site can no longer make
// anything durable, so it must stop rather than linger half-alive. The
// state machine's unsynced writes lost with it are replayed from the Raft
// log at restart (the FSM is idempotent by Raft index).
type guardedLogStore struct {
	raft.LogStore
	once   sync.Once
	onFail func(error)
}

var _ raft.LogStore = (*guardedLogStore)(nil)

func (g *guardedLogStore) fail(op string, err error) error {
	if err != nil && g.onFail != nil {
		g.once.Do(func() { g.onFail(fmt.Errorf("%w: raft log %s: %w", ErrFSMHalted, op, err)) })
	}
	return err
}

func (g *guardedLogStore) StoreLog(l *raft.Log) error {
	return g.fail("store", g.LogStore.StoreLog(l))
}

func (g *guardedLogStore) StoreLogs(logs []*raft.Log) error {
	return g.fail("store", g.LogStore.StoreLogs(logs))
}

func (g *guardedLogStore) DeleteRange(min, max uint64) error {
	return g.fail("delete range", g.LogStore.DeleteRange(min, max))
}
