#!/usr/bin/env bash
# The rate limiter's cost: requests/s of one limited route with the limit off, counted in the
# SQLite file (the embedded store's counter), and counted in Redis (the counter used whenever
# Redis is configured), measured with wrk as benches/api.sh does. Each run uses a fresh
# DATA_DIR with a small catalogue (so the route itself is cheap and the limiter shows) and, for
# the Redis counter, a fresh redis-server on a free loopback port (no persistence). The catalogue
# is written by an administrator made with `svc user create --admin` and logged in over HTTP.
#
# Usage: benches/rate_limit.sh [--debug]       (default: the release build, target/release/svc)
# Env:   DURATION (15s)  CONNECTIONS (32)  THREADS (2)  PRODUCTS (200)  ROUNDS (3: the median is shown)
#
# Prints one markdown table row per counter; docs/BENCHMARKS.md holds the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/release/svc
if [ "${1:-}" = "--debug" ]; then BIN=target/debug/svc; fi
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
PRODUCTS=${PRODUCTS:-200}
ROUNDS=${ROUNDS:-3}
ROUTE='/api/products?category=laptops&sort=price&limit=10'

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is missing: apt-get install -y redis-server" >&2; exit 1; }
[ -x "$BIN" ] || { echo "$BIN is missing: cargo build --release (or pass --debug)" >&2; exit 1; }

work=$(mktemp -d)
api_pid=""
redis_pid=""
stop() {
  if [ -n "$api_pid" ]; then kill -TERM "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true; api_pid=""; fi
  if [ -n "$redis_pid" ]; then kill -TERM "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; redis_pid=""; fi
}
trap 'stop; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start COUNTER: off | sqlite | redis. A fresh DATA_DIR (and Redis), seeded, then the measured API.
start() {
  local data="$work/data-$1-$RANDOM" redis_url="" rate=off
  if [ "$1" = redis ]; then
    local redis_port
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$work" >>"$work/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 1 200); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null; then break; fi
      sleep 0.05
    done
    redis_url="redis://127.0.0.1:$redis_port"
  fi
  # A limit no run reaches: every request is counted, none refused.
  if [ "$1" != off ]; then rate=1000000000/1h; fi
  port=$(free_port)
  PORT=$port HOST=127.0.0.1 DATA_DIR="$data" LOG_LEVEL=info RATE_LIMIT=$rate REDIS_URL="$redis_url" \
    "$BIN" api >>"$work/api.log" 2>&1 &
  api_pid=$!
  for _ in $(seq 1 200); do
    if curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1; then break; fi
    sleep 0.05
  done
  curl -fs "http://127.0.0.1:$port/ready" >/dev/null || { echo "svc api did not start; see $work/api.log" >&2; exit 1; }
  # An administrator in that DATA_DIR (the password on stdin), logged in: its access token.
  local password token
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  printf '%s' "$password" | DATA_DIR="$data" "$BIN" user create --email bench-admin@example.com \
    --name "Bench Admin" --admin --password-stdin >/dev/null
  token=$(curl -fs -H 'Content-Type: application/json' \
    -d "{\"email\":\"bench-admin@example.com\",\"password\":\"$password\"}" \
    "http://127.0.0.1:$port/api/auth/login" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["accessToken"])')
  python3 - "$port" "$PRODUCTS" "$token" <<'PY'
import http.client, json, sys
port, count, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
conn = http.client.HTTPConnection("127.0.0.1", port)
kinds = ["laptops", "phones", "cameras", "monitors"]
for i in range(count):
    body = {"title": f"Product {i}", "price": 10 + i, "category": kinds[i % 4], "stock": i % 7}
    conn.request("POST", "/api/products", json.dumps(body), headers)
    response = conn.getresponse()
    response.read()
    if response.status != 201:
        sys.exit(f"seeding failed at {i}: HTTP {response.status}")
PY
  # The counter in use must be the one asked for.
  local said
  said=$(grep -o '"rateLimit":"[a-z]*"' "$work/api.log" | tail -1)
  case "$1:$said" in
    off:*'"off"'|sqlite:*'"store"'|redis:*'"redis"') ;;
    *) echo "expected the $1 counter, the API said $said" >&2; exit 1 ;;
  esac
}

# One wrk run: prints requests/s, p50, p99 on one line (fails on any non-2xx answer).
run_wrk() {
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency "http://127.0.0.1:$port$ROUTE")
  if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; echo "non-2xx answers" >&2; exit 1; fi
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '$1 == "50%" {print $2}') $(echo "$out" | awk '$1 == "99%" {print $2}')"
}

echo "binary: $BIN; wrk -t$THREADS -c$CONNECTIONS -d$DURATION, median of $ROUNDS rounds; route $ROUTE over $PRODUCTS products; $(nproc) cores shared by wrk, the API and Redis"
echo
echo "| counter | requests/s (median) | p50 | p99 | every round (req/s) |"
echo "|---|---|---|---|---|"
for counter in off sqlite redis; do
  results=()
  for _ in $(seq 1 "$ROUNDS"); do
    start "$counter"
    results+=("$(run_wrk)")
    stop
  done
  median=$(printf '%s\n' "${results[@]}" | sort -n -k1,1 | sed -n "$(( (ROUNDS + 1) / 2 ))p")
  all=$(printf '%s\n' "${results[@]}" | awk '{printf "%s%s", sep, $1; sep=", "}')
  set -- $median
  printf '| %s | %s | %s | %s | %s |\n' "$counter" "$1" "$2" "$3" "$all"
done
