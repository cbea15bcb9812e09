package report

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Fingerprint returns the SHA-256 of an Ed25519 public key's PKIX
// (SubjectPublicKeyInfo) DER encoding, in lower-case hex (64 characters):
// what
//
//	openssl pkey -pubin -in drill.pub -outform DER | sha256sum
//
// prints. KeyID is its first 16 characters.
func Fingerprint(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		der = pub // a key of the wrong length: it matches no real key
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Fingerprints returns the fingerprints of the trusted keys, in the order
// of KeyIDs.
func (v *Verifier) Fingerprints() []string {
	var out []string
	for _, id := range v.KeyIDs() {
		out = append(out, Fingerprint(v.keys[id]))
	}
	return out
}

// Pin returns a Verifier that trusts only the key of v that pin names:
// its fingerprint (64 hex characters, see Fingerprint) or its key id (16,
// see KeyID), in either case. It fails with ErrBadKeyID for a pin of
// another shape and with ErrKeyNotPinned when v holds no such key.
func (v *Verifier) Pin(pin string) (*Verifier, error) {
	p := strings.ToLower(strings.TrimSpace(pin))
	if _, err := hex.DecodeString(p); err != nil || (len(p) != 16 && len(p) != 64) {
		return nil, fmt.Errorf("%w: %q: want the key's SHA-256 fingerprint (64 hex characters) or its key id (16)", ErrBadKeyID, pin)
	}
	for id, k := range v.keys {
		if (len(p) == 16 && id == p) || Fingerprint(k) == p {
			return NewVerifier(k), nil
		}
	}
	return nil, fmt.Errorf("report: pin key %s: the keys given are %v (fingerprints %v): %w",
		p, v.KeyIDs(), v.Fingerprints(), ErrKeyNotPinned)
}

// drillDirName matches the name History.Save gives a drill directory.
var drillDirName = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-`)

// ReportTree returns the directory tree a report file belongs to, the
// part that whoever may change the report may also write: the drill
// history when the report sits in a drill directory of one
// (HISTORY/<time>-<scenario>/report.json), else the report's own
// directory. Symbolic links are resolved first.
func ReportTree(reportPath string) (string, error) {
	abs, err := filepath.Abs(reportPath)
	if err != nil {
		return "", fmt.Errorf("report: report tree of %s: %w", reportPath, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("report: report tree of %s: %w", reportPath, err)
	}
	dir := filepath.Dir(abs)
	if drillDirName.MatchString(filepath.Base(dir)) {
		return filepath.Dir(dir), nil
	}
	return dir, nil
}

// FindPublicKey looks for the drill public key (PubFile) of a report
// when none was given: in the directories above its report tree
// (ReportTree), nearest first; the lab directory above its drill history
// holds one. A PubFile inside the report tree (beside the report, or in
// the history) is refused with ErrKeyInReportTree, since whoever altered
// the report could have placed it; none found is ErrNoPublicKey. A key
// found this way proves nothing by itself: compare its fingerprint with
// the one the cluster's operators published (Verifier.Pin).
func FindPublicKey(reportPath string) (string, error) {
	tree, err := ReportTree(reportPath)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(reportPath)
	if err != nil {
		return "", fmt.Errorf("report: find drill public key: %w", err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	var inside []string
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		inside = append(inside, d)
		if d == tree || d == filepath.Dir(d) {
			break
		}
	}
	for _, d := range inside {
		p := filepath.Join(d, PubFile)
		if _, err := os.Lstat(p); err == nil {
			return "", fmt.Errorf("report: find drill public key: %s is inside the report tree %s, where whoever can change the report can place a key: %w",
				p, tree, ErrKeyInReportTree)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("report: find drill public key: %w", err)
		}
	}
	for d := filepath.Dir(tree); ; d = filepath.Dir(d) {
		p := filepath.Join(d, PubFile)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("report: find drill public key: %w", err)
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("report: find drill public key: no %s in the directories above %s: %w", PubFile, tree, ErrNoPublicKey)
		}
	}
}

// Within reports whether path is dir or lies under it (both made
// absolute, symbolic links of their existing parts resolved).
func Within(path, dir string) (bool, error) {
	p, err := realPath(path)
	if err != nil {
		return false, err
	}
	d, err := realPath(dir)
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(d, p)
	if err != nil {
		return false, nil
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))), nil
}

// realPath is path made absolute, with the symbolic links of its longest
// existing prefix resolved (the rest may not exist yet).
func realPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	var rest []string
	for d := abs; ; d = filepath.Dir(d) {
		if real, err := filepath.EvalSymlinks(d); err == nil {
			slices.Reverse(rest)
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if d == filepath.Dir(d) {
			return abs, nil
		}
		rest = append(rest, filepath.Base(d))
	}
}
