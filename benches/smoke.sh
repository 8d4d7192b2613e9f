#!/usr/bin/env bash
# How long `svc smoke` takes against the repository's stack (the daemon running svc.toml: two
# `svc api`, one `svc worker`, the embedded store and queue) on the machine it runs on: the whole
# run, and the welcome-email step (sign-up → outbox relay → queue → worker → completed, as polled).
#
# Usage: benches/smoke.sh [--debug]      (default: the release build, target/release/svc)
# Env:   RUNS (20)
#
# Prints a markdown table; docs/BENCHMARKS.md (## Deployment: svc smoke) holds the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=$PWD/target/release/svc
if [ "${1:-}" = "--debug" ]; then BIN=$PWD/target/debug/svc; fi
RUNS=${RUNS:-20}
[ -x "$BIN" ] || { echo "$BIN is missing: cargo build --release (or pass --debug)" >&2; exit 1; }

work=$(mktemp -d)
trap '"$BIN" --config "$work/svc.toml" stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The repository's svc.toml on a free port; no rate limit (the runs come from one address).
sed -e "s/3000/$port/g" -e 's/^\[env\].*/[env]\nRATE_LIMIT = "off"/' svc.toml >"$work/svc.toml"
"$BIN" --config "$work/svc.toml" start >/dev/null

totals=()
welcomes=()
for _ in $(seq 1 "$RUNS"); do
  start=$(date +%s%N)
  out=$("$BIN" smoke "http://127.0.0.1:$port" --timeout 30s)
  end=$(date +%s%N)
  totals+=($(( (end - start) / 1000000 )))
  welcomes+=("$(printf '%s\n' "$out" | sed -n 's/^ok *welcome-email .* in \([0-9]*\)ms$/\1/p')")
done

stats() { # median p95 max of the arguments
  printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {
    p95 = int((NR * 95 + 99) / 100); printf "%d | %d | %d", a[int((NR + 1) / 2)], a[p95], a[NR] }'
}
echo "binary: $BIN, $RUNS runs, $(nproc) cores"
echo "| measure | median ms | p95 ms | max ms |"
echo "|---|---|---|---|"
echo "| whole \`svc smoke\` run (process start to exit) | $(stats "${totals[@]}") |"
echo "| welcome-email step (sign-up to \`completed\` seen) | $(stats "${welcomes[@]}") |"
