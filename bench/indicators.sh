#!/usr/bin/env bash
# Indicator benchmarks (issue 5: 规划指标、一屏掌控):
#  1. recompute every indicator for every unit of the tree (1,546 units from the city down) on the
#     city-scale demo data (2.8 million residents) and store the month's snapshot: wall time of
#     POST /indicators/snapshots, and the server's peak resident memory (VmHWM) before and after;
#  2. dashboard page latency from that snapshot (GET /indicators?as_of=YYYY-MM) for the city, a
#     county and a community, median and p99 over N sequential requests; the live page for contrast.
# Uses the release binary (JICENG_BIN to override). The city-scale data take ~17 minutes to
# generate and are kept in bench/.data/indicators/city.db between runs (REGEN=1 to rebuild).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${JICENG_BIN:-$HERE/../target/release/jiceng}"
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p jiceng" >&2; exit 2; }
DATA="$HERE/.data/indicators"; mkdir -p "$DATA"; cd "$DATA"
export JICENG_FIELD_KEY=4242424242424242424242424242424242424242424242424242424242424242
N="${N:-200}"
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== jiceng: $BIN ($(date -u -r "$BIN" '+%F %H:%M UTC'))"
if [ "${REGEN:-0}" = 1 ] || [ ! -f city.db ]; then
  rm -f city.db city.db-wal city.db-shm
  /usr/bin/time -v "$BIN" --db city.db demo --scale city --no-serve >demo.log 2>demo.time
  grep -E "Elapsed|Maximum resident" demo.time
fi
sqlite3 city.db "SELECT 'people', COUNT(*) FROM people; SELECT 'units (city..village)', COUNT(*) FROM units WHERE valid_to IS NULL AND level <= 5;" 2>/dev/null || true
printf 'Bench-Passw0rd!\n' | "$BIN" --db city.db user add benchcity --role city_staff --unit 5109 >/dev/null 2>&1 || true
TOKEN="$("$BIN" --db city.db token create benchcity 2>/dev/null)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" --db city.db serve --listen "127.0.0.1:$PORT" >serve.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
# The job takes a snapshot at start when none is fresh; wait until it is idle.
sleep 2
hwm() { awk '/VmHWM/ {print $2/1024 " MiB"}' /proc/$SERVER/status; }
rss() { awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/$SERVER/status; }
echo "== 1. recompute all indicators for every unit and store the snapshot"
echo "server before: rss $(rss), peak $(hwm)"
START=$(date +%s.%N)
curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/indicators/snapshots"
END=$(date +%s.%N)
python3 -c "print(f'snapshot wall time {float($END) - float($START):.2f} s')"
echo "server after: rss $(rss), peak $(hwm)"
PERIOD=$(sqlite3 city.db "SELECT MAX(period) FROM indicator_snapshots")
ROWS=$(sqlite3 city.db "SELECT COUNT(*) FROM indicator_snapshots WHERE period = '$PERIOD'")
echo "snapshot $PERIOD: $ROWS rows"
echo "== 2. dashboard latency, $N sequential requests each"
python3 "$HERE/indicators_latency.py" --port "$PORT" --token "$TOKEN" --n "$N" --period "$PERIOD"
