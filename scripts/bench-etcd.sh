#!/usr/bin/env bash
# etcd baseline for jumeau's benchmarks (make bench).
#
#   scripts/bench-etcd.sh OUTDIR             start 3 etcd members on 127.0.0.1,
#                                            run the load client RUNS times,
#                                            print medians, stop the members
#   scripts/bench-etcd.sh --compare OUTDIR   one line: jumeau (OUTDIR/lab-bench.jsonl)
#                                            against etcd (OUTDIR/etcd-bench.jsonl)
#
# etcd is Debian's etcd-server (3.4), installed with apt-get if missing. Like
# jumeau it runs with mutual TLS for client and peer traffic, using
# certificates from jumeau's own CA (bin/jumeau certs), and with fsync on
# (etcd's defaults). The load client (bench/etcd, its own Go module) writes
# unique 1 KiB keys with 64 clients to the leader and prints the same JSON
# line as `jumeau bench --json`.
#
# Environment: RUNS (3), OPS (20000), MAXTIME (20s: a run stops after OPS
# puts or MAXTIME, whichever comes first, as in bench-lab.sh), CLIENTS (64),
# SIZE (1024), JUMEAU (bin/jumeau), KEEP=1 keeps the data directories.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# report MODE FILE...: medians of `jumeau bench --json` lines.
report() {
  python3 - "$@" <<'PY'
import json, statistics, sys

def load(path):
    return [json.loads(l) for l in open(path) if l.strip()]

def med(rs, k):
    return statistics.median(r[k] for r in rs)

def errs(rs):
    return sum(r["errors"] for r in rs)

mode = sys.argv[1]
if mode == "medians":
    rs = load(sys.argv[2])
    print(f"etcd bench, 3 members, {rs[0]['clients']} clients, {rs[0]['size']} B, {len(rs)} runs: "
          f"median {med(rs, 'ops_per_sec'):.0f} ops/s, median p50 {med(rs, 'p50_ms'):.2f} ms, "
          f"median p99 {med(rs, 'p99_ms'):.2f} ms, errors {errs(rs)}")
else:
    j, e = load(sys.argv[2]), load(sys.argv[3])
    jo, eo, jp, ep = med(j, "ops_per_sec"), med(e, "ops_per_sec"), med(j, "p99_ms"), med(e, "p99_ms")
    print(f"same run, {j[0]['clients']} clients, {j[0]['size']} B puts, medians: "
          f"jumeau {jo:.0f} ops/s p99 {jp:.2f} ms ({len(j)} runs, {errs(j)} errors) | "
          f"etcd {eo:.0f} ops/s p99 {ep:.2f} ms ({len(e)} runs, {errs(e)} errors) | "
          f"jumeau/etcd: ops/s {jo / eo:.2f}x, p99 {jp / ep:.2f}x")
PY
}

if [ "${1:-}" = "--compare" ]; then
  OUT=${2:?usage: bench-etcd.sh --compare OUTDIR}
  report compare "$OUT/lab-bench.jsonl" "$OUT/etcd-bench.jsonl" | tee "$OUT/compare.txt"
  exit 0
fi

OUT=${1:?usage: bench-etcd.sh OUTDIR}
RUNS=${RUNS:-3}
OPS=${OPS:-20000}
MAXTIME=${MAXTIME:-20s}
CLIENTS=${CLIENTS:-64}
SIZE=${SIZE:-1024}
JUMEAU=${JUMEAU:-$ROOT/bin/jumeau}
[ -x "$JUMEAU" ] || { echo "bench-etcd: $JUMEAU missing, run make build" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
D="$OUT/etcd"

# etcd itself: Debian's etcd-server. Its package would start a default
# single-member service where services may start (not in containers with a
# deny-all policy-rc.d); stop that one, it is not ours to benchmark.
if ! command -v etcd >/dev/null; then
  echo "bench-etcd: installing etcd-server (Debian)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q etcd-server >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q etcd-server >/dev/null; }
  if [ -x /etc/init.d/etcd ] && /etc/init.d/etcd status >/dev/null 2>&1; then /etc/init.d/etcd stop >/dev/null 2>&1 || true; fi
fi
ETCD=$(command -v etcd)
# Only our flags configure the members.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^ETCD_' || true)

# The load client, built from its own module.
(cd "$ROOT/bench/etcd" && go build -trimpath -o "$OUT/etcd-bench" .)

rm -rf "$D"
mkdir -p "$D/pki"
"$JUMEAU" certs init --dir "$D/pki" --name "etcd bench CA" >/dev/null
for i in 1 2 3; do
  "$JUMEAU" certs issue --dir "$D/pki" --role site --region monaco --name "etcd-$i" --host 127.0.0.1 --host localhost >/dev/null
done
"$JUMEAU" certs issue --dir "$D/pki" --role client --region monaco --name bench-client --host 127.0.0.1 --host localhost >/dev/null
CA="$D/pki/ca.crt"

# Six free ports on 127.0.0.1 (client and peer for each member).
read -r -a PORTS < <(python3 -c '
import socket
ss=[socket.socket() for _ in range(6)]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
CLUSTER="" EPS=""
for i in 1 2 3; do
  CLUSTER+="${CLUSTER:+,}etcd-$i=https://127.0.0.1:${PORTS[$((2*i-1))]}"
  EPS+="${EPS:+,}https://127.0.0.1:${PORTS[$((2*i-2))]}"
done

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$D"/etcd-?.data
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for i in 1 2 3; do
  c=${PORTS[$((2*i-2))]} p=${PORTS[$((2*i-1))]}
  crt="$D/pki/etcd-$i.crt" key="$D/pki/etcd-$i.key"
  "$ETCD" --name "etcd-$i" --data-dir "$D/etcd-$i.data" \
    --listen-client-urls "https://127.0.0.1:$c" --advertise-client-urls "https://127.0.0.1:$c" \
    --listen-peer-urls "https://127.0.0.1:$p" --initial-advertise-peer-urls "https://127.0.0.1:$p" \
    --initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token "jumeau-bench-$$" \
    --cert-file "$crt" --key-file "$key" --trusted-ca-file "$CA" --client-cert-auth \
    --peer-cert-file "$crt" --peer-key-file "$key" --peer-trusted-ca-file "$CA" --peer-client-cert-auth \
    --logger zap --log-outputs stderr >"$D/etcd-$i.log" 2>&1 &
  PIDS+=($!)
done

# Healthy: every member answers /health with true over mutual TLS (30 s).
python3 - "$EPS" "$CA" "$D/pki/bench-client.crt" "$D/pki/bench-client.key" <<'PY' || { echo "bench-etcd: members not healthy, see $D/etcd-*.log" >&2; tail -n 5 "$D"/etcd-*.log >&2; exit 1; }
import json,ssl,sys,time,urllib.request
eps,ca,crt,key=sys.argv[1].split(","),*sys.argv[2:]
ctx=ssl.create_default_context(cafile=ca); ctx.load_cert_chain(crt,key)
deadline, last = time.monotonic() + 30, "not healthy"
while True:
    try:
        if all(json.load(urllib.request.urlopen(e+"/health",context=ctx,timeout=2)).get("health")=="true" for e in eps):
            sys.exit(0)
    except Exception as err:
        last=err
    if time.monotonic()>deadline:
        print("last error:", last, file=sys.stderr); sys.exit(1)
    time.sleep(0.2)
PY
echo "etcd $("$ETCD" --version | sed -n 's/^etcd Version: //p'): 3 members on 127.0.0.1 (mutual TLS, fsync on), $EPS" >&2

: > "$OUT/etcd-bench.jsonl"
for i in $(seq "$RUNS"); do
  "$OUT/etcd-bench" --endpoints "$EPS" --cacert "$CA" --cert "$D/pki/bench-client.crt" --key "$D/pki/bench-client.key" \
    --clients "$CLIENTS" --ops "$OPS" --size "$SIZE" --max-time "$MAXTIME" --prefix "run$i/" | tee -a "$OUT/etcd-bench.jsonl"
done
report medians "$OUT/etcd-bench.jsonl"
