#!/usr/bin/env bash
# What accounts cost: requests/s and latency of the same routes anonymous and with an access
# token, and the login rate, measured with wrk (Debian's `wrk` package) against the real
# `svc api` on the embedded store, limits off (RATE_LIMIT=off, AUTH_RATE_LIMIT=off).
#
#  - `GET /api/products?limit=20`: anonymous, then with a user's token (the HS256 check only);
#  - `GET /api/users/me` with a user's token (the check and one read of the account), beside
#    `GET /api/products/:id` anonymous (one read of a row);
#  - `POST /api/products` with an admin's token (the check, the admin re-read from the store,
#    then the write);
#  - `POST /api/auth/login` with the right password: argon2id (m=19 MiB, t=2) per request, at
#    most one hash per core at once (the API's hashing slots), plus one session written.
#
# Usage: benches/auth.sh [--debug]       (default: the release build, target/release/svc)
# Env:   DURATION (10s)  CONNECTIONS (32)  LOGIN_CONNECTIONS (8)  THREADS (2)
#
# Prints one markdown table row per measurement; docs/BENCHMARKS.md holds the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/release/svc
if [ "${1:-}" = "--debug" ]; then BIN=target/debug/svc; fi
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
LOGIN_CONNECTIONS=${LOGIN_CONNECTIONS:-8}
THREADS=${THREADS:-2}

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
[ -x "$BIN" ] || { echo "$BIN is missing: cargo build --release (or pass --debug)" >&2; exit 1; }

work=$(mktemp -d)
api_pid=""
trap 'if [ -n "$api_pid" ]; then kill -TERM "$api_pid" 2>/dev/null; wait "$api_pid" 2>/dev/null; fi; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PORT=$port HOST=127.0.0.1 DATA_DIR="$work/data" LOG_LEVEL=warn RATE_LIMIT=off AUTH_RATE_LIMIT=off \
  "$BIN" api >>"$work/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 200); do
  if curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1; then break; fi
  sleep 0.05
done
base="http://127.0.0.1:$port"
password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')

# login EMAIL: the access token.
login() {
  curl -fs -H 'Content-Type: application/json' -d "{\"email\":\"$1\",\"password\":\"$password\"}" \
    "$base/api/auth/login" | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["accessToken"])'
}

printf '%s' "$password" | DATA_DIR="$work/data" "$BIN" user create --email admin@example.com \
  --name Admin --admin --password-stdin >/dev/null
curl -fs -o /dev/null -H 'Content-Type: application/json' \
  -d "{\"name\":\"User\",\"email\":\"user@example.com\",\"password\":\"$password\"}" "$base/api/users"
admin=$(login admin@example.com)
user=$(login user@example.com)
for i in $(seq 1 50); do
  curl -fs -o /dev/null -H 'Content-Type: application/json' -H "Authorization: Bearer $admin" \
    -d "{\"title\":\"Lamp $i\",\"price\":$i}" "$base/api/products"
done
product=$(curl -fs "$base/api/products?limit=1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"][0]["id"])')

cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY")
LUA

# measure LABEL PATH CONNECTIONS [wrk args...]: one wrk run, one table row.
measure() {
  local label=$1 path=$2 connections=$3 out rps p50 p99
  shift 3
  out=$(wrk -t"$THREADS" -c"$connections" -d"$DURATION" --timeout 10s --latency "$@" "$base$path")
  if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; echo "non-2xx answers for $label" >&2; exit 1; fi
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  printf '| %s | `%s` | %s | %s | %s | %s |\n' "$label" "$path" "$connections" "$rps" "$p50" "$p99"
}

slots=$(nproc)
echo "| request | path | connections | req/s | p50 | p99 |"
echo "|---|---|---|---|---|---|"
measure "list, anonymous" "/api/products?limit=20" "$CONNECTIONS"
measure "list, user token" "/api/products?limit=20" "$CONNECTIONS" -H "Authorization: Bearer $user"
measure "one product, anonymous" "/api/products/$product" "$CONNECTIONS"
measure "own account, user token" "/api/users/me" "$CONNECTIONS" -H "Authorization: Bearer $user"
BODY='{"title":"Bench lamp","price":9.5}' measure "product write, admin token" "/api/products" "$CONNECTIONS" \
  -H "Authorization: Bearer $admin" -s "$work/post.lua"
BODY="{\"email\":\"user@example.com\",\"password\":\"$password\"}" measure "login ($slots hashing slots)" \
  "/api/auth/login" "$LOGIN_CONNECTIONS" -s "$work/post.lua"
