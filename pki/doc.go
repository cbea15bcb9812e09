// Package pki makes and checks the certificates of a jumeau deployment: its
// own certificate authority, node certificates that carry an Identity, and
// the mutual-TLS configurations built from them.
//
// # Identity
//
// Every node and user has an Identity: a Role (site, twin, witness, client,
// auditor, admin), a region and a unique name. Region and name are DNS
// labels (1-63 of a-z, 0-9, '-', not starting or ending with '-'); the name is
// also the node's address for Raft and the transport. The text form is
// "role/region/name", e.g. "site/monaco/site-a".
//
// # Certificate profile
//
// CA (InitCA): X.509 v3, ECDSA P-256 key, self-signed with ECDSA-SHA256,
// Subject CN=<CA name>, O=jumeau; basicConstraints CA:TRUE, pathlen 0;
// keyUsage certSign, cRLSign, digitalSignature; NotBefore = creation time
// minus ClockSkew, NotAfter = creation time plus CAValidity.
//
// Node (CA.Issue): ECDSA P-256 key, signed by the CA with ECDSA-SHA256,
// 128-bit random serial; Subject CN=<name>, OU=<role>, O=jumeau;
// basicConstraints CA:FALSE; keyUsage digitalSignature; extKeyUsage serverAuth
// and clientAuth (every node both dials and listens); SAN:
//
//	URI  jumeau://<role>/<region>/<name>   exactly one; this is the identity
//	DNS  <host>                           each non-IP host passed to Issue
//	IP   <host>                           each IP host passed to Issue
//
// NotBefore = issue time minus ClockSkew, NotAfter = issue time plus the
// validity (DefaultValidity: short-lived certificates), never past the CA's
// NotAfter. Only the URI SAN is authoritative; CN and OU are for people.
//
// # Files
//
// All files are PEM. InitCA writes, in its directory:
//
//	ca.crt  0644  one "CERTIFICATE" block (DER X.509)
//	ca.key  0600  one "PRIVATE KEY" block (DER PKCS#8, ECDSA P-256)
//
// CA.IssueFiles writes <name>.crt (0644, one "CERTIFICATE" block) and
// <name>.key (0600, one "PRIVATE KEY" block) by write-to-temp, fsync, rename.
// Readers (LoadCA, LoadTLS) also accept SEC 1 "EC PRIVATE KEY" blocks and
// skip PEM blocks of other types; a CA file may hold several certificates (a
// bundle, for CA rotation), a certificate file may hold the leaf followed by
// intermediates. LoadTLS and LoadCA refuse a private key file that its
// group or others may access (ErrKeyPermissions: fix with chmod 600; 0400
// is accepted too), checked on the opened file, symbolic links followed.
//
// # Revocation
//
// CA.Revoke writes ca.crl (0644) next to ca.crt: one "X509 CRL" block, a
// DER RFC 5280 v2 CRL signed by the CA (ECDSA-SHA256), CRL number
// incremented on each change, NextUpdate = the CA's NotAfter (nodes do not
// check it), every revoked serial with its revocation time. LoadTLS
// watches the ca.crl next to the CA file it loads: VerifyCert (hence
// VerifyPeer, QUIC handshakes) and the API's client check (CheckRevoked)
// re-read it when its size or modification time changes and refuse the
// serials it lists (ErrRevoked). A ca.crl that does not parse or that the
// CA did not sign refuses every certificate until it is fixed (ErrBadCRL:
// fail closed); no ca.crl means nothing is revoked.
//
// # TLS
//
// ServerConfig and ClientConfig are TLS 1.3 only, with the key exchange
// preference X25519MLKEM768 (hybrid post-quantum), X25519, P-256. Both sides
// verify the peer chain against the deployment CA (mutual TLS); VerifyPeer
// turns a verified peer chain into an Identity and CheckRole checks its role
// against what an endpoint accepts.
//
// # Rotation
//
// The configs of a Material present its current certificate at each
// handshake (tls.Config GetCertificate and GetClientCertificate), not a
// copy made with the config. Material.Reload reads the certificate and key
// files LoadTLS read again, checks them as LoadTLS does and for the same
// Identity (ErrIdentityChanged), and makes them current; connections
// already open keep the certificate they were made with. A pair that
// fails any check is refused and the current one stays. IssueFiles
// writes the key before the certificate: a Reload between the two sees a
// mismatched pair (ErrKeyMismatch) and keeps the current one; the next
// Reload takes the new pair.
package pki
