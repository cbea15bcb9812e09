package report

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Files of one drill in a History directory.
const (
	ReportFile = "report.json" // the signed envelope
	HTMLFile   = "report.html" // the page for people (not signed itself)
	// dirTimeLayout is the UTC time at the start of a drill directory's
	// name.
	dirTimeLayout = "20060102T150405Z"
	// maxSameName bounds the "-2", "-3"... suffixes Save tries when a
	// directory of the same second and scenario exists.
	maxSameName = 100
)

// History is a cluster's drill history: one directory per drill under Dir,
// named "<UTC start time>-<scenario>" (e.g.
// "20260314T091502Z-earthquake-total"), holding ReportFile and HTMLFile.
type History struct {
	// Dir is the history's directory (created by Save if needed).
	Dir string
	// Verifier, if set, makes List verify every report's signature
	// (HistoryEntry.Verified, or HistoryEntry.Err on failure). Without it List reads
	// reports unverified.
	Verifier *Verifier
}

// HistoryEntry is one drill of a History, as List returns it.
type HistoryEntry struct {
	// Time is the drill's start (from the report, or from the directory
	// name when the report cannot be read).
	Time     time.Time
	Scenario string
	Passed   bool
	RPO      RPO
	RTOMs    int64
	// Path is the signed report file; HTML the page beside it.
	Path string
	HTML string
	// KeyID names the key that signed the report.
	KeyID string
	// Verified is true when History.Verifier checked the signature.
	Verified bool
	// Err is why the entry could not be read or verified (it wraps one of
	// the package's sentinel errors); the other fields are then partial.
	Err error
}

// Save signs r with s and writes it to a new directory of the history:
// ReportFile (the signed envelope) and HTMLFile (WriteHTML, with the key id
// in its footer). The directory appears whole or not at all (it is written
// under a temporary name, fsynced and renamed). It returns the path of
// ReportFile.
func (h History) Save(r *Report, s *Signer) (string, error) {
	signed, err := Sign(r, s)
	if err != nil {
		return "", fmt.Errorf("report: save: %w", err)
	}
	var page bytes.Buffer
	if err := writeHTML(&page, r, s.KeyID()); err != nil {
		return "", fmt.Errorf("report: save: %w", err)
	}
	if h.Dir == "" {
		return "", fmt.Errorf("report: save: history directory is not set (History.Dir)")
	}
	if err := os.MkdirAll(h.Dir, 0o750); err != nil {
		return "", fmt.Errorf("report: save: %w", err)
	}
	tmp, err := os.MkdirTemp(h.Dir, ".tmp-")
	if err != nil {
		return "", fmt.Errorf("report: save: %w", err)
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = os.RemoveAll(tmp)
		}
	}()
	for name, data := range map[string][]byte{ReportFile: signed, HTMLFile: page.Bytes()} {
		if err := writeNew(filepath.Join(tmp, name), data, 0o640); err != nil {
			return "", fmt.Errorf("report: save: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o750); err != nil {
		return "", fmt.Errorf("report: save: %w", err)
	}
	if err := syncDir(tmp); err != nil {
		return "", fmt.Errorf("report: save: %w", err)
	}
	base := r.StartedAt.UTC().Format(dirTimeLayout) + "-" + slug(r.Scenario)
	for i := 1; i <= maxSameName; i++ {
		name := base
		if i > 1 {
			name += "-" + strconv.Itoa(i)
		}
		final := filepath.Join(h.Dir, name)
		if _, err := os.Lstat(final); err == nil {
			continue
		}
		if err := os.Rename(tmp, final); err != nil {
			if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
				continue // created between Lstat and Rename
			}
			return "", fmt.Errorf("report: save: %w", err)
		}
		renamed = true
		if err := syncDir(h.Dir); err != nil {
			return "", fmt.Errorf("report: save: %w", err)
		}
		return filepath.Join(final, ReportFile), nil
	}
	return "", fmt.Errorf("report: save: %d drills of %q already started at %s: %w",
		maxSameName, r.Scenario, r.StartedAt.UTC().Format(dirTimeLayout), fs.ErrExist)
}

// writeNew creates path (which must not exist) with data and mode, fsynced.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := writeSyncClose(f, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// slug turns a scenario name into a safe directory name part: lower-case
// letters, digits, '-', '_' and '.' kept, runs of anything else made one
// '-', at most 64 bytes, never "", "." or "..".
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		b.WriteRune(c)
		dash = false
		if b.Len() >= 64 {
			break
		}
	}
	out := strings.Trim(b.String(), "-.")
	if out == "" {
		return "scenario"
	}
	return out
}

// List returns the drills of the history, newest first. A drill whose
// report cannot be read or verified is still listed, with Err set; List
// itself fails only when Dir cannot be read (a missing Dir is an empty
// history).
func (h History) List() ([]HistoryEntry, error) {
	des, err := os.ReadDir(h.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: list history: %w", err)
	}
	var out []HistoryEntry
	for _, de := range des {
		if !de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		dir := filepath.Join(h.Dir, de.Name())
		e := HistoryEntry{Path: filepath.Join(dir, ReportFile), HTML: filepath.Join(dir, HTMLFile)}
		if i := strings.IndexByte(de.Name(), '-'); i > 0 {
			if t, err := time.Parse(dirTimeLayout, de.Name()[:i]); err == nil {
				e.Time = t
			}
		}
		h.readEntry(&e)
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b HistoryEntry) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.Path, a.Path)
	})
	return out, nil
}

// readEntry fills e from its report file.
func (h History) readEntry(e *HistoryEntry) {
	data, err := readLimited(e.Path, MaxEnvelopeSize)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w: no %s in %s", ErrMalformed, ReportFile, filepath.Dir(e.Path))
		}
		e.Err = fmt.Errorf("report: list history: %w", err)
		return
	}
	var r *Report
	if h.Verifier != nil {
		var sig *Signature
		r, sig, err = verify(data, h.Verifier)
		if err == nil {
			e.KeyID, e.Verified = sig.KeyID, true
		}
	} else {
		var env *envelope
		env, _, err = decodeEnvelope(data)
		if err == nil {
			e.KeyID = env.Signature.KeyID
			r, err = decodeReport(env.Report)
		}
	}
	if err != nil {
		e.Err = fmt.Errorf("report: list history: %s: %w", e.Path, err)
		return
	}
	e.Time, e.Scenario, e.Passed, e.RPO, e.RTOMs = r.StartedAt, r.Scenario, r.Passed, r.RPO, r.RTOMs
}
