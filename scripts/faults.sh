#!/usr/bin/env bash
# The long variants of the fault suite (CI runs the short ones in scripts/test.sh).
# Prints one FIGURE line per case; docs/RELIABILITY.md records them. Takes about 7 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
SVC_FAULTS=long cargo test --test faults -- --nocapture --test-threads=1 2>&1 | tee /dev/stderr | grep '^FIGURE'
