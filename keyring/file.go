package keyring

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

const (
	fileFormat  = "jumeau-keyring"
	fileVersion = 1
	// maxFileSize bounds what decodeFile accepts (about 50,000 namespaces).
	maxFileSize = 16 << 20
)

// fileJSON is the keyring file as stored.
type fileJSON struct {
	Format   string            `json:"format"`
	Version  int               `json:"version"`
	KEKCheck string            `json:"kek_check"`
	Keys     map[string]string `json:"keys"`
}

// fileContents is a decoded keyring file.
type fileContents struct {
	check []byte
	keys  map[string][]byte // namespace -> wrapped key
}

// decodeFile parses and checks the shape of a keyring file. It does not
// unwrap keys.
func decodeFile(data []byte) (*fileContents, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("decode: %d bytes, at most %d: %w", len(data), maxFileSize, ErrCorrupt)
	}
	var j fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("decode: %v: %w", err, ErrCorrupt)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode: data after the JSON object: %w", ErrCorrupt)
	}
	if j.Format != fileFormat {
		return nil, fmt.Errorf("decode: format %q, want %q: %w", j.Format, fileFormat, ErrCorrupt)
	}
	if j.Version != fileVersion {
		return nil, fmt.Errorf("decode: version %d, want %d: %w", j.Version, fileVersion, ErrCorrupt)
	}
	check, err := base64.StdEncoding.Strict().DecodeString(j.KEKCheck)
	if err != nil || len(check) != kekCheckSize {
		return nil, fmt.Errorf("decode: kek_check is not base64 of %d bytes: %w", kekCheckSize, ErrCorrupt)
	}
	c := &fileContents{check: check, keys: make(map[string][]byte, len(j.Keys))}
	for ns, s := range j.Keys {
		if err := validNamespace(ns); err != nil {
			return nil, fmt.Errorf("decode: namespace %q: %v: %w", ns, err, ErrCorrupt)
		}
		w, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || len(w) != wrappedSize {
			return nil, fmt.Errorf("decode: namespace %q: key is not base64 of %d bytes: %w", ns, wrappedSize, ErrCorrupt)
		}
		c.keys[ns] = w
	}
	return c, nil
}

// encodeFile returns the file bytes for a KEK check value and wrapped keys.
func encodeFile(check []byte, keys map[string][]byte) ([]byte, error) {
	j := fileJSON{
		Format:   fileFormat,
		Version:  fileVersion,
		KEKCheck: base64.StdEncoding.EncodeToString(check),
		Keys:     make(map[string]string, len(keys)),
	}
	for ns, w := range keys {
		j.Keys[ns] = base64.StdEncoding.EncodeToString(w)
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return append(b, '\n'), nil
}

// persist writes t to the keyring file atomically.
func (k *Keyring) persist(t table) error {
	keys := make(map[string][]byte, len(t))
	for ns, dk := range t {
		keys[ns] = dk.wrapped
	}
	data, err := encodeFile(k.check, keys)
	if err != nil {
		return err
	}
	return writeFileAtomic(k.path, data)
}

// writeFileAtomic replaces path with data: temporary file in the same
// directory, fsync, rename, fsync of the directory. The file has mode 0600.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: chmod %s: %w", path, tmp, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync %s: %w", path, tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: close %s: %w", path, tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: rename %s: %w", path, tmp, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: open directory %s: %w", path, dir, err)
	}
	if err = d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("write %s: fsync directory %s: %w", path, dir, err)
	}
	if err = d.Close(); err != nil {
		return fmt.Errorf("write %s: close directory %s: %w", path, dir, err)
	}
	return nil
}
