// Package report is the outcome of a drill (docs/reports.md):
// a JSON model for machines, a self-contained HTML page with an SVG
// timeline for people, an Ed25519 signature for auditors, and the
// cluster's drill history.
//
// The drill runner fills a Report:
//
//	r := report.New(scenario.Name, time.Now())
//	r.Mode, r.JumeauVersion, r.Topology, r.Load = report.ModeLab, version, topo, load
//	r.AddEvent(t, report.KindFault, "SIGKILL site-a, site-b, site-c")
//	r.AddSample(t, report.Sample{AckedPerSec: 980, LagMs: report.Lag(6.5)})
//	r.RPO, r.RTOMs = measured.RPO, measured.RTO.Milliseconds()
//	r.AddCheck("rto", "<= 5s", "3.62s", rto <= 5*time.Second)
//	r.AddFinding("last clean index %d at %s", idx, at.Format("15:04:05.000"))
//	err := r.Finish(time.Now())            // sorts the timeline, sets Passed, validates
//	path, err := report.History{Dir: dir}.Save(r, signer)
//
// # Report JSON (version 2)
//
// The first six fields are a fixed interface; numbers are JSON numbers,
// times RFC 3339 in UTC, durations integer milliseconds (field names end in
// _ms). No number is negative. Version 2 added scenario_sha256,
// scenario_scale, operator, wal and load.failures, and requires
// scenario_sha256 and operator; readers still accept version 1 reports,
// which have none of them.
//
//	{
//	  "scenario": "earthquake-total",        name (built-in or user YAML; any text)
//	  "passed": false,                       true iff every check passed
//	  "rpo": {
//	    "lost_writes": 212,                  acknowledged writes missing on the new primary
//	    "lost_bytes": 217088,                the sum of their value sizes
//	    "window_ms": 212                     commit-time span of the lost writes
//	  },
//	  "rto_ms": 3620,                        fault -> first write accepted by the new primary; 0 without failover
//	  "checks": [                            at least one
//	    {"name": "rto", "expected": "<= 2s", "measured": "3.62 s", "passed": false}
//	  ],
//	  "timeline": [ ...entries, see below... ],
//	  "version": 2,                          FormatVersion; readers accept 1 and 2, refuse others
//	  "description": "...",                  optional
//	  "mode": "lab",                         "lab" or "live"; optional
//	  "started_at": "2026-03-14T09:15:02Z",  timeline offsets count from here
//	  "finished_at": "2026-03-14T09:15:42Z",
//	  "jumeau_version": "v0.5.0",
//	  "scenario_sha256": "3b8d...",          SHA-256 (64 lower-case hex) of the scenario's bytes as read:
//	                                         the YAML file, or what `jumeau drill show NAME` prints
//	  "scenario_scale": 0.5,                 drill run --scale; optional (absent: 1)
//	  "operator": {                          who ran the drill
//	    "identity": "client/monaco/ops",     the client certificate's jumeau identity, or the OS user
//	    "source": "certificate",             "certificate" or "os_user"
//	    "cert_sha256": "5f0c...",            SHA-256 of the certificate's DER; with "certificate" only
//	    "os_user": "sre", "host": "runner-1" optional
//	  },
//	  "topology": {
//	    "nodes": [{"name": "site-a", "role": "site", "region": "monaco"}, ...],
//	    "wan_rtt_ms": 12,                    Monaco-Luxembourg round trip
//	    "wan_loss": 0.001,                   fraction; optional
//	    "wan_bandwidth_bytes_per_sec": 12500000  each way; optional (absent: unlimited)
//	  },
//	  "load": {
//	    "sent": 40000, "acked": 36100, "failed": 3880,  acked + failed <= sent (the rest in flight)
//	    "target_per_sec": 1000,              optional (absent: as fast as possible)
//	    "value_bytes": 1024,                 optional
//	    "by_durability": [                   optional; sums equal the totals
//	      {"durability": "cell", "sent": 20000, "acked": 18060, "failed": 1930}, ...
//	    ],
//	    "failures": [                        optional; failed writes by cause, most first; counts sum to "failed"
//	      {"cause": "connection_refused", "count": 2410, "example": "first error of this cause"}, ...
//	    ]
//	  },
//	  "wal": [                               optional; each data node's last WAL record as verified
//	    {"node": "site-a", "wal_index": 36312, "wal_hash": "9a4f...", "note": "optional"}, ...
//	  ],
//	  "findings": ["last clean index 1234 at 12:00:01.234", ...]   optional, free text
//	}
//
// A failure cause is the API's error code when a node answered (no_leader,
// read_only, lease_expired, fenced, switching, twin_unconfirmed,
// rpo_exceeded, no_twin, server_timeout, server_error, unauthenticated,
// forbidden, bad_request), else what the client saw (client_timeout,
// connection_refused, connection_lost, other); the drill package names
// them (drill.FailureCause). A wal entry without wal_hash has a note
// saying why (the node did not answer, its chain is broken).
//
// # Timeline
//
// "timeline" is one list of samples and events, sorted by "t_ms" (entries
// of one offset keep the order they were added in). Each entry holds
// exactly one of "sample" and "event":
//
//	{"t_ms": 11500, "sample": {"acked_per_sec": 982.4, "lag_ms": 6.9}}
//	{"t_ms": 13000, "sample": {"acked_per_sec": 0, "failed_per_sec": 1000}}
//	{"t_ms": 12000, "event": {"kind": "fault", "text": "SIGKILL site-a, site-b, site-c"}}
//
// t_ms is milliseconds since started_at. A sample measures the interval
// that ends at t_ms: "acked_per_sec" is the rate of acknowledged writes;
// "lag_ms" the twin's replication lag, absent when it could not be measured
// (no primary leader, or after the twin's promotion); "failed_per_sec" the
// rate of failed writes, absent when 0. An event's "kind" is one of fault,
// attack, promotion, election, alarm, heal, note, and "text" says what
// happened, for people.
//
// # Signed envelope (report.json)
//
// Sign writes one line of JSON (no HTML escaping) and a newline:
//
//	{"format":"jumeau-drill-report","version":1,
//	 "report":<canonical report JSON>,
//	 "signature":{"alg":"ed25519","key_id":"<16 hex>","sig":"<base64>"}}
//
// The envelope's "version" is the envelope's own (1), not the report's.
// The canonical report JSON is the compact encoding of the report above
// (fields in the order shown, times in UTC, no insignificant whitespace),
// embedded as is; "sig" is the Ed25519 signature (RFC 8032, standard base64
// with padding) of exactly those bytes, from the first '{' of the report
// to its last '}'. "key_id" is the first 8 bytes, in hex, of the SHA-256 of
// the signing public key's PKIX DER encoding (KeyID). Verify parses the
// envelope strictly (unknown fields, trailing data and files over
// MaxEnvelopeSize are refused), looks the key id up among the trusted
// keys, checks the signature over the raw report bytes, and only then
// decodes and validates the report. Whitespace around the envelope is not
// signed and may change; a byte of the report may not.
//
// # Drill key
//
// GenerateKey writes drill.key (mode 0600, its directory 0700, one PEM
// "PRIVATE KEY" block: PKCS#8 Ed25519) and drill.pub (0644, one PEM
// "PUBLIC KEY" block: PKIX Ed25519) at the paths it is given: the drill
// runner keeps the private key in the lab's secrets directory, out of any
// drill history. Auditors need only drill.pub; LoadVerifier accepts a file
// of several "PUBLIC KEY" blocks (a key rotation). LoadSigner refuses a
// drill.key that group or others may read.
//
// A key is named by its Fingerprint (the SHA-256 of its PKIX DER, 64 hex
// characters) and its KeyID (the first 16). Verifier.Pin keeps only the
// key a fingerprint or key id names. FindPublicKey looks for drill.pub in
// the directories above a report's tree (ReportTree: its drill history,
// or its own directory) and refuses one inside it: whoever can alter a
// report can place a key beside it.
//
// # History
//
// History.Save writes Dir/<start time UTC, 20060102T150405Z>-<scenario>/
// with report.json (the signed envelope, 0640) and report.html (0640; its
// footer names the signing key). The scenario part is made safe for a path
// (lower case a-z, 0-9, '-', '_', '.', at most 64 bytes); a second drill
// of the same second and name gets "-2", "-3"... The directory is written
// under Dir/.tmp-* and renamed, so List never sees half a drill.
// History.List reads every drill directory, newest first, verifying the
// signatures when History.Verifier is set.
//
// # HTML page
//
// WriteHTML renders one page with inline CSS and an inline SVG chart, no
// script and no external resource, so that it opens from a file or an
// e-mail in any browser. Every text of the report is escaped. The chart's
// colours and the checks table's row colours are the Color* constants
// (a screenshot test finds them).
package report
