package diskspace

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Bytes is a size in bytes. In a configuration file it is a whole number
// of bytes or a number with a unit: 268435456, 256MiB, 1.5GiB, 10GB
// (B; KiB, MiB, GiB, TiB are powers of 1024; KB, MB, GB, TB powers of
// 1000; the unit is case-insensitive and may follow a space).
type Bytes uint64

// Byte size units.
const (
	KiB Bytes = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

var units = map[string]float64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
}

// ParseBytes reads a size written as Bytes documents.
func ParseBytes(s string) (Bytes, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := units[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("%w: %q: write a number of bytes, optionally with a unit (examples: 268435456, 256MiB, 1GiB, 10GB)", ErrBytes, s)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseUint(num, 10, 64)
		if err == nil && (mult == 1 || n <= math.MaxUint64/uint64(mult)) {
			return Bytes(n * uint64(mult)), nil
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f*mult >= math.MaxUint64 {
		return 0, fmt.Errorf("%w: %q: not a number of bytes below 16 EiB", ErrBytes, s)
	}
	return Bytes(f * mult), nil
}

// UnmarshalText parses a configuration value (ParseBytes).
func (b *Bytes) UnmarshalText(text []byte) error {
	v, err := ParseBytes(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// String formats b for people: "512 B", "256 MiB", "1.5 GiB" (binary
// units, at most one decimal, rounded down).
func (b Bytes) String() string {
	if b < KiB {
		return strconv.FormatUint(uint64(b), 10) + " B"
	}
	unit, name := KiB, "KiB"
	for _, u := range []struct {
		size Bytes
		name string
	}{{MiB, "MiB"}, {GiB, "GiB"}, {TiB, "TiB"}} {
		if b >= u.size {
			unit, name = u.size, u.name
		}
	}
	tenths := uint64(b) / (uint64(unit) / 10)
	if tenths%10 == 0 {
		return fmt.Sprintf("%d %s", tenths/10, name)
	}
	return fmt.Sprintf("%d.%d %s", tenths/10, tenths%10, name)
}
