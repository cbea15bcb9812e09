package raftstore

import (
	"testing"

	"github.com/hashicorp/raft"
	raftbench "github.com/hashicorp/raft/bench"
)

// The hashicorp/raft bench suite, run against this store (on disk, with
// and without fsync) and, as a baseline in the same run, raft's InmemStore.

type benchStore interface {
	raft.LogStore
	raft.StableStore
}

func benchStores(b *testing.B, fn func(*testing.B, benchStore)) {
	for _, tc := range []struct {
		name string
		make func(*testing.B) benchStore
	}{
		{"store=pebble-sync", func(b *testing.B) benchStore {
			db, _ := openDB(b)
			s, err := New(db, Options{Sync: true})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"store=pebble-nosync", func(b *testing.B) benchStore {
			db, _ := openDB(b)
			s, err := New(db, Options{Sync: false})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"store=inmem", func(*testing.B) benchStore { return raft.NewInmemStore() }},
	} {
		b.Run(tc.name, func(b *testing.B) { fn(b, tc.make(b)) })
	}
}

func BenchmarkFirstIndex(b *testing.B) {
	benchStores(b, func(b *testing.B, s benchStore) { raftbench.FirstIndex(b, s) })
}

func BenchmarkLastIndex(b *testing.B) {
	benchStores(b, func(b *testing.B, s benchStore) { raftbench.LastIndex(b, s) })
}

func BenchmarkGetLog(b *testing.B) {
	benchStores(b, func(b *testing.B, s benchStore) { raftbench.GetLog(b, s) })
}

func BenchmarkStoreLog(b *testing.B) {
	benchStores(b, func(b *testing.B, s benchStore) { raftbench.StoreLog(b, s) })
}

func BenchmarkStoreLogs(b *testing.B) {
	benchStores(b, func(b *testing.B, s benchStore) { raftbench.StoreLogs(b, s) })
}

func BenchmarkDeleteRange(b *testing.B) {
	benchStores(b, func(b *testing.B, s benchStore) { raftbench.DeleteRange(b, s) })
}

func BenchmarkSet(b *testing.B) {
	benchStores(b, func(b *testing.B, s benchStore) { raftbench.Set(b, s) })
}

func BenchmarkGet(b *testing.B) {
	benchStores(b, func(b *testing.B, s benchStore) { raftbench.Get(b, s) })
}

func BenchmarkSetUint64(b *testing.B) {
	benchStores(b, func(b *testing.B, s benchStore) { raftbench.SetUint64(b, s) })
}

func BenchmarkGetUint64(b *testing.B) {
	benchStores(b, func(b *testing.B, s benchStore) { raftbench.GetUint64(b, s) })
}
