package main

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string // substring of the error; "" = success
	}{
		{"version", []string{"version"}, ""},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"get without target", []string{"get", "ns", "k"}, "--endpoint"},
		{"endpoint without credentials", []string{"get", "--endpoint", "127.0.0.1:1", "ns", "k"}, "--ca, --cert and --key"},
		{"lab and endpoint", []string{"get", "--lab", "x", "--endpoint", "127.0.0.1:1", "ns", "k"}, "either --lab or --endpoint"},
		{"serve without config", []string{"serve"}, "--config"},
		{"lab without lab.json", []string{"status", "--lab", t.TempDir()}, "lab up"},
		{"bad role", []string{"certs", "issue", "--dir", t.TempDir(), "--role", "king", "--region", "monaco", "--name", "x"}, "role"},
		{"put value twice", []string{"put", "--file", "f", "ns", "k", "v"}, "not both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestRun_CertsInitRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	if err := run(context.Background(), []string{"certs", "init", "--dir", dir}); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"certs", "init", "--dir", dir})
	if err == nil {
		t.Fatal("got nil, want an error refusing to overwrite the CA")
	}
	var ee *exitError
	if errors.As(err, &ee) {
		t.Fatalf("got exit code %d, want the default failure", ee.code)
	}
}
