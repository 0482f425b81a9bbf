//! Report intake load, the same workload as `intake.py` with a load generator that costs little
//! CPU: the machine has two cores, shared by the server and the client, so a client that spends
//! much CPU per request takes it from the server it measures.
//!
//! N client threads POST /api/v1/events with unique Idempotency-Keys over keep-alive HTTP/1.1
//! connections for a fixed time; prints one JSON line: reports/s and latency percentiles.
//! Standard library only, so it builds with `rustc -O bench/intake_load.rs` in seconds.
//!
//! usage: intake_load --port P --token T [--seconds 20] [--clients 8] [--unit 510903001001]
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Args {
    port: u16,
    token: String,
    seconds: f64,
    clients: usize,
    unit: String,
}

fn args() -> Args {
    let mut a = Args { port: 0, token: String::new(), seconds: 20.0, clients: 8, unit: "510903001001".into() };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| die(&format!("{k} needs a value")));
        match k.as_str() {
            "--port" => a.port = v.parse().unwrap_or_else(|_| die("bad --port")),
            "--token" => a.token = v,
            "--seconds" => a.seconds = v.parse().unwrap_or_else(|_| die("bad --seconds")),
            "--clients" => a.clients = v.parse().unwrap_or_else(|_| die("bad --clients")),
            "--unit" => a.unit = v,
            _ => die(&format!("unknown option {k}")),
        }
    }
    if a.port == 0 || a.token.is_empty() {
        die("usage: intake_load --port P --token T [--seconds S] [--clients N] [--unit CODE]");
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("intake_load: {msg}");
    std::process::exit(2)
}

/// Sends one request and reads the whole response; returns the status code.
fn round_trip(w: &mut TcpStream, r: &mut BufReader<TcpStream>, request: &[u8]) -> std::io::Result<u16> {
    w.write_all(request)?;
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0usize;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("connection closed in headers"));
        }
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(std::io::Error::other)?;
            }
        }
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body)?;
    Ok(status)
}

fn connect(port: u16) -> std::io::Result<(TcpStream, BufReader<TcpStream>)> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ok((s.try_clone()?, BufReader::new(s)))
}

fn main() {
    let a = Arc::new(args());
    let deadline = Instant::now() + Duration::from_secs_f64(a.seconds);
    let results = Arc::new(Mutex::new((Vec::<f64>::new(), 0u64)));
    let started = Instant::now();
    let threads: Vec<_> = (0..a.clients)
        .map(|n| {
            let (a, results) = (a.clone(), results.clone());
            std::thread::spawn(move || {
                let (mut lat, mut errors) = (Vec::new(), 0u64);
                let mut conn = connect(a.port).ok();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    i += 1;
                    let body = format!(
                        r#"{{"type_code": "06001", "unit": "{}", "description": "基准测试 c{n} #{i}", "lon": 105.59, "lat": 30.53}}"#,
                        a.unit
                    );
                    let request = format!(
                        "POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nIdempotency-Key: bench-{n}-{i}\r\nContent-Length: {}\r\n\r\n{body}",
                        a.port,
                        a.token,
                        body.len()
                    );
                    let t0 = Instant::now();
                    let ok = match conn.as_mut() {
                        Some((w, r)) => matches!(round_trip(w, r, request.as_bytes()), Ok(200 | 201)),
                        None => false,
                    };
                    let dt = t0.elapsed().as_secs_f64();
                    if ok {
                        lat.push(dt);
                    } else {
                        errors += 1;
                        conn = connect(a.port).ok();
                    }
                }
                let mut r = results.lock().expect("results");
                r.0.extend(lat);
                r.1 += errors;
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let wall = started.elapsed().as_secs_f64();
    let (mut lat, errors) = std::mem::take(&mut *results.lock().expect("results"));
    lat.sort_by(|x, y| x.total_cmp(y));
    let q = |p: f64| if lat.is_empty() { f64::NAN } else { lat[((p * lat.len() as f64) as usize).min(lat.len() - 1)] * 1000.0 };
    println!(
        r#"{{"reports": {}, "errors": {errors}, "seconds": {:.2}, "per_second": {:.1}, "p50_ms": {:.2}, "p99_ms": {:.2}, "max_ms": {:.2}, "clients": {}, "client": "intake_load.rs"}}"#,
        lat.len(),
        wall,
        lat.len() as f64 / wall,
        q(0.50),
        q(0.99),
        lat.last().map_or(f64::NAN, |v| v * 1000.0),
        a.clients
    );
}
