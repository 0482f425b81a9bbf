#!/usr/bin/env bash
# Do API reads stall while a roster import is writing? Serves a fresh database on loopback, then
# runs `jiceng import people` (100,000 rows) against the same database and, meanwhile, sends
# read-only requests: GET /healthz (no auth) and GET /api/v1/me (bearer token). Prints the
# status and time of each request. Takes about a minute.
#
#     bench/contention.sh
#
# Environment: JICENG_BIN (default target/release/jiceng), BENCH_DATA (default bench/.data),
# BENCH_PORT (default 18088). Only 127.0.0.1 is contacted; the server is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${JICENG_BIN:-$ROOT/target/release/jiceng}
DATA=${BENCH_DATA:-$ROOT/bench/.data}
PORT=${BENCH_PORT:-18088}
UNIT=510903001001
export JICENG_FIELD_KEY=${JICENG_FIELD_KEY:-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff}
export JICENG_LOG=${JICENG_LOG:-error}
command -v curl >/dev/null || { echo "missing curl" >&2; exit 1; }
[ -x "$BIN" ] || { echo "no binary at $BIN: run 'cargo build --release -p jiceng' first" >&2; exit 1; }

WORK="$DATA/contention"
rm -rf "$WORK" && mkdir -p "$WORK"
DB="$WORK/jiceng.db"
cd "$WORK"
python3 "$ROOT/bench/gen_roster.py" --rows 100000 --seed 4242 --out "$WORK/roster.csv"
"$BIN" --db "$DB" import reference >/dev/null
printf 'Bench-Passw0rd!\n' | "$BIN" --db "$DB" user add bench --role county_staff --unit 510903 >/dev/null
TOKEN=$("$BIN" --db "$DB" token create bench 2>/dev/null | grep -o 'jct_[A-Za-z0-9_-]*' | head -n 1)

"$BIN" --db "$DB" serve --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
IMPORT=
trap 'kill "$SERVER" 2>/dev/null || true; [ -n "$IMPORT" ] && kill "$IMPORT" 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.5; done

probe() {
  curl -s -o "$WORK/body" -w "  $1  /healthz %{http_code} %{time_total}s" "http://127.0.0.1:$PORT/healthz"
  curl -s -o "$WORK/body" -w "   /api/v1/me %{http_code} %{time_total}s" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/me"
  grep -q '"code"' "$WORK/body" && printf '  %s' "$(head -c 120 "$WORK/body")"
  echo
}
echo "== idle"
probe idle
echo "== during jiceng import people (100,000 rows; the write transaction starts after about 1 s of checks)"
start=$(date +%s.%N)
/usr/bin/time -f '%e' -o "$WORK/import.time" "$BIN" --db "$DB" import people "$WORK/roster.csv" --unit "$UNIT" >"$WORK/import.out" 2>"$WORK/import.err" &
IMPORT=$!
sleep 3
for _ in $(seq 1 30); do
  kill -0 "$IMPORT" 2>/dev/null || break
  probe "t+$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%5.1f s", n - s }')"
done
wait "$IMPORT" || true
IMPORT=
echo "  import finished after $(cat "$WORK/import.time") s: $(tail -n 1 "$WORK/import.out")"
echo "== after"
probe after
