#!/usr/bin/env bash
# The suite as `make test` runs it: pytest processes side by side.
#   - the browser tests (marker `browser`, tests/e2e/test_web_*.py) without eventlet's monkey
#     patching, under which Playwright's sync API hangs (tests/conftest.py), with a stack of
#     their own; their output goes to test-artifacts/browser-tests.log;
#   - everything else in SIMASN_TEST_PARTS parts (default 2) of whole test files, balanced by
#     tests/file_durations.json (tests/sharding.py): most of the suite's time is waiting on the
#     broker, the database and processes starting, so the parts overlap well on two cores.
#     Part 1 prints to this terminal, the others to test-artifacts/part-K.log. The end-to-end
#     tests on the deployed stack stay in one part and run last in it (tests/conftest.py).
# Every log is shown at the end; the exit status is non-zero when any run failed. Arguments go
# to every pytest run (`scripts/test.sh -x`; `SIMASN_TEST_PARTS=1` runs one part as before).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PARTS=${SIMASN_TEST_PARTS:-2}
mkdir -p test-artifacts
rm -f test-artifacts/file-durations-*.json
pids=()
names=()
SIMASN_TEST_BROWSER=1 "$BIN/pytest" -m browser -p no:cacheprovider --durations=10 "$@" \
  >test-artifacts/browser-tests.log 2>&1 &
pids+=($!)
names+=(browser)
for ((k = 2; k <= PARTS; k++)); do
  "$BIN/pytest" -m "not browser" -p no:cacheprovider --shard "$k/$PARTS" --durations=20 "$@" \
    >"test-artifacts/part-$k.log" 2>&1 &
  pids+=($!)
  names+=("part $k")
done
# stopped (Ctrl-C, a CI timeout): each run stops its stack on SIGTERM (tests/e2e/harness.py)
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait; exit 130' INT TERM
if [ "$PARTS" -gt 1 ]; then
  "$BIN/pytest" -m "not browser" --shard "1/$PARTS" --durations=20 "$@"
else
  "$BIN/pytest" -m "not browser" --durations=20 "$@"
fi
statuses=("part 1: exit $?")
failed=$([ "${statuses[0]}" = "part 1: exit 0" ] && echo 0 || echo 1)
for i in "${!pids[@]}"; do
  wait "${pids[$i]}"
  status=$?
  statuses+=("${names[$i]}: exit $status")
  [ "$status" = 0 ] || failed=1
done
trap - INT TERM
for ((k = 2; k <= PARTS; k++)); do
  echo
  echo "==== part $k of $PARTS (run beside the one above; log: test-artifacts/part-$k.log) ===="
  cat "test-artifacts/part-$k.log"
done
echo
echo "==== browser tests (run beside the suite above; log: test-artifacts/browser-tests.log) ===="
cat test-artifacts/browser-tests.log
echo "==== ${statuses[*]} ===="
[ "$failed" = 0 ]
