#!/usr/bin/env bash
# The coverage pipeline end to end, as a planner runs it: `jiceng analyze coverage --osm FILE`
# (read the PBF streaming, build the graph, snap buildings and facilities, one bounded search per
# category, roll-ups for every life-circle rule per community, candidate sites, store it all in one
# transaction) — wall time and peak RSS from /usr/bin/time -v, on the real Helsinki extract and on
# a 4 × 4 tiled copy of it (synthetic extent, real local structure).
#
# Buildings (20,000) and facilities (50 per category used by the rules) are placed at random
# (seeded) inside each network's bounding box and spread over 100 communities of 船山区, so the
# per-community roll-ups have real work; they are benchmark fixtures, not data.
#
# LARGE=1 adds a 10 × 10 tiling (about 611k nodes) with BUILDINGS=100000 buildings there.
# HUGE=1 adds a big file: the 10 × 10 tiling plus PAD (default 18,000,000) buildings as closed ways
# (`building=yes`, no travel profile uses them), so the file is hundreds of MB while the routable
# network is the 611k-node one — the walk run's peak RSS shows whether memory follows the network
# or the file (the streaming reader's claim). The default gives a 295 MB file; PAD=125000000 gives
# about 2 GB. tile_pbf writes the padding as it makes it, so neither writing nor reading holds the file.
# Usage: bench/coverage.sh [OUT_DIR]   (default $TMPDIR/jiceng-bench-coverage); needs the extract from
# bench/fetch_osm.sh in $WALKNET_OSM_DIR (default /work/osmdata).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${TMPDIR:-/tmp}/jiceng-bench-coverage}
OSM=${WALKNET_OSM_DIR:-/work/osmdata}/Helsinki.osm.pbf
mkdir -p "$OUT"
[ -f "$OSM" ] || bash bench/fetch_osm.sh
cargo build --release -q -p jiceng
cargo build --release -q -p coverage --example tile_pbf
BIN=target/release/jiceng
TILE=target/release/examples/tile_pbf

run_one() { # name pbf-file bbox...
  local name=$1 file=$2 minx=$3 miny=$4 maxx=$5 maxy=$6
  local db=$OUT/$name.db
  rm -f "$db" "$db-wal" "$db-shm"
  export JICENG_FIELD_KEY_FILE=$OUT/field.key
  $BIN --db "$db" migrate >/dev/null
  $BIN --db "$db" import reference >/dev/null
  python3 - "$db" "$minx" "$miny" "$maxx" "$maxy" "${BUILDINGS:-20000}" <<'PY'
import random, sqlite3, sys, uuid
db, minx, miny, maxx, maxy, nb = sys.argv[1], *map(float, sys.argv[2:6]), int(sys.argv[6])
c = sqlite3.connect(db)
units = [r[0] for r in c.execute("SELECT code FROM units WHERE kind = '社区' AND code LIKE '510903%' AND valid_to IS NULL ORDER BY code LIMIT 100")]
rnd = random.Random(42)
cats = ["党群服务中心", "卫生服务站", "养老服务", "超市", "文化活动", "体育健身", "综合服务站", "幼儿园", "托育", "法律服务"]
for cat in cats:
    for i in range(50):
        c.execute("INSERT INTO facilities (id, unit_code, name, category, lon_e6, lat_e6, floor_area_dm2, capacity, friendly_renovated, synthetic, created_ms) VALUES (?, ?, ?, ?, ?, ?, 30000, 50, 0, 1, 0)",
                  (uuid.uuid4().hex, units[i % len(units)], f"bench {cat} {i}", cat, round(rnd.uniform(minx, maxx) * 1e6), round(rnd.uniform(miny, maxy) * 1e6)))
for i in range(nb):
    c.execute("INSERT INTO coverage_buildings (id, unit_code, name, lon_e6, lat_e6, households, residents, source, created_ms) VALUES (?, ?, ?, ?, ?, 30, 90, 'import', 0)",
              (uuid.uuid4().hex, units[i % len(units)], f"bench {i}", round(rnd.uniform(minx, maxx) * 1e6), round(rnd.uniform(miny, maxy) * 1e6)))
c.commit()
PY
  for profile in ${PROFILES:-walk bicycle}; do
    /usr/bin/time -v $BIN --db "$db" analyze coverage --osm "$file" --profile "$profile" >"$OUT/$name-$profile.out" 2>"$OUT/$name-$profile.time"
    local wall rss
    wall=$(grep 'Elapsed (wall clock)' "$OUT/$name-$profile.time" | awk '{print $NF}')
    rss=$(grep 'Maximum resident set size' "$OUT/$name-$profile.time" | awk '{print $NF}')
    echo "$name $profile wall=$wall peak_rss_kb=$rss :: $(head -1 "$OUT/$name-$profile.out")"
  done
}

read -r a b c d n e < <($TILE "$OSM" "$OUT/hel.osm.pbf" 1)
echo "hel: $n nodes, $e edges (walk graph re-written as PBF)"
run_one hel "$OSM" "$a" "$b" "$c" "$d"
read -r a b c d n e < <($TILE "$OSM" "$OUT/hel4x4.osm.pbf" 4)
echo "hel4x4: $n nodes, $e edges"
run_one hel4x4 "$OUT/hel4x4.osm.pbf" "$a" "$b" "$c" "$d"
if [ "${LARGE:-0}" = 1 ]; then
  read -r a b c d n e < <($TILE "$OSM" "$OUT/hel10x10.osm.pbf" 10)
  echo "hel10x10: $n nodes, $e edges"
  BUILDINGS=100000 run_one hel10x10 "$OUT/hel10x10.osm.pbf" "$a" "$b" "$c" "$d"
fi
if [ "${HUGE:-0}" = 1 ]; then
  PAD=${PAD:-18000000}
  /usr/bin/time -v $TILE "$OSM" "$OUT/hel10x10pad.osm.pbf" 10 "$PAD" >"$OUT/pad.out" 2>"$OUT/pad.time"
  read -r a b c d n e <"$OUT/pad.out"
  echo "hel10x10pad: $n nodes, $e edges, $PAD padding buildings, file $(stat -c %s "$OUT/hel10x10pad.osm.pbf") bytes (writer peak RSS $(grep 'Maximum resident' "$OUT/pad.time" | awk '{print $NF}') kB)"
  BUILDINGS=100000 PROFILES=walk run_one hel10x10pad "$OUT/hel10x10pad.osm.pbf" "$a" "$b" "$c" "$d"
  rm -f "$OUT/hel10x10pad.osm.pbf"
fi
