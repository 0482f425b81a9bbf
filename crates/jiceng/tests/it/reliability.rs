//! Crash safety: the server is killed with SIGKILL while reports pour in. After a restart every
//! report that got a success answer is there exactly once, retries of the rest do not duplicate, and
//! escalations that fell due while the server was down happen on its first sweep.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use platform::{Clock, sql};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(dir: &std::path::Path, port: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_jiceng"))
        .current_dir(dir)
        .args(["--db", "r.db", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("JICENG_DB")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server(child)
}

/// A minimal HTTP/1.1 request over a fresh connection; `None` when the server is gone.
async fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Option<(u16, String)> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(("127.0.0.1", port))).await.ok()?.ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()))
}

async fn wait_healthy(port: u16) {
    for _ in 0..200 {
        if let Some((200, _)) = http(port, "GET", "/healthz", &[], "").await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not come up on port {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_survive_a_sigkill_exactly_once_and_escalations_resume() {
    let dir = std::env::temp_dir().join(format!("jiceng-kill-{}", platform::db::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_jiceng");
    let cli = |args: &[&str], stdin: Option<&str>| {
        let mut c = Command::new(bin)
            .current_dir(&dir)
            .args(["--db", "r.db"])
            .args(args)
            .env_remove("JICENG_DB")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(s) = stdin {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        drop(c.stdin.take());
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    cli(&["demo", "--no-serve"], None);
    cli(&["user", "add", "gridbot", "--role", "grid_worker", "--unit", "510903001001"], Some("Str0ng-pass!\n"));
    let token = cli(&["token", "create", "gridbot"], None);
    let auth = format!("Bearer {token}");

    let port = free_port();
    let server = start(&dir, port);
    wait_healthy(port).await;
    let succeeded: Arc<Mutex<Vec<String>>> = Arc::default();
    let failed: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let (ok, bad, auth) = (succeeded.clone(), failed.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..400 {
                let key = format!("w{worker}-{i}");
                let body = format!(r#"{{"type_code":"06001","unit":"510903001001","description":"压力测试 {key}"}}"#);
                match http(port, "POST", "/api/v1/events", &[("Authorization", &auth), ("Content-Type", "application/json"), ("Idempotency-Key", &key)], &body)
                    .await
                {
                    Some((200 | 201, _)) => ok.lock().unwrap().push(key),
                    _ => bad.lock().unwrap().push(key),
                }
            }
        }));
    }
    // Let reports flow, then pull the plug mid-stream.
    for _ in 0..100 {
        if succeeded.lock().unwrap().len() >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server);
    for t in tasks {
        t.await.unwrap();
    }
    let ok = succeeded.lock().unwrap().clone();
    let bad = failed.lock().unwrap().clone();
    assert!(ok.len() >= 40, "reports were flowing before the kill: {}", ok.len());
    assert!(!bad.is_empty(), "the kill interrupted some requests");

    // An escalation falls due while the server is down: a critical event whose 15 minutes ran out.
    let db = platform::Db::connect(&dir.join("r.db").to_string_lossy()).await.unwrap();
    let (id,): (String,) = db.fetch_one(sql!("SELECT id FROM events ORDER BY created_ms LIMIT 1")).await.unwrap();
    let past = platform::clock::SystemClock.now_ms() - 20 * 60_000;
    db.execute(sql!(
        "UPDATE events SET urgency = '特急', stage_limit_amount = 15, stage_limit_unit = 'minutes', stage_started_ms = $1 WHERE id = $2",
        past,
        id.as_str()
    ))
    .await
    .unwrap();
    db.close().await;

    let port2 = free_port();
    let _server = start(&dir, port2);
    wait_healthy(port2).await;
    let db = platform::Db::connect(&dir.join("r.db").to_string_lossy()).await.unwrap();
    for key in &ok {
        let n = db.scalar(sql!("SELECT COUNT(*) FROM events WHERE idem_key = $1", key.as_str())).await.unwrap();
        assert_eq!(n, 1, "report {key} answered with success must be stored exactly once");
    }
    // Clients retry what failed; nothing is duplicated.
    for key in bad.iter().take(50) {
        let body = format!(r#"{{"type_code":"06001","unit":"510903001001","description":"压力测试 {key}"}}"#);
        let (status, _) =
            http(port2, "POST", "/api/v1/events", &[("Authorization", &auth), ("Content-Type", "application/json"), ("Idempotency-Key", key)], &body)
                .await
                .expect("server answers");
        assert!(status == 200 || status == 201, "{status}");
        assert_eq!(db.scalar(sql!("SELECT COUNT(*) FROM events WHERE idem_key = $1", key.as_str())).await.unwrap(), 1);
    }
    assert_eq!(db.scalar(sql!("SELECT COUNT(*) FROM events")).await.unwrap(), db.scalar(sql!("SELECT COUNT(DISTINCT idem_key) FROM events")).await.unwrap());
    // The first sweep after start-up escalates the overdue event.
    let mut handling = String::new();
    for _ in 0..100 {
        let (h,): (String,) = db.fetch_one(sql!("SELECT handling_unit FROM events WHERE id = $1", id.as_str())).await.unwrap();
        handling = h;
        if handling == "510903001" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(handling, "510903001", "escalation resumed after the restart");
    // The audit chain survived the crash.
    let v = platform::audit::verify(&db).await.unwrap();
    assert!(v.first_break.is_none(), "{:?}", v.first_break);
}
