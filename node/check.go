package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/monaco-sovereign/jumeau/keyring"
	"github.com/monaco-sovereign/jumeau/pki"
)

// CheckFiles reads, without starting anything or writing a byte, the files
// a valid cfg names and Start would refuse: the TLS material (the key's
// permissions, the chain against the CA, the certificate's identity
// against node.*), the key-encryption key of a node that holds data, and
// the data directory's permissions if it exists. It joins every problem
// (errors.Join).
func CheckFiles(cfg Config) error {
	var errs []error
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: cfg.TLS.CA, Cert: cfg.TLS.Cert, Key: cfg.TLS.Key})
	if err != nil {
		errs = append(errs, fmt.Errorf("node: load TLS material: %w", err))
	} else if err := checkIdentity(cfg, mat.Identity); err != nil {
		errs = append(errs, err)
	}
	if cfg.Node.Role != string(pki.RoleWitness) {
		if _, err := keyring.LoadKEK(cfg.Keyring.KEKFile, cfg.Keyring.KEKEnv); err != nil {
			errs = append(errs, fmt.Errorf("node: %w", err))
		}
	}
	if _, err := os.Stat(cfg.Node.DataDir); err == nil {
		if err := checkDataDir(cfg.Node.DataDir); err != nil {
			errs = append(errs, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("node: node.data_dir: %w", err))
	}
	return errors.Join(errs...)
}

// checkIdentity refuses a certificate whose identity is not the node's
// (node.name, node.role, node.region).
func checkIdentity(cfg Config, id pki.Identity) error {
	if id.Name != cfg.Node.Name || string(id.Role) != cfg.Node.Role || id.Region != cfg.Node.Region {
		return fmt.Errorf("node: certificate %s is for %s, but the config says %s/%s/%s: issue a certificate for this node with `jumeau certs issue`",
			cfg.TLS.Cert, id, cfg.Node.Role, cfg.Node.Region, cfg.Node.Name)
	}
	return nil
}
