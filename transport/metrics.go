package transport

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are one Endpoint's collectors. They carry a constant "node" label
// so several endpoints (a lab on one machine) can share a registry.
type metrics struct {
	opened            *prometheus.CounterVec // kind
	accepted          *prometheus.CounterVec // kind
	refused           *prometheus.CounterVec // kind, side
	handshakeFailures *prometheus.CounterVec // direction
	dials             *prometheus.CounterVec // result
	peersRefused      *prometheus.CounterVec // kind, reason
	conns             prometheus.Gauge
	bytesSent         *prometheus.CounterVec // kind
	bytesReceived     *prometheus.CounterVec // kind
}

func newMetrics(node string) *metrics {
	labels := prometheus.Labels{"node": node}
	counter := func(name, help string, vars ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace:   "jumeau",
			Subsystem:   "transport",
			Name:        name,
			Help:        help,
			ConstLabels: labels,
		}, vars)
	}
	m := &metrics{
		opened:            counter("streams_opened_total", "Streams opened to peers, by kind.", "kind"),
		accepted:          counter("streams_accepted_total", "Streams from peers queued for Accept, by kind.", "kind"),
		refused:           counter("streams_refused_total", "Streams refused by role policy or protocol checks; side=local: this node refused a peer's stream, side=remote: a peer refused ours.", "kind", "side"),
		handshakeFailures: counter("handshake_failures_total", "QUIC/TLS handshakes that failed or whose peer identity was refused; direction=in: peers dialing us, out: our dials.", "direction"),
		dials:             counter("dials_total", "Outgoing connection attempts, by result (ok, error, mismatch).", "result"),
		peersRefused: counter("peers_refused_total", "Peers with a valid certificate refused, by stream kind (connection: the whole connection) and reason: "+
			"not_member (not a node of the deployment, or no business on that kind), role (role policy), conn_limit (too many connections), revoked (certificate revoked while connected).", "kind", "reason"),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "jumeau", Subsystem: "transport", Name: "inbound_connections",
			Help: "Connections peers have open to this endpoint.", ConstLabels: labels}),
		bytesSent:     counter("bytes_sent_total", "Stream payload bytes written, by kind.", "kind"),
		bytesReceived: counter("bytes_received_total", "Stream payload bytes read, by kind.", "kind"),
	}
	// Make every series exist from the start so rates work at once.
	for _, k := range Kinds() {
		m.opened.WithLabelValues(k.String())
		m.accepted.WithLabelValues(k.String())
		m.refused.WithLabelValues(k.String(), "local")
		m.refused.WithLabelValues(k.String(), "remote")
		m.bytesSent.WithLabelValues(k.String())
		m.bytesReceived.WithLabelValues(k.String())
	}
	for _, k := range append([]string{kindConnection}, kindNames()...) {
		for _, r := range refusalReasons() {
			m.peersRefused.WithLabelValues(k, string(r))
		}
	}
	m.handshakeFailures.WithLabelValues("in")
	m.handshakeFailures.WithLabelValues("out")
	for _, r := range []dialResult{dialOK, dialError, dialMismatch} {
		m.dials.WithLabelValues(string(r))
	}
	return m
}

// dialResult is the result label of jumeau_transport_dials_total.
type dialResult string

// Results of an outgoing connection attempt.
const (
	dialOK       dialResult = "ok"
	dialError    dialResult = "error"
	dialMismatch dialResult = "mismatch" // reached another node than the one dialed
)

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.opened, m.accepted, m.refused, m.handshakeFailures, m.dials, m.peersRefused, m.conns, m.bytesSent, m.bytesReceived}
}

// kindConnection is the kind label of a refusal of a whole connection.
const kindConnection = "connection"

// refusalReason is the reason label of jumeau_transport_peers_refused_total.
type refusalReason string

// Reasons a peer with a valid certificate is refused.
const (
	reasonNotMember refusalReason = "not_member"
	reasonRole      refusalReason = "role"
	reasonConnLimit refusalReason = "conn_limit"
	reasonRevoked   refusalReason = "revoked"
)

func refusalReasons() []refusalReason {
	return []refusalReason{reasonNotMember, reasonRole, reasonConnLimit, reasonRevoked}
}

func kindNames() []string {
	var out []string
	for _, k := range Kinds() {
		out = append(out, k.String())
	}
	return out
}
