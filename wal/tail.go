package wal

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"time"
)

// TailHeader describes a forked-tail file (format in doc.go).
type TailHeader struct {
	// Node and Region name the former primary site that exported it.
	Node   string `json:"node"`
	Region string `json:"region"`
	// Epoch is the epoch that fenced the node; NewPrimary its primary.
	Epoch      uint64 `json:"epoch"`
	NewPrimary string `json:"new_primary"`
	// ForkIndex and ForkHash are the new epoch's start: the tail is every
	// record of this node above ForkIndex.
	ForkIndex uint64 `json:"fork_index"`
	ForkHash  string `json:"fork_hash"` // hex
	// ForkMatch reports whether this node's record at ForkIndex had
	// ForkHash (false: the chains parted earlier, or the node did not
	// hold that record; the tail is still every record above ForkIndex).
	ForkMatch bool      `json:"fork_match"`
	Exported  time.Time `json:"exported"`
	// FromRaftLog counts the writes applied from the node's Raft log at
	// export (committed or not: the node could not tell) on top of what
	// its state machine had applied.
	FromRaftLog int `json:"from_raft_log,omitempty"`
	// First and Last bound the exported indexes (0 when empty).
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

const (
	tailMagic     = "JMTAIL01"
	tailEnd       = 0xFFFFFFFF
	maxTailHeader = 64 << 10
	maxTailRecord = MaxPayloadLen + 2*MaxNameLen + 256
)

// TailWriter writes a forked-tail file.
type TailWriter struct {
	w     *bufio.Writer
	h     hash.Hash
	count uint64
	last  uint64
	err   error
}

// NewTailWriter writes the magic and header to w.
func NewTailWriter(w io.Writer, hdr TailHeader) (*TailWriter, error) {
	t := &TailWriter{w: bufio.NewWriter(w), h: sha256.New()}
	hb, err := json.Marshal(hdr)
	if err != nil {
		return nil, fmt.Errorf("wal: write tail header: %w", err)
	}
	t.write([]byte(tailMagic))
	t.frame(hb)
	return t, t.err
}

func (t *TailWriter) write(b []byte) {
	if t.err != nil {
		return
	}
	t.h.Write(b)
	_, t.err = t.w.Write(b)
}

func (t *TailWriter) frame(b []byte) {
	t.write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
	t.write(b)
}

// Add appends one record (in index order).
func (t *TailWriter) Add(rec *Record) error {
	b, err := rec.MarshalBinary()
	if err != nil {
		return err
	}
	t.frame(b)
	t.count++
	t.last = rec.Index
	if t.err != nil {
		return fmt.Errorf("wal: write tail record %d: %w", rec.Index, t.err)
	}
	return nil
}

// Close writes the trailer and flushes (it does not close the file).
func (t *TailWriter) Close() error {
	t.write(binary.BigEndian.AppendUint32(nil, tailEnd))
	t.write(binary.BigEndian.AppendUint64(nil, t.count))
	if t.err == nil {
		_, t.err = t.w.Write(t.h.Sum(nil))
	}
	if t.err == nil {
		t.err = t.w.Flush()
	}
	if t.err != nil {
		return fmt.Errorf("wal: write tail: %w", t.err)
	}
	return nil
}

// ReadTail decodes and verifies a forked-tail file: every record's hash,
// the chain from ForkHash (when ForkMatch), the indexes, the header's
// bounds and the trailing checksum.
func ReadTail(r io.Reader) (TailHeader, []Record, error) {
	var hdr TailHeader
	bad := func(format string, args ...any) (TailHeader, []Record, error) {
		return TailHeader{}, nil, fmt.Errorf("%w: %s", ErrBadTail, fmt.Sprintf(format, args...))
	}
	br := bufio.NewReader(r)
	sum := sha256.New()
	read := func(n int) ([]byte, error) {
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		sum.Write(b)
		return b, nil
	}
	magic, err := read(len(tailMagic))
	if err != nil || string(magic) != tailMagic {
		return bad("not a forked-tail file (magic)")
	}
	lb, err := read(4)
	if err != nil {
		return bad("truncated header")
	}
	n := binary.BigEndian.Uint32(lb)
	if n > maxTailHeader {
		return bad("header of %d bytes", n)
	}
	hb, err := read(int(n))
	if err != nil {
		return bad("truncated header")
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return bad("header: %v", err)
	}
	var forkHash [32]byte
	if hdr.First != 0 && (hdr.First <= hdr.ForkIndex || (hdr.ForkMatch && hdr.First != hdr.ForkIndex+1)) {
		return bad("header: first %d does not follow fork index %d", hdr.First, hdr.ForkIndex)
	}
	if hdr.ForkMatch {
		h, err := hex.DecodeString(hdr.ForkHash)
		if err != nil || len(h) != len(forkHash) {
			return bad("header fork_hash %q: want 64 hex digits", hdr.ForkHash)
		}
		copy(forkHash[:], h)
	}
	var recs []Record
	for {
		lb, err := read(4)
		if err != nil {
			return bad("truncated after %d records", len(recs))
		}
		n := binary.BigEndian.Uint32(lb)
		if n == tailEnd {
			break
		}
		if n > maxTailRecord {
			return bad("record of %d bytes", n)
		}
		b, err := read(int(n))
		if err != nil {
			return bad("truncated record %d", len(recs)+1)
		}
		var rec Record
		if err := rec.UnmarshalBinary(b); err != nil {
			return bad("record %d: %v", len(recs)+1, err)
		}
		want := hdr.First + uint64(len(recs))
		if rec.Index != want || hdr.First == 0 {
			return bad("record index %d, want %d", rec.Index, want)
		}
		switch {
		case len(recs) > 0 && rec.PrevHash != recs[len(recs)-1].Hash:
			return bad("record %d does not link to record %d", rec.Index, rec.Index-1)
		case len(recs) == 0 && hdr.ForkMatch && rec.PrevHash != forkHash:
			return bad("record %d does not link to the fork point", rec.Index)
		}
		recs = append(recs, rec)
	}
	cb, err := read(8)
	if err != nil {
		return bad("truncated trailer")
	}
	want := sum.Sum(nil)
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(br, got); err != nil {
		return bad("truncated checksum")
	}
	if string(got) != string(want) {
		return bad("checksum mismatch")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return bad("trailing bytes")
	}
	if c := binary.BigEndian.Uint64(cb); c != uint64(len(recs)) {
		return bad("trailer counts %d records, file holds %d", c, len(recs))
	}
	var first, last uint64
	if len(recs) > 0 {
		first, last = recs[0].Index, recs[len(recs)-1].Index
	}
	if hdr.First != first || hdr.Last != last {
		return bad("header bounds %d..%d, records %d..%d", hdr.First, hdr.Last, first, last)
	}
	return hdr, recs, nil
}

// ExportTail writes every record of l above hdr.ForkIndex to w as a
// forked-tail file; it fills hdr's ForkMatch, First and Last.
func (l *Log) ExportTail(w io.Writer, hdr TailHeader, forkHash [32]byte) (TailHeader, error) {
	hdr.ForkHash = fmt.Sprintf("%x", forkHash)
	if hdr.ForkIndex == 0 {
		hdr.ForkMatch = forkHash == [32]byte{}
	} else if rec, err := l.Get(hdr.ForkIndex); err == nil {
		hdr.ForkMatch = rec.Hash == forkHash
	} else if a, ah := l.Anchor(); a == hdr.ForkIndex {
		hdr.ForkMatch = ah == forkHash
	}
	last, _ := l.Last()
	if last > hdr.ForkIndex {
		// Retention may have dropped the records right after the fork
		// point: export what is left (ForkMatch is then false).
		hdr.First, hdr.Last = max(hdr.ForkIndex+1, l.First()), last
		if hdr.First != hdr.ForkIndex+1 {
			hdr.ForkMatch = false
		}
	}
	tw, err := NewTailWriter(w, hdr)
	if err != nil {
		return hdr, err
	}
	if hdr.First != 0 {
		it := l.Iter(hdr.First)
		for it.Next() {
			rec := it.Record()
			if rec.Index > hdr.Last {
				break
			}
			if err := tw.Add(&rec); err != nil {
				it.Close()
				return hdr, err
			}
		}
		if err := it.Close(); err != nil {
			return hdr, fmt.Errorf("wal: export tail: %w", err)
		}
	}
	return hdr, tw.Close()
}
