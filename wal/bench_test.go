package wal

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

const benchPayload = 256 // bytes: a small sealed value

func benchRecord(i int) *Record {
	return &Record{
		Epoch: 1, Term: 1, Time: int64(i), Namespace: "civil-registry",
		Key: fmt.Sprintf("person/%08d", i), Op: OpPut, Payload: make([]byte, benchPayload),
	}
}

// BenchmarkLog_StageCommit measures the FSM's write path: records staged in
// a batch, committed every perCommit records, with and without fsync. One
// op is one record.
func BenchmarkLog_StageCommit(b *testing.B) {
	for _, sync := range []bool{false, true} {
		for _, perCommit := range []int{1, 64} {
			name := fmt.Sprintf("sync=%v/records_per_commit=%d", sync, perCommit)
			b.Run(name, func(b *testing.B) {
				db, _ := openDB(b)
				l := openLog(b, db)
				wo := pebble.NoSync
				if sync {
					wo = pebble.Sync
				}
				recs := make([]*Record, perCommit)
				for i := range recs {
					recs[i] = benchRecord(i)
				}
				b.SetBytes(int64(recs[0].encodedLen()))
				b.ReportAllocs()
				b.ResetTimer()
				for n := 0; n < b.N; {
					batch := db.NewBatch()
					for j := 0; j < perCommit && n < b.N; j, n = j+1, n+1 {
						if err := l.Stage(batch, recs[j]); err != nil {
							b.Fatal(err)
						}
					}
					if err := batch.Commit(wo); err != nil {
						b.Fatal(err)
					}
					_ = batch.Close()
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkLog_Iter measures reading the log back with full verification
// (hash of every record, links, density). One op is one record.
func BenchmarkLog_Iter(b *testing.B) {
	const n = 20_000
	db, _ := openDB(b)
	l := openLog(b, db)
	for i := 0; i < n; i += 500 {
		batch := db.NewBatch()
		for j := i; j < i+500; j++ {
			if err := l.Stage(batch, benchRecord(j)); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(pebble.NoSync); err != nil {
			b.Fatal(err)
		}
		_ = batch.Close()
	}
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(benchRecord(0).encodedLen()))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		it := l.Iter(0)
		for done < b.N && it.Next() {
			done++
		}
		if err := it.Err(); err != nil {
			b.Fatal(err)
		}
		_ = it.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRecord_Seal measures hashing one record.
func BenchmarkRecord_Seal(b *testing.B) {
	r := benchRecord(1)
	b.SetBytes(int64(r.encodedLen()))
	b.ReportAllocs()
	for b.Loop() {
		r.Seal()
	}
}

// BenchmarkRecord_UnmarshalBinary measures decoding and verifying one record.
func BenchmarkRecord_UnmarshalBinary(b *testing.B) {
	r := benchRecord(1)
	r.Seal()
	enc, err := r.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	var out Record
	for b.Loop() {
		if err := out.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
}
