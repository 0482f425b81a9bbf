#!/usr/bin/env bash
# Browser tests against a real jiceng demo server.
#
# Builds nothing: it expects a built binary in JICENG_BIN (default ../target/debug/jiceng, relative
# to this folder), Debian's Chromium at /usr/bin/chromium (or CHROMIUM=path) and `npm ci` done here.
#
#   JICENG_BIN=$PWD/../target/debug/jiceng bash run.sh [test files...]
#
# Starts `jiceng demo --scale small` (with the test clock, JICENG_TEST_CLOCK=1) on a free loopback port with a database and field key in a
# temp folder, adds test accounts with the CLI (an audit admin among them, whose TOTP secret goes
# to the tests in E2E_AUDITOR_TOTP; a department member, whose department goes in E2E_DEPARTMENT),
# runs `node --test`, stops the server and exits with the tests' status. Screenshots go to
# test-results/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

JICENG_BIN="${JICENG_BIN:-$HERE/../target/debug/jiceng}"
case "$JICENG_BIN" in /*) ;; *) JICENG_BIN="$HERE/$JICENG_BIN" ;; esac
if [ ! -x "$JICENG_BIN" ]; then
  echo "run.sh: no jiceng binary at $JICENG_BIN (build it with: cargo build -p jiceng)" >&2
  exit 2
fi
if [ ! -d "$HERE/node_modules/playwright-core" ]; then
  echo "run.sh: playwright-core is not installed; run 'npm ci' in $HERE first" >&2
  exit 2
fi
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "run.sh: no Chromium at $CHROMIUM (apt-get install -y chromium)" >&2
  exit 2
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/jiceng-e2e.XXXXXX")"
SERVER_PID=""

cleanup() {
  local rc=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -f "$TMP/server.log" ]; then
    echo "---- server log (last 80 lines) ----" >&2
    tail -n 80 "$TMP/server.log" >&2 || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free loopback port: try random ones in 18080..19079 until nothing listens there.
port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
PORT=""
for _ in $(seq 1 50); do
  p=$((18080 + RANDOM % 1000))
  if port_free "$p"; then PORT="$p"; break; fi
done
if [ -z "$PORT" ]; then
  echo "run.sh: found no free port" >&2
  exit 2
fi
URL="http://127.0.0.1:$PORT"
DB="$TMP/jiceng.db"
# The field encryption key (ID numbers, phones) lives with the throwaway database, not in this folder.
export JICENG_FIELD_KEY_FILE="$TMP/field.key"

echo "run.sh: starting demo server on $URL (database $DB)"
# A movable clock (POST /test/clock/advance) lets the tests cross time limits: escalation, 特急
# alarms climbing every 15 minutes, late whistle sign-ins. Never set outside tests.
JICENG_TEST_CLOCK=1 "$JICENG_BIN" demo --scale small --listen "127.0.0.1:$PORT" --db "$DB" >"$TMP/server.log" 2>&1 </dev/null &
SERVER_PID=$!

healthy=""
for _ in $(seq 1 240); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "run.sh: the server exited before it answered /healthz" >&2
    cat "$TMP/server.log" >&2
    SERVER_PID=""
    exit 1
  fi
  code="$(node -e '
    fetch(process.argv[1]).then(r => { console.log(r.status); }, () => { console.log(0); });
  ' "$URL/healthz" 2>/dev/null || echo 0)"
  if [ "$code" = "200" ]; then healthy=1; break; fi
  sleep 0.5
done
if [ -z "$healthy" ]; then
  echo "run.sh: $URL/healthz did not answer 200 within 120 s" >&2
  cat "$TMP/server.log" >&2
  exit 1
fi
echo "run.sh: server is up"

E2E_PASSWORD='E2e-Passw0rd!'
add_user() {
  local name="$1" role="$2" unit="$3"
  if ! printf '%s\n' "$E2E_PASSWORD" | "$JICENG_BIN" --db "$DB" user add "$name" --role "$role" --unit "$unit" >"$TMP/user-$name.log" 2>&1; then
    echo "run.sh: could not add test account $name" >&2
    cat "$TMP/user-$name.log" >&2
    exit 1
  fi
}
add_user e2e-county county_staff 510903
add_user e2e-village community_staff 510903001001
add_user e2e-neighbour community_staff 510903001002
# The event loop: a grid worker under e2e-village's community reports, the street (township) above
# it whistles departments in, a county department member reports in.
add_user e2e-grid grid_worker 510903001001501
add_user e2e-street township_staff 510903001
add_user e2e-dept department_staff 510903
# Department membership has its own command; a binary without it leaves E2E_DEPARTMENT empty and
# the department's own steps are skipped. 水务局 is not the department the catalogue routes 06005
# (排水不畅或积水) to, so it takes part only by being whistled in.
E2E_DEPARTMENT=""
if "$JICENG_BIN" department --help >/dev/null 2>&1; then
  if ! "$JICENG_BIN" --db "$DB" department add-member e2e-dept --department 水务局 --unit 510903 >"$TMP/dept-e2e-dept.log" 2>&1; then
    echo "run.sh: could not put e2e-dept in 510903 水务局" >&2
    cat "$TMP/dept-e2e-dept.log" >&2
    exit 1
  fi
  E2E_DEPARTMENT=水务局
else
  echo "run.sh: this jiceng has no 'department' command; department steps are skipped" >&2
fi
# Volunteers: two residents of e2e-village's community register, sign up, scan, spend hours.
add_user e2e-resident resident 510903001001
add_user e2e-resident2 resident 510903001001
# Consultation: an owner of the demo compound votes on a phone.
add_user e2e-owner resident 510903001001
# Indicators: the city reviews a county's 填报 and sees the county choropleth.
add_user e2e-city city_staff 5109
# Admin roles sign in with a TOTP code; `user add` prints the secret once as "TOTP 密钥：<base32>".
add_user e2e-auditor audit_admin 5109
E2E_AUDITOR_TOTP="$(sed -n 's/^TOTP 密钥：\([A-Z2-7=]*\).*$/\1/p' "$TMP/user-e2e-auditor.log")"
if [ -z "$E2E_AUDITOR_TOTP" ]; then
  echo "run.sh: found no TOTP secret in the output of user add e2e-auditor:" >&2
  cat "$TMP/user-e2e-auditor.log" >&2
  exit 1
fi

mkdir -p "$HERE/test-results"
if [ "$#" -gt 0 ]; then
  TESTS=("$@")
else
  TESTS=()
  for f in "$HERE"/tests/*.test.mjs; do TESTS+=("$f"); done
fi

set +e
JICENG_URL="$URL" E2E_PASSWORD="$E2E_PASSWORD" E2E_AUDITOR_TOTP="$E2E_AUDITOR_TOTP" E2E_DEPARTMENT="$E2E_DEPARTMENT" node --test --test-concurrency=1 "${TESTS[@]}"
status=$?
set -e
exit "$status"
