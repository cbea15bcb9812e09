#!/usr/bin/env bash
# Region replication figures (issue 3) on a fresh lab with the Luxembourg
# twin behind a 12 ms round-trip WAN link (lab up --twin --wan-rtt 12ms):
#   (a) the cell's max write rate: 64 clients, 1 KiB, durability=cell;
#   (b) twin lag p50/p99 at 50% and 90% of that rate (bench --rate);
#   (c) durability=twin commit latency p50/p99 with 1 and with 16 clients
#       (and durability=cell with 1 client, what the twin's ack adds to).
# RUNS runs of each, medians, one table; the lab is torn down at exit.
# About 3 minutes: every run is bounded by its --max-time.
#
#   scripts/bench-twin.sh [bin/jumeau] [bench-out]
#   RUNS=3 MAXTIME=10s RATETIME=10 TWINTIME=8s WANRTT=12ms scripts/bench-twin.sh
set -euo pipefail
BIN=${1:-bin/jumeau}
OUT=${2:-bench-out}
RUNS=${RUNS:-3}
MAXTIME=${MAXTIME:-10s}   # each max-rate run
RATETIME=${RATETIME:-10}  # seconds of each paced run
TWINTIME=${TWINTIME:-8s}  # each durability=twin run
WANRTT=${WANRTT:-12ms}
[ -x "$BIN" ] || { echo "bench-twin: $BIN is not an executable jumeau (make build)" >&2; exit 1; }
mkdir -p "$OUT"
LAB=$(mktemp -d "${TMPDIR:-/tmp}/jumeau-bench-twin.XXXXXX")
trap '"$BIN" lab down --dir "$LAB" >/dev/null 2>&1 || true; [ -n "${KEEP:-}" ] || rm -rf "$LAB"' EXIT
RES="$OUT/twin-bench.jsonl"
: > "$RES"
echo "bench-twin: load before start: $(cut -d' ' -f1-3 /proc/loadavg); lab in $LAB" >&2
"$BIN" lab up --dir "$LAB" --twin --wan-rtt "$WANRTT" >/dev/null

# settle waits (bounded) until the twin has acknowledged everything the
# leader holds, so that a run does not start with the last one's lag.
settle() {
  for _ in $(seq 100); do
    if "$BIN" status --lab "$LAB" --json 2>/dev/null | python3 -c '
import json,sys
rows=json.load(sys.stdin)
ship=[r["ship"] for r in rows if r.get("ship") and r["ship"].get("active")]
sys.exit(0 if ship and ship[0]["lag_records"]==0 else 1)'; then
      return 0
    fi
    sleep 0.1
  done
  echo "bench-twin: the twin did not catch up within 10s; going on" >&2
}

# run CASE ARGS...: one bench run, its JSON line tagged with CASE.
n=0
run() {
  local case=$1; shift
  n=$((n+1))
  settle
  "$BIN" bench --lab "$LAB" --size 1024 --namespace "run$n" --json "$@" |
    python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["case"]=sys.argv[1]; print(json.dumps(r))' "$case" | tee -a "$RES" >&2
}

median() { # median FIELD CASE
  python3 - "$RES" "$1" "$2" <<'PY'
import json,statistics,sys
rs=[json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["case"]==sys.argv[3]]
print(statistics.median(r.get(sys.argv[2]) or 0 for r in rs))
PY
}

for _ in $(seq "$RUNS"); do run max --clients 64 --ops 1000000 --max-time "$MAXTIME"; done
MAX=$(median ops_per_sec max)
for pct in 50 90; do
  rate=$(python3 -c "print(round($MAX*$pct/100))")
  for _ in $(seq "$RUNS"); do
    run "rate$pct" --clients 64 --rate "$rate" --ops $((rate*RATETIME)) --max-time "$((RATETIME+5))s"
  done
done
for _ in $(seq "$RUNS"); do run cell1 --clients 1 --durability cell --ops 1000000 --max-time "$TWINTIME"; done
for _ in $(seq "$RUNS"); do run twin1 --clients 1 --durability twin --ops 1000000 --max-time "$TWINTIME"; done
for _ in $(seq "$RUNS"); do run twin16 --clients 16 --durability twin --ops 1000000 --max-time "$TWINTIME"; done

python3 - "$RES" "$RUNS" "$WANRTT" <<'PY'
import json,statistics,sys
rs=[json.loads(l) for l in open(sys.argv[1])]
def med(case, field):
    v=[r.get(field) for r in rs if r["case"]==case]
    v=[x for x in v if x is not None]
    return statistics.median(v) if v else float("nan")
def errs(case): return sum(r["errors"] for r in rs if r["case"]==case)
print(f"jumeau bench-twin: 1 KiB values, WAN round trip {sys.argv[3]}, medians of {sys.argv[2]} runs")
print(f"| case | asked ops/s | made ops/s | write p50 ms | write p99 ms | twin lag p50 ms | twin lag p99 ms | twin MB/s | errors |")
print(f"| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
names={"max":"max rate, 64 clients, durability=cell","rate50":"50% of max, 64 clients","rate90":"90% of max, 64 clients",
       "cell1":"durability=cell, 1 client","twin1":"durability=twin, 1 client","twin16":"durability=twin, 16 clients"}
for c in ["max","rate50","rate90","cell1","twin1","twin16"]:
    asked=med(c,"rate_target")
    asked=f"{asked:,.0f}" if asked else "unlimited"
    print(f"| {names[c]} | {asked} | {med(c,'ops_per_sec'):,.0f} | {med(c,'p50_ms'):.2f} | {med(c,'p99_ms'):.2f} | "
          f"{med(c,'twin_lag_p50_ms'):.1f} | {med(c,'twin_lag_p99_ms'):.1f} | {med(c,'twin_mb_per_sec'):.2f} | {errs(c)} |")
PY
