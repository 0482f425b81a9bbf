#!/usr/bin/env python3
"""The database floor under the registry API: the same lookups done directly in SQLite.

  exact    SELECT * FROM people WHERE id_index = ?          (the indexed blind-index column)
  listing  the API's page query without HTTP, auth or JSON: COUNT(*) plus the page
           (scope range and unit range on unit_code, ORDER BY unit_code, household_id, id,
           LIMIT/OFFSET)
  listing1 the same with the two ranges intersected beforehand (the unit's range alone)

Keys are sampled from the database itself. Read-only; Python 3 standard library only.

    python3 bench/sqlite_floor.py DB --unit 510903001001 --n 1000
"""

import argparse
import random
import sqlite3
import statistics
import sys
import time
import math


def summary(name, s, extra=""):
    s = sorted(s)
    n = len(s)
    pct = lambda p: s[min(n - 1, max(0, math.ceil(p / 100 * n) - 1))]  # noqa: E731
    print(
        f"  {name:<10} n={n:<5} median {statistics.median(s) * 1e3:8.3f} ms  p90 {pct(90) * 1e3:8.3f}  p99 {pct(99) * 1e3:8.3f}  "
        f"max {s[-1] * 1e3:8.3f}  mean {statistics.fmean(s) * 1e3:8.3f} {extra}",
        flush=True,
    )


def upper(code: str) -> str:
    return code[:-1] + chr(ord(code[-1]) + 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--unit", default="510903001001")
    ap.add_argument("--scope", default="510903", help="the token holder's scope root")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--per-page", type=int, default=50)
    ap.add_argument("--keys-out", help="write the sampled id_index values (for the sqlite3 CLI run)")
    ap.add_argument("--max-seconds", type=float, default=600)
    a = ap.parse_args()
    db = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    print(f"  Python sqlite3 module, SQLite {sqlite3.sqlite_version}", flush=True)
    u = a.unit
    keys = [r[0] for r in db.execute("SELECT id_index FROM people WHERE unit_code = ? AND id_index IS NOT NULL", (u,))]
    rng = random.Random(7)
    keys = rng.sample(keys, min(len(keys), a.n + a.warmup))
    if a.keys_out:
        with open(a.keys_out, "w") as f:
            f.write("\n".join(keys) + "\n")

    samples = []
    for i in range(a.warmup + a.n):
        t0 = time.perf_counter()
        rows = db.execute("SELECT * FROM people WHERE id_index = ?", (keys[i % len(keys)],)).fetchall()
        dt = time.perf_counter() - t0
        assert len(rows) == 1
        if i >= a.warmup:
            samples.append(dt)
    summary("exact", samples, "(SELECT * ... WHERE id_index = ?)")

    scoped = "((p.unit_code >= ? AND p.unit_code < ?)) AND "
    rest = "((p.unit_code >= ? AND p.unit_code < ?)) AND p.moved_out IS NULL AND p.deceased IS NULL"
    # As the API sends it: the token's scope range and the requested unit's range, both on unit_code.
    listing(db, a, "listing", "WHERE " + scoped + rest, (a.scope, upper(a.scope), u, upper(u)), "(COUNT + page, as the API runs it")
    # The same rows with the two ranges intersected in advance: what the query could cost.
    listing(db, a, "listing1", "WHERE " + rest, (u, upper(u)), "(COUNT + page, one range: the unit's")
    return 0


def listing(db, a, name, where, args, extra):
    total = db.execute(f"SELECT COUNT(*) FROM people p {where}", args).fetchone()[0]
    pages = max(1, min(a.pages, (total + a.per_page - 1) // a.per_page))
    plan = " | ".join(r[-1] for r in db.execute(f"EXPLAIN QUERY PLAN SELECT p.* FROM people p {where} ORDER BY p.unit_code, p.household_id, p.id LIMIT 50 OFFSET 0", args))
    print(f"  {name} plan: {plan}", flush=True)
    samples = []
    t_end = None
    extra += f"; pages 1..{pages})"
    for i in range(a.warmup + a.n):
        if i == a.warmup:
            t_end = time.monotonic() + a.max_seconds
        page = i % pages
        t0 = time.perf_counter()
        db.execute(f"SELECT COUNT(*) FROM people p {where}", args).fetchone()
        rows = db.execute(f"SELECT p.* FROM people p {where} ORDER BY p.unit_code, p.household_id, p.id LIMIT ? OFFSET ?", args + (a.per_page, page * a.per_page)).fetchall()
        dt = time.perf_counter() - t0
        assert rows
        if i >= a.warmup:
            samples.append(dt)
            if time.monotonic() > t_end:
                extra += f" (stopped after {a.max_seconds:.0f} s)"
                break
    summary(name, samples, extra)


if __name__ == "__main__":
    sys.exit(main())
