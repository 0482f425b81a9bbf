#!/usr/bin/env bash
# Roster import throughput: `jiceng import people` against the sqlite3 shell's `.import --csv` of
# the same file into a plain table (the raw-speed peer). One command:
#
#     bench/import.sh            # 1,000,000 rows (default)
#     bench/import.sh 200000     # a smaller run
#
# Environment: JICENG_BIN (default target/release/jiceng; build it with
# `cargo build --release -p jiceng`), BENCH_DATA (default bench/.data, git-ignored), BENCH_SEED,
# BENCH_CHUNK_ROWS (rows per file when the whole file exceeds the importer's upload limit),
# BENCH_SYNC_OFF=0 to skip the peer's synchronous=OFF run.
# Touches nothing outside BENCH_DATA; no network. Takes a few minutes at 1M rows on 2 cores.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${JICENG_BIN:-$ROOT/target/release/jiceng}
DATA=${BENCH_DATA:-$ROOT/bench/.data}
ROWS=${1:-1000000}
SEED=${BENCH_SEED:-20261125}
CHUNK_ROWS=${BENCH_CHUNK_ROWS:-250000}
UNIT=510903001001
LIMIT_BYTES=$((50 * 1024 * 1024)) # registry::import::MAX_FILE_BYTES
# A fixed benchmark-only field key, so that no key file is written and runs are comparable.
export JICENG_FIELD_KEY=${JICENG_FIELD_KEY:-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff}
export JICENG_LOG=${JICENG_LOG:-error}

need() { command -v "$1" >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get install -y -qq "$2" >/dev/null; } || { echo "missing $1 (Debian package $2)" >&2; exit 1; }; }
need sqlite3 sqlite3
[ -x /usr/bin/time ] || need /usr/bin/time time
[ -x "$BIN" ] || { echo "no binary at $BIN: run 'cargo build --release -p jiceng' first" >&2; exit 1; }

mkdir -p "$DATA"
RUN="$DATA/import-run"
rm -rf "$RUN" && mkdir -p "$RUN"
OUT="$DATA/import-results-$(date -u +%Y%m%dT%H%M%SZ).txt"
exec > >(tee "$OUT") 2>&1
exec 3>&1 # timings print here even when a command's output is redirected

# timed LABEL CMD...: runs CMD under /usr/bin/time, sets T_WALL (s), T_RSS (MiB), T_RC.
timed() {
  local label=$1
  shift
  local tf="$RUN/time.$$"
  set +e
  /usr/bin/time -f '%e %M' -o "$tf" "$@"
  T_RC=$?
  set -e
  read -r T_WALL T_RSS_KB < <(tail -n 1 "$tf")
  T_RSS=$((T_RSS_KB / 1024))
  printf '  %-44s %8.2f s  peak RSS %5d MiB  exit %d\n' "$label" "$T_WALL" "$T_RSS" "$T_RC" >&3
}
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== machine"
echo "  date (UTC):  $(date -u '+%Y-%m-%d %H:%M')"
echo "  cpu:         $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "  memory:      $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "  disk:        $(df -h "$DATA" | awk 'NR == 2 { print $1 " (" $2 ", " $4 " free)" }')"
echo "  load:        $(load) (1/5/15 min)"
echo "  jiceng:      $("$BIN" --version) ($BIN, built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M'))"
echo "  sqlite3 CLI: $(sqlite3 --version | cut -d' ' -f1)"
echo "  python3:     $(python3 --version | cut -d' ' -f2)"

CSV="$DATA/roster-$ROWS-$SEED.csv"
echo "== roster: $ROWS rows, seed $SEED"
if [ ! -s "$CSV" ]; then
  timed "generate (bench/gen_roster.py, cached)" python3 "$ROOT/bench/gen_roster.py" --rows "$ROWS" --seed "$SEED" --out "$CSV.tmp" --ids-out "$CSV.ids"
  mv "$CSV.tmp" "$CSV"
fi
BYTES=$(stat -c %s "$CSV")
echo "  $CSV: $((BYTES / 1024 / 1024)) MiB, $(($(wc -l <"$CSV") - 1)) data rows"

echo "== peer: sqlite3 shell .import --csv into a plain 15-column table (one transaction, WAL)"
declare -A PEER
for sync in FULL OFF; do
  [ "$sync" = OFF ] && [ "${BENCH_SYNC_OFF:-1}" = 0 ] && continue
  db="$RUN/peer-$sync.db"
  rm -f "$db" "$db-wal" "$db-shm"
  sqlite3 "$db" "PRAGMA journal_mode=WAL;" >/dev/null
  sqlite3 "$db" "CREATE TABLE roster (name TEXT, id_number TEXT, sex TEXT, birth_date TEXT, phone TEXT, residence_kind TEXT, household_no TEXT, relation TEXT, compound TEXT, building TEXT, unit_no TEXT, room TEXT, address TEXT, tags TEXT, moved_in TEXT);"
  sync
  echo "  load before: $(load)"
  timed "sqlite3 .import, synchronous=$sync" sqlite3 -cmd "PRAGMA synchronous=$sync;" "$db" ".import --csv --skip 1 $CSV roster"
  n=$(sqlite3 "$db" "SELECT COUNT(*) FROM roster;")
  [ "$T_RC" = 0 ] && [ "$n" = "$ROWS" ] || { echo "peer import failed (rc $T_RC, $n rows)" >&2; exit 1; }
  PEER[$sync]=$T_WALL
  echo "    -> $n rows, $(rate "$n" "$T_WALL") rows/s"
done

declare -A SCHEMA
if [ "${BENCH_SCHEMA_PEER:-1}" != 0 ]; then
  echo "== peer 2: sqlite3 shell loads the same rows into jiceng's registry schema (bench/peer_schema.sql)"
  for cache in default 512MiB; do
    db="$RUN/schema-$cache.db"
    rm -f "$db" "$db-wal" "$db-shm"
    sqlite3 "$db" "PRAGMA journal_mode=WAL;" >/dev/null
    sqlite3 "$db" <"$ROOT/migrations/sqlite/0003_registry.sql"
    args=(-cmd "ATTACH '$RUN/peer-FULL.db' AS src")
    [ "$cache" = default ] || args+=(-cmd "PRAGMA cache_size=-524288")
    echo "  load before: $(load)"
    timed "sqlite3, registry schema, page cache $cache" sqlite3 "${args[@]}" "$db" <"$ROOT/bench/peer_schema.sql" >"$RUN/schema.out"
    [ "$T_RC" = 0 ] || { echo "schema peer failed" >&2; exit 1; }
    SCHEMA[$cache]=$T_WALL
    echo "    -> $(tail -n 1 "$RUN/schema.out"), $(rate "$ROWS" "$T_WALL") rows/s"
    rm -f "$db" "$db-wal" "$db-shm"
  done
fi

echo "== jiceng import people (validation, AES-256-GCM, blind index, households/houses, one transaction per file)"
db="$RUN/jiceng.db"
cd "$RUN"
"$BIN" --db "$db" import reference >/dev/null
echo "  reference loaded; load before: $(load)"
timed "jiceng import people, whole file" "$BIN" --db "$db" import people "$CSV" --unit "$UNIT" 2>"$RUN/whole.err" >"$RUN/whole.out"
WHOLE_RC=$T_RC
WHOLE_WALL=$T_WALL
if [ "$WHOLE_RC" = 0 ]; then
  J_WALL=$T_WALL
  J_RSS=$T_RSS
  J_HOW="one file"
  echo "    -> $(tail -n 1 "$RUN/whole.out")"
else
  echo "    -> refused: $(head -n 1 "$RUN/whole.err")"
  if [ "$BYTES" -le "$LIMIT_BYTES" ]; then
    echo "jiceng import failed on a file within the size limit; see $RUN/whole.err" >&2
    exit 1
  fi
  echo "  the file ($((BYTES / 1024 / 1024)) MiB) exceeds the 50 MiB upload limit: importing it as files of $CHUNK_ROWS rows into the same community"
  mkdir -p "$RUN/parts"
  tail -n +2 "$CSV" | split -l "$CHUNK_ROWS" -d -a 3 --additional-suffix=.body - "$RUN/parts/part-"
  for b in "$RUN"/parts/*.body; do
    { head -n 1 "$CSV"; cat "$b"; } >"${b%.body}.csv" && rm "$b"
    [ "$(stat -c %s "${b%.body}.csv")" -le "$LIMIT_BYTES" ] || { echo "part ${b%.body}.csv still exceeds the limit: lower BENCH_CHUNK_ROWS" >&2; exit 1; }
  done
  first=$(ls "$RUN"/parts/*.csv | head -n 1)
  timed "dry run (read + check only), $(basename "$first")" "$BIN" --db "$db" import people "$first" --unit "$UNIT" --dry-run 2>"$RUN/dry.err" >/dev/null
  DRY_WALL=$T_WALL
  echo "    -> $(head -n 1 "$RUN/dry.err")"
  J_WALL=0
  J_RSS=0
  for f in "$RUN"/parts/*.csv; do
    timed "import $(basename "$f")" "$BIN" --db "$db" import people "$f" --unit "$UNIT" 2>"$RUN/part.err" >"$RUN/part.out"
    [ "$T_RC" = 0 ] || { echo "import of $f failed:" >&2; head -n 20 "$RUN/part.err" >&2; exit 1; }
    [ -n "${FIRST_WALL:-}" ] || FIRST_WALL=$T_WALL
    J_WALL=$(awk -v a="$J_WALL" -v b="$T_WALL" 'BEGIN { print a + b }')
    [ "$T_RSS" -gt "$J_RSS" ] && J_RSS=$T_RSS
  done
  J_HOW="$(ls "$RUN"/parts/*.csv | wc -l) files of <= $CHUNK_ROWS rows"
fi
N=$(sqlite3 "$db" "SELECT COUNT(*) FROM people WHERE unit_code = '$UNIT';")
HH=$(sqlite3 "$db" "SELECT COUNT(*) FROM households WHERE unit_code = '$UNIT';")
HO=$(sqlite3 "$db" "SELECT COUNT(*) FROM houses WHERE unit_code = '$UNIT';")
TG=$(sqlite3 "$db" "SELECT COUNT(*) FROM person_tags WHERE unit_code = '$UNIT';")
echo "  in the database: $N people, $HH households, $HO houses, $TG tags; file $(du -m "$db" | cut -f1) MiB"
[ "$N" = "$ROWS" ] || { echo "expected $ROWS people, found $N" >&2; exit 1; }
echo "  load after: $(load)"

echo "== results ($ROWS rows)"
J_RATE=$(rate "$ROWS" "$J_WALL")
F_RATE=$(rate "$ROWS" "${PEER[FULL]}")
vs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
row() { printf '| %-62s | %8s | %8s | %9s | %11s |\n' "$@"; }
row "what" "wall s" "rows/s" "vs plain" "vs schema"
row "---" "---:" "---:" "---:" "---:"
row "sqlite3 .import, plain table, WAL, synchronous=FULL" "${PEER[FULL]}" "$F_RATE" "1" ""
[ -n "${PEER[OFF]:-}" ] && row "sqlite3 .import, plain table, WAL, synchronous=OFF" "${PEER[OFF]}" "$(rate "$ROWS" "${PEER[OFF]}")" "$(vs "${PEER[FULL]}" "${PEER[OFF]}")" ""
if [ -n "${SCHEMA[default]:-}" ]; then
  row "sqlite3, jiceng's registry schema, default 2 MiB page cache" "${SCHEMA[default]}" "$(rate "$ROWS" "${SCHEMA[default]}")" "$(vs "${PEER[FULL]}" "${SCHEMA[default]}")" "1"
  row "sqlite3, jiceng's registry schema, 512 MiB page cache" "${SCHEMA[512MiB]}" "$(rate "$ROWS" "${SCHEMA[512MiB]}")" "$(vs "${PEER[FULL]}" "${SCHEMA[512MiB]}")" "$(vs "${SCHEMA[default]}" "${SCHEMA[512MiB]}")"
fi
row "jiceng import people ($J_HOW)" "$J_WALL" "$J_RATE" "$(vs "${PEER[FULL]}" "$J_WALL")" "$([ -n "${SCHEMA[default]:-}" ] && vs "${SCHEMA[default]}" "$J_WALL")"
if [ -n "${DRY_WALL:-}" ]; then
  W=$(awk -v a="$FIRST_WALL" -v b="$DRY_WALL" 'BEGIN { print a - b }')
  row "- first file ($CHUNK_ROWS rows), whole import" "$FIRST_WALL" "$(rate "$CHUNK_ROWS" "$FIRST_WALL")" "" ""
  row "- first file, dry run (read + check: IDs, HMAC, duplicates)" "$DRY_WALL" "$(rate "$CHUNK_ROWS" "$DRY_WALL")" "" ""
  row "- first file, write phase (difference)" "$W" "$(rate "$CHUNK_ROWS" "$W")" "" ""
fi
echo "jiceng peak RSS: $J_RSS MiB.  Goal: jiceng rows/s >= 1/3 of the plain peer (\"vs plain\" >= 0.333)."
[ "$WHOLE_RC" = 0 ] || echo "Note: the single ${ROWS}-row file was refused (exit $WHOLE_RC after $WHOLE_WALL s): $(head -n 1 "$RUN/whole.err")"
echo "Full log: $OUT"
