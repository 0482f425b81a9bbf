#!/usr/bin/env python3
"""Cost of binding a multi-row INSERT by parameter name versus by position, in SQLite alone.

jiceng's SQL builder writes `$N` placeholders; in SQLite these are *named* parameters, and the
driver resolves every one with sqlite3_bind_parameter_name(), which walks the statement's list of
names: binding a statement of P parameters costs ~P^2/2 steps, so the cost per row grows with the
number of rows packed into one statement. Plain `?` placeholders bound by position are not in that
list. This script shows the effect with the same 19-column rows as the people table, in memory
(no disk, no indexes): microseconds per row for 10, 52, 210 and 1,052 rows per statement (190 to
19,988 parameters; jiceng's bulk_insert packs 210 rows = 3,990 parameters into each statement).

    python3 bench/sqlite_bind.py
"""

import sqlite3
import time

COLS = 19


def main() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (" + ", ".join(f"c{i} TEXT" for i in range(COLS)) + ")")
    print(f"SQLite {sqlite3.sqlite_version}, {COLS} text columns per row, about 20,000 rows per measurement")
    print(f"{'rows/stmt':>9} {'params':>7} {'$N by name':>14} {'? by position':>15}")
    for rows_per in (10, 52, 210, 1052):
        p = rows_per * COLS
        named = "INSERT INTO t VALUES " + ", ".join("(" + ", ".join(f"${r * COLS + c + 1}" for c in range(COLS)) + ")" for r in range(rows_per))
        anon = "INSERT INTO t VALUES " + ", ".join("(" + ", ".join("?" for _ in range(COLS)) + ")" for _ in range(rows_per))
        values = [f"value-{i:014d}" for i in range(p)]
        by_name = {str(i + 1): v for i, v in enumerate(values)}
        reps = max(1, 20_000 // rows_per)
        t0 = time.perf_counter()
        for _ in range(reps):
            db.execute(named, by_name)  # resolves each parameter's name, as sqlx-sqlite does
        t1 = time.perf_counter()
        for _ in range(reps):
            db.execute(anon, values)
        t2 = time.perf_counter()
        n = reps * rows_per
        print(f"{rows_per:>9} {p:>7} {1e6 * (t1 - t0) / n:>11.1f} us {1e6 * (t2 - t1) / n:>12.1f} us   (per row)")
        db.execute("DELETE FROM t")


if __name__ == "__main__":
    main()
