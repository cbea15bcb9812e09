package main

import "errors"

// Errors of the jumeau commands that callers (and tests) tell apart.
var (
	// errCertExists: certs issue would replace a certificate or key file
	// that is already there (pass --force to replace them).
	errCertExists = errors.New("jumeau: certificate files already exist")
)
