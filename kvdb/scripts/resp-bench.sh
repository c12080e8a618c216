#!/usr/bin/env bash
# redis-benchmark against kvdb's RESP listener and against the local Redis, in one run, same
# command line, printed side by side with the ratio (the issue's RESP benchmark).
#
# Usage: kvdb/scripts/resp-bench.sh   (from anywhere; needs redis-benchmark — Debian redis-tools —
#        and a Redis at REDIS_HOST:REDIS_PORT, default 127.0.0.1:6379, for the peer column)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
N="${N:-200000}"
PIPELINE="${PIPELINE:-16}"
REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${REDIS_PORT:-6379}"
SYNC="${SYNC:-group}"
command -v redis-benchmark >/dev/null || { echo "redis-benchmark not found: apt-get install -y redis-tools" >&2; exit 1; }

work="$(mktemp -d)"
pid=
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
echo "building kvdb ..." >&2
(cd "$REPO" && go build -o "$work/kvdb" ./kvdb/cmd/kvdb)
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
hport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
HTTP_ADDR="127.0.0.1:$hport" RESP_ADDR="127.0.0.1:$port" DATA_DIR="$work/data" SYNC="$SYNC" LOG_LEVEL=warn \
  "$work/kvdb" 2>"$work/kvdb.log" &
pid=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

# redis-benchmark -q prints e.g. "SET: 312500.00 requests per second, p50=2.455 msec"
run() { redis-benchmark -h "$1" -p "$2" -t set,get -n "$N" -P "$PIPELINE" -q 2>/dev/null | tr '\r' '\n' | grep -E '^(SET|GET): [0-9.]+ requests per second'; }
echo "redis-benchmark -t set,get -n $N -P $PIPELINE, kvdb SYNC=$SYNC, $(nproc) cores" >&2
echo "kvdb (RESP on :$port) ..." >&2
ours="$(run 127.0.0.1 "$port")"
echo "redis ($REDIS_HOST:$REDIS_PORT) ..." >&2
peer="$(run "$REDIS_HOST" "$REDIS_PORT")"

printf '| command | kvdb req/s | redis req/s | kvdb/redis |\n|---|---:|---:|---:|\n'
for cmd in SET GET; do
  o="$(awk -v c="$cmd:" '$1==c {print $2}' <<<"$ours")"
  p="$(awk -v c="$cmd:" '$1==c {print $2}' <<<"$peer")"
  awk -v c="$cmd" -v o="$o" -v p="$p" 'BEGIN { if (o=="" || p=="" || p==0) { printf "| %s | %s | %s | n/a |\n", c, o, p } else printf "| %s | %.0f | %.0f | %.2f× |\n", c, o, p, o/p }'
done
