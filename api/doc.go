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
// forbidden (403), method_not_allowed (405, with an Allow header naming the
// route's methods), too_large (413, a value over MaxValueSize), no_leader
// (503), timeout (504), not_implemented (501) and internal (500).
//
// Authentication: the TLS handshake requires a client certificate and
// verifies it (pki.Material.ServerConfig): its chain to the deployment's
// CA, the CA's revocation list, and a jumeau:// identity. A client without
// such a certificate never gets an established connection; the TLS alert
// it receives says why (certificate required, unknown certificate
// authority, certificate expired, bad certificate: revoked or without an
// identity), and the Go client turns it into an ErrUnauthenticated with a
// message saying what to do. Every request is then checked again: a
// certificate revoked while its connection is open gets 401 (and the
// connection is closed), and the role (from the certificate's identity)
// must be one the route accepts, else 403 naming the role needed.
// Key-value routes accept the client and admin roles; status and healthz
// also accept auditor; failover and drill routes only admin.
//
// Connections (Limits, the api.* keys of a node's configuration): at most
// MaxConnections are held at once, counted from accept (default 1024;
// over it a connection is closed before its handshake), and at most
// MaxConnectionsPerClient per client identity (default 256; over it a
// connection is closed right after its handshake). A handshake must
// finish within HandshakeTimeout (5 s) of accept; a keep-alive connection
// idle for IdleTimeout (30 s) is closed; request headers must arrive
// within 10 s. Refused connections are counted by reason in
// jumeau_api_connections_refused_total (tls, node_cap, client_cap) and
// logged at most once per 10 s per reason; jumeau_api_connections is the
// number held open.
//
// The Go client speaks HTTP/2 (ALPN h2, which the server offers) or
// HTTP/1.1. NewMultiClient holds several nodes' endpoints: a request goes
// to the node that answered last and moves to the next when the node is
// unreachable or refuses it without applying it (no_leader, read_only,
// fenced, lease_expired, switching); a write sent but never answered is not
// sent elsewhere (ErrOutcomeUnknown). Its error names every endpoint tried
// and what each answered.
package api
