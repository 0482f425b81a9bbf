//! The event loop end to end through the pages: report, accept, dispatch, sign, handle, verify,
//! close, evaluate; escalation and whistles on an injected clock; stale forms and bad input.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use platform::auth::Role;
use platform::clock::{HOUR, MINUTE};
use platform::sql;

use crate::harness::{Browser, Response, TestApp};

const COMMUNITY: &str = "510903001001";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82";

/// Posts the multipart report form.
async fn report(t: &TestApp, b: &Browser, fields: &[(&str, &str)], photo: Option<(&str, &[u8])>) -> Response {
    let boundary = "EVTBOUNDARY";
    let mut body: Vec<u8> = Vec::new();
    for (k, v) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
    }
    if let Some((name, bytes)) = photo {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    let req = Request::post(format!("/events/new?_csrf={}", b.csrf))
        .header(header::COOKIE, format!("jiceng_session={}", b.cookies[0].1))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from(body))
        .unwrap();
    t.send(req).await
}

fn event_id(r: &Response) -> String {
    r.location().trim_start_matches("/events/").split('?').next().unwrap().to_owned()
}

fn version(page: &str) -> String {
    page.split("data-version=\"").nth(1).map(|s| s.split('"').next().unwrap().to_owned()).unwrap_or_default()
}

async fn act(t: &TestApp, b: &mut Browser, id: &str, action: &str, extra: &[(&str, &str)]) -> Response {
    let page = t.get(b, &format!("/events/{id}")).await;
    let v = version(&page.body);
    let mut fields = vec![("action", action), ("version", v.as_str())];
    fields.extend_from_slice(extra);
    t.post(b, &format!("/events/{id}/act"), &fields).await
}

async fn state(t: &TestApp, id: &str) -> (String, String, String) {
    t.platform.db.fetch_one(sql!("SELECT state, handling_unit, light FROM events WHERE id = $1", id)).await.unwrap()
}

#[tokio::test]
async fn a_report_goes_round_the_whole_loop() {
    let t = TestApp::new().await;
    t.user("grid", Role::GridWorker, COMMUNITY).await;
    t.user("office", Role::CommunityStaff, COMMUNITY).await;
    let mut grid = t.login("grid", None).await;
    let mut office = t.login("office", None).await;
    let form = t.get(&grid, "/events/new").await;
    assert!(form.body.contains("06005") && form.body.contains("name=\"idem_key\""));
    let key = "form-key-1";
    let fields = [
        ("type_code", "06005"),
        ("unit", COMMUNITY),
        ("description", "雨后路口积水，行人无法通过"),
        ("address", "电江路与和平路口"),
        ("urgency", "一般"),
        ("lon", "105.5927"),
        ("lat", "30.5329"),
        ("crs", "gcj02"),
        ("idem_key", key),
    ];
    let r = report(&t, &grid, &fields, Some(("drain.png", PNG))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = event_id(&r);
    // A retry of the same form (bad signal) does not make a second event.
    let again = report(&t, &grid, &fields, Some(("drain.png", PNG))).await;
    assert_eq!(event_id(&again), id);
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM events")).await.unwrap(), 1);
    // GCJ-02 input is stored as WGS-84.
    let (lon,): (i64,) = t.platform.db.fetch_one(sql!("SELECT lon_e6 FROM events WHERE id = $1", id.as_str())).await.unwrap();
    let expect = geography::geo::gcj02_to_wgs84(105.5927, 30.5329).0;
    assert!((lon as f64 / 1e6 - expect).abs() < 2e-6);
    let page = t.get(&grid, &format!("/events/{id}")).await;
    assert!(page.body.contains("排水不畅或积水") && page.body.contains("/events/attachments/"));
    let photo = page.body.split("/events/attachments/").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let img = t.get(&grid, &format!("/events/attachments/{photo}")).await;
    assert_eq!(img.headers.get(header::CONTENT_TYPE).unwrap(), "image/png");
    assert_eq!(img.headers.get(header::CONTENT_LENGTH).unwrap().to_str().unwrap(), PNG.len().to_string(), "the photo comes back whole");

    let list = t.get(&office, "/events").await;
    assert!(list.body.contains("data-testid=\"event-map\"") && list.body.contains("<circle class=\"pt green\""), "open events with coordinates are on the map");
    // The grid worker cannot accept; the community office can.
    assert!(!page.body.contains("data-action=\"accept\""));
    assert_eq!(act(&t, &mut grid, &id, "accept", &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(act(&t, &mut office, &id, "accept", &[]).await.status, StatusCode::OK);
    assert_eq!(act(&t, &mut office, &id, "dispatch", &[("department", "")]).await.status, StatusCode::OK);
    assert_eq!(state(&t, &id).await.0, "dispatched");
    assert_eq!(act(&t, &mut grid, &id, "sign_in", &[]).await.status, StatusCode::OK);
    let empty = act(&t, &mut grid, &id, "feedback", &[]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "feedback needs a note");
    assert_eq!(act(&t, &mut grid, &id, "feedback", &[("note", "已疏通雨水箅子")]).await.status, StatusCode::OK);
    assert_eq!(act(&t, &mut office, &id, "rework", &[("note", "仍有积水")]).await.status, StatusCode::OK);
    assert_eq!(act(&t, &mut grid, &id, "feedback", &[("note", "已清淤")]).await.status, StatusCode::OK);
    let bad = act(&t, &mut office, &id, "close", &[("reason", "办完了")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(act(&t, &mut office, &id, "close", &[("reason", "已解决")]).await.status, StatusCode::OK);
    // The reporter is told and evaluates; 不满意 would reopen.
    let told: i64 = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM outbox WHERE recipient = 'reporter:grid'")).await.unwrap();
    assert_eq!(told, 1);
    assert_eq!(act(&t, &mut grid, &id, "evaluate", &[("satisfaction", "不满意")]).await.status, StatusCode::OK);
    assert_eq!(state(&t, &id).await.0, "handling", "unsatisfied reopens");
    assert_eq!(act(&t, &mut grid, &id, "feedback", &[("note", "重新处理")]).await.status, StatusCode::OK);
    assert_eq!(act(&t, &mut office, &id, "close", &[("reason", "已解决")]).await.status, StatusCode::OK);
    assert_eq!(act(&t, &mut grid, &id, "evaluate", &[("satisfaction", "满意")]).await.status, StatusCode::OK);
    assert_eq!(state(&t, &id).await.0, "evaluated");
    let steps = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM event_steps WHERE event_id = $1", id.as_str())).await.unwrap();
    assert_eq!(steps, 12);
    let audited = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM audit_log WHERE target = $1", id.as_str())).await.unwrap();
    assert_eq!(audited, steps, "every step has its audit record");
    // A transition not allowed from the current state is refused with a reason.
    let r = act(&t, &mut office, &id, "dispatch", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN.max(r.status));
    // Metrics count it as solved, reworked twice, satisfied.
    let m = t.get(&office, "/events/metrics?from=2020-01-01&to=2030-01-01").await;
    assert!(m.body.contains("电江路社区居委会") && m.body.contains("100.0%"), "{}", m.body);
    let by_person = t.get(&office, "/events/metrics?from=2020-01-01&to=2030-01-01&by=person").await;
    assert!(by_person.body.contains("<td data-label=\"处置单位\">grid</td>") || by_person.body.contains(">grid<"), "{}", by_person.body);
    let by_dep = t.get(&office, "/events/metrics?from=2020-01-01&to=2030-01-01&by=department").await;
    assert!(by_dep.body.contains("属地处置（未派部门）"));
    let by_grid = t.get(&office, "/events/metrics?from=2020-01-01&to=2030-01-01&by=grid").await;
    assert!(by_grid.body.contains("（未定位到网格）"), "reported at the community, not a grid");
    let xlsx = t.get(&office, "/events/metrics.xlsx?from=2020-01-01&to=2030-01-01").await;
    assert!(xlsx.body.starts_with("PK"), "an Excel workbook");
    let csv = t.get(&office, "/events/metrics.csv?from=2020-01-01&to=2030-01-01").await;
    assert!(csv.body.starts_with('\u{feff}') && csv.body.contains("电江路社区居委会"));
}

#[tokio::test]
async fn stale_forms_and_bad_reports_are_refused_clearly() {
    let t = TestApp::new().await;
    t.user("grid", Role::GridWorker, COMMUNITY).await;
    t.user("aa", Role::CommunityStaff, COMMUNITY).await;
    t.user("bb", Role::CommunityStaff, COMMUNITY).await;
    let grid = t.login("grid", None).await;
    let mut a = t.login("aa", None).await;
    let mut b = t.login("bb", None).await;
    let base = [("unit", COMMUNITY), ("description", "x"), ("urgency", "一般")];
    let with = |extra: &[(&'static str, &'static str)]| base.iter().chain(extra.iter()).cloned().collect::<Vec<_>>();
    let r = report(&t, &grid, &with(&[("type_code", "99999")]), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("event.unknown_type"));
    let r = report(&t, &grid, &with(&[("type_code", "06001"), ("lon", "116.39"), ("lat", "39.90")]), None).await;
    assert!(r.body.contains("event.outside_city"), "Beijing is not in Suining");
    let r = report(&t, &grid, &with(&[("type_code", "06001")]), Some(("notes.png", b"hello, not a picture"))).await;
    assert!(r.body.contains("event.not_an_image"));
    let r = report(&t, &grid, &with(&[("type_code", "06001"), ("unit", "510904001001")]), None).await;
    assert!(r.body.contains("event.bad_unit"), "out of the reporter's scope");
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM events")).await.unwrap(), 0, "nothing half-written");
    let r = report(&t, &grid, &with(&[("type_code", "06001")]), None).await;
    let id = event_id(&r);
    // Sent again without a key (the form was reloaded after going back): still one event.
    let again = report(&t, &grid, &with(&[("type_code", "06001")]), None).await;
    assert_eq!(event_id(&again), id);
    // Another type, or the same report after ten minutes, is a new event.
    let other = report(&t, &grid, &with(&[("type_code", "06005")]), None).await;
    assert_ne!(event_id(&other), id);
    t.clock.advance(11 * platform::clock::MINUTE);
    let later = report(&t, &grid, &with(&[("type_code", "06001")]), None).await;
    assert_ne!(event_id(&later), id, "ten minutes later it is a new report");
    // Two officers open the same event; the second submission is stale.
    let page_a = t.get(&a, &format!("/events/{id}")).await;
    let page_b = t.get(&b, &format!("/events/{id}")).await;
    let r1 = t.post(&mut a, &format!("/events/{id}/act"), &[("action", "accept"), ("version", &version(&page_a.body))]).await;
    assert_eq!(r1.status, StatusCode::OK);
    let r2 = t.post(&mut b, &format!("/events/{id}/act"), &[("action", "reject"), ("version", &version(&page_b.body)), ("note", "重复")]).await;
    assert_eq!(r2.status, StatusCode::CONFLICT);
    assert!(r2.body.contains("已被他人处理"));
    assert_eq!(state(&t, &id).await.0, "accepted");
    // A transition the state does not allow.
    let r3 = act(&t, &mut a, &id, "close", &[("reason", "已解决")]).await;
    assert_eq!(r3.status, StatusCode::CONFLICT);
    assert!(r3.body.contains("不能执行"));
}

#[tokio::test]
async fn red_events_rise_a_level_and_the_clock_pauses_while_suspended() {
    let t = TestApp::new().await;
    t.user("grid", Role::GridWorker, COMMUNITY).await;
    t.user("office", Role::CommunityStaff, COMMUNITY).await;
    t.user("street", Role::TownshipStaff, "510903001").await;
    let grid = t.login("grid", None).await;
    let cal = events::model::WorkCalendar::official();
    // The clock starts at Friday 04:26 Beijing time; the 2-working-hour acceptance limit ends at 11:00.
    let id = event_id(&report(&t, &grid, &[("type_code", "06001"), ("unit", COMMUNITY), ("description", "垃圾堆积"), ("urgency", "一般")], None).await);
    t.clock.advance(6 * HOUR);
    events::service::sweep(&t.platform, cal).await.unwrap();
    assert_eq!(state(&t, &id).await.2, "green", "10:26: 86 of 120 minutes");
    t.clock.advance(10 * MINUTE);
    events::service::sweep(&t.platform, cal).await.unwrap();
    assert_eq!(state(&t, &id).await, ("reported".into(), COMMUNITY.into(), "yellow".into()), "10:36: 96 of 120 minutes");
    t.clock.advance(30 * MINUTE);
    let rep = events::service::sweep(&t.platform, cal).await.unwrap();
    assert_eq!(rep.escalated, 1);
    let (st, handling, light) = state(&t, &id).await;
    assert_eq!((st.as_str(), handling.as_str(), light.as_str()), ("reported", "510903001", "green"), "risen to the street with a fresh limit");
    let notes: i64 = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM outbox WHERE recipient = 'unit:510903001'")).await.unwrap();
    assert_eq!(notes, 1);
    // The street now sees and acts; the village office still sees its event.
    let mut street = t.login("street", None).await;
    assert_eq!(act(&t, &mut street, &id, "accept", &[]).await.status, StatusCode::OK);
    let office = t.login("office", None).await;
    assert_eq!(t.get(&office, &format!("/events/{id}")).await.status, StatusCode::OK);
    // Suspended over the weekend and beyond: no light, no escalation.
    assert_eq!(act(&t, &mut street, &id, "suspend", &[("note", "等待产权单位答复")]).await.status, StatusCode::OK);
    t.clock.advance(72 * HOUR);
    assert_eq!(events::service::sweep(&t.platform, cal).await.unwrap().escalated, 0);
    let mut street = t.login("street", None).await;
    assert_eq!(act(&t, &mut street, &id, "resume", &[]).await.status, StatusCode::OK);
    assert_eq!(state(&t, &id).await.0, "accepted", "back to where it was");
    events::service::sweep(&t.platform, cal).await.unwrap();
    assert_eq!(state(&t, &id).await.2, "green", "the paused time did not count");
    // Escalation continues up to the city and no further.
    for expected in ["510903", "5109"] {
        t.clock.advance(48 * HOUR);
        events::service::sweep(&t.platform, cal).await.unwrap();
        assert_eq!(state(&t, &id).await.1, expected);
    }
    t.clock.advance(48 * HOUR);
    events::service::sweep(&t.platform, cal).await.unwrap();
    assert_eq!(state(&t, &id).await, ("accepted".into(), "5109".into(), "red".into()));
    // Notifications go out through the outbox.
    let sent = events::service::deliver(&t.platform, &events::service::LogNotifier).await.unwrap();
    assert!(sent >= 3);
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM outbox WHERE sent_ms IS NULL")).await.unwrap(), 0);
}

#[tokio::test]
async fn a_street_whistles_and_departments_must_report_in() {
    let t = TestApp::new().await;
    t.user("grid", Role::GridWorker, COMMUNITY).await;
    t.user("street", Role::TownshipStaff, "510903001").await;
    t.user("cg", Role::DepartmentStaff, "510903").await;
    t.user("hb", Role::DepartmentStaff, "510903").await;
    let deps: Vec<(String, String)> = t
        .platform
        .db
        .fetch_all(sql!("SELECT id, name FROM departments WHERE unit_code = '510903' AND name IN ('城管局', '生态环境局') ORDER BY name"))
        .await
        .unwrap();
    let (cg_dep, hb_dep) = (deps.iter().find(|d| d.1 == "城管局").unwrap().0.clone(), deps.iter().find(|d| d.1 == "生态环境局").unwrap().0.clone());
    let mut tx = t.platform.db.begin().await.unwrap();
    events::store::add_member(&mut tx, "cg", &cg_dep).await.unwrap();
    events::store::add_member(&mut tx, "hb", &hb_dep).await.unwrap();
    tx.commit().await.unwrap();
    let grid = t.login("grid", None).await;
    let id = event_id(&report(&t, &grid, &[("type_code", "08001"), ("unit", COMMUNITY), ("description", "工地扬尘严重"), ("urgency", "一般")], None).await);
    let street = t.login("street", None).await;
    // Department staff see nothing until their department is involved.
    let cg = t.login("cg", None).await;
    assert_eq!(t.get(&cg, &format!("/events/{id}")).await.status, StatusCode::NOT_FOUND);
    let body = format!("_csrf={}&kind=%E6%94%BB%E5%9D%9A%E5%93%A8&departments={cg_dep}&departments={hb_dep}&minutes=30&note=", street.csrf);
    let req = Request::post(format!("/events/{id}/whistle"))
        .header(header::COOKIE, format!("jiceng_session={}", street.cookies[0].1))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("已吹「攻坚哨」"));
    let (whistle,): (String,) = t.platform.db.fetch_one(sql!("SELECT id FROM whistles WHERE event_id = $1", id.as_str())).await.unwrap();
    // A department that was whistled in can open the event to report in.
    let hb_view = t.login("hb", None).await;
    assert_eq!(t.get(&hb_view, &format!("/events/{id}")).await.status, StatusCode::OK);
    // 城管局 reports in after 10 minutes; 生态环境局 does not.
    t.clock.advance(10 * MINUTE);
    let mut cg = cg;
    let r = t.post(&mut cg, &format!("/events/whistles/{whistle}/report-in"), &[("department", &cg_dep)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // A member of another department cannot report in for 城管局.
    let mut hb = t.login("hb", None).await;
    assert_eq!(t.post(&mut hb, &format!("/events/whistles/{whistle}/report-in"), &[("department", &cg_dep)]).await.status, StatusCode::FORBIDDEN);
    t.clock.advance(25 * MINUTE);
    let mut street = t.login("street", None).await;
    let mut cg = t.login("cg", None).await;
    let rep = events::service::sweep(&t.platform, events::model::WorkCalendar::official()).await.unwrap();
    assert_eq!(rep.late_departments, 1);
    let late: Vec<(String, i64, Option<i64>)> = t
        .platform
        .db
        .fetch_all(sql!("SELECT department_id, late, signed_ms FROM whistle_participants WHERE whistle_id = $1 ORDER BY department_id", whistle.as_str()))
        .await
        .unwrap();
    assert!(late.iter().any(|(d, l, s)| *d == cg_dep && *l == 0 && s.is_some()));
    assert!(late.iter().any(|(d, l, s)| *d == hb_dep && *l == 1 && s.is_none()));
    let page = t.get(&street, &format!("/events/{id}")).await;
    assert!(page.body.contains("超时未报到") && page.body.contains("城管局报到"), "{}", page.body);
    // Dispatch to 城管局: now its member sees and works the event.
    assert_eq!(act(&t, &mut street, &id, "dispatch", &[("department", &cg_dep)]).await.status, StatusCode::OK);
    assert_eq!(t.get(&cg, &format!("/events/{id}")).await.status, StatusCode::OK);
    assert_eq!(act(&t, &mut cg, &id, "sign_in", &[]).await.status, StatusCode::OK);
    assert_eq!(state(&t, &id).await.0, "handling");
    // Another county's staff never see it.
    t.user("other", Role::CountyStaff, "510904").await;
    let other = t.login("other", None).await;
    assert_eq!(t.get(&other, &format!("/events/{id}")).await.status, StatusCode::NOT_FOUND);
    let list = t.get(&other, "/events").await;
    assert!(!list.body.contains(&id));
}

#[tokio::test]
async fn extensions_need_approval_and_merges_inform_the_reporter() {
    let t = TestApp::new().await;
    t.user("grid", Role::GridWorker, COMMUNITY).await;
    t.user("office", Role::CommunityStaff, COMMUNITY).await;
    let mut grid = t.login("grid", None).await;
    let mut office = t.login("office", None).await;
    let mk = |k: &'static str| [("type_code", "06004"), ("unit", COMMUNITY), ("description", k), ("urgency", "一般"), ("idem_key", k)];
    let first = event_id(&report(&t, &grid, &mk("k1"), None).await);
    let second = event_id(&report(&t, &grid, &mk("k2"), None).await);
    let (no,): (String,) = t.platform.db.fetch_one(sql!("SELECT event_no FROM events WHERE id = $1", first.as_str())).await.unwrap();
    assert_eq!(act(&t, &mut office, &second, "merge", &[("merge_into", &no)]).await.status, StatusCode::OK);
    assert_eq!(state(&t, &second).await.0, "merged");
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM outbox WHERE recipient = 'reporter:grid' AND message LIKE '%同一问题%'")).await.unwrap(), 1);
    for a in ["accept", "dispatch", "sign_in"] {
        let who = if a == "sign_in" { &mut grid } else { &mut office };
        assert_eq!(act(&t, who, &first, a, &[]).await.status, StatusCode::OK, "{a}");
    }
    let (before,): (i64,) = t.platform.db.fetch_one(sql!("SELECT stage_limit_amount FROM events WHERE id = $1", first.as_str())).await.unwrap();
    assert_eq!(act(&t, &mut office, &first, "approve_extension", &[]).await.status, StatusCode::BAD_REQUEST, "nothing to approve");
    assert_eq!(act(&t, &mut grid, &first, "request_extension", &[("extension_days", "2"), ("note", "需采购材料")]).await.status, StatusCode::OK);
    assert_eq!(act(&t, &mut grid, &first, "request_extension", &[("extension_days", "2")]).await.status, StatusCode::CONFLICT);
    assert_eq!(act(&t, &mut office, &first, "approve_extension", &[]).await.status, StatusCode::OK);
    let (after, unit): (i64, String) =
        t.platform.db.fetch_one(sql!("SELECT stage_limit_amount, stage_limit_unit FROM events WHERE id = $1", first.as_str())).await.unwrap();
    assert_eq!((after, unit.as_str()), (before * 7 + 14, "working_hours"), "3 working days + 2 = 35 working hours");
}

#[tokio::test]
async fn an_unanswered_critical_alarm_climbs_a_level_every_fifteen_minutes_day_or_night() {
    let t = TestApp::new().await;
    t.user("grid", Role::GridWorker, COMMUNITY).await;
    let grid = t.login("grid", None).await;
    let cal = events::model::WorkCalendar::official();
    // 04:26 on a Friday morning: no office is open, the clock runs anyway.
    let id = event_id(&report(&t, &grid, &[("type_code", "09002"), ("unit", COMMUNITY), ("description", "消防通道被堵"), ("urgency", "特急")], None).await);
    let sms: i64 = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM outbox WHERE recipient = 'unit:510903001001'")).await.unwrap();
    assert_eq!(sms, 1, "the village is called at once");
    let row: (String, i64, String) =
        t.platform.db.fetch_one(sql!("SELECT urgency, stage_limit_amount, stage_limit_unit FROM events WHERE id = $1", id.as_str())).await.unwrap();
    assert_eq!(row, ("特急".to_owned(), 15, "minutes".to_owned()));
    for expected in ["510903001", "510903", "5109"] {
        t.clock.advance(16 * MINUTE);
        let rep = events::service::sweep(&t.platform, cal).await.unwrap();
        assert_eq!(rep.escalated, 1, "{rep:?}");
        assert_eq!(state(&t, &id).await.1, expected);
    }
}

#[tokio::test]
async fn likely_duplicates_are_suggested_by_type_place_and_time() {
    let t = TestApp::new().await;
    t.user("grid", Role::GridWorker, COMMUNITY).await;
    t.user("office", Role::CommunityStaff, COMMUNITY).await;
    let grid = t.login("grid", None).await;
    let at = |lon: &'static str, key: &'static str| {
        [
            ("type_code", "06004"),
            ("unit", COMMUNITY),
            ("description", "路面坑洼"),
            ("urgency", "一般"),
            ("lon", lon),
            ("lat", "30.5000"),
            ("crs", "wgs84"),
            ("idem_key", key),
        ]
    };
    let a = event_id(&report(&t, &grid, &at("105.5000", "d1"), None).await);
    // 50 m east: the same pothole. 500 m east: another one.
    let b = event_id(&report(&t, &grid, &at("105.50052", "d2"), None).await);
    let c = event_id(&report(&t, &grid, &at("105.50520", "d3"), None).await);
    let office = t.login("office", None).await;
    let page = t.get(&office, &format!("/events/{b}")).await;
    let similar = page.body.split("data-testid=\"similar\"").nth(1).unwrap_or("").split("</div>").next().unwrap_or("").to_owned();
    assert!(similar.contains(&a), "the nearby report is suggested");
    assert!(!similar.contains(&c), "the far one is not");
    let far = t.get(&office, &format!("/events/{c}")).await;
    assert!(!far.body.contains("data-testid=\"similar\""));
    assert!((events::service::distance_m((105.5, 30.5), (105.50052, 30.5)) - 50.0).abs() < 2.0);
}

#[tokio::test]
async fn the_json_api_reports_idempotently_and_refuses_stale_actions() {
    let t = TestApp::new().await;
    t.user("grid", Role::GridWorker, COMMUNITY).await;
    t.user("office", Role::CommunityStaff, COMMUNITY).await;
    let grid = t.token("grid").await;
    let office = t.token("office").await;
    let send = |token: &str, method: &str, path: &str, key: Option<&str>, body: serde_json::Value| {
        let mut r = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(k) = key {
            r = r.header("idempotency-key", k);
        }
        r.body(Body::from(body.to_string())).unwrap()
    };
    let body = serde_json::json!({"type_code": "06001", "unit": COMMUNITY, "description": "垃圾未清运", "lon": 105.59, "lat": 30.53});
    let first = t.send(send(&grid, "POST", "/api/v1/events", Some("phone-123"), body.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let retry = t.send(send(&grid, "POST", "/api/v1/events", Some("phone-123"), body.clone())).await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(first.json()["id"], retry.json()["id"]);
    // Someone else's key is not theirs to reuse: a conflict, not the other person's event.
    let stolen = t.send(send(&office, "POST", "/api/v1/events", Some("phone-123"), body.clone())).await;
    assert_eq!(stolen.status, StatusCode::CONFLICT, "{}", stolen.body);
    assert_eq!(stolen.json()["code"], "event.idem_conflict");
    assert!(!stolen.body.contains(first.json()["id"].as_str().unwrap()), "nothing of the first event leaks");
    let id = first.json()["id"].as_str().unwrap().to_owned();
    let got = t.get_bearer(&office, &format!("/api/v1/events/{id}")).await.json();
    assert!(got["actions"].as_array().unwrap().iter().any(|a| a == "accept"));
    let v = got["version"].as_i64().unwrap();
    let ok = t.send(send(&office, "POST", &format!("/api/v1/events/{id}/actions"), None, serde_json::json!({"action": "accept", "version": v}))).await;
    assert_eq!(ok.status, StatusCode::OK);
    let stale = t.send(send(&office, "POST", &format!("/api/v1/events/{id}/actions"), None, serde_json::json!({"action": "dispatch", "version": v}))).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.json()["code"], "event.stale");
    let list = t.get_bearer(&office, "/api/v1/events?open=true").await.json();
    assert_eq!(list["total"], 1);
    let bad =
        t.send(send(&grid, "POST", "/api/v1/events", None, serde_json::json!({"type_code": "06001", "unit": COMMUNITY, "lon": 121.47, "lat": 31.23}))).await;
    assert_eq!(bad.json()["code"], "event.outside_city");
}

#[tokio::test]
async fn residents_see_their_own_reports_and_nobody_elses() {
    let t = TestApp::new().await;
    t.user("wang", Role::Resident, COMMUNITY).await;
    t.user("li", Role::Resident, COMMUNITY).await;
    t.user("office", Role::CommunityStaff, COMMUNITY).await;
    let wang = t.login("wang", None).await;
    let form = t.get(&wang, "/events/new").await;
    assert!(form.body.contains("对公众匿名"), "residents may stay anonymous to the public");
    let id = event_id(
        &report(&t, &wang, &[("type_code", "90004"), ("unit", COMMUNITY), ("description", "楼上漏水"), ("urgency", "一般"), ("anonymous", "1")], None).await,
    );
    assert_eq!(t.get(&wang, &format!("/events/{id}")).await.status, StatusCode::OK);
    let li = t.login("li", None).await;
    assert_eq!(t.get(&li, &format!("/events/{id}")).await.status, StatusCode::NOT_FOUND, "a neighbour does not see it");
    assert!(!t.get(&li, "/events").await.body.contains(&id));
    let office = t.login("office", None).await;
    let page = t.get(&office, &format!("/events/{id}")).await;
    assert!(page.body.contains("居民上报") && page.body.contains("对公众匿名"), "staff know who reported");
}

#[tokio::test]
async fn the_routing_directory_sends_a_type_in_an_area_to_a_department() {
    let t = TestApp::new().await;
    let secret = t.user("root", Role::SystemAdmin, "5109").await;
    t.user("grid", Role::GridWorker, COMMUNITY).await;
    let mut root = t.login("root", secret.as_deref()).await;
    let (water,): (String,) = t.platform.db.fetch_one(sql!("SELECT id FROM departments WHERE unit_code = '510903' AND name = '水务局'")).await.unwrap();
    let r = t.post(&mut root, "/events/routing", &[("type_code", "06005"), ("area", "510903001"), ("department", &water)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("已添加派单规则"));
    let bad = t.post(&mut root, "/events/routing", &[("type_code", "06005"), ("area", "510999"), ("department", &water)]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let grid = t.login("grid", None).await;
    let id = event_id(&report(&t, &grid, &[("type_code", "06005"), ("unit", COMMUNITY), ("description", "积水"), ("urgency", "一般")], None).await);
    let (dep,): (Option<String>,) = t.platform.db.fetch_one(sql!("SELECT department_id FROM events WHERE id = $1", id.as_str())).await.unwrap();
    assert_eq!(dep.as_deref(), Some(water.as_str()), "the rule beats the catalogue's 住建局");
    // Without a rule, the catalogue's department in the county.
    let id2 = event_id(&report(&t, &grid, &[("type_code", "06001"), ("unit", COMMUNITY), ("description", "垃圾"), ("urgency", "一般")], None).await);
    let (name,): (String,) =
        t.platform.db.fetch_one(sql!("SELECT d.name FROM events e JOIN departments d ON d.id = e.department_id WHERE e.id = $1", id2.as_str())).await.unwrap();
    assert_eq!(name, "城管局");
    // Only city system administrators edit the directory.
    let mut g = grid;
    assert_eq!(t.post(&mut g, "/events/routing", &[("type_code", "06005"), ("area", "510903001"), ("department", &water)]).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn notifications_also_go_to_an_outgoing_webhook_and_retry_when_it_fails() {
    use std::io::{Read, Write};
    let t = TestApp::new().await;
    t.user("grid", Role::GridWorker, COMMUNITY).await;
    let grid = t.login("grid", None).await;
    report(&t, &grid, &[("type_code", "09002"), ("unit", COMMUNITY), ("description", "消防通道堵塞"), ("urgency", "紧急")], None).await;
    // Nobody listening: the delivery fails and stays queued.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let off = events::service::Notifiers { webhook: Some(events::service::WebhookNotifier::parse(&format!("http://127.0.0.1:{dead_port}/hook")).unwrap()) };
    assert_eq!(events::service::deliver(&t.platform, &off).await.unwrap(), 0);
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM outbox WHERE sent_ms IS NULL AND last_error IS NOT NULL")).await.unwrap(), 1);
    // A receiver that answers 200 gets the JSON.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut buf = vec![0u8; 8192];
        let n = s.read(&mut buf).unwrap();
        s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let on = events::service::Notifiers { webhook: Some(events::service::WebhookNotifier::parse(&format!("http://127.0.0.1:{port}/hook")).unwrap()) };
    assert_eq!(events::service::deliver(&t.platform, &on).await.unwrap(), 1);
    let request = receiver.join().unwrap();
    assert!(request.starts_with("POST /hook HTTP/1.1"), "{request}");
    assert!(request.contains("\"recipient\":\"unit:510903001001\"") && request.contains("紧急"), "{request}");
    assert!(events::service::WebhookNotifier::parse("https://x/y").is_err(), "plain HTTP on the intranet only");
}

#[tokio::test]
async fn an_event_about_a_resident_shows_on_the_residents_page() {
    let t = TestApp::new().await.with_registers().await;
    t.user("grid", Role::GridWorker, COMMUNITY).await;
    let grid = t.login("grid", None).await;
    let (pid, enc): (String, String) = t.platform.db.fetch_one(sql!("SELECT id, id_enc FROM people ORDER BY id LIMIT 1")).await.unwrap();
    let idn = t.platform.cipher.decrypt(&enc).unwrap();
    let r = report(
        &t,
        &grid,
        &[("type_code", "90005"), ("unit", COMMUNITY), ("description", "独居老人需要上门探访"), ("urgency", "一般"), ("subject", &idn)],
        None,
    )
    .await;
    let id = event_id(&r);
    let page = t.get(&grid, &format!("/events/{id}")).await;
    assert!(page.body.contains(&format!("/registry/people/{pid}")), "the event links the person");
    assert!(!page.body.contains(&idn), "without showing the ID number");
    let person = t.get(&grid, &format!("/registry/people/{pid}")).await;
    assert!(person.body.contains("data-testid=\"related\"") && person.body.contains(&format!("/events/{id}")), "the person's page lists the event");
    // An ID number that is not registered here is refused with the form kept.
    let bad = report(
        &t,
        &grid,
        &[("type_code", "90005"), ("unit", COMMUNITY), ("description", "另一件事"), ("urgency", "一般"), ("subject", "11010519491231002X")],
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("event.unknown_person") && bad.body.contains("另一件事"));
}

#[tokio::test]
async fn reports_and_alarms_about_a_house_show_on_the_houses_page() {
    let t = TestApp::new().await.with_registers().await;
    t.user("grid", Role::GridWorker, COMMUNITY).await;
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    t.user("other", Role::CommunityStaff, "510903001002").await;
    let grid = t.login("grid", None).await;
    let mut staff = t.login("staff", None).await;
    let (house, unit): (String, String) = t
        .platform
        .db
        .fetch_one(sql!(
            "SELECT h.id, h.unit_code FROM houses h JOIN households hh ON hh.house_id = h.id WHERE h.unit_code = $1 ORDER BY h.id LIMIT 1",
            COMMUNITY
        ))
        .await
        .unwrap();
    let page = t.get(&grid, &format!("/registry/houses/{house}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("data-testid=\"house-households\"") && page.body.contains("/registry/people/"), "who lives there, linked");
    assert!(page.body.contains(&format!("/events/new?house={house}")), "a report can start from the house");
    // Another community's staff do not learn the house exists.
    let other = t.login("other", None).await;
    assert_eq!(t.get(&other, &format!("/registry/houses/{house}")).await.status, StatusCode::NOT_FOUND);

    // A report started from the house page carries the house.
    let form = t.get(&grid, &format!("/events/new?house={house}")).await;
    assert!(form.body.contains("data-testid=\"report-house\""), "the form names the house");
    let r = report(&t, &grid, &[("type_code", "90005"), ("unit", &unit), ("description", "楼道堆放杂物"), ("urgency", "一般"), ("house", &house)], None).await;
    let id = event_id(&r);
    let event = t.get(&grid, &format!("/events/{id}")).await;
    assert!(event.body.contains("data-testid=\"event-house\"") && event.body.contains(&format!("/registry/houses/{house}")), "the event links the house");
    // A house outside the reporter's registers (or made up) is refused with the form kept.
    let bad =
        report(&t, &grid, &[("type_code", "90005"), ("unit", COMMUNITY), ("description", "另一件事"), ("urgency", "一般"), ("house", "no-such-house")], None)
            .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("event.unknown_house") && bad.body.contains("另一件事"));

    // A smoke detector registered in the house: its alarm concerns the house too.
    let devices = t.get(&staff, &format!("/events/devices?house={house}")).await;
    assert!(devices.body.contains("data-testid=\"device-house\""), "{}", devices.body);
    let reg = t
        .post(
            &mut staff,
            "/events/devices",
            &[("id", "smoke-h1"), ("name", "客厅烟感"), ("kind", "烟感"), ("unit", ""), ("type_code", "90002"), ("house", &house)],
        )
        .await;
    assert_eq!(reg.status, StatusCode::OK, "{}", reg.body);
    let secret = reg.body.split("<code class=\"secret\">").nth(1).and_then(|s| s.split('<').next()).expect("secret shown").to_owned();
    let device_house: Option<String> =
        t.platform.db.fetch_one(sql!("SELECT house_id FROM devices WHERE id = 'smoke-h1'")).await.map(|(h,): (Option<String>,)| h).unwrap();
    assert_eq!(device_house.as_deref(), Some(house.as_str()));
    let ts = t.platform.now();
    let sig = events::alarms::sign(&secret, "smoke-h1", "m-1", ts, "critical", "烟雾浓度超标").unwrap();
    let body = serde_json::json!({"device_id": "smoke-h1", "msg_id": "m-1", "ts": ts, "level": "critical", "detail": "烟雾浓度超标", "sig": sig}).to_string();
    let req = Request::post("/api/v1/alarms").header(header::CONTENT_TYPE, "application/json").body(Body::from(body)).unwrap();
    assert!(t.send(req).await.status.is_success());
    let alarm_events = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM events WHERE house_id = $1 AND source = '设备告警'", house.as_str())).await.unwrap();
    assert_eq!(alarm_events, 1, "the alarm's event concerns the house");
    let page = t.get(&staff, &format!("/registry/houses/{house}")).await;
    assert!(
        page.body.contains("data-testid=\"house-related\"") && page.body.contains(&format!("/events/{id}")) && page.body.contains("设备告警"),
        "the house lists both"
    );
    // Another community's staff cannot install a device in it either.
    let mut other = other;
    let refused = t
        .post(&mut other, "/events/devices", &[("id", "smoke-h2"), ("name", "x"), ("kind", "烟感"), ("unit", ""), ("type_code", "90002"), ("house", &house)])
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
}

/// Reports that share one group commit count on the day's number in memory after the first: every
/// event still gets its own number, consecutive, and a report whose insert fails (a retry racing
/// the first submission with the same key, in the same transaction) takes its count back with its
/// savepoint — no gap, no number given twice, the audit chain unbroken.
#[tokio::test]
async fn reports_in_one_group_commit_number_consecutively_and_fail_alone() {
    let t = TestApp::new().await;
    let db = t.platform.db.clone();
    let day = platform::clock::Date::of_instant(t.platform.now()).to_string().replace('-', "");
    let before = db.scalar(sql!("SELECT COUNT(*) FROM events WHERE event_no LIKE $1", format!("{day}-%"))).await.unwrap();
    // Hold the writer so that the reports below queue and go into one transaction together.
    let (open_gate, gatekeeper) = crate::harness::hold_group_writer(&db).await;
    let scope = platform::Scope::new(vec![platform::UnitCode::parse(COMMUNITY).unwrap()]);
    let mut reports = Vec::new();
    for i in 0..12 {
        // Reports 4 and 9 resend the key of the report before them: both pass the earlier-report
        // probe (nothing is committed yet) and fail on the unique key inside the transaction.
        let key = if i == 4 || i == 9 { format!("grouped-{}", i - 1) } else { format!("grouped-{i}") };
        let r = events::service::Report {
            type_code: "06004".into(),
            title: String::new(),
            description: format!("同批上报 {i}"),
            urgency: "一般".into(),
            unit: COMMUNITY.into(),
            address: String::new(),
            lon: None,
            lat: None,
            crs: "wgs84".into(),
            anonymous: false,
            idem_key: Some(key),
            source: "接口上报".into(),
            subject: None,
            house: None,
        };
        let (p, scope) = (t.platform.clone(), scope.clone());
        reports
            .push(tokio::spawn(async move { events::service::report_as(&p, &platform::audit::Actor::system(), Some("grouped"), &scope, r, Vec::new()).await }));
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    open_gate.send(()).unwrap();
    gatekeeper.await.unwrap().unwrap();
    let mut ids = Vec::new();
    let mut created = Vec::new();
    for (i, r) in reports.into_iter().enumerate() {
        let done = r.await.unwrap().unwrap_or_else(|e| panic!("report {i}: {e:?}"));
        created.push(done.created);
        ids.push(done.id);
    }
    // Of two reports with one key, whichever reached the writer first made the event; the other
    // answers with it.
    for (first, again) in [(3, 4), (8, 9)] {
        assert_eq!(ids[first], ids[again]);
        assert!(created[first] != created[again], "one of reports {first} and {again} made the event");
    }
    assert_eq!(created.iter().filter(|c| **c).count(), 10);
    if db.engine() == platform::db::Engine::Sqlite {
        let (commits, jobs) = db.group_commit_stats();
        assert!(commits < jobs, "the reports shared commits: {commits} commits for {jobs} jobs");
    }
    let numbers: Vec<(String,)> = db.fetch_all(sql!("SELECT event_no FROM events WHERE event_no LIKE $1 ORDER BY event_no", format!("{day}-%"))).await.unwrap();
    let expect: Vec<String> = (before + 1..=before + 10).map(|n| format!("{day}-{n:04}")).collect();
    assert_eq!(numbers.into_iter().map(|r| r.0).collect::<Vec<_>>(), expect, "ten events, numbered without a gap");
    assert_eq!(db.scalar(sql!("SELECT seq FROM event_counters WHERE day = $1", day.as_str())).await.unwrap(), before + 10);
    for id in ids.iter() {
        let (no,): (String,) = db.fetch_one(sql!("SELECT event_no FROM events WHERE id = $1", id.as_str())).await.unwrap();
        let audited = db
            .scalar(sql!("SELECT COUNT(*) FROM audit_log WHERE action = 'event.report' AND target = $1 AND detail LIKE $2", id.as_str(), format!("{no} %")))
            .await
            .unwrap();
        assert_eq!(audited, 1, "the audit record names the event's own number");
    }
    let v = platform::audit::verify(&db).await.unwrap();
    assert!(v.first_break.is_none(), "{:?}", v.first_break);
}
