package drill

import (
	"fmt"

	"github.com/monaco-sovereign/jumeau/report"
)

// markerEvidence is what the live drill saw of its marker writes.
type markerEvidence struct {
	sent, acked, failed int
	// seen counts the acknowledged markers the twin returned with their
	// bytes.
	seen int
	// lastIndex is the highest WAL index the primary acknowledged a
	// marker at.
	lastIndex uint64
	// twinBefore and twinAfter are the twin's last WAL index before the
	// drill and once the markers were looked for (0: not read).
	twinBefore, twinAfter uint64
}

// checkReplicationContinued names the live drill's replication check.
const checkReplicationContinued = "replication_continued"

// replicationCheck is the verdict of the replication_continued check:
// it passes only when the primary acknowledged at least one marker
// written during the drill and the twin returned every acknowledged
// marker with its bytes. An unchanged twin index, or markers the twin
// does not hold, fail it.
func replicationCheck(e markerEvidence) report.Check {
	measured := fmt.Sprintf("%d of %d acknowledged markers on the twin (%d sent, %d failed); twin WAL index %d -> %d, last marker at %d",
		e.seen, e.acked, e.sent, e.failed, e.twinBefore, e.twinAfter, e.lastIndex)
	return report.Check{
		Name:     checkReplicationContinued,
		Expected: "every marker the primary acknowledged (>= 1) on the twin",
		Measured: measured,
		Passed:   e.acked > 0 && e.seen == e.acked,
	}
}
