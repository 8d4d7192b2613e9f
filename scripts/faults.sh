#!/usr/bin/env bash
# The long variants of the fault suite (CI runs the short ones in scripts/test.sh).
# Prints one FIGURE line per case; docs/RELIABILITY.md records them. Takes about 45 minutes
# (supervisor ~7, service ~20 with argon2 sign-ups, input ~18).
#   scripts/faults.sh            everything
#   scripts/faults.sh supervisor tests/faults/supervisor.rs only (about 7 minutes)
#   scripts/faults.sh service    tests/faults/service.rs, tests/faults/redis_outage.rs and tests/api/abuse.rs
#   scripts/faults.sh input      the bad-input property tests (tests/*/*_input.rs) with PROPTEST_CASES
#                                (default 100000 per target)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
# The tests of the integration suite (tests/suite.rs) whose path holds "$1::", one at a time.
# The FIGURE lines are repeated at the end (they share a line with the test's name); a failing
# test fails the script, a case without figures does not.
run() { cargo test --test suite -- "$1::" --nocapture --test-threads=1 2>&1 | tee /dev/stderr | { grep -o 'FIGURE.*' || true; }; }
if [ "$what" = all ] || [ "$what" = supervisor ]; then
  SVC_FAULTS=long run faults::supervisor
fi
if [ "$what" = all ] || [ "$what" = service ]; then
  SVC_FAULTS=long run faults::service
  SVC_FAULTS=long run faults::redis_outage
  run api::abuse
fi
if [ "$what" = all ] || [ "$what" = input ]; then
  PROPTEST_CASES="${PROPTEST_CASES:-100000}" run _input
fi
