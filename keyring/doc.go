// Package keyring holds the per-namespace data keys (DEKs) that seal values
// before they enter Raft (the leader seals once, so every replica and the
// twin store the same ciphertext), wrapped by a key-encryption key (KEK)
// held in the primary region.
//
// Every namespace has one 256-bit AES-GCM data key. The leader creates it with
// [Keyring.Generate], which returns the key wrapped by the KEK; the wrapped
// blob travels through Raft like any other command, and every site calls
// [Keyring.Install] with the same bytes, so all keyring files of a cell are
// byte-identical. Plain data keys never leave the process and never touch disk.
//
// # Sealed value
//
// [Keyring.Seal] returns, big-endian:
//
//	offset  size  field
//	0       1     version, 1
//	1       4     key generation (u32) of the namespace's data key
//	5       12    GCM nonce, random (crypto/rand)
//	17      n+16  AES-256-GCM ciphertext of the n plaintext bytes, then the 16-byte tag
//
// The GCM additional data is the 5-byte header (version and generation)
// followed by the caller's aad, so the header cannot be altered without the
// tag failing. Callers pass as aad what binds the value to its place (for
// example "ns/key"), so a sealed value moved to another key does not unseal.
// A sealed value is 33 bytes longer than its plaintext.
//
// The key generation prepares key rotation: a rotated namespace will keep its
// older keys, select the key to unseal with by the generation in the header,
// and seal new values with the newest. Random 96-bit nonces limit a key to
// about 2^32 seals; rotation is also the answer to that limit. Today every
// namespace has exactly one key, of generation 1, and [Keyring.Install]
// refuses a second one with [ErrKeyExists].
//
// # Wrapped data key
//
// [Keyring.Generate] returns, big-endian:
//
//	offset  size  field
//	0       1     version, 1
//	1       4     key generation (u32)
//	5       12    GCM nonce, random
//	17      48    AES-256-GCM (key: the KEK) ciphertext of the 32-byte data key, then the tag
//
// The GCM additional data is "jumeau/keyring/dek\x00", the 5-byte header and
// the namespace name, so a wrapped key only installs under the namespace it was
// generated for. A wrapped key is 65 bytes.
//
// # Keyring file
//
// The keyring file is JSON, written atomically (temporary file in the same
// directory, fsync, rename, fsync of the directory) with mode 0600:
//
//	{
//	  "format": "jumeau-keyring",
//	  "version": 1,
//	  "kek_check": "<base64 (std, padded) of 16 bytes>",
//	  "keys": {
//	    "<namespace>": "<base64 (std, padded) of a wrapped data key>"
//	  }
//	}
//
// The file is a copy: every wrapped key is also in the cell's replicated
// state, and the cell installs again at start the keys the file lacks. So
// a failed write of the file does not lose a key: [Keyring.Install] keeps
// the key in memory and fails with [ErrPersist], [Keyring.Stale] reports
// the file behind until a later write succeeds, and [Keyring.Flush]
// rewrites it (the cell leader flushes before it creates a namespace key,
// and refuses the request if it cannot).
//
// kek_check is the first 16 bytes of HMAC-SHA256(KEK, "jumeau/keyring/kek-check/v1").
// It lets [Open] tell a wrong KEK ([ErrWrongKEK]) from a corrupt file without
// revealing anything about the KEK. Namespaces are 1 to 255 bytes of valid
// UTF-8 (JSON object keys must survive a round trip). Keys are written in
// sorted order. Open rejects unknown formats and versions, and checks that
// every wrapped key unwraps under its namespace.
//
// # KEK file
//
// A KEK file holds 32 bytes as 64 hexadecimal digits (what [KEK.Encode]
// writes) or as base64 (standard or URL alphabet, padded or not); surrounding
// whitespace is ignored. [LoadKEK] refuses a file that its group or others can
// access (fix: chmod 600).
//
// A Keyring is safe for concurrent use; Seal and Unseal take no lock (the
// namespace → AEAD table is an immutable snapshot swapped on Install). One
// keyring file must be opened by one process at a time.
package keyring
