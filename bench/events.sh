#!/usr/bin/env bash
# Event benchmarks (issue: 一网统管):
#  1. report intake over HTTP on SQLite — sustained reports/s and p99 with 8 clients for 20 s
#     (load from bench/intake_load.rs; LOADGEN=python for bench/intake.py) —
#     against the floor: the same rows inserted straight into SQLite with the same durability
#     (one transaction per row, WAL, synchronous=FULL), in the same run;
#  2. the escalation sweep over 1,000,000 open events: time per sweep (1% of them red and escalating).
# Uses the release binary (JICENG_BIN to override), loopback only, everything under bench/.data/events.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${JICENG_BIN:-$HERE/../target/release/jiceng}"
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p jiceng" >&2; exit 2; }
command -v sqlite3 >/dev/null || { apt-get update && apt-get install -y sqlite3; }
DATA="$HERE/.data/events"; rm -rf "$DATA"; mkdir -p "$DATA"; cd "$DATA"
export JICENG_FIELD_KEY=4242424242424242424242424242424242424242424242424242424242424242
SECONDS_RUN="${SECONDS_RUN:-20}"; CLIENTS="${CLIENTS:-8}"; SWEEP_EVENTS="${SWEEP_EVENTS:-1000000}"
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== jiceng: $BIN ($(date -u -r "$BIN" '+%F %H:%M UTC'))"
"$BIN" --db e.db demo --no-serve >/dev/null
printf 'Bench-Passw0rd!\n' | "$BIN" --db e.db user add benchgrid --role grid_worker --unit 510903001001 >/dev/null
TOKEN="$("$BIN" --db e.db token create benchgrid 2>/dev/null)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" --db e.db serve --listen "127.0.0.1:$PORT" >serve.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
echo "== 1. intake over HTTP: $CLIENTS clients, ${SECONDS_RUN} s"
# The load generator: bench/intake_load.rs (std-only Rust, built here with rustc) by default;
# LOADGEN=python runs bench/intake.py instead, which needs most of a core of its own at this rate.
if [ "${LOADGEN:-rust}" = python ]; then
  INTAKE=$(python3 "$HERE/intake.py" --port "$PORT" --token "$TOKEN" --seconds "$SECONDS_RUN" --clients "$CLIENTS")
else
  rustc --edition 2024 -O "$HERE/intake_load.rs" -o "$DATA/intake_load"
  INTAKE=$("$DATA/intake_load" --port "$PORT" --token "$TOKEN" --seconds "$SECONDS_RUN" --clients "$CLIENTS")
fi
echo "jiceng  $INTAKE"
# How many reports shared each durable commit (group commit), from the server's own counters.
curl -fsS "http://127.0.0.1:$PORT/metrics" 2>/dev/null | awk '/^jiceng_group_commits /{c=$2} /^jiceng_group_commit_jobs /{j=$2} END {if (c > 0) printf "group   %d commits for %d reports: %.1f a commit\n", c, j, j / c}' || true
# The server's own CPU time per report (user + system, from /proc): less disturbed than the rate
# by whatever else the machine is running.
read -r UT ST < <(awk '{print $14, $15}' "/proc/$SERVER/stat")
# Thread switches the server made (voluntary: a thread waited — for a database worker thread, the
# network, the disk; summed over its live threads): a count of hand-offs, hardly moved by load.
SWITCHES=$(cat /proc/$SERVER/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {v += $2} END {print v + 0}')
SERVER_CPU_MS=$(( (UT + ST) * 1000 / $(getconf CLK_TCK) ))
kill $SERVER; wait $SERVER 2>/dev/null || true; trap - EXIT
N=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['reports'])" "$INTAKE")
STORED=$(sqlite3 e.db "SELECT COUNT(*) FROM events WHERE source = '接口上报'")
echo "stored  $STORED events (answered with success: $N)"
echo "server  CPU $SERVER_CPU_MS ms in all (setup included: a fresh server), $(python3 -c "print(round($SERVER_CPU_MS * 1000 / max($N, 1)))") µs a report; $(python3 -c "print(round($SWITCHES / max($N, 1), 1))") voluntary thread switches a report"
PEER=$(python3 "$HERE/intake_peer.py" e.db peer.db "$N")
echo "floor   $PEER"
python3 - "$INTAKE" "$PEER" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"ratio   jiceng {a['per_second']}/s vs raw insert {b['per_second']}/s = {a['per_second']/b['per_second']:.2f} (goal >= 0.5); p99 {a['p99_ms']} ms")
PY
echo "== 2. sweep over $SWEEP_EVENTS open events"
NOW=$(python3 -c 'import time; print(int(time.time()*1000))')
sqlite3 e.db <<SQL
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $SWEEP_EVENTS)
INSERT INTO events (id, event_no, type_code, title, description, urgency, state, unit_code, handling_unit, address, source, anonymous,
                    created_ms, stage_started_ms, stage_limit_amount, stage_limit_unit, light, version, updated_ms)
SELECT lower(hex(randomblob(16))), 'S-' || x, '06001', '暴露垃圾', '', '一般', 'handling', '510903001001', '510903001001', '', 'bench', 0,
       $NOW, CASE WHEN x % 100 = 0 THEN $NOW - 30 * 86400000 ELSE $NOW - (x % 60) * 60000 END, 3, 'working_days', 'green', 1, $NOW
FROM c;
COMMIT;
SQL
echo "open events: $(sqlite3 e.db "SELECT COUNT(*) FROM events WHERE state = 'handling'")"
/usr/bin/time -f "sweep wall %e s, peak RSS %M KiB" "$BIN" --db e.db sweep 2>&1 | tail -2
/usr/bin/time -f "second sweep (nothing new to escalate) wall %e s, peak RSS %M KiB" "$BIN" --db e.db sweep 2>&1 | tail -2
