#!/usr/bin/env python3
"""Report intake load: N client threads POST /api/v1/events with unique Idempotency-Keys over
keep-alive connections for a fixed time; prints reports/s and latency percentiles.
Standard library only; loopback only; bounded by --seconds."""
import argparse, http.client, json, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--token", required=True)
ap.add_argument("--seconds", type=float, default=20)
ap.add_argument("--clients", type=int, default=8)
ap.add_argument("--unit", default="510903001001")
args = ap.parse_args()

lat, errors, lock = [], [0], threading.Lock()
deadline = time.monotonic() + args.seconds

def client(n):
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
    i = 0
    while time.monotonic() < deadline:
        i += 1
        body = json.dumps({"type_code": "06001", "unit": args.unit, "description": f"基准测试 c{n} #{i}", "lon": 105.59, "lat": 30.53})
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/events", body=body.encode(), headers={"Authorization": f"Bearer {args.token}", "Content-Type": "application/json", "Idempotency-Key": f"bench-{n}-{i}"})
            r = conn.getresponse(); r.read()
            ok = r.status in (200, 201)
        except Exception:
            ok = False
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        dt = time.perf_counter() - t0
        with lock:
            if ok: lat.append(dt)
            else: errors[0] += 1

threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
t0 = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
wall = time.monotonic() - t0
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
print(json.dumps({"reports": len(lat), "errors": errors[0], "seconds": round(wall, 2), "per_second": round(len(lat) / wall, 1),
                  "p50_ms": round(q(0.50), 2), "p99_ms": round(q(0.99), 2), "max_ms": round(lat[-1] * 1000, 2) if lat else None, "clients": args.clients}))
