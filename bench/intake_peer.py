#!/usr/bin/env python3
"""The floor for report intake: the same rows inserted straight into a copy of jiceng's events
table (same indexes), one transaction per row, WAL and synchronous=FULL like jiceng — no HTTP,
authentication, validation, steps or audit. Prints rows/s."""
import json, sqlite3, sys, time, uuid

src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
schema = [r[0] for r in sqlite3.connect(src).execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND sql IS NOT NULL")]
db = sqlite3.connect(dst, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL"); db.execute("PRAGMA foreign_keys=OFF")
for s in schema:
    db.execute(s)
now = int(time.time() * 1000)
t0 = time.perf_counter()
for i in range(n):
    db.execute("BEGIN IMMEDIATE")
    db.execute("""INSERT INTO events (id, event_no, type_code, title, description, urgency, state, unit_code, handling_unit, lon_e6, lat_e6, address, source, reporter, anonymous, idem_key,
                  created_ms, stage_started_ms, stage_limit_amount, stage_limit_unit, light, version, updated_ms)
                  VALUES (?, ?, '06001', '暴露垃圾', ?, '一般', 'reported', '510903001001', '510903001001', 105590000, 30530000, '', '接口上报', 'bench', 0, ?, ?, ?, 2, 'working_hours', 'green', 1, ?)""",
               (uuid.uuid4().hex, f"P-{i}", f"基准测试 #{i}", f"peer-{i}", now, now, now))
    db.execute("COMMIT")
dt = time.perf_counter() - t0
print(json.dumps({"rows": n, "seconds": round(dt, 2), "per_second": round(n / dt, 1)}))
