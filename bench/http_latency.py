#!/usr/bin/env python3
"""Sequential HTTP latency of the registry API over one keep-alive connection (loopback only).

Measures, after a warm-up, each request from send to the last byte of the body:
  healthz  GET /healthz                          (no auth, no database: the HTTP floor)
  me       GET /api/v1/me                        (bearer token resolution only)
  lookup   GET /api/v1/registry/people?unit=U&q=<18-char ID>   (exact, by blind index)
  listing  GET /api/v1/registry/people?unit=U&page=N&per_page=50 (pages 1..P, cycling)

ID numbers come from --ids (a file, one per line, e.g. the generated roster's) or, with
--unmask K, from the API itself: K people listed in the unit are unmasked for a stated purpose
(each unmask is audited, as in production). Every lookup must find exactly one person.

Python 3 standard library only.

    python3 bench/http_latency.py --base http://127.0.0.1:18080 --token jct_... \
        --unit 510903001001 --ids ids.txt --n 1000
"""

import argparse
import http.client
import json
import math
import random
import statistics
import sys
import time
import urllib.parse


class Client:
    def __init__(self, base: str, token: str):
        u = urllib.parse.urlsplit(base)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("refusing a non-loopback target: " + base)
        self.conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)
        self.headers = {"Authorization": "Bearer " + token, "Accept": "application/json", "Connection": "keep-alive"}

    def request(self, method: str, path: str, body=None):
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        t0 = time.perf_counter()
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        payload = r.read()
        dt = time.perf_counter() - t0
        return r.status, payload, dt


def summary(name: str, samples: list, extra: str = "") -> dict:
    s = sorted(samples)
    n = len(s)

    def pct(p):
        return s[min(n - 1, max(0, math.ceil(p / 100 * n) - 1))]  # nearest rank

    d = {
        "name": name,
        "n": n,
        "median_ms": statistics.median(s) * 1e3,
        "p90_ms": pct(90) * 1e3,
        "p99_ms": pct(99) * 1e3,
        "max_ms": s[-1] * 1e3,
        "mean_ms": statistics.fmean(s) * 1e3,
        "req_per_s": n / sum(s),
        "note": extra,
    }
    print(
        f"  {name:<10} n={n:<5} median {d['median_ms']:8.3f} ms  p90 {d['p90_ms']:8.3f}  p99 {d['p99_ms']:8.3f}  "
        f"max {d['max_ms']:8.3f}  mean {d['mean_ms']:8.3f}  ({d['req_per_s']:.0f} req/s sequential) {extra}",
        flush=True,
    )
    return d


def must(status: int, payload: bytes, what: str) -> dict:
    if status != 200:
        raise SystemExit(f"{what}: HTTP {status}: {payload[:300]!r}")
    return json.loads(payload) if payload[:1] in (b"{", b"[") else {}


def ids_by_unmask(c: Client, unit: str, k: int, rng: random.Random) -> list:
    st, body, _ = c.request("GET", f"/api/v1/registry/people?unit={unit}&page=1&per_page=1")
    total = must(st, body, "listing")["total"]
    pages = (total + 499) // 500
    people = []
    for page in sorted(rng.sample(range(1, pages + 1), min(pages, (k + 499) // 500 + 1))):
        st, body, _ = c.request("GET", f"/api/v1/registry/people?unit={unit}&page={page}&per_page=500")
        people += [i["id"] for i in must(st, body, "listing")["items"]]
    people = rng.sample(people, min(k, len(people)))
    ids = []
    t0 = time.perf_counter()
    for pid in people:
        st, body, _ = c.request("POST", f"/api/v1/registry/people/{urllib.parse.quote(pid)}/unmask", {"purpose": "基准测试"})
        ids.append(must(st, body, "unmask")["id_number"])
    print(f"  unmasked {len(ids)} of {total} people in {unit} for lookup keys ({time.perf_counter() - t0:.1f} s)", flush=True)
    return ids


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--token", required=True)
    ap.add_argument("--unit", default="510903001001")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--ids", help="file of ID numbers that exist in --unit, one a line")
    src.add_argument("--unmask", type=int, metavar="K", help="get K ID numbers through the unmask API")
    ap.add_argument("--n", type=int, default=1000, help="measured requests per endpoint")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--pages", type=int, default=1000, help="list pages 1..P (capped at the last page)")
    ap.add_argument("--per-page", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json-out", help="write the summaries as JSON")
    ap.add_argument("--max-seconds", type=float, default=900, help="stop any one endpoint after this long")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    c = Client(a.base, a.token)

    if a.ids:
        with open(a.ids, encoding="ascii") as f:
            pool = [line.strip() for line in f if line.strip()]
        ids = rng.sample(pool, min(len(pool), a.n + a.warmup))
    else:
        ids = ids_by_unmask(c, a.unit, a.unmask, rng)
    if not ids:
        raise SystemExit("no ID numbers to look up")

    st, body, _ = c.request("GET", f"/api/v1/registry/people?unit={a.unit}&page=1&per_page={a.per_page}")
    total = must(st, body, "listing")["total"]
    last_page = max(1, (total + a.per_page - 1) // a.per_page)
    pages = min(a.pages, last_page)
    print(f"  {a.unit}: {total} people, {last_page} pages of {a.per_page}; listing pages 1..{pages}", flush=True)

    def run(name, make_path, check, extra=""):
        for i in range(a.warmup):
            st, body, _ = c.request("GET", make_path(i))
            check(st, body)
        samples = []
        t_end = time.monotonic() + a.max_seconds
        for i in range(a.n):
            st, body, dt = c.request("GET", make_path(a.warmup + i))
            check(st, body)
            samples.append(dt)
            if time.monotonic() > t_end:
                extra += f" (stopped after {a.max_seconds:.0f} s)"
                break
        return summary(name, samples, extra)

    def ok(st, body):
        must(st, body, "request")

    def found_one(st, body):
        d = must(st, body, "lookup")
        if d.get("total") != 1 or len(d.get("items", [])) != 1:
            raise SystemExit(f"lookup did not find exactly one person: total={d.get('total')}")

    def listed(st, body):
        if not must(st, body, "listing").get("items"):
            raise SystemExit("empty listing page")

    results = [
        run("healthz", lambda i: "/healthz", lambda st, b: None if st == 200 else sys.exit(f"healthz HTTP {st}")),
        run("me", lambda i: "/api/v1/me", ok),
        run("lookup", lambda i: f"/api/v1/registry/people?unit={a.unit}&q={ids[i % len(ids)]}", found_one, f"({len(ids)} distinct IDs)"),
        run("listing", lambda i: f"/api/v1/registry/people?unit={a.unit}&page={i % pages + 1}&per_page={a.per_page}", listed, f"(pages 1..{pages})"),
    ]
    if a.json_out:
        with open(a.json_out, "w", encoding="utf-8") as f:
            json.dump({"unit": a.unit, "people_in_unit": total, "pages": pages, "results": results}, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
