#!/usr/bin/env bash
# The API benchmark: requests/s and latency percentiles, measured with wrk (Debian's `wrk`
# package) against the real `svc api` binary on a 10,000-product catalogue seeded over HTTP (by
# an administrator made with `svc user create --admin`, logged in with POST /api/auth/login),
# then (embedded store only) on a 1,000,000-product catalogue seeded straight through the store
# by benches/catalogue.rs (the same insert the API makes, without HTTP).
#
# Usage: benches/api.sh [--debug]       (default: the release build, target/release/svc)
# Env:   DURATION (20s)  CONNECTIONS (32)  THREADS (2)  PRODUCTS (10000)
#        RUNS (3): wrk runs per path; the row printed is the run with the median requests/s
#        LARGE_PRODUCTS (1000000; 0 skips the large catalogue)
#        LARGE_DIR: a folder to keep the large catalogue in (seeded once, reused by later runs
#        while its count is LARGE_PRODUCTS); by default a temporary one
#        SVC_BIN: another svc binary to measure (an older build, for a before/after)
#        BACKEND: sqlite (default, the embedded store) or mongo (DB_URL=MONGO_URL if given, else a
#        SecantusDB server from target/mongo-venv, as scripts/test.sh installs it, on a free
#        loopback port with its storage in the work folder)
#
# Also measures sign-ups (POST /api/users: an argon2id hash, the user and its welcome-email job
# written) on the small catalogue.
#
# Prints one markdown table row per measurement; docs/BENCHMARKS.md holds the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${SVC_BIN:-target/release/svc}
if [ "${1:-}" = "--debug" ]; then BIN=target/debug/svc; fi
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
PRODUCTS=${PRODUCTS:-10000}
BACKEND=${BACKEND:-sqlite}
RUNS=${RUNS:-3}
LARGE_PRODUCTS=${LARGE_PRODUCTS:-1000000}
case "$BACKEND" in sqlite|mongo) ;; *) echo "BACKEND must be sqlite or mongo" >&2; exit 1 ;; esac

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
[ -x "$BIN" ] || { echo "$BIN is missing: cargo build --release (or pass --debug)" >&2; exit 1; }

work=$(mktemp -d)
api_pid=""
mongo_pid=""
stop_api() {
  if [ -n "$api_pid" ]; then kill -TERM "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true; api_pid=""; fi
}
stop_mongo() {
  if [ -n "$mongo_pid" ]; then kill -TERM "$mongo_pid" 2>/dev/null || true; wait "$mongo_pid" 2>/dev/null || true; mongo_pid=""; fi
}
trap 'stop_api; stop_mongo; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The store: nothing to start for the embedded one; for MongoDB, MONGO_URL or a SecantusDB (and
# a signing key for the access tokens, which the embedded store makes by itself in DATA_DIR).
db_url=""
auth_secret=""
if [ "$BACKEND" = mongo ]; then
  auth_secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  if [ -n "${MONGO_URL:-}" ]; then
    db_url=$MONGO_URL
  else
    secantusd=target/mongo-venv/bin/secantusd-py
    [ -x "$secantusd" ] || { echo "$secantusd is missing: run scripts/test.sh (or set MONGO_URL)" >&2; exit 1; }
    mongo_port=$(free_port)
    mkdir -p "$work/mongo"
    "$secantusd" --host 127.0.0.1 --port "$mongo_port" --storage-path "$work/mongo" --standalone \
      --log-level WARNING >>"$work/mongo.log" 2>&1 &
    mongo_pid=$!
    for _ in $(seq 1 200); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$mongo_port") 2>/dev/null; then break; fi
      sleep 0.05
    done
    db_url="mongodb://127.0.0.1:$mongo_port/svc_bench?directConnection=true"
  fi
fi

# start_api RATE_LIMIT [DATA_DIR]: runs svc api on a free port over $work/data (or DATA_DIR),
# waits for /ready.
start_api() {
  port=$(free_port)
  PORT=$port HOST=127.0.0.1 DATA_DIR="${2:-$work/data}" LOG_LEVEL=info RATE_LIMIT="$1" DB_URL="$db_url" \
    AUTH_SECRET="$auth_secret" "$BIN" api >>"$work/api.log" 2>&1 &
  api_pid=$!
  for _ in $(seq 1 200); do
    if curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1; then return 0; fi
    sleep 0.05
  done
  echo "svc api did not start; see $work/api.log" >&2
  exit 1
}

# admin_token: makes an administrator in the API's database (as an operator would: svc user
# create --admin, the password on stdin) and prints its access token (POST /api/auth/login).
admin_token() {
  local email=bench-admin@example.com password
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  printf '%s' "$password" | DATA_DIR="$work/data" DB_URL="$db_url" AUTH_SECRET="$auth_secret" \
    "$BIN" user create --email "$email" --name "Bench Admin" --admin --password-stdin >/dev/null
  curl -fs -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\"}" "http://127.0.0.1:$port/api/auth/login" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["accessToken"])'
}

seed() {
  local token
  token=$(admin_token)
  python3 - "$port" "$PRODUCTS" "$token" <<'PY'
import http.client, json, random, sys
port, count, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
rng = random.Random(42)
kinds = ["Phone", "Laptop", "Tablet", "Headphones", "Camera", "Monitor", "Keyboard", "Mouse", "Speaker", "Watch"]
brands = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka"]
adjectives = ["Pro", "Max", "Mini", "Air", "Ultra", "Lite", "Plus", "Neo"]
conn = http.client.HTTPConnection("127.0.0.1", port)
for i in range(count):
    kind = rng.choice(kinds)
    body = {
        "title": f"{rng.choice(brands)} {kind} {rng.choice(adjectives)} {i}",
        "description": f"A {rng.choice(adjectives).lower()} {kind.lower()} for everyday use, model {i}",
        "price": round(rng.uniform(5, 2500), 2),
        "brand": rng.choice(brands),
        "category": kind.lower() + "s",
        "tags": rng.sample(["new", "sale", "popular", "eco", "5g", "wireless", "refurbished"], 2),
        "stock": rng.choice([0, 0, 1, 5, 20, 100]),
    }
    conn.request("POST", "/api/products", json.dumps(body), headers)
    response = conn.getresponse()
    response.read()
    if response.status != 201:
        sys.exit(f"seeding failed at {i}: HTTP {response.status}")
PY
}

# measure LABEL PATH [WRK_SCRIPT]: RUNS wrk runs, one table row (the run with the median
# requests/s). A GET path is requested once first, its time printed: the first list of a query
# shape counts its matches, later pages of an unchanged catalogue reuse that exact total.
measure() {
  local out rps p50 p99 rows="" script=()
  if [ -n "${3:-}" ]; then
    script=(-s "$3")
  else
    echo "  $2: first request $(curl -fs -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port$2") s" >&2
  fi
  for _ in $(seq 1 "$RUNS"); do
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency "${script[@]}" "http://127.0.0.1:$port$2")
    if echo "$out" | grep -q "Socket errors"; then echo "$2: $(echo "$out" | grep "Socket errors")" >&2; fi
    if echo "$out" | grep -q "Non-2xx"; then
      echo "$out" >&2; grep "unavailable" "$work/api.log" | grep -v "failing fast" | head -3 >&2 || true
      if [ "${KEEP_GOING:-}" = 1 ]; then
        printf '| %s | `%s` | %s | | |\n' "$1" "$2" "failed: $(echo "$out" | awk '/Non-2xx/ {print $NF}') non-2xx answers (503: slower than the store gate allows)"
        return 0
      fi
      echo "non-2xx answers for $2" >&2; exit 1
    fi
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    echo "  $2: $rps req/s, p50 $p50, p99 $p99" >&2
    rows+="$rps $p50 $p99"$'\n'
  done
  read -r rps p50 p99 < <(printf '%s' "$rows" | sort -g -k1,1 | sed -n "$(( (RUNS + 1) / 2 ))p")
  printf '| %s | `%s` | %s | %s | %s |\n' "$1" "$2" "$rps" "$p50" "$p99"
}

# Sign-ups for wrk: POST /api/users, a new email each request (the thread, a counter and the
# run's start second, so repeated runs on one database never collide).
cat >"$work/signup.lua" <<'LUA'
local counter = 0
local threads = 0
local prefix = os.time()
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench User","email":"bench-%d-%d-%d@example.com","password":"correct horse battery"}',
    prefix, tid, counter)
  return wrk.format("POST", "/api/users", { ["Content-Type"] = "application/json" }, body)
end
LUA

QUERY='/api/products?search=phone&sort=-price,title&page=3&limit=20'
FILTER='/api/products?category=laptops&minPrice=100&maxPrice=1500&inStock=true&sort=price&page=5'

start_api off
echo "seeding $PRODUCTS products over HTTP ..." >&2
seed_start=$(date +%s.%N)
seed
seed_end=$(date +%s.%N)
echo "seeded in $(python3 -c "print(round($seed_end - $seed_start, 1))") s" >&2
total=$(curl -fs "http://127.0.0.1:$port/api/products?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["meta"]["total"])')
[ "$total" = "$PRODUCTS" ] || { echo "expected $PRODUCTS products, found $total" >&2; exit 1; }

echo "backend: $BACKEND; binary: $BIN; wrk -t$THREADS -c$CONNECTIONS -d$DURATION, median of $RUNS runs; $(nproc) cores shared by wrk, the API (and the database server); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "$PRODUCTS products (seeded over HTTP):"
echo
echo "| measurement | path | requests/s | p50 | p99 |"
echo "|---|---|---|---|---|"
measure "/health" "/health"
measure "search + sort + page, rate limit off" "$QUERY"
measure "filters + sort + page, rate limit off" "$FILTER"
measure "sign-ups (argon2id, $(nproc) cores), rate limit off" "/api/users" "$work/signup.lua"
stop_api

start_api 1000000000/1h
measure "search + sort + page, rate limit on ($BACKEND counter)" "$QUERY"
stop_api

# The large catalogue: seeded through the store (benches/catalogue.rs), embedded store only.
if [ "$LARGE_PRODUCTS" = 0 ]; then exit 0; fi
if [ "$BACKEND" != sqlite ]; then echo "the $LARGE_PRODUCTS-product run seeds the embedded store only: skipped" >&2; exit 0; fi
large=${LARGE_DIR:-$work/large}
mkdir -p -m 700 "$large"
count() { curl -fs "http://127.0.0.1:$port/api/products?limit=1$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["meta"]["total"])'; }
have=0
if [ -e "$large/svc.db" ]; then start_api off "$large"; have=$(count ""); stop_api; fi
if [ "$have" != "$LARGE_PRODUCTS" ]; then
  # The seeder is built only when there is something to seed.
  [ "$have" = 0 ] || { echo "$large holds $have products, not $LARGE_PRODUCTS: empty it or pick another LARGE_DIR" >&2; exit 1; }
  seeder=$(cargo build --release --bench catalogue --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "catalogue" and m.get("executable"):
        print(m["executable"])')
  [ -x "$seeder" ] || { echo "could not build benches/catalogue.rs: cargo build --release --bench catalogue" >&2; exit 1; }
  echo "seeding $LARGE_PRODUCTS products through the store ..." >&2
  "$seeder" --data-dir "$large" --products "$LARGE_PRODUCTS" >&2
fi
start_api off "$large"
# A path too slow for the store gate at this size is reported as such, and the next one runs.
KEEP_GOING=1
total=$(count "")
[ "$total" = "$LARGE_PRODUCTS" ] || { echo "expected $LARGE_PRODUCTS products, found $total" >&2; exit 1; }
echo
echo "$LARGE_PRODUCTS products (seeded through the store); load average $(cut -d' ' -f1-3 /proc/loadavg):"
echo
echo "| measurement | path | requests/s | p50 | p99 |"
echo "|---|---|---|---|---|"
measure "search + sort + page, rate limit off" "$QUERY"
measure "filters + sort + page, rate limit off" "$FILTER"
stop_api
