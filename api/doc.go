// Package api is jumeau's client API: an HTTPS server (TLS 1.3, client
// certificates from the deployment's CA required) and its Go client.
//
// Routes (all JSON unless noted):
//
//	PUT    /v1/kv/{ns}/{key...}[?durability=cell]   body: the raw value   -> {"raft_index","wal_index"}
//	GET    /v1/kv/{ns}/{key...}[?consistency=linearizable|stale]          -> the raw value (application/octet-stream)
//	DELETE /v1/kv/{ns}/{key...}                                           -> {"raft_index","wal_index"}
//	GET    /v1/kv/{ns}?prefix=P&limit=N[&consistency=...]                 -> {"items":[{"key","value"(base64)}]}
//	GET    /v1/status                                                     -> the node's status
//	GET    /healthz                                                       -> {"ok":true}
//
// Errors are {"error": "<what is wrong and how to fix it>", "code": "<code>"}
// with codes not_found (404), bad_request (400), unauthenticated (401),
// forbidden (403), no_leader (503), timeout (504), not_implemented (501)
// and internal (500).
//
// Authentication: the TLS handshake requests a client certificate; every
// request is then checked here (rather than by the handshake) so a refused
// client gets an HTTP error that says why: no certificate, a certificate
// not signed by this deployment's CA, or a role (from the certificate's
// jumeau:// identity) that may not use the route. Key-value routes accept
// the client and admin roles; status also accepts auditor.
package api
