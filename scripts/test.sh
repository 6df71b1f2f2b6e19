#!/usr/bin/env bash
# The suite as `make test` runs it: two pytest processes side by side.
#   - the browser tests (marker `browser`, tests/e2e/test_web_*.py) without eventlet's monkey
#     patching, under which Playwright's sync API hangs (tests/conftest.py), with a stack of
#     their own; their output goes to test-artifacts/browser-tests.log and is shown at the end;
#   - everything else, in this terminal. Its own end-to-end tests on the deployed stack run
#     last (tests/conftest.py), after the browser tests' stack is down: two stacks at once
#     would hold some 100 idle database connections, PostgreSQL's default maximum.
# The exit status is non-zero when either failed. Arguments go to both pytest runs.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p test-artifacts
log=test-artifacts/browser-tests.log
SIMASN_TEST_BROWSER=1 "$BIN/pytest" -m browser -p no:cacheprovider --durations=10 "$@" \
  >"$log" 2>&1 &
browser=$!
# stopped (Ctrl-C, a CI timeout): the browser run stops its stack on SIGTERM (tests/e2e/harness.py)
trap 'kill -TERM "$browser" 2>/dev/null; wait "$browser"; exit 130' INT TERM
"$BIN/pytest" -m "not browser" --durations=20 "$@"
main=$?
wait "$browser"
browser_status=$?
trap - INT TERM
echo
echo "==== browser tests (run beside the suite above; full log: $log) ===="
cat "$log"
echo "==== main suite: exit $main; browser tests: exit $browser_status ===="
[ "$main" = 0 ] && [ "$browser_status" = 0 ]
