//! Device alarms: registration, the signed webhook (events, duplicates, refusals), and a real MQTT
//! broker (a private `mosquitto` on a loopback port) feeding the same ingest.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use platform::audit::Actor;
use platform::auth::Role;
use platform::clock::{HOUR, MINUTE};
use platform::sql;

use crate::harness::{Browser, Response, TestApp};

const COMMUNITY: &str = "510903001001";
/// A demo compound in the community.
const COMPOUND: &str = "510903001001001";
/// Another community of the same street (outside the community staff's scope).
const NEIGHBOUR: &str = "510903001002";

/// The test vector of the module documentation, computed independently of our code.
const VECTOR_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const VECTOR_TEXT: &str = "smoke-3-2|m-0001|1780000000000|critical|3栋2单元烟雾浓度超标";
const VECTOR_SIG: &str = "475260275260e2dc4a855b790f3320d5bca209acf13a126494ee1f4202731389";

fn payload(secret: &str, device: &str, msg: &str, ts: i64, level: &str, detail: &str) -> String {
    let sig = events::alarms::sign(secret, device, msg, ts, level, detail).expect("hex secret");
    serde_json::json!({"device_id": device, "msg_id": msg, "ts": ts, "level": level, "detail": detail, "sig": sig}).to_string()
}

async fn webhook(t: &TestApp, body: &str) -> Response {
    let req = Request::post("/api/v1/alarms").header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_owned())).expect("request");
    t.send(req).await
}

fn secret_in(page: &str) -> String {
    page.split("<code class=\"secret\">").nth(1).and_then(|s| s.split('<').next()).unwrap_or_else(|| panic!("no secret shown: {page}")).to_owned()
}

async fn register(t: &TestApp, b: &mut Browser, id: &str, name: &str, kind: &str, unit: &str, type_code: &str) -> Response {
    t.post(b, "/events/devices", &[("id", id), ("name", name), ("kind", kind), ("unit", unit), ("type_code", type_code)]).await
}

async fn count(t: &TestApp, q: platform::Sql) -> i64 {
    t.platform.db.scalar(q).await.expect("count")
}

async fn outcome(t: &TestApp, device: &str, msg: &str) -> Option<(String, Option<String>)> {
    t.platform
        .db
        .fetch_optional(sql!("SELECT outcome, event_id FROM device_messages WHERE device_id = $1 AND msg_id = $2", device, msg))
        .await
        .expect("device message")
}

#[test]
fn the_signature_matches_the_documented_test_vector() {
    let (device, msg, ts, level, detail) = ("smoke-3-2", "m-0001", 1_780_000_000_000, "critical", "3栋2单元烟雾浓度超标");
    assert_eq!(events::alarms::signing_text(device, msg, ts, level, detail), VECTOR_TEXT);
    assert_eq!(events::alarms::sign(VECTOR_KEY, device, msg, ts, level, detail).as_deref(), Some(VECTOR_SIG));
    assert_eq!(events::alarms::sign("not hex", device, msg, ts, level, detail), None);
}

#[tokio::test]
async fn a_signed_webhook_alarm_raises_one_event_and_bad_ones_none() {
    let t = TestApp::new().await;
    t.user("office", Role::CommunityStaff, COMMUNITY).await;
    let mut office = t.login("office", None).await;
    let page = t.get(&office, "/events/devices").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("data-testid=\"register-device\"") && page.body.contains(COMPOUND), "{}", page.body);

    let r = register(&t, &mut office, "smoke-3-2", "3栋2单元楼道烟感", "烟感", COMPOUND, "90002").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let secret = secret_in(&r.body);
    assert_eq!(secret.len(), 64);
    // Shown once: the list does not show it again, and the database holds it encrypted.
    let list = t.get(&office, "/events/devices").await;
    assert!(list.body.contains("smoke-3-2") && list.body.contains("3栋2单元楼道烟感") && !list.body.contains(&secret));
    let (stored,): (String,) = t.platform.db.fetch_one(sql!("SELECT secret FROM devices WHERE id = 'smoke-3-2'")).await.unwrap();
    assert!(!stored.contains(&secret));
    assert_eq!(count(&t, sql!("SELECT COUNT(*) FROM audit_log WHERE action = 'alarm.register_device' AND target = 'smoke-3-2'")).await, 1);

    // A correctly signed critical alarm: one 特急 event in the compound, from the device.
    let now = t.platform.now();
    let good = payload(&secret, "smoke-3-2", "m-0001", now - MINUTE, "critical", "烟雾浓度超标");
    let r = webhook(&t, &good).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let j = r.json();
    assert_eq!(j["duplicate"], false);
    let id = j["event_id"].as_str().expect("event id").to_owned();
    assert!(j["event_no"].as_str().is_some_and(|n| n.starts_with("2026")), "{j}");
    #[derive(sqlx::FromRow)]
    struct Ev {
        type_code: String,
        urgency: String,
        unit_code: String,
        handling_unit: String,
        source: String,
        reporter: Option<String>,
        description: String,
        stage_limit_unit: String,
    }
    let e: Ev = t
        .platform
        .db
        .fetch_one(sql!(
            "SELECT type_code, urgency, unit_code, handling_unit, source, reporter, description, stage_limit_unit FROM events WHERE id = $1",
            id.as_str()
        ))
        .await
        .unwrap();
    assert_eq!((e.type_code.as_str(), e.urgency.as_str(), e.unit_code.as_str(), e.handling_unit.as_str()), ("90002", "特急", COMPOUND, COMMUNITY));
    assert_eq!((e.source.as_str(), e.reporter), ("设备告警", None));
    assert_eq!(e.description, "【设备告警】3栋2单元楼道烟感（烟感）：烟雾浓度超标");
    // 特急: the acknowledgement stage runs on the clock, not in office hours.
    let handling = events::model::Limit { amount: 2, unit: events::model::LimitUnit::WorkingDays };
    let expected = events::service::stage_limit(events::model::State::Reported, events::model::Urgency::Critical, handling);
    assert_eq!(e.stage_limit_unit, expected.unit.as_str());
    assert!(!e.stage_limit_unit.starts_with("working"), "特急 runs on clock time");
    let (actor,): (String,) = t.platform.db.fetch_one(sql!("SELECT actor FROM event_steps WHERE event_id = $1", id.as_str())).await.unwrap();
    assert_eq!(actor, "device:smoke-3-2");
    let shown = t.get(&office, &format!("/events/{id}")).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains("设备告警") && shown.body.contains("3栋2单元楼道烟感"), "{}", shown.body);
    assert_eq!(outcome(&t, "smoke-3-2", "m-0001").await, Some(("accepted".into(), Some(id.clone()))));

    // The same message again (a device retrying): the same event, flagged, even an hour later.
    let again = webhook(&t, &good).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!((again.json()["event_id"].as_str(), again.json()["duplicate"].as_bool()), (Some(id.as_str()), Some(true)));
    t.clock.advance(HOUR);
    let late = webhook(&t, &good).await;
    assert_eq!((late.status, late.json()["duplicate"].as_bool()), (StatusCode::ACCEPTED, Some(true)));
    assert_eq!(count(&t, sql!("SELECT COUNT(*) FROM events")).await, 1);
    let now = t.platform.now();

    // Refusals make no event, answer with a code, and are recorded.
    let tampered = payload(&secret, "smoke-3-2", "m-0002", now, "critical", "烟雾浓度超标").replace("烟雾浓度超标", "一切正常");
    let r = webhook(&t, &tampered).await;
    assert_eq!((r.status, r.json()["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("alarm.bad_signature")));
    let wrong_key = payload(&"ab".repeat(32), "smoke-3-2", "m-0003", now, "urgent", "");
    assert_eq!(webhook(&t, &wrong_key).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(outcome(&t, "smoke-3-2", "m-0002").await, Some(("alarm.bad_signature".into(), None)));

    let unknown = payload(&secret, "gas-9-9", "m-0001", now, "urgent", "");
    let r = webhook(&t, &unknown).await;
    assert_eq!((r.status, r.json()["code"].as_str()), (StatusCode::NOT_FOUND, Some("alarm.unknown_device")));

    for ts in [now - 11 * MINUTE, now + 3 * MINUTE] {
        let r = webhook(&t, &payload(&secret, "smoke-3-2", &format!("old-{ts}"), ts, "normal", "")).await;
        assert_eq!((r.status, r.json()["code"].as_str()), (StatusCode::BAD_REQUEST, Some("alarm.stale")), "ts {ts}");
    }
    assert_eq!(outcome(&t, "smoke-3-2", &format!("old-{}", now - 11 * MINUTE)).await.map(|o| o.0).as_deref(), Some("alarm.stale"));

    let malformed = [
        "{not json".to_owned(),
        "[]".to_owned(),
        good.replace(&format!("\"ts\":{}", now - HOUR - MINUTE), &format!("\"ts\":\"{}\"", now - HOUR - MINUTE)),
        serde_json::json!({"device_id": "smoke-3-2", "msg_id": "m-9", "ts": now, "level": "critical", "sig": "00"}).to_string(),
        payload(&secret, "smoke-3-2", "m-9", now, "fire", ""),
        payload(&secret, "smoke-3-2", "has space", now, "normal", ""),
        payload(&secret, "smoke-3-2", "m-10", now, "normal", &"长".repeat(501)),
    ];
    for body in &malformed {
        let r = webhook(&t, body).await;
        assert_eq!((r.status, r.json()["code"].as_str()), (StatusCode::BAD_REQUEST, Some("alarm.bad_payload")), "{body}");
    }
    assert_eq!(count(&t, sql!("SELECT COUNT(*) FROM events")).await, 1, "no refused message made an event");
    let rejected = count(&t, sql!("SELECT COUNT(*) FROM audit_log WHERE action = 'alarm.rejected'")).await;
    assert_eq!(rejected, 2 + 1 + 2 + malformed.len() as i64);
    let details: Vec<(String,)> = t.platform.db.fetch_all(sql!("SELECT detail FROM audit_log WHERE action = 'alarm.rejected'")).await.unwrap();
    assert!(details.iter().all(|(d,)| d.starts_with("alarm.") && !d.contains(&secret) && !d.contains("一切正常")), "{details:?}");

    // A rejected message id does not block the device's real message with that id.
    let r = webhook(&t, &payload(&secret, "smoke-3-2", "m-0002", now, "normal", "")).await;
    assert_eq!((r.status, r.json()["duplicate"].as_bool()), (StatusCode::ACCEPTED, Some(false)));
    let (urgency,): (String,) =
        t.platform.db.fetch_one(sql!("SELECT urgency FROM events WHERE id = $1", r.json()["event_id"].as_str().unwrap_or(""))).await.unwrap();
    assert_eq!(urgency, "一般");
    assert_eq!(outcome(&t, "smoke-3-2", "m-0002").await.map(|o| o.0).as_deref(), Some("accepted"));

    // Switched off: refused like an unknown device (a new session: the clock moved past the idle limit).
    let mut office = t.login("office", None).await;
    let r = t.post(&mut office, "/events/devices/smoke-3-2/active", &[("active", "0")]).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/events/devices"), "{}", r.body);
    let r = webhook(&t, &payload(&secret, "smoke-3-2", "m-0004", now, "urgent", "")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let list = t.get(&office, "/events/devices").await;
    assert!(list.body.contains("已停用"), "{}", list.body);
}

#[tokio::test]
async fn devices_are_validated_and_registered_only_in_scope() {
    let t = TestApp::new().await;
    let p = &t.platform;
    let actor = Actor::system();
    let code = |r: platform::AppResult<String>| r.err().map(|e| e.code).unwrap_or("ok");
    for bad in ["ab", "has space", "烟感1号", "a/b", &"x".repeat(65), ""] {
        assert_eq!(code(events::alarms::register_device(p, &actor, bad, "x", "烟感", COMPOUND, "90002").await), "alarm.bad_device_id", "{bad:?}");
    }
    let ok = events::alarms::register_device(p, &actor, "fire-lane_01", "东门消防通道", "消防通道", COMMUNITY, "09002").await;
    assert!(ok.as_ref().is_ok_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())), "{ok:?}");
    let dup = events::alarms::register_device(p, &actor, "fire-lane_01", "x", "消防通道", COMMUNITY, "09002").await.expect_err("duplicate");
    assert_eq!((dup.code, dup.status), ("alarm.duplicate_device", StatusCode::CONFLICT));
    assert_eq!(code(events::alarms::register_device(p, &actor, "w-1", "x", "水浸", "510903001", "01003").await), "alarm.bad_unit", "township");
    assert_eq!(code(events::alarms::register_device(p, &actor, "w-1", "x", "水浸", "510903001001999", "01003").await), "alarm.bad_unit", "absent");
    assert_eq!(code(events::alarms::register_device(p, &actor, "w-1", "x", "水浸", COMPOUND, "99999").await), "alarm.unknown_type");
    assert_eq!(code(events::alarms::register_device(p, &actor, "w-1", "x", "摄像头", COMPOUND, "01003").await), "alarm.bad_kind");
    assert_eq!(code(events::alarms::register_device(p, &actor, "w-1", " ", "水浸", COMPOUND, "01003").await), "alarm.bad_name");
    assert_eq!(code(events::alarms::register_device(p, &actor, "w-1", "地下车库水浸", "水浸", COMPOUND, "01003").await), "ok");

    // Through the page: errors are shown with their code; units outside the caller's scope are refused.
    t.user("office", Role::CommunityStaff, COMMUNITY).await;
    t.user("grid", Role::GridWorker, COMMUNITY).await;
    let mut office = t.login("office", None).await;
    let r = register(&t, &mut office, "x", "名称", "烟感", COMPOUND, "90002").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("data-code=\"alarm.bad_device_id\"") && r.body.contains("名称"), "{}", r.body);
    let r = register(&t, &mut office, "gas-1", "邻居燃气", "燃气", NEIGHBOUR, "90002").await;
    assert!(r.status == StatusCode::BAD_REQUEST && r.body.contains("alarm.bad_unit"), "{}", r.body);
    let r = register(&t, &mut office, "fire-lane_01", "再来一次", "消防通道", COMPOUND, "09002").await;
    assert!(r.status == StatusCode::CONFLICT && r.body.contains("alarm.duplicate_device"), "{}", r.body);
    let grid = t.login("grid", None).await;
    assert_eq!(t.get(&grid, "/events/devices").await.status, StatusCode::FORBIDDEN);
    // A device registered elsewhere cannot be switched off from here.
    events::alarms::register_device(p, &actor, "gas-neighbour", "x", "燃气", NEIGHBOUR, "90002").await.expect("register");
    let r = t.post(&mut office, "/events/devices/gas-neighbour/active", &[("active", "0")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let page = t.get(&office, "/events/devices").await;
    assert!(page.body.contains("fire-lane_01") && !page.body.contains("gas-neighbour"), "only devices in scope are listed");
}

#[tokio::test]
async fn the_topic_must_name_the_device() {
    let t = TestApp::new().await;
    let secret = events::alarms::register_device(&t.platform, &Actor::system(), "gas-1", "厨房燃气", "燃气", COMPOUND, "90002").await.expect("register");
    let body = payload(&secret, "gas-1", "m-1", t.platform.now(), "urgent", "");
    let err = events::alarms::ingest_mqtt(&t.platform, "jiceng/alarms/gas-2", body.as_bytes()).await.expect_err("mismatch");
    assert_eq!(err.code, "alarm.topic_mismatch");
    let ok = events::alarms::ingest_mqtt(&t.platform, "jiceng/alarms/gas-1", body.as_bytes()).await.expect("accepted");
    assert!(!ok.duplicate);
}

// ---------------------------------------------------------------------------------------------
// A real broker

/// Kills the broker when the test ends, however it ends.
struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mosquitto_path() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].into_iter().map(Into::into)).map(|d| d.join("mosquitto")).find(|p| p.is_file())
}

/// Starts a broker on `port`, or on a free loopback port.
async fn start_broker(port: Option<u16>) -> (Broker, u16) {
    let bin = mosquitto_path()
        .unwrap_or_else(|| panic!("the MQTT test needs the `mosquitto` broker binary: install it (apt-get install mosquitto); CI's .ci/run does"));
    let port = port.unwrap_or_else(|| std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port());
    let child = Command::new(bin).args(["-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start mosquitto");
    let broker = Broker(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return (broker, port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("mosquitto did not listen on 127.0.0.1:{port} within 10 s");
}

/// Polls (every 100 ms, at most 10 s) until `check` holds.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_arrive_over_a_real_mqtt_broker() {
    use events::alarms::rumqttc::{AsyncClient, MqttOptions, QoS};
    let t = TestApp::new().await;
    let secret = events::alarms::register_device(&t.platform, &Actor::system(), "water-b1", "地下车库水浸", "水浸", COMPOUND, "01003").await.expect("register");
    let (broker, port) = start_broker(None).await;
    let server = events::alarms::spawn_mqtt(t.platform.clone(), "127.0.0.1".into(), port);

    let mut opts = MqttOptions::new("test-device-water-b1", "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (device, mut eventloop) = AsyncClient::new(opts, 16);
    let pump = tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let topic = "jiceng/alarms/water-b1";
    let now = t.platform.now();
    let good = payload(&secret, "water-b1", "mq-1", now, "urgent", "水位 12 cm");
    // The server subscribes a moment after it starts; the device repeats its alarm (same msg_id,
    // harmless) until it is taken, as real devices do.
    let mut tick = 0;
    let arrived = eventually(|| {
        tick += 1;
        let (n, device, good, t) = (tick, &device, &good, &t);
        async move {
            if n % 5 == 1 {
                device.publish(topic, QoS::AtLeastOnce, false, good.clone()).await.expect("publish");
            }
            outcome(t, "water-b1", "mq-1").await.is_some_and(|o| o.0 == "accepted")
        }
    })
    .await;
    assert!(arrived, "the signed MQTT alarm did not become an event within 10 s");
    let (urgency, source, unit): (String, String, String) =
        t.platform.db.fetch_one(sql!("SELECT urgency, source, unit_code FROM events WHERE idem_key = 'device:water-b1:mq-1'")).await.unwrap();
    assert_eq!((urgency.as_str(), source.as_str(), unit.as_str()), ("紧急", "设备告警", COMPOUND));

    // A badly signed message and one on another device's topic are recorded as refused.
    let forged = payload(&"cd".repeat(32), "water-b1", "mq-2", now, "critical", "伪造");
    device.publish(topic, QoS::AtLeastOnce, false, forged).await.expect("publish");
    let elsewhere = payload(&secret, "water-b1", "mq-3", now, "critical", "");
    device.publish("jiceng/alarms/water-b2", QoS::AtLeastOnce, false, elsewhere).await.expect("publish");
    let refused = eventually(|| async {
        outcome(&t, "water-b1", "mq-2").await.is_some_and(|o| o == ("alarm.bad_signature".into(), None))
            && outcome(&t, "water-b1", "mq-3").await.is_some_and(|o| o.0 == "alarm.topic_mismatch")
    })
    .await;
    assert!(refused, "the refused MQTT messages were not recorded within 10 s");
    assert_eq!(count(&t, sql!("SELECT COUNT(*) FROM events")).await, 1, "only the signed alarm made an event");
    assert_eq!(count(&t, sql!("SELECT COUNT(*) FROM audit_log WHERE action = 'alarm.rejected' AND client_addr = 'mqtt'")).await, 2);

    // The broker restarts: the server reconnects (backoff 1 s, 2 s, …) and subscribes again.
    drop(broker);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_broker, _) = start_broker(Some(port)).await;
    let after = payload(&secret, "water-b1", "mq-4", now, "normal", "复位后再次告警");
    let mut tick = 0;
    let arrived = eventually(|| {
        tick += 1;
        let (n, device, after, t) = (tick, &device, &after, &t);
        async move {
            if n % 5 == 1 {
                // Queued while the device's own client reconnects; a failure here is retried.
                let _ = device.try_publish(topic, QoS::AtLeastOnce, false, after.clone());
            }
            outcome(t, "water-b1", "mq-4").await.is_some_and(|o| o.0 == "accepted")
        }
    })
    .await;
    assert!(arrived, "no event within 10 s of the broker's restart: the server did not reconnect");
    assert_eq!(count(&t, sql!("SELECT COUNT(*) FROM events")).await, 2);

    server.abort();
    pump.abort();
}
