#!/bin/bash
# Round trips with Debian's xenstore-utils against the server at $XENSTORED_PATH, comparing
# exact output and exit codes. Passes against Debian's C xenstored 4.17 as well (that is how the
# expectations were checked). Prints "N passed, N failed"; exits non-zero on any failure.
set -u
: "${XENSTORED_PATH:?set XENSTORED_PATH to the server socket}"
export XENSTORED_PATH
passed=0
failed=0

# check NAME EXPECTED_RC EXPECTED_OUTPUT -- COMMAND...
check() {
  local name=$1 want_rc=$2 want_out=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" = "$want_rc" ] && [ "$out" = "$want_out" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name: $* -> rc=$rc (want $want_rc)"
    diff <(printf '%s\n' "$want_out") <(printf '%s\n' "$out") | sed 's/^/    /'
  fi
}

xenstore-rm /rt >/dev/null 2>&1
xenstore-rm /local/domain/0/rtrel >/dev/null 2>&1

check "write several" 0 "" -- xenstore-write /rt/a 1 /rt/b/c "two words" /rt/b/d ""
check "read one" 0 "1" -- xenstore-read /rt/a
check "read several" 0 $'1\ntwo words' -- xenstore-read /rt/a /rt/b/c
check "read empty value" 0 "" -- xenstore-read /rt/b/d
check "read implicit parent" 0 "" -- xenstore-read /rt/b
check "read missing" 1 "xenstore-read: couldn't read path /rt/nope" -- xenstore-read /rt/nope
check "read invalid path" 1 "xenstore-read: couldn't read path /rt/bad path" -- xenstore-read "/rt/bad path"
check "list in creation order" 0 $'a\nb' -- xenstore-list /rt
check "list children" 0 $'c\nd' -- xenstore-list /rt/b
check "ls tree" 0 $'a = "1"\nb = ""\n c = "two words"\n d = ""' -- xenstore-ls /rt
check "ls full paths" 0 $'/rt/b/c = "two words"\n/rt/b/d = ""' -- xenstore-ls -f /rt/b
check "exists yes" 0 "" -- xenstore-exists /rt/a
check "exists no" 1 "" -- xenstore-exists /rt/nope
check "chmod" 0 "" -- xenstore-chmod /rt/a n0 r5
check "ls with perms" 0 'a = "1"  . . . . . . . . . . . . . . . . . . . . . . . . . .  (n0,r5)' -- \
  bash -c 'xenstore-ls -p /rt | head -1'
check "chmod bad perm" 1 "xenstore-chmod: Invalid permission specification: 'x'" -- xenstore-chmod /rt/a x5
check "chmod missing node" 1 "xenstore-chmod: Error occurred setting permissions on '/rt/nope': No such file or directory" -- \
  xenstore-chmod /rt/nope n0
check "relative write" 0 "" -- xenstore-write rtrel/x 9
check "relative lands in dom0 home" 0 "9" -- xenstore-read /local/domain/0/rtrel/x
check "relative read" 0 "9" -- xenstore-read rtrel/x
check "binary-ish value" 0 "a=b,c;d" -- bash -c 'xenstore-write /rt/v "a=b,c;d" && xenstore-read /rt/v'
check "rm leaf" 0 "" -- xenstore-rm /rt/b/d
check "rm gone" 0 "c" -- xenstore-list /rt/b
check "rm absent with parent" 0 "" -- xenstore-rm /rt/b/nope
check "rm absent without parent" 1 "xenstore-rm: could not remove path /rt/x/y" -- xenstore-rm /rt/x/y
check "rm subtree" 0 $'a\nv' -- bash -c 'xenstore-rm /rt/b && xenstore-list /rt'
check "watch initial and changes" 0 $'/rt/w\n/rt/w/x\n/rt/w/y/z' -- bash -c '
  xenstore-write /rt/w "" 
  xenstore-watch -n 3 /rt/w > /tmp/rt-watch.$$ &
  pid=$!
  sleep 0.3
  xenstore-write /rt/wz nope   # a sibling sharing the prefix must not fire
  xenstore-write /rt/w/x 1
  xenstore-write /rt/w/y/z 2
  wait $pid
  cat /tmp/rt-watch.$$; rm -f /tmp/rt-watch.$$'
check "control help lists help" 0 "help	" -- bash -c '/usr/lib/xen-4.17/bin/xenstore-control help | grep "^help"'

xenstore-rm /rt >/dev/null 2>&1
xenstore-rm /local/domain/0/rtrel >/dev/null 2>&1
echo "roundtrip: $passed passed, $failed failed"
[ "$failed" = 0 ]
