package main

import (
	"fmt"
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
	cmd.AddCommand(initCmd, issueCmd)
	return cmd
}
