package transport

import (
	"encoding/binary"
	"fmt"
)

// timestampExt is the msgpack extension type of timestamps (-1), the only
// extension a frame body may carry (time.Time values, with WriteExt).
const timestampExt = 0xff

// scanValue walks body as msgpack without decoding it and checks that it is
// exactly one complete value made only of the types frames use: nil, bool,
// integers, floats, str, bin, arrays, maps and timestamps. Other extension
// types are refused: frames never carry them, and go-msgpack decodes an
// empty one into an interface by consuming the value after it, so such a
// body would not re-encode to itself. It returns a description of the
// first problem with its offset, or "" for a well-formed body.
//
// The walk is iterative (no recursion on nesting depth) and refuses a
// container announcing more elements than bytes remain, so a hostile length
// costs nothing.
func scanValue(body []byte) string {
	pending := uint64(1) // values still to read
	i := 0
	n := len(body)
	// skip advances i past k payload bytes starting at i+hdr.
	skip := func(hdr int, k uint64) bool {
		if uint64(n-i) < uint64(hdr) || uint64(n-i-hdr) < k {
			return false
		}
		i += hdr + int(k)
		return true
	}
	for pending > 0 {
		if i >= n {
			return fmt.Sprintf("truncated: %d values missing at offset %d", pending, i)
		}
		if pending > uint64(n-i) {
			return fmt.Sprintf("%d values announced but only %d bytes left at offset %d", pending, n-i, i)
		}
		pending--
		at := i
		c := body[i]
		ok := true
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixint, nil, bool
			i++
		case c <= 0x8f: // fixmap
			pending += 2 * uint64(c&0x0f)
			i++
		case c <= 0x9f: // fixarray
			pending += uint64(c & 0x0f)
			i++
		case c <= 0xbf: // fixstr
			ok = skip(1, uint64(c&0x1f))
		case c == 0xc4, c == 0xd9: // bin8, str8
			ok = i+2 <= n && skip(2, uint64(body[i+1]))
		case c == 0xc5, c == 0xda: // bin16, str16
			ok = i+3 <= n && skip(3, uint64(binary.BigEndian.Uint16(body[i+1:])))
		case c == 0xc6, c == 0xdb: // bin32, str32
			ok = i+5 <= n && skip(5, uint64(binary.BigEndian.Uint32(body[i+1:])))
		case c == 0xcc, c == 0xd0: // uint8, int8
			ok = skip(1, 1)
		case c == 0xcd, c == 0xd1: // uint16, int16
			ok = skip(1, 2)
		case c == 0xca, c == 0xce, c == 0xd2: // float32, uint32, int32
			ok = skip(1, 4)
		case c == 0xcb, c == 0xcf, c == 0xd3: // float64, uint64, int64
			ok = skip(1, 8)
		case c == 0xdc: // array16
			ok = skip(1, 2)
			if ok {
				pending += uint64(binary.BigEndian.Uint16(body[at+1:]))
			}
		case c == 0xdd: // array32
			ok = skip(1, 4)
			if ok {
				pending += uint64(binary.BigEndian.Uint32(body[at+1:]))
			}
		case c == 0xde: // map16
			ok = skip(1, 2)
			if ok {
				pending += 2 * uint64(binary.BigEndian.Uint16(body[at+1:]))
			}
		case c == 0xdf: // map32
			ok = skip(1, 4)
			if ok {
				pending += 2 * uint64(binary.BigEndian.Uint32(body[at+1:]))
			}
		case c == 0xd6, c == 0xd7: // fixext4, fixext8: timestamp 32 and 64
			if i+2 > n || body[i+1] != timestampExt {
				return extProblem(body, at)
			}
			k := uint64(4)
			if c == 0xd7 {
				k = 8
			}
			ok = skip(2, k)
		case c == 0xc7: // ext8: timestamp 96 is the only one allowed
			if i+3 > n || body[i+1] != 12 || body[i+2] != timestampExt {
				return extProblem(body, at)
			}
			ok = skip(3, 12)
		case c == 0xd4, c == 0xd5, c == 0xd8, c == 0xc8, c == 0xc9: // other ext forms
			return extProblem(body, at)
		default: // 0xc1, never used
			return fmt.Sprintf("invalid msgpack byte 0x%02x at offset %d", c, at)
		}
		if !ok {
			return fmt.Sprintf("value at offset %d (byte 0x%02x) runs past the end of the %d-byte body", at, c, n)
		}
	}
	if i != n {
		return fmt.Sprintf("%d trailing bytes after %d", n-i, i)
	}
	return ""
}

// extProblem describes a refused extension value at offset at.
func extProblem(body []byte, at int) string {
	return fmt.Sprintf("msgpack extension (byte 0x%02x) at offset %d: frames carry no extension but timestamps", body[at], at)
}
