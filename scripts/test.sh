#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, lints, then runs every test.
# Usage: scripts/test.sh [extra args for cargo nextest / cargo test]
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)   # tests/faults/service.rs
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)   # tests/deploy/monitoring.rs
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]} from Debian's packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# A real SMTP server for the worker's SMTP tests (tests/worker/smtp.rs): aiosmtpd from PyPI.
if ! target/pyenv/bin/python -c 'import aiosmtpd' >/dev/null 2>&1; then
  echo "==> installing aiosmtpd into target/pyenv"
  python3 -m venv target/pyenv && target/pyenv/bin/python -m pip install -q aiosmtpd
fi

# The Kubernetes manifests' schema validator (tests/deploy/manifests.rs), in the same venv. `python -m pip`
# rather than bin/pip: a venv copied from another checkout keeps that checkout's pip shebang.
if ! target/pyenv/bin/python -c 'import kubernetes_validate' >/dev/null 2>&1; then
  echo "==> installing kubernetes-validate into target/pyenv"
  [ -x target/pyenv/bin/python ] || python3 -m venv target/pyenv
  target/pyenv/bin/python -m pip install -q kubernetes-validate==1.31.0
fi

# The real Node BullMQ peer for the Redis interop tests (tests/queue/bullmq_interop.rs), when Node is
# here: a copy of ../shared/peers/bullmq (read-only) under target/, with its locked packages.
peer_src=../shared/peers/bullmq
if command -v node >/dev/null 2>&1 && [ -d "$peer_src" ] && [ ! -d target/bullmq-peer/node_modules/bullmq ]; then
  echo "==> installing the Node BullMQ peer into target/bullmq-peer"
  rm -rf target/bullmq-peer && mkdir -p target && cp -r "$peer_src" target/bullmq-peer
  chmod -R u+w target/bullmq-peer
  (cd target/bullmq-peer && npm ci --no-audit --no-fund --loglevel=error)
fi

# A real MongoDB wire-protocol server for the MongoDB backend's tests (tests/common/api/mongo.rs):
# SecantusDB from PyPI. GPL, so it is installed here and never vendored; only pre-releases
# exist, so the version is pinned.
SECANTUSDB=0.7.0b3
if ! target/mongo-venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('secantusdb') != '$SECANTUSDB')" >/dev/null 2>&1; then
  echo "==> installing SecantusDB $SECANTUSDB into target/mongo-venv"
  python3 -m venv target/mongo-venv && target/mongo-venv/bin/pip install -q "secantusdb==$SECANTUSDB"
fi

echo "==> lint"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings

echo "==> tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --profile ci --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
