#!/usr/bin/env bash
# make demo: a local Monaco cell of three sites, the Luxembourg twin and the
# witness as real processes behind fault links (12 ms WAN round trip), a
# short write load, then the earthquake-total drill (every Monaco site
# SIGKILLed at once under load: the twin must take over) with its measured
# RPO/RTO table and its signed report. Needs nothing but Go (to build) and
# bash; about a minute.
set -euo pipefail
BIN=${1:-bin/jumeau}
LAB=${2:-.lab/demo}
REPORTS="$LAB/reports"
LOAD_TIME=${DEMO_LOAD_TIME:-5s}

if [ -f "$LAB/lab.json" ]; then "$BIN" lab down --dir "$LAB" >/dev/null 2>&1 || true; fi
rm -rf "$LAB"
echo "== 1. lab: three Monaco sites (site-a, site-b, site-c), the Luxembourg twin lux-1 (12 ms WAN round trip), the witness witness-1"
"$BIN" lab up --dir "$LAB" --sites 3 --twin --wan-rtt 12ms --witness
trap '"$BIN" lab down --dir "$LAB" >/dev/null 2>&1 || true' EXIT

echo
echo "== 2. load: $LOAD_TIME of 1 KiB writes by 32 clients (TLS, sealed with the namespace key, quorum commit, shipped to the twin)"
"$BIN" bench --lab "$LAB" --clients 32 --ops 1000000 --size 1024 --namespace demo --max-time "$LOAD_TIME"

echo
echo "== 3. drill earthquake-total: every Monaco site is lost at once under load; the twin, with the witness's vote, takes over"
"$BIN" drill show earthquake-total | sed -n '/^faults:/,$p'
echo
set +e
"$BIN" drill run earthquake-total --lab "$LAB" --report "$REPORTS"
code=$?
set -e

echo
echo "== 4. drill history (signed with the drill key $LAB/drill.pub)"
"$BIN" drill history --dir "$REPORTS" --key "$LAB/drill.pub"
report=$(ls -1d "$REPORTS"/*/ 2>/dev/null | tail -n 1)
if [ -n "$report" ]; then
  echo
  echo "report: ${report}report.json (signed; check it: $BIN drill verify --key $LAB/drill.pub ${report}report.json)"
  echo "        ${report}report.html (open it in a browser)"
fi
echo "(node logs under $LAB/nodes; the lab is stopped, its data kept: \`$BIN lab up --dir $LAB\` restarts it)"
exit "$code"
