#!/bin/bash
# End-to-end xenstore tests with Xen's own clients against our xenstored:
#   xenstore-utils round trips (roundtrip.sh), Xen's test-xenstore -i 100, and the pyxs suite.
# Usage: tests/xenstore/run.sh   (from anywhere; needs root for apt-get when packages are missing)
# Env: XENSTORED_BIN=path to use a prebuilt xenstored instead of building it (debug).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

need_packages=0
[ -x /usr/bin/xenstore-read ] || need_packages=1
[ -x /usr/lib/xen-4.17/bin/test-xenstore ] || need_packages=1
/usr/bin/python3 -c 'import pyxs, pytest, pytest_timeout' 2>/dev/null || need_packages=1
if [ "$need_packages" = 1 ]; then
  echo "installing xenstore-utils, python3-pyxs, xen-utils-4.17, python3-pytest, python3-pytest-timeout"
  export DEBIAN_FRONTEND=noninteractive
  pkgs="xenstore-utils python3-pyxs xen-utils-4.17 python3-pytest python3-pytest-timeout"
  apt-get install -y --no-install-recommends $pkgs >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends $pkgs >/dev/null; } ||
    { echo "apt-get install failed" >&2; exit 1; }
fi

if [ -z "${XENSTORED_BIN:-}" ]; then
  log=$(mktemp)
  if ! (cd "$root" && swift build --product xenstored >"$log" 2>&1); then
    tail -40 "$log" >&2; rm -f "$log"; echo "building xenstored failed" >&2; exit 1
  fi
  tail -1 "$log"; rm -f "$log"
  XENSTORED_BIN="$(cd "$root" && swift build --show-bin-path)/xenstored"
fi
[ -x "$XENSTORED_BIN" ] || { echo "no xenstored binary at $XENSTORED_BIN" >&2; exit 1; }

dir=$(mktemp -d /tmp/xenstore-e2e.XXXXXX)
"$XENSTORED_BIN" --socket "$dir/socket" --domain-socket "5:$dir/dom5.sock" \
  --domain-socket "6:$dir/dom6.sock" --domain-socket "7:$dir/dom7.sock" --log-level info \
  >"$dir/xenstored.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$dir/dom7.sock" ] && break; sleep 0.1; done
if ! [ -S "$dir/dom7.sock" ]; then
  echo "xenstored did not start:" >&2; cat "$dir/xenstored.log" >&2; exit 1
fi
export XENSTORED_PATH=$dir/socket XS_TEST_DIR=$dir

status=0
suites_passed=0
suites_failed=0
suite() {  # suite NAME COMMAND...: run one part, count it
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    suites_passed=$((suites_passed + 1))
  else
    echo "FAILED: $name"
    suites_failed=$((suites_failed + 1))
    status=1
  fi
}
suite "xenstore-utils round trips" "$here/roundtrip.sh"
suite "test-xenstore -i 100" bash -c "cd '$dir' && timeout 300 /usr/lib/xen-4.17/bin/test-xenstore -i 100"
suite "pyxs suite" bash -c "cd '$here' && timeout 600 /usr/bin/python3 -m pytest -q -p no:cacheprovider test_xenstore.py"

if ! kill -0 "$pid" 2>/dev/null; then
  echo "xenstored died during the tests:" >&2; tail -20 "$dir/xenstored.log" >&2; status=1
else
  kill -TERM "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "xenstored ignored SIGTERM" >&2; kill -KILL "$pid"; status=1
  elif [ -e "$dir/socket" ]; then
    echo "xenstored left its socket behind" >&2; status=1
  fi
fi
wait "$pid" 2>/dev/null
[ "$status" = 0 ] && rm -rf "$dir" || echo "logs kept in $dir"
echo "xenstore e2e suites: $suites_passed passed, $suites_failed failed"
exit $status
