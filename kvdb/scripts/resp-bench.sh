#!/usr/bin/env bash
# redis-benchmark against kvdb's RESP listener and against a Redis this script starts itself, with
# the same durability class: Redis with `appendonly yes, appendfsync everysec` (write(2) per event
# loop, fsync every second) against kvdb `SYNC=group` (write(2) per commit, fsync every
# SYNC_WINDOW = 2 ms: the same or better durability). Rounds alternate (kvdb, Redis, kvdb, ...)
# so that load from elsewhere on the machine hits both sides; the table prints every round, the
# median ratio, CPU-seconds per operation of each server (utime+stime from /proc/<pid>/stat) and
# the load average, since a figure from a busy machine means little without it.
#
# Usage: kvdb/scripts/resp-bench.sh   (from anywhere; needs redis-server and redis-benchmark —
#        Debian redis-server, redis-tools). ROUNDS (3), N (200000), PIPELINE (16), SYNC (group).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
N="${N:-200000}"
PIPELINE="${PIPELINE:-16}"
ROUNDS="${ROUNDS:-3}"
SYNC="${SYNC:-group}"
for bin in redis-server redis-benchmark redis-cli; do
  command -v "$bin" >/dev/null || { echo "$bin not found: apt-get install -y redis-server redis-tools" >&2; exit 1; }
done

work="$(mktemp -d)"
kvdb_pid=
redis_pid=
cleanup() {
  for p in $kvdb_pid $redis_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
spare_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "building kvdb ..." >&2
(cd "$REPO" && go build -o "$work/kvdb" ./kvdb/cmd/kvdb)
port="$(spare_port)"
hport="$(spare_port)"
rport="$(spare_port)"
HTTP_ADDR="127.0.0.1:$hport" RESP_ADDR="127.0.0.1:$port" DATA_DIR="$work/data" SYNC="$SYNC" LOG_LEVEL=warn \
  "$work/kvdb" 2>"$work/kvdb.log" &
kvdb_pid=$!
mkdir -p "$work/redis"
redis-server --port "$rport" --bind 127.0.0.1 --appendonly yes --appendfsync everysec --save "" \
  --dir "$work/redis" --daemonize no --logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && redis-cli -p "$rport" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$rport" ping >/dev/null || { echo "redis-server did not start: $(cat "$work/redis.log")" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$hport/readyz" >/dev/null || { echo "kvdb did not start: $(cat "$work/kvdb.log")" >&2; exit 1; }

ticks="$(getconf CLK_TCK)"
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime of the process, in ticks

# run PORT PID TEST: prints "req/s cpu-µs-per-op" for one redis-benchmark test.
run() {
  local before after rps
  before="$(cpu "$2")"
  # -q prints e.g. "SET: 312500.00 requests per second, p50=2.455 msec"
  rps="$(redis-benchmark -h 127.0.0.1 -p "$1" -t "$3" -n "$N" -P "$PIPELINE" -q 2>/dev/null | tr '\r' '\n' |
    awk '/requests per second/ {print $2; exit}')"
  after="$(cpu "$2")"
  awk -v r="$rps" -v d="$((after - before))" -v t="$ticks" -v n="$N" 'BEGIN { printf "%s %.2f\n", r, d / t / n * 1e6 }'
}

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "redis-benchmark -t set,get -n $N -P $PIPELINE (50 clients); kvdb SYNC=$SYNC vs redis-server $(redis-server --version | awk '{print $3}' | tr -d v=) appendonly yes, appendfsync everysec; $(nproc) cores; $ROUNDS alternating rounds" >&2
declare -A ratios
printf '| round | command | kvdb req/s | Redis req/s | kvdb/Redis | kvdb CPU µs/op | Redis CPU µs/op |\n|---:|---|---:|---:|---:|---:|---:|\n'
for round in $(seq "$ROUNDS"); do
  for cmd in set get; do
    read -r o ocpu <<<"$(run "$port" "$kvdb_pid" "$cmd")"
    read -r p pcpu <<<"$(run "$rport" "$redis_pid" "$cmd")"
    ratio="$(awk -v o="$o" -v p="$p" 'BEGIN { if (p > 0) printf "%.2f", o / p; else print "n/a" }')"
    ratios[$cmd]+="$ratio "
    printf '| %d | %s | %.0f | %.0f | %s× | %s | %s |\n' "$round" "${cmd^^}" "$o" "$p" "$ratio" "$ocpu" "$pcpu"
  done
done
echo
for cmd in set get; do
  median="$(tr ' ' '\n' <<<"${ratios[$cmd]}" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')"
  echo "median kvdb/Redis ${cmd^^}: ${median}× (target ≥ 0.8×)"
done
echo "load average: $load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end ($(nproc) cores)"
