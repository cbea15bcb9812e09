package main

import (
	"crypto/x509"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/pki"
)

func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "certs", Short: "Create the deployment CA and issue node and client certificates"}
	var dir, name string
	initCmd := &cobra.Command{
		Use:   "init --dir DIR",
		Short: "Create a new CA (DIR/ca.crt, DIR/ca.key); refuses to overwrite one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := pki.InitCA(dir, name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CA written to %s/ca.crt (key %s/ca.key, keep it offline)\n", dir, dir)
			return nil
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", "pki", "directory for the CA")
	initCmd.Flags().StringVar(&name, "name", "jumeau CA", "CA common name")

	var role, region, nodeName, out string
	var hosts []string
	var validity time.Duration
	issueCmd := &cobra.Command{
		Use:   "issue --role ROLE --region REGION --name NAME",
		Short: "Issue a certificate whose identity (role, region, name) the nodes check",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := pki.ParseRole(role)
			if err != nil {
				return err
			}
			id := pki.Identity{Role: r, Region: region, Name: nodeName}
			if err := id.Validate(); err != nil {
				return err
			}
			ca, err := pki.LoadCA(dir)
			if err != nil {
				return err
			}
			if out == "" {
				out = dir
			}
			cert, key, err := ca.IssueFiles(out, id, hosts, validity)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "issued %s: %s %s (hosts %s, valid %s)\n", id, cert, key, strings.Join(hosts, ","), validity)
			return nil
		},
	}
	fl := issueCmd.Flags()
	fl.StringVar(&dir, "dir", "pki", "directory of the CA")
	fl.StringVar(&out, "out", "", "directory for the certificate and key (default: --dir)")
	fl.StringVar(&role, "role", "", "site, twin, witness, client, auditor or admin")
	fl.StringVar(&region, "region", "", "region of the holder (monaco, luxembourg, ...)")
	fl.StringVar(&nodeName, "name", "", "name of the node or client")
	fl.StringSliceVar(&hosts, "host", []string{"127.0.0.1", "localhost"}, "DNS names or IPs the certificate serves")
	fl.DurationVar(&validity, "validity", pki.DefaultValidity, "validity period")
	_ = issueCmd.MarkFlagRequired("role")
	_ = issueCmd.MarkFlagRequired("region")
	_ = issueCmd.MarkFlagRequired("name")
	cmd.AddCommand(initCmd, issueCmd, newCertsRevokeCmd())
	return cmd
}

// newCertsRevokeCmd is `jumeau certs revoke`: put certificates on the CA's
// revocation list (a stolen or retired node or client certificate).
func newCertsRevokeCmd() *cobra.Command {
	var dir string
	var certFiles, serials []string
	cmd := &cobra.Command{
		Use:   "revoke --dir DIR (--cert FILE | --serial HEX)...",
		Short: "Revoke certificates: add them to DIR/ca.crl, which nodes check on every handshake and API connection",
		Long: `Revoke certificates issued by the CA in DIR: their serial numbers are added
to DIR/ca.crl, signed by the CA (entries already there are kept).

A node reads the ca.crl next to its tls.ca file again whenever it changes,
and refuses a revoked certificate on its next QUIC handshake and on every
API request. QUIC connections already open stay up until they close (a
restart of the node cuts them). Nodes whose CA file is not DIR/ca.crt need
a copy of DIR/ca.crl next to it.`,
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
			var what []string
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
				what = append(what, fmt.Sprintf("%x (%s, %s)", cert.SerialNumber, id, f))
			}
			for _, h := range serials {
				n, ok := new(big.Int).SetString(strings.TrimPrefix(strings.ToLower(h), "0x"), 16)
				if !ok || n.Sign() <= 0 {
					return usageErrorf("certs revoke: --serial %q: want the certificate's serial number in hex (openssl x509 -noout -serial -in FILE)", h)
				}
				revoke = append(revoke, n)
				what = append(what, fmt.Sprintf("%x", n))
			}
			if err := ca.Revoke(dir, revoke...); err != nil {
				return err
			}
			for _, w := range what {
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", w)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revocation list: %s (nodes refuse these certificates from their next handshake)\n", filepath.Join(dir, pki.CRLFile))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "pki", "directory of the CA")
	fl.StringArrayVar(&certFiles, "cert", nil, "certificate file (PEM) to revoke; repeatable")
	fl.StringArrayVar(&serials, "serial", nil, "serial number (hex) of a certificate to revoke; repeatable")
	return cmd
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
