#!/usr/bin/env bash
# jumeau bench against a fresh 3-site lab: runs RUNS times and prints the
# median ops/s and p99 (make bench). Each run stops after OPS writes or
# MAXTIME, whichever comes first (ops/s counts the writes made).
set -euo pipefail
BIN=${1:-bin/jumeau}
OUT=${2:-bench-out}
RUNS=${RUNS:-3}
OPS=${OPS:-20000}
MAXTIME=${MAXTIME:-20s}
LAB="$OUT/lab"
mkdir -p "$OUT"
if [ -f "$LAB/lab.json" ]; then "$BIN" lab down --dir "$LAB" >/dev/null 2>&1 || true; fi
rm -rf "$LAB"
"$BIN" lab up --dir "$LAB" --sites 3 ${LINK_DELAY:+--link-delay $LINK_DELAY} >/dev/null
trap '"$BIN" lab down --dir "$LAB" >/dev/null 2>&1 || true; [ -n "${KEEP:-}" ] || rm -rf "$LAB"' EXIT
: > "$OUT/lab-bench.jsonl"
for i in $(seq "$RUNS"); do
  "$BIN" bench --lab "$LAB" --clients 64 --ops "$OPS" --size 1024 --max-time "$MAXTIME" --namespace "run$i" --json | tee -a "$OUT/lab-bench.jsonl"
done
python3 - "$OUT/lab-bench.jsonl" <<'PY'
import json,statistics,sys
rs=[json.loads(l) for l in open(sys.argv[1])]
print(f"jumeau bench, 3 sites, 64 clients, 1 KiB, {len(rs)} runs: median {statistics.median(r['ops_per_sec'] for r in rs):.0f} ops/s, "
      f"median p50 {statistics.median(r['p50_ms'] for r in rs):.2f} ms, median p99 {statistics.median(r['p99_ms'] for r in rs):.2f} ms, errors {sum(r['errors'] for r in rs)}")
PY
