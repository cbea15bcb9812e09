package main

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/pki"
)

func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "certs", Short: "Create the deployment CA and issue node and client certificates"}
	var dir, name string
	var initJSON bool
	initCmd := &cobra.Command{
		Use:   "init --dir DIR [--json]",
		Short: "Create a new CA (DIR/ca.crt, DIR/ca.key); refuses to overwrite one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ca, err := pki.InitCA(dir, name)
			if err != nil {
				return err
			}
			c := ca.Certificate()
			res := caResult{Cert: filepath.Join(dir, pki.CACertFile), Key: filepath.Join(dir, pki.CAKeyFile), Name: c.Subject.CommonName,
				Serial: c.SerialNumber.Text(16), NotAfter: c.NotAfter.UTC()}
			if initJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CA written to %s (key %s, keep it offline)\n", res.Cert, res.Key)
			return nil
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", "pki", "directory for the CA")
	initCmd.Flags().StringVar(&name, "name", "jumeau CA", "CA common name")
	initCmd.Flags().BoolVar(&initJSON, "json", false, `print JSON: {"cert","key","name","serial","not_after"}`)

	var role, region, nodeName, out string
	var hosts []string
	var validity time.Duration
	var force, issueJSON bool
	issueCmd := &cobra.Command{
		Use:   "issue --role ROLE --region REGION --name NAME [--host H]... [--force] [--json]",
		Short: "Issue a certificate whose identity (role, region, name) the nodes check; refuses to replace one without --force",
		Long: `Issue a certificate and key for the identity role/region/name, signed by the
CA in --dir, as OUT/NAME.crt and OUT/NAME.key (OUT: --out, default --dir).

If either file exists already, nothing is written and the command exits 1,
naming the files and the certificate there (its serial, hosts and expiry):
a new certificate would replace the old one, with only the --host names
given now. --force replaces both (certificate rotation; a node serving
them loads the new pair on SIGHUP). The old certificate stays valid until
it expires: revoke it with ` + "`jumeau certs revoke --cert FILE`" + ` first if it
leaked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := pki.ParseRole(role)
			if err != nil {
				return usageErrorf("--role: %w", err)
			}
			id := pki.Identity{Role: r, Region: region, Name: nodeName}
			if err := id.Validate(); err != nil {
				return usageErrorf("%w", err)
			}
			ca, err := pki.LoadCA(dir)
			if err != nil {
				return err
			}
			if out == "" {
				out = dir
			}
			res := issueResult{Identity: id.String(), Hosts: hosts, Validity: validity.String()}
			prev, err := existingIssued(out, id.Name)
			if err != nil {
				return err
			}
			if prev != nil && !force {
				return fmt.Errorf("certs issue: %w: %s: pass --force to replace them (the new certificate serves only the --host names given now: %s), or --out DIR to write elsewhere",
					errCertExists, prev, strings.Join(hosts, ","))
			}
			res.Replaced = prev
			if res.Cert, res.Key, err = ca.IssueFiles(out, id, hosts, validity); err != nil {
				return err
			}
			if c, err := readCertFile(res.Cert); err == nil {
				res.Serial, res.NotAfter = c.SerialNumber.Text(16), c.NotAfter.UTC()
			}
			w := cmd.OutOrStdout()
			if issueJSON {
				return printJSON(w, res)
			}
			fmt.Fprintf(w, "issued %s: %s %s (serial %s, hosts %s, valid %s)\n", id, res.Cert, res.Key, res.Serial, strings.Join(hosts, ","), validity)
			if prev != nil {
				fmt.Fprintf(w, "replaced %s\n", prev)
				if gone := missingHosts(prev.Hosts, hosts); len(gone) > 0 {
					fmt.Fprintf(w, "  the new certificate no longer serves %s\n", strings.Join(gone, ","))
				}
			}
			return nil
		},
	}
	fl := issueCmd.Flags()
	fl.StringVar(&dir, "dir", "pki", "directory of the CA")
	fl.StringVar(&out, "out", "", "directory for the certificate and key (default: --dir)")
	fl.StringVar(&role, "role", "", "site, twin, witness, client, auditor or admin")
	fl.StringVar(&region, "region", "", "region of the holder (monaco, luxembourg, ...)")
	fl.StringVar(&nodeName, "name", "", "name of the node or client")
	fl.StringSliceVar(&hosts, "host", []string{"127.0.0.1", "localhost"}, "DNS names or IPs the certificate serves (all of them: a replaced certificate's are not kept)")
	fl.DurationVar(&validity, "validity", pki.DefaultValidity, "validity period")
	fl.BoolVar(&force, "force", false, "replace an existing certificate and key of this name")
	fl.BoolVar(&issueJSON, "json", false, `print JSON: {"identity","cert","key","serial","hosts","not_after","validity","replaced"}`)
	_ = issueCmd.MarkFlagRequired("role")
	_ = issueCmd.MarkFlagRequired("region")
	_ = issueCmd.MarkFlagRequired("name")
	cmd.AddCommand(initCmd, issueCmd, newCertsRevokeCmd())
	return cmd
}

// caResult is what certs init --json prints.
type caResult struct {
	Cert     string    `json:"cert"`
	Key      string    `json:"key"`
	Name     string    `json:"name"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
}

// issueResult is what certs issue --json prints.
type issueResult struct {
	Identity string    `json:"identity"`
	Cert     string    `json:"cert"`
	Key      string    `json:"key"`
	Serial   string    `json:"serial"`
	Hosts    []string  `json:"hosts"`
	NotAfter time.Time `json:"not_after"`
	Validity string    `json:"validity"`
	// Replaced is the certificate --force replaced (nil: none was there).
	Replaced *issuedFiles `json:"replaced,omitempty"`
}

// issuedFiles describes the certificate and key files of a holder found
// in a directory.
type issuedFiles struct {
	Files    []string  `json:"files"`
	Identity string    `json:"identity,omitempty"`
	Serial   string    `json:"serial,omitempty"`
	Hosts    []string  `json:"hosts,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
	// Unreadable says why the certificate file could not be described.
	Unreadable string `json:"unreadable,omitempty"`
}

func (f *issuedFiles) String() string {
	s := strings.Join(f.Files, " and ") + " already exist"
	if len(f.Files) == 1 {
		s = f.Files[0] + " already exists"
	}
	switch {
	case f.Unreadable != "":
		s += " (the certificate does not parse: " + f.Unreadable + ")"
	case f.Serial != "":
		s += fmt.Sprintf(" (certificate %s, serial %s, hosts %s, expires %s)", f.Identity, f.Serial, strings.Join(f.Hosts, ","), f.NotAfter.Format(time.RFC3339))
	}
	return s
}

// existingIssued describes the certificate and key of name in dir, nil if
// neither file exists.
func existingIssued(dir, name string) (*issuedFiles, error) {
	certFile, keyFile := pki.IssuedFiles(dir, name)
	var f issuedFiles
	for _, p := range []string{certFile, keyFile} {
		if _, err := os.Lstat(p); err == nil {
			f.Files = append(f.Files, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("certs issue: %w", err)
		}
	}
	if len(f.Files) == 0 {
		return nil, nil
	}
	if f.Files[0] != certFile {
		return &f, nil // the key alone
	}
	c, err := readCertFile(certFile)
	if err != nil {
		f.Unreadable = err.Error()
		return &f, nil
	}
	f.Serial, f.NotAfter = c.SerialNumber.Text(16), c.NotAfter.UTC()
	if id, err := pki.IdentityFromCert(c); err == nil {
		f.Identity = id.String()
	} else {
		f.Identity = c.Subject.CommonName
	}
	f.Hosts = append(f.Hosts, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		f.Hosts = append(f.Hosts, ip.String())
	}
	return &f, nil
}

// missingHosts are the hosts of old that now lacks.
func missingHosts(old, now []string) []string {
	var gone []string
	for _, h := range old {
		if !slices.Contains(now, h) {
			gone = append(gone, h)
		}
	}
	return gone
}

// readCertFile parses the first certificate of a PEM file.
func readCertFile(file string) (*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return certs[0], nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newCertsRevokeCmd is `jumeau certs revoke`: put certificates on the CA's
// revocation list (a stolen or retired node or client certificate).
func newCertsRevokeCmd() *cobra.Command {
	var dir string
	var certFiles, serials []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "revoke --dir DIR (--cert FILE | --serial HEX)... [--json]",
		Short: "Revoke certificates: add them to DIR/ca.crl, which nodes check on every handshake and API connection",
		Long: `Revoke certificates issued by the CA in DIR: their serial numbers are added
to DIR/ca.crl, signed by the CA (entries already there are kept).

A node reads the ca.crl next to its tls.ca file again whenever it changes
(no restart or SIGHUP needed), refuses a revoked certificate on its next
QUIC handshake and on every API request, and closes the QUIC connections
of a revoked peer within a second. Nodes whose CA file is not DIR/ca.crt
need a copy of DIR/ca.crl next to it; SIGHUP logs the list a node checks
against.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(certFiles) == 0 && len(serials) == 0 {
				return usageErrorf("certs revoke: name what to revoke with --cert FILE or --serial HEX")
			}
			ca, err := pki.LoadCA(dir)
			if err != nil {
				return err
			}
			var revoke []*big.Int
			res := revokeResult{CRL: filepath.Join(dir, pki.CRLFile)}
			for _, f := range certFiles {
				cert, err := revokedCert(f, ca.Certificate())
				if err != nil {
					return err
				}
				revoke = append(revoke, cert.SerialNumber)
				id := cert.Subject.CommonName
				if pid, err := pki.IdentityFromCert(cert); err == nil {
					id = pid.String()
				}
				res.Revoked = append(res.Revoked, revokedEntry{Serial: cert.SerialNumber.Text(16), Identity: id, File: f})
			}
			for _, h := range serials {
				n, ok := new(big.Int).SetString(strings.TrimPrefix(strings.ToLower(h), "0x"), 16)
				if !ok || n.Sign() <= 0 {
					return usageErrorf("certs revoke: --serial %q: want the certificate's serial number in hex (openssl x509 -noout -serial -in FILE)", h)
				}
				revoke = append(revoke, n)
				res.Revoked = append(res.Revoked, revokedEntry{Serial: n.Text(16)})
			}
			if err := ca.Revoke(dir, revoke...); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return printJSON(w, res)
			}
			for _, e := range res.Revoked {
				if e.File == "" {
					fmt.Fprintf(w, "revoked %s\n", e.Serial)
				} else {
					fmt.Fprintf(w, "revoked %s (%s, %s)\n", e.Serial, e.Identity, e.File)
				}
			}
			fmt.Fprintf(w, "revocation list: %s (nodes refuse these certificates from their next handshake)\n", res.CRL)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "pki", "directory of the CA")
	fl.StringArrayVar(&certFiles, "cert", nil, "certificate file (PEM) to revoke; repeatable")
	fl.StringArrayVar(&serials, "serial", nil, "serial number (hex) of a certificate to revoke; repeatable")
	fl.BoolVar(&asJSON, "json", false, `print JSON: {"revoked":[{"serial","identity","file"}],"crl"}`)
	return cmd
}

// revokeResult is what certs revoke --json prints.
type revokeResult struct {
	Revoked []revokedEntry `json:"revoked"`
	CRL     string         `json:"crl"`
}

// revokedEntry is one revoked certificate (identity and file only when
// named with --cert).
type revokedEntry struct {
	Serial   string `json:"serial"`
	Identity string `json:"identity,omitempty"`
	File     string `json:"file,omitempty"`
}

// revokedCert reads the certificate to revoke from file and checks that
// ca issued it (a serial of another CA would revoke nothing).
func revokedCert(file string, ca *x509.Certificate) (*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("certs revoke: %w", err)
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("certs revoke: %s: %w", file, err)
	}
	if err := certs[0].CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("certs revoke: %s was not issued by this CA (%s): %w", file, ca.Subject.CommonName, err)
	}
	return certs[0], nil
}
