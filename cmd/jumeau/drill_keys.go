package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/monaco-sovereign/jumeau/report"
)

// labSecretsDir is the directory of a lab (0700) that holds its drill
// private key: out of any drill history, which is handed to auditors.
const labSecretsDir = "secrets"

// drillKey is where a drill's signing key lives.
type drillKey struct {
	key, pub string
	// legacy is where an older jumeau kept the private key (beside
	// drill.pub in the lab directory); "" when there is none to move.
	legacy string
}

// labDrillKey is the drill key of the lab in dir: the private key in
// dir/secrets/drill.key, the public key in dir/drill.pub (where drill
// verify finds it above the lab's drill histories).
func labDrillKey(dir string) drillKey {
	return drillKey{
		key:    filepath.Join(dir, labSecretsDir, report.KeyFile),
		pub:    filepath.Join(dir, report.PubFile),
		legacy: filepath.Join(dir, report.KeyFile),
	}
}

// dirDrillKey is the drill key kept in one directory of the operator's
// (drill run --live --key-dir DIR): DIR/drill.key and DIR/drill.pub.
func dirDrillKey(dir string) drillKey {
	return drillKey{key: filepath.Join(dir, report.KeyFile), pub: filepath.Join(dir, report.PubFile)}
}

// signer checks that the private key stays out of the drill history
// reportDir, moves a lab's key from where older versions kept it (saying
// so on progress), makes the pair if absent and loads it.
func (k drillKey) signer(reportDir string, progress io.Writer) (*report.Signer, error) {
	in, err := report.Within(k.key, reportDir)
	if err != nil {
		return nil, err
	}
	if in {
		return nil, fmt.Errorf("drill run: --report %s would hold the drill private key %s: a drill history is handed to auditors, the key must stay out of it: save reports in a directory of their own (e.g. --report %s)",
			reportDir, k.key, filepath.Join(filepath.Dir(k.pub), "drills"))
	}
	if k.legacy != "" {
		if err := k.moveLegacy(progress); err != nil {
			return nil, err
		}
	}
	if err := report.GenerateKey(k.key, k.pub); err != nil {
		return nil, err
	}
	return report.LoadSigner(k.key)
}

// moveLegacy moves a private key found at k.legacy to k.key.
func (k drillKey) moveLegacy(progress io.Writer) error {
	if _, err := os.Lstat(k.legacy); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if _, err := os.Lstat(k.key); err == nil {
		return fmt.Errorf("drill run: two drill private keys, %s and %s: keep the one that matches %s in %s and remove the other",
			k.legacy, k.key, k.pub, k.key)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(k.key), 0o700); err != nil {
		return fmt.Errorf("drill run: move the drill key: %w", err)
	}
	if err := os.Rename(k.legacy, k.key); err != nil {
		return fmt.Errorf("drill run: move the drill key: %w", err)
	}
	fmt.Fprintf(progress, "drill key: moved the private key from %s to %s (0600, directory 0700), out of the lab directory the reports sit under\n", k.legacy, k.key)
	return nil
}
