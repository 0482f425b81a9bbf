#!/usr/bin/env bash
# Registry read latency over HTTP on loopback: exact lookup by ID number (blind index) and paged
# listing of one community, against the same queries run directly in SQLite (the floor).
#
#     bench/lookup.sh            # city-scale demo data (~2.8M residents); the first run generates
#                                # it with `jiceng demo --scale city --no-serve` and caches the DB
#     bench/lookup.sh roster     # the 1M-resident community left by bench/import.sh
#
# Environment: JICENG_BIN (default target/release/jiceng), BENCH_DATA (default bench/.data),
# BENCH_PORT (default 18087), BENCH_N (requests per endpoint, default 1000),
# BENCH_PAGES (listing pages 1..P, default 1000), BENCH_WARMUP (default 50; 10 in roster mode),
# BENCH_MAX_SECONDS (cap per measured endpoint, default 600; 120 in roster mode, where one listing
# page of the 1M-resident community takes seconds), BENCH_DEMO_TIMEOUT (seconds, default 2700).
# Only 127.0.0.1 is contacted; the server started here is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${JICENG_BIN:-$ROOT/target/release/jiceng}
DATA=${BENCH_DATA:-$ROOT/bench/.data}
MODE=${1:-city}
PORT=${BENCH_PORT:-18087}
N=${BENCH_N:-1000}
PAGES=${BENCH_PAGES:-1000}
MAXS=${BENCH_MAX_SECONDS:-$([ "$MODE" = roster ] && echo 120 || echo 600)}
WARMUP=${BENCH_WARMUP:-$([ "$MODE" = roster ] && echo 10 || echo 50)}
UNIT=510903001001
SEED=${BENCH_SEED:-20261125}
export JICENG_FIELD_KEY=${JICENG_FIELD_KEY:-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff}
export JICENG_LOG=${JICENG_LOG:-error}

need() { command -v "$1" >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get install -y -qq "$2" >/dev/null; } || { echo "missing $1 (Debian package $2)" >&2; exit 1; }; }
need sqlite3 sqlite3
need curl curl
[ -x /usr/bin/time ] || need /usr/bin/time time
[ -x "$BIN" ] || { echo "no binary at $BIN: run 'cargo build --release -p jiceng' first" >&2; exit 1; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

mkdir -p "$DATA"
OUT="$DATA/lookup-$MODE-results-$(date -u +%Y%m%dT%H%M%SZ).txt"
exec > >(tee "$OUT") 2>&1

echo "== machine"
echo "  date (UTC):  $(date -u '+%Y-%m-%d %H:%M')"
echo "  cpu:         $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "  memory:      $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "  load:        $(load) (1/5/15 min)"
echo "  jiceng:      $("$BIN" --version) ($BIN, built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M'))"
echo "  sqlite3 CLI: $(sqlite3 --version | cut -d' ' -f1)"

case "$MODE" in
city)
  WORK="$DATA/city"
  DB="$WORK/jiceng.db"
  mkdir -p "$WORK"
  if [ ! -s "$WORK/done" ]; then
    rm -f "$DB" "$DB-wal" "$DB-shm"
    echo "== generating city-scale demo data (once; cached in $WORK)"
    set +e
    (cd "$WORK" && /usr/bin/time -f '%e %M' -o "$WORK/demo.time" timeout "${BENCH_DEMO_TIMEOUT:-2700}" "$BIN" --db "$DB" demo --scale city --no-serve >"$WORK/demo.out" 2>"$WORK/demo.err")
    rc=$?
    set -e
    read -r wall rss < <(tail -n 1 "$WORK/demo.time")
    # Known defect (found by this benchmark): the synthetic compound names repeat within a community,
    # and the registry demo uses the name as the house address, so houses' unique address index
    # fails and the city load aborts before its first commit. Work around it in the data only:
    # suffix the repeated names, then run the (idempotent) demo command once more.
    if [ "$rc" != 0 ] && grep -q 'UNIQUE constraint failed: houses.unit_code, houses.address' "$WORK/demo.err" &&
      [ "$(sqlite3 "$DB" 'SELECT COUNT(*) FROM people;')" = 0 ]; then
      dups=$(sqlite3 "$DB" "SELECT COUNT(*) FROM units u WHERE kind = '小区' AND EXISTS (SELECT 1 FROM units v WHERE v.kind = '小区' AND v.parent_code = u.parent_code AND v.name = u.name AND v.code < u.code);")
      echo "  WORKAROUND: demo --scale city failed after $wall s on duplicate house addresses ($dups compounds share a name with another in the same community);"
      echo "  renaming those $dups compounds in the database and running the demo command again"
      sqlite3 "$DB" "UPDATE units SET name = name || '·' || substr(code, 13) WHERE kind = '小区' AND EXISTS (SELECT 1 FROM units v WHERE v.kind = '小区' AND v.parent_code = units.parent_code AND v.name = units.name AND v.code < units.code);"
      echo "$wall s" >"$WORK/demo.first"
      set +e
      (cd "$WORK" && /usr/bin/time -f '%e %M' -o "$WORK/demo.time" timeout "${BENCH_DEMO_TIMEOUT:-2700}" "$BIN" --db "$DB" demo --scale city --no-serve >>"$WORK/demo.out" 2>"$WORK/demo.err")
      rc=$?
      set -e
      read -r wall rss < <(tail -n 1 "$WORK/demo.time")
    fi
    if [ "$rc" != 0 ]; then
      echo "  demo --scale city failed or timed out (exit $rc after $wall s); see $WORK/demo.err" >&2
      echo "  fall back: bench/import.sh, then bench/lookup.sh roster" >&2
      exit 1
    fi
    echo "$wall s, peak RSS $((rss / 1024)) MiB$([ -s "$WORK/demo.first" ] && echo " (after the workaround; first attempt failed at $(cat "$WORK/demo.first"))")" >"$WORK/done"
  fi
  echo "  demo --scale city generation: $(cat "$WORK/done")"
  IDS_ARG=(--unmask "$N")
  ;;
roster)
  DB="$DATA/import-run/jiceng.db"
  IDS=$(ls "$DATA"/roster-*-"$SEED".csv.ids 2>/dev/null | head -n 1 || true)
  [ -s "$DB" ] && [ -n "$IDS" ] || { echo "run bench/import.sh first (needs $DB and the roster's .ids file)" >&2; exit 1; }
  WORK="$DATA/import-run"
  IDS_ARG=(--ids "$IDS")
  ;;
*)
  echo "usage: bench/lookup.sh [city|roster]" >&2
  exit 2
  ;;
esac
echo "  database: $DB ($(du -m "$DB" | cut -f1) MiB)"
echo "  people: $(sqlite3 "$DB" 'SELECT COUNT(*) FROM people;') in all, $(sqlite3 "$DB" "SELECT COUNT(*) FROM people WHERE unit_code = '$UNIT';") in $UNIT"

# A county_staff account for 船山区 with an API token (a new name each run, so cached data works).
USER_NAME="bench$(date +%s)"
printf 'Bench-Passw0rd!\n' | "$BIN" --db "$DB" user add "$USER_NAME" --role county_staff --unit 510903 >/dev/null
TOKEN=$("$BIN" --db "$DB" token create "$USER_NAME" 2>/dev/null | grep -o 'jct_[A-Za-z0-9_-]*' | head -n 1)
[ -n "$TOKEN" ] || { echo "could not create an API token" >&2; exit 1; }

"$BIN" --db "$DB" serve --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { echo "server exited; see $WORK/serve.log" >&2; exit 1; }
  sleep 0.5
done

echo "== HTTP, sequential, one keep-alive connection, $N requests per endpoint after $WARMUP warm-up (load before: $(load))"
python3 "$ROOT/bench/http_latency.py" --base "http://127.0.0.1:$PORT" --token "$TOKEN" --unit "$UNIT" "${IDS_ARG[@]}" \
  --n "$N" --warmup "$WARMUP" --pages "$PAGES" --max-seconds "$MAXS" --json-out "$WORK/http.json"
echo "  server RSS after: $(($(awk '/VmRSS/ { print $2 }' /proc/$SERVER/status) / 1024)) MiB; load after: $(load)"
kill "$SERVER"
wait "$SERVER" 2>/dev/null || true
trap - EXIT

echo "== floor: the same queries directly in SQLite, no HTTP/auth/JSON (load before: $(load))"
python3 "$ROOT/bench/sqlite_floor.py" "$DB" --unit "$UNIT" --n "$N" --warmup "$WARMUP" --pages "$PAGES" --max-seconds "$MAXS" --keys-out "$WORK/keys.txt"
# The sqlite3 shell, 1,000 indexed lookups in one process, minus the cost of starting it.
awk '{ printf "SELECT * FROM people WHERE id_index = '\''%s'\'';\n", $1 }' "$WORK/keys.txt" | head -n "$N" >"$WORK/keys.sql"
/usr/bin/time -f '%e' -o "$WORK/cli.time" sqlite3 -readonly "$DB" <"$WORK/keys.sql" >/dev/null
echo "SELECT 1;" >"$WORK/one.sql"
/usr/bin/time -f '%e' -o "$WORK/cli0.time" sqlite3 -readonly "$DB" <"$WORK/one.sql" >/dev/null
awk -v t="$(tail -n 1 "$WORK/cli.time")" -v t0="$(tail -n 1 "$WORK/cli0.time")" -v n="$(wc -l <"$WORK/keys.sql")" \
  'BEGIN { printf "  sqlite3 CLI: %d exact lookups in %.2f s (start-up %.2f s) = %.3f ms mean per lookup\n", n, t, t0, (t - t0) * 1000 / n }'
echo "  load after: $(load)"
echo "Full log: $OUT"
