#!/usr/bin/env python3
"""Sequential latency of the indicator dashboard over one keep-alive connection (loopback only):
from the month's snapshot (?as_of=PERIOD) for the city, a county and a community, and the live
page for contrast. Prints median and p99 in ms. Python 3 standard library only."""

import argparse
import http.client
import statistics
import time


def run(conn, path, token, n):
    times = []
    for i in range(n + 5):
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        body = r.read()
        dt = (time.perf_counter() - t0) * 1000
        if r.status != 200:
            raise SystemExit(f"{path}: HTTP {r.status} {body[:200]!r}")
        if i >= 5:
            times.append(dt)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return statistics.median(times), p99


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--token", required=True)
    a.add_argument("--n", type=int, default=200)
    a.add_argument("--period", required=True)
    o = a.parse_args()
    conn = http.client.HTTPConnection("127.0.0.1", o.port, timeout=120)
    for label, unit in [("city", "5109"), ("county", "510903"), ("community", "510903001001")]:
        med, p99 = run(conn, f"/indicators?unit={unit}&as_of={o.period}", o.token, o.n)
        print(f"snapshot {label:<9} median {med:7.1f} ms  p99 {p99:7.1f} ms")
    for label, unit in [("city", "5109"), ("community", "510903001001")]:
        med, p99 = run(conn, f"/indicators?unit={unit}", o.token, max(10, o.n // 10))
        print(f"live     {label:<9} median {med:7.1f} ms  p99 {p99:7.1f} ms")


if __name__ == "__main__":
    main()
