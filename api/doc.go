// Package api is jumeau's client API: an HTTPS server (TLS 1.3, client
// certificates from the deployment's CA required) and its Go client.
//
// Routes (all JSON unless noted):
//
//	PUT    /v1/kv/{ns}/{key...}[?durability=cell]   body: the raw value   -> {"raft_index","wal_index"}
//	GET    /v1/kv/{ns}/{key...}[?consistency=linearizable|stale]          -> the raw value (application/octet-stream)
//	DELETE /v1/kv/{ns}/{key...}                                           -> {"raft_index","wal_index"}
//	GET    /v1/kv/{ns}?prefix=P&limit=N[&after=T][&consistency=...]       -> {"items":[{"key","value"(base64)}],"next":T}
//	GET    /v1/status                                                     -> the node's status
//	GET    /healthz                                                       -> {"ok":true}
//
// A list answers one page, in key order: at most limit keys (default
// 1000, at most 100000) and a byte budget of 4 MiB of items as encoded in
// the body (a page holds its first item even if that one alone is larger:
// one value of up to MaxValueSize). When keys remain, "next" holds an
// opaque continuation token: pass it as after=T with the same prefix to
// get the following page, which starts right after the last key of this
// one; a token that is not one, or of another prefix, is a 400. Without
// "next" the list is complete. The page is written as it is read: if it
// fails after its first items were sent, the body stops in the middle of
// its JSON and the Jumeau-List-Error trailer says why. Each node works on
// at most 4 list pages at once, so that lists cannot take the CPU and
// memory Raft needs; one more is answered 503 with code busy and
// Retry-After (Client.ListEach waits and asks again). A list that does not
// complete in time is a 504 with code read_timeout: it changed nothing.
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
