// Package transport is a jumeau node's network endpoint: one QUIC endpoint
// (quic-go) per node, mutual TLS 1.3 against the deployment CA (package pki),
// streams opened by peer name and kind and checked against a role policy,
// length-prefixed msgpack frames, and a hashicorp/raft StreamLayer.
//
// # Connections
//
// An Endpoint owns one UDP socket that both listens and dials (a
// quic.Transport). TLS: version 1.3 only, ALPN "jumeau/1", key exchange
// X25519MLKEM768 (hybrid post-quantum) preferred, client certificate
// required. Each side verifies the other's chain against the CA pool and
// reads its pki.Identity from the certificate; the dialer then requires the
// identity name to equal the peer name it dialed (else ErrPeerMismatch and
// the connection is closed with code 0x20). Peers are addressed by node name;
// Config.Resolve maps a name to the UDP address to dial, which may be a
// fault-link relay: the address is never trusted, the certificate is.
//
// An endpoint caches two dialed connections per peer, one for consensus
// (Raft, leases) and one for bulk traffic (forward, ship, control), so that
// a stalled or saturated bulk stream never holds back a heartbeat through
// a shared flow-control or congestion window, and opens each stream to
// that peer on the one of its class; it refuses streams on connections it dialed
// (the peer opens its own). The QUIC stateless reset key is derived from the
// node's private key (HKDF-SHA256), so a restarted node resets the stale
// connections of its previous run and peers re-dial at once.
//
// # Stream header
//
// The opener of a bidirectional stream writes a 6-byte header before any
// payload, and does not wait for an answer:
//
//	offset  size  field
//	0       4     magic: 0x6a 0x6d 0x65 0x75 ("jmeu")
//	4       1     header version: 0x01
//	5       1     kind: 1 raft, 2 forward, 3 ship, 4 lease, 5 control
//
// The acceptor reads it within Config.HandshakeTimeout and checks the
// opener's certificate role against Config.Policy[kind], then its identity
// against Config.Members (below). A bad magic or version resets the stream
// with application error code 0x11; an unknown kind, a role not allowed or
// an identity with no business on the kind resets it with 0x10, which the
// opener's next Read or Write reports as ErrRefused. Accepted streams are queued per kind
// for Accept. After the header the stream carries whatever its kind
// defines: raft's own encoding for KindRaft, frames (below) for the others.
//
// QUIC application error codes:
//
//	stream 0x00  closed: the other end called Close and reads no more
//	stream 0x10  refused by role policy or unknown kind   -> ErrRefused
//	stream 0x11  malformed stream header                  -> ErrProtocol
//	stream 0x12  endpoint shutting down                   -> net.ErrClosed
//	conn   0x00  endpoint closed
//	conn   0x20  peer identity mismatch (dialer side)
//	conn   0x21  peer identity refused
//	conn   0x22  peer certificate revoked while connected
//	conn   0x23  too many connections (MaxConns, MaxConnsPerPeer)
//
// # Who may speak: stream kind x identity
//
// A certificate from the deployment CA proves who a peer is; it does not
// make the peer a member. With Config.Members set (every jumeau node sets
// it from its peers entries and cell.sites), the TLS handshake refuses any
// certificate whose role, region and name are not exactly one of the
// deployment's nodes, and whose role may use no stream kind: API clients,
// admins and auditors never hold a QUIC connection. Then each stream is
// admitted by this matrix (acceptor's view; an opener applies it to the
// peer it opens to). "voter": a voter of the Raft cell this node belongs
// to now, in its region with its role; "other region": any node of another
// region than this node's.
//
//	peer identity                     raft   forward  ship          lease  control
//	site of this node's cell (voter)  yes    yes      no            yes    yes
//	site, not a voter now (replica)   no     no       other region  yes    yes
//	twin of the deployment            no     no       other region  yes    yes
//	witness of the deployment         no     no       no            yes    yes
//	valid certificate, not a node     no     no       no            no     no
//	a node's name, other role/region  no     no       no            no     no
//	client, admin, auditor            no     no       no            no     no
//
// A witness accepts only lease and control streams. Which cell a node
// votes in follows its mode: a site in its cell votes with cell.sites; a
// demoted site (replica) and an unpromoted twin vote nowhere; a promoted
// twin is a one-node cell. The lease protocol (package failover) then
// checks the region of the primary and the epoch, and only a twin may be
// promoted; the twin's receiver checks that a Ship sender is a site of the
// primary region or the epoch's primary. Refusals count in
// jumeau_transport_peers_refused_total{kind,reason} (kind "connection" for
// handshakes) and are logged at most once per 10 s per peer, kind and
// reason. TestEndpoint_admit holds this matrix.
//
// Every RevocationCheckEvery (1 s) the endpoint checks the certificates of
// its open connections against the CA's revocation list and closes those
// of revoked peers (0x22); new handshakes check it too. At most MaxConns
// (256) connections from peers, and MaxConnsPerPeer (8) from one identity,
// stay open; a connection over either is closed at once (0x23).
//
// # Frames
//
// Streams other than Raft carry frames:
//
//	offset  size  field
//	0       1     frame version: 0x01
//	1       1     type: what the body is; defined by the stream's user
//	2       4     body length n, unsigned big-endian; 1 <= n <= limit
//	6       n     body: exactly one msgpack value
//
// The limit is the decoder's maxLen (DefaultMaxFrame, 16 MiB, by default).
// Another version byte is ErrFrameVersion, a longer body ErrFrameTooLarge,
// an empty body ErrFrameCorrupt; these leave the stream out of sync and it
// must be closed. Frame.Unmarshal refuses with ErrFrameCorrupt, before
// decoding, a body that is not exactly one complete msgpack value (trailing
// bytes included) or that holds an extension type other than the timestamp
// (-1): frames carry no other extension, and go-msgpack decodes an empty
// one into an interface by swallowing the value after it.
//
// Bodies use hashicorp/go-msgpack/v2's MsgpackHandle with WriteExt (str and
// bin are distinct: the msgpack spec since 2013), RawToString, MapType
// map[string]any and Canonical (map keys sorted). Structs encode as maps
// keyed by field name, so fields can be added without breaking older
// readers; decode into structs, not into interfaces.
package transport
