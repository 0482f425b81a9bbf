//! Open311 GeoReport v2: services, definitions, creating and reading requests in JSON and XML,
//! idempotent retries, filters and paging, scope, Open311-shaped errors, and conformance with the
//! published JSON Schemas.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use platform::auth::Role;
use platform::clock::{Date, MINUTE, format_beijing};
use platform::sql;
use serde_json::{Value, json};

use crate::harness::{Response, TestApp, enc};

const COMMUNITY: &str = "510903001001";
const OTHER_COUNTY_VILLAGE: &str = "510904001001";

async fn get(t: &TestApp, path: &str) -> Response {
    t.send(Request::get(path).body(Body::empty()).expect("request")).await
}

async fn post(t: &TestApp, path: &str, fields: &[(&str, &str)], idem: Option<&str>) -> Response {
    let body = fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
    let mut req = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(k) = idem {
        req = req.header("Idempotency-Key", k);
    }
    t.send(req.body(Body::from(body)).expect("request")).await
}

/// A grid worker's API token in the test community: the typical Open311 client account.
async fn setup() -> (TestApp, String) {
    let t = TestApp::new().await;
    t.user("client", Role::GridWorker, COMMUNITY).await;
    let key = t.token("client").await;
    (t, key)
}

/// Reports one event; returns its service_request_id (the event number).
async fn report(t: &TestApp, key: &str, code: &str, extra: &[(&str, &str)]) -> String {
    let mut fields = vec![("api_key", key), ("service_code", code), ("description", "Open311 测试")];
    fields.extend_from_slice(extra);
    let r = post(t, "/open311/v2/requests.json", &fields, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.json()[0]["service_request_id"].as_str().expect("service_request_id").to_owned()
}

fn ids(r: &Response) -> Vec<String> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.json().as_array().expect("array").iter().map(|x| x["service_request_id"].as_str().expect("id").to_owned()).collect()
}

fn content_type(r: &Response) -> &str {
    r.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// An Open311 JSON error list with this status as its code.
fn assert_error(r: &Response, status: StatusCode) -> String {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(content_type(r).starts_with("application/json"), "{:?}", r.headers);
    let v = r.json();
    let errors = v.as_array().unwrap_or_else(|| panic!("an error list: {}", r.body));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["code"], json!(status.as_u16()));
    let d = errors[0]["description"].as_str().expect("description").to_owned();
    assert!(!d.is_empty());
    d
}

/// Checks XML without a parser: the prolog, one root element, balanced tags with plain names, and
/// text in which `&` only starts one of the five entities and `<` never appears.
fn assert_well_formed(xml: &str, root: &str) {
    let prolog = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
    assert!(xml.starts_with(prolog), "prolog: {xml}");
    let body = xml[prolog.len()..].trim();
    assert!(body.starts_with(&format!("<{root}>")) || body == format!("<{root}/>"), "root <{root}>: {body}");
    let check_text = |text: &str| {
        for (i, _) in text.match_indices('&') {
            let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().any(|e| text[i..].starts_with(e));
            assert!(ok, "bare & in {text:?}");
        }
        assert!(!text.contains('>'), "stray > in {text:?}");
    };
    let (mut stack, mut rest, mut roots) = (Vec::<String>::new(), body, 0);
    while let Some(i) = rest.find('<') {
        let text = &rest[..i];
        check_text(text);
        assert!(!stack.is_empty() || text.trim().is_empty(), "text outside the root: {text:?}");
        let j = rest[i..].find('>').expect("tag closes") + i;
        let tag = &rest[i + 1..j];
        let name = tag.trim_start_matches('/').trim_end_matches('/');
        assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "tag name {tag:?}");
        if tag.starts_with('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "closing </{name}>");
        } else if !tag.ends_with('/') {
            if stack.is_empty() {
                roots += 1;
            }
            stack.push(name.to_owned());
        } else if stack.is_empty() {
            roots += 1;
        }
        rest = &rest[j + 1..];
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert!(rest.trim().is_empty());
    assert_eq!(roots, 1, "one root element");
}

#[tokio::test]
async fn services_and_definitions_come_in_json_and_xml() {
    let t = TestApp::new().await;
    let r = get(&t, "/open311/v2/services.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(content_type(&r), "application/json; charset=utf-8");
    let list = r.json();
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 20, "one service per event type");
    let drain = list.iter().find(|s| s["service_code"] == "06005").expect("06005");
    assert_eq!(
        *drain,
        json!({"service_code": "06005", "service_name": "排水不畅或积水", "description": "排水不畅或积水（处置时限 1 工作日）",
               "metadata": false, "type": "realtime", "keywords": "", "group": "事项"})
    );

    let x = get(&t, "/open311/v2/services.xml").await;
    assert_eq!(x.status, StatusCode::OK);
    assert_eq!(content_type(&x), "text/xml; charset=utf-8");
    assert_well_formed(&x.body, "services");
    assert!(x.body.contains("<service><service_code>06005</service_code><service_name>排水不畅或积水</service_name>"), "{}", x.body);
    assert!(x.body.contains("<metadata>false</metadata><type>realtime</type><keywords></keywords><group>事项</group>"));
    assert_eq!(x.body.matches("<service>").count(), 20);

    let d = get(&t, "/open311/v2/services/06005.json").await;
    assert_eq!(d.status, StatusCode::OK);
    assert_eq!(d.json(), json!({"service_code": "06005", "attributes": []}));
    let d = get(&t, "/open311/v2/services/06005.xml").await;
    assert_well_formed(&d.body, "service_definition");
    assert!(d.body.contains("<service_code>06005</service_code><attributes></attributes>"));
    let missing = assert_error(&get(&t, "/open311/v2/services/99999.json").await, StatusCode::NOT_FOUND);
    assert!(missing.contains("99999"));
    let missing = get(&t, "/open311/v2/services/99999.xml").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_well_formed(&missing.body, "errors");
    assert!(missing.body.contains("<errors><error><code>404</code><description>"));

    let disc = get(&t, "/open311/v2/discovery.json").await.json();
    assert!(disc["endpoints"][0]["url"].as_str().expect("url").ends_with("/open311/v2"));
    assert_eq!(disc["endpoints"][0]["formats"], json!(["text/xml", "application/json"]));
    assert_well_formed(&get(&t, "/open311/v2/discovery.xml").await.body, "discovery");

    // Everything under /open311/v2 answers in the Open311 error shape.
    assert_error(&get(&t, "/open311/v2/services.html").await, StatusCode::NOT_FOUND);
    assert_error(&get(&t, "/open311/v2/services").await, StatusCode::NOT_FOUND);
    assert_error(&get(&t, "/open311/v2/tokens/abc.json").await, StatusCode::NOT_FOUND);
    assert_error(&get(&t, "/open311/v2/a/b/c.json").await, StatusCode::NOT_FOUND);
    let r = post(&t, "/open311/v2/services.json", &[], None).await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers.get(header::ALLOW).and_then(|v| v.to_str().ok()), Some("GET, HEAD"));
}

#[tokio::test]
async fn a_client_reports_and_follows_its_request() {
    let (t, key) = setup().await;
    t.user("office", Role::CommunityStaff, COMMUNITY).await;
    let office = t.token("office").await;
    let fields = [
        ("api_key", key.as_str()),
        ("service_code", "06005"),
        ("lat", "30.5329"),
        ("long", "105.5927"),
        ("address_string", "电江路与和平路口"),
        ("description", "雨后积水 & 井盖<松动>"),
        ("first_name", "某"),
        ("last_name", "张"),
        ("phone", "13800138000"),
        ("email", "resident@example.cn"),
        ("media_url", "https://img.example.cn/a.jpg"),
    ];
    let r = post(&t, "/open311/v2/requests.json", &fields, Some("client-retry-1")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let created = r.json();
    let no = created[0]["service_request_id"].as_str().expect("id").to_owned();
    let today = Date::of_instant(t.platform.now()).to_string();
    assert_eq!(no, format!("{}-0001", today.replace('-', "")), "the event number is the id");
    assert_eq!(created[0]["account_id"], Value::Null);
    let notice = created[0]["service_notice"].as_str().expect("notice");
    assert!(notice.contains(&no) && notice.contains("处置时限 1 工作日"), "{notice}");

    // Retries with the same key (header or parameter) give the same request and no new event.
    let again = post(&t, "/open311/v2/requests.json", &fields, Some("client-retry-1")).await;
    assert_eq!(again.json()[0]["service_request_id"], json!(no));
    let mut with_param = fields.to_vec();
    with_param.push(("idempotency_key", "client-retry-1"));
    assert_eq!(post(&t, "/open311/v2/requests.json", &with_param, None).await.json()[0]["service_request_id"], json!(no));
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM events")).await.expect("count"), 1);

    let (id, source, reporter, unit, description): (String, String, Option<String>, String, String) =
        t.platform.db.fetch_one(sql!("SELECT id, source, reporter, unit_code, description FROM events WHERE event_no = $1", no.as_str())).await.expect("event");
    assert_eq!((source.as_str(), reporter.as_deref(), unit.as_str()), ("Open311", Some("client"), COMMUNITY), "home unit used as address_id");
    assert!(description.starts_with("雨后积水 & 井盖<松动>") && description.contains("https://img.example.cn/a.jpg"));
    assert!(!description.contains("13800138000") && !description.contains("resident@") && !description.contains('张'), "contact data is not kept");
    // Staff of the community see it as an ordinary event.
    let page = t.get_bearer(&office, &format!("/events/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&no) && page.body.contains("Open311"));

    let list = get(&t, &format!("/open311/v2/requests.json?api_key={key}")).await;
    assert_eq!(ids(&list), vec![no.clone()]);
    let rec = &list.json()[0];
    assert_eq!(rec["status"], "open");
    assert_eq!(rec["status_notes"], "待受理");
    assert_eq!(rec["service_code"], "06005");
    assert_eq!(rec["service_name"], "排水不畅或积水");
    assert_eq!(rec["address"], "电江路与和平路口");
    assert_eq!(rec["address_id"], COMMUNITY);
    assert_eq!(rec["agency_responsible"], "电江路社区居委会");
    assert_eq!(rec["media_url"], "");
    assert_eq!(rec["requested_datetime"], json!(format!("{}+08:00", format_beijing(t.platform.now()).replace(' ', "T"))));
    // Reported before dawn on a working day: the 2-working-hour acceptance limit ends at 11:00.
    assert_eq!(rec["expected_datetime"], json!(format!("{today}T11:00:00+08:00")));
    assert_eq!(rec["lat"], json!(30.5329));
    assert_eq!(rec["long"], json!(105.5927));

    // The same record alone, and in XML with the markup escaped.
    let one = get(&t, &format!("/open311/v2/requests/{no}.json?api_key={key}")).await;
    assert_eq!(one.json(), list.json());
    let x = get(&t, &format!("/open311/v2/requests/{no}.xml?api_key={key}")).await;
    assert_eq!(x.status, StatusCode::OK);
    assert_well_formed(&x.body, "service_requests");
    assert!(x.body.contains("<description>雨后积水 &amp; 井盖&lt;松动&gt;"), "{}", x.body);
    assert!(x.body.contains(&format!("<request><service_request_id>{no}</service_request_id><status>open</status>")));
    assert!(x.body.contains("<lat>30.5329</lat><long>105.5927</long><media_url></media_url>"));
    // A bearer token works as well as api_key.
    assert_eq!(ids(&t.get_bearer(&key, "/open311/v2/requests.json").await), vec![no.clone()]);

    // Creating in XML; GCJ-02 coordinates are converted to WGS-84.
    let x = post(
        &t,
        "/open311/v2/requests.xml",
        &[("api_key", &key), ("service_code", "06001"), ("lat", "30.5329"), ("long", "105.5927"), ("crs", "gcj02"), ("address_id", COMMUNITY)],
        Some("client-retry-2"),
    )
    .await;
    assert_eq!(x.status, StatusCode::OK, "{}", x.body);
    assert_well_formed(&x.body, "service_requests");
    assert!(x.body.contains(&format!("<request><service_request_id>{}-0002</service_request_id><service_notice>", today.replace('-', ""))));
    assert!(x.body.ends_with("<account_id/></request></service_requests>\n"));
    let (lon,): (i64,) = t.platform.db.fetch_one(sql!("SELECT lon_e6 FROM events WHERE type_code = '06001'")).await.expect("event");
    let expect = geography::geo::gcj02_to_wgs84(105.5927, 30.5329).0;
    assert!((lon as f64 / 1e6 - expect).abs() < 2e-6);
}

#[tokio::test]
async fn requests_filter_by_id_code_status_and_date_and_page() {
    let (t, key) = setup().await;
    let a = report(&t, &key, "06005", &[]).await;
    t.clock.advance(MINUTE);
    let b = report(&t, &key, "06001", &[]).await;
    t.clock.advance(MINUTE);
    let c = report(&t, &key, "06004", &[]).await;
    // Close b as the handling office would (the loop itself is tested in events.rs).
    t.platform
        .db
        .execute(sql!("UPDATE events SET state = 'closed', closed_reason = '已解决', closed_ms = $1 WHERE event_no = $2", t.platform.now(), b.as_str()))
        .await
        .expect("close");
    let q = |query: &str| format!("/open311/v2/requests.json?api_key={key}&{query}");

    assert_eq!(ids(&get(&t, &q("")).await), vec![c.clone(), b.clone(), a.clone()], "newest first");
    assert_eq!(ids(&get(&t, &q("status=open")).await), vec![c.clone(), a.clone()]);
    let closed = get(&t, &q("status=closed")).await;
    assert_eq!(ids(&closed), vec![b.clone()]);
    let rec = &closed.json()[0];
    assert_eq!(rec["status"], "closed");
    assert_eq!(rec["status_notes"], "已结案待回访（已解决）");
    assert_eq!(rec["expected_datetime"], Value::Null, "no deadline once closed");
    assert_eq!(ids(&get(&t, &q("status=open,closed")).await).len(), 3);
    assert_eq!(ids(&get(&t, &q("status=open&status=closed")).await).len(), 3);

    let mut two = ids(&get(&t, &q(&format!("service_request_id={a},{b}"))).await);
    two.sort();
    assert_eq!(two, vec![a.clone(), b.clone()]);
    assert_eq!(ids(&get(&t, &q(&format!("service_request_id={a}&status=closed"))).await), vec![a.clone()], "ids override other filters");
    assert_eq!(ids(&get(&t, &q("service_code=06001")).await), vec![b.clone()]);
    assert_eq!(ids(&get(&t, &q("service_code=06005,06004")).await), vec![c.clone(), a.clone()]);

    assert_eq!(ids(&get(&t, &q("page_size=2")).await), vec![c.clone(), b.clone()]);
    assert_eq!(ids(&get(&t, &q("page_size=2&page=2")).await), vec![a.clone()]);
    assert!(ids(&get(&t, &q("page_size=2&page=3")).await).is_empty());
    assert_eq!(ids(&get(&t, &q("page_size=100000")).await).len(), 3, "page_size is capped, not refused");

    let list = get(&t, &q("")).await.json();
    let b_time = list[1]["requested_datetime"].as_str().expect("time").to_owned();
    assert_eq!(ids(&get(&t, &q(&format!("start_date={}", enc(&b_time)))).await), vec![c.clone(), b.clone()]);
    assert_eq!(ids(&get(&t, &q(&format!("end_date={b_time}"))).await), vec![b.clone(), a.clone()], "an unescaped + still reads as a zone");
    assert!(ids(&get(&t, &q("end_date=2020-01-01")).await).is_empty());
    assert_eq!(ids(&get(&t, &q("start_date=2020-01-01T00:00:00Z&end_date=2030-01-01")).await).len(), 3);

    for bad in ["page=0", "page=x", "page_size=0", "page_size=abc", "start_date=yesterday", "end_date=2026-02-30", "status=pending", "service_code=99999"] {
        assert_error(&get(&t, &q(bad)).await, StatusCode::BAD_REQUEST);
    }
    let d = assert_error(&get(&t, &q("start_date=2026-06-01&end_date=2026-05-01")).await, StatusCode::BAD_REQUEST);
    assert!(d.contains("end_date"), "{d}");
    let x = get(&t, &format!("/open311/v2/requests.xml?api_key={key}&start_date=bad")).await;
    assert_eq!(x.status, StatusCode::BAD_REQUEST);
    assert_well_formed(&x.body, "errors");
    assert!(x.body.contains("<errors><error><code>400</code><description>start_date"));
}

#[tokio::test]
async fn keys_scope_and_bad_input_give_open311_errors() {
    let (t, key) = setup().await;
    t.user("far", Role::GridWorker, OTHER_COUNTY_VILLAGE).await;
    let far = t.token("far").await;
    let theirs = report(&t, &far, "06001", &[]).await;
    let mine = report(&t, &key, "06001", &[]).await;
    // Out of scope looks like absent.
    assert_error(&get(&t, &format!("/open311/v2/requests/{theirs}.json?api_key={key}")).await, StatusCode::NOT_FOUND);
    assert_error(&get(&t, &format!("/open311/v2/requests/20200101-9999.json?api_key={key}")).await, StatusCode::NOT_FOUND);
    assert_eq!(ids(&get(&t, &format!("/open311/v2/requests.json?api_key={key}")).await), vec![mine.clone()]);
    assert_eq!(ids(&get(&t, &format!("/open311/v2/requests.json?api_key={key}&service_request_id={theirs},{mine}")).await), vec![mine.clone()]);
    assert_eq!(ids(&get(&t, &format!("/open311/v2/requests/{theirs}.json?api_key={far}")).await), vec![theirs.clone()]);

    // Keys: missing, malformed, unknown → 401; a key whose account may not report → 403.
    assert_error(&get(&t, "/open311/v2/requests.json").await, StatusCode::UNAUTHORIZED);
    assert_error(&get(&t, "/open311/v2/requests.json?api_key=secret").await, StatusCode::UNAUTHORIZED);
    assert_error(&get(&t, &format!("/open311/v2/requests.json?api_key=jct_{}", "0".repeat(64))).await, StatusCode::UNAUTHORIZED);
    assert_error(&get(&t, &format!("/open311/v2/requests/{mine}.json")).await, StatusCode::UNAUTHORIZED);
    assert_error(&post(&t, "/open311/v2/requests.json", &[("api_key", "nope"), ("service_code", "06001")], None).await, StatusCode::UNAUTHORIZED);
    let x = get(&t, "/open311/v2/requests.xml?api_key=nope").await;
    assert_eq!(x.status, StatusCode::UNAUTHORIZED);
    assert_well_formed(&x.body, "errors");
    // A bad bearer token gets the Open311 error shape too, in JSON and XML, on Open311 routes.
    for bad in ["nope", &format!("jct_{}", "0".repeat(64))] {
        assert_error(&t.get_bearer(bad, "/open311/v2/requests.json").await, StatusCode::UNAUTHORIZED);
        let x = t.get_bearer(bad, "/open311/v2/requests.xml").await;
        assert_eq!(x.status, StatusCode::UNAUTHORIZED);
        assert_well_formed(&x.body, "errors");
    }
    t.user("dept", Role::DepartmentStaff, "510903").await;
    let dept = t.token("dept").await;
    assert_error(&post(&t, "/open311/v2/requests.json", &[("api_key", &dept), ("service_code", "06001")], None).await, StatusCode::FORBIDDEN);
    t.user("admin", Role::SystemAdmin, "5109").await;
    let admin = t.token("admin").await;
    assert_error(&get(&t, &format!("/open311/v2/requests.json?api_key={admin}")).await, StatusCode::FORBIDDEN);

    // Bad reports are refused and nothing is written.
    let before = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM events")).await.expect("count");
    let try_post = |extra: Vec<(&'static str, &'static str)>| {
        let mut f: Vec<(String, String)> = vec![("api_key".into(), key.clone())];
        f.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())));
        f
    };
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "service_code"),
        (vec![("service_code", "99999")], "99999"),
        (vec![("service_code", "06001"), ("lat", "north"), ("long", "105.59")], "lat"),
        (vec![("service_code", "06001"), ("lat", "39.90"), ("long", "116.39")], "遂宁"),
        (vec![("service_code", "06001"), ("lat", "30.53")], "经度和纬度"),
        (vec![("service_code", "06001"), ("lat", "30.53"), ("long", "105.59"), ("crs", "utm")], "坐标系"),
        (vec![("service_code", "06001"), ("address_id", OTHER_COUNTY_VILLAGE)], "管辖范围"),
        (vec![("service_code", "06001"), ("address_id", "510903001")], "address_id"),
        (vec![("service_code", "06001"), ("address_id", "abc")], "address_id"),
        (vec![("service_code", "06001"), ("media_url", "javascript:alert(1)")], "media_url"),
    ];
    for (extra, expect) in cases {
        let fields = try_post(extra.clone());
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let d = assert_error(&post(&t, "/open311/v2/requests.json", &fields, None).await, StatusCode::BAD_REQUEST);
        assert!(d.contains(expect), "{extra:?}: {d}");
    }
    let long_key = "k".repeat(65);
    let r = post(&t, "/open311/v2/requests.json", &[("api_key", &key), ("service_code", "06001")], Some(&long_key)).await;
    assert_error(&r, StatusCode::BAD_REQUEST);
    // An account above village level must say where.
    t.user("street", Role::TownshipStaff, "510903001").await;
    let street = t.token("street").await;
    let d = assert_error(&post(&t, "/open311/v2/requests.json", &[("api_key", &street), ("service_code", "06001")], None).await, StatusCode::BAD_REQUEST);
    assert!(d.contains("address_id") && d.contains("村（社区）"), "{d}");
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM events")).await.expect("count"), before, "nothing half-written");
    assert!(report(&t, &street, "06001", &[("address_id", COMMUNITY)]).await.ends_with("-0003"));

    // Only form posts; the error is still Open311's.
    let req = Request::post("/open311/v2/requests.json")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"api_key": key, "service_code": "06001"}).to_string()))
        .expect("request");
    assert_error(&t.send(req).await, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

// ---------------------------------------------------------------------------------------------
// Conformance with the Open311 JSON Schemas (open311/schema-validation, kept in shared/data)

fn schema_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/open311");
    dir.join("request.json").is_file().then_some(dir)
}

fn load(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn type_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// A `date-time` as the schemas mean it (RFC 3339): `2026-05-29T04:26:40+08:00` or `…Z`.
fn date_time_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let zone = s.get(19..).unwrap_or("");
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && (zone == "Z" || (zone.len() == 6 && matches!(zone.as_bytes()[0], b'+' | b'-') && zone.as_bytes()[3] == b':'))
}

/// A small walker over `$ref`, `anyOf`, `type`, `enum`, `format: date-time`, `required`,
/// `properties` and `items`. Records every violation with its path; counts the checks made.
fn conform(dir: &Path, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>, checks: &mut usize) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        conform(dir, &load(dir, r), v, at, errors, checks);
        return;
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        let ok = branches.iter().any(|b| {
            let mut e = Vec::new();
            conform(dir, b, v, at, &mut e, checks);
            e.is_empty()
        });
        if !ok {
            errors.push(format!("{at}: {v} matches none of {}", Value::Array(branches.clone())));
        }
    }
    if let Some(ty) = schema.get("type").and_then(Value::as_str) {
        *checks += 1;
        if !type_ok(ty, v) {
            errors.push(format!("{at}: expected {ty}, got {v}"));
            return;
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.contains(v)
    {
        errors.push(format!("{at}: {v} not in {values:?}"));
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && let Some(s) = v.as_str()
        && !date_time_ok(s)
    {
        errors.push(format!("{at}: {s} is not an RFC 3339 date-time"));
    }
    if let Some(obj) = v.as_object() {
        for k in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            *checks += 1;
            if !obj.contains_key(k) {
                errors.push(format!("{at}: required property {k} is missing"));
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (k, sub) in props {
                if let Some(x) = obj.get(k) {
                    conform(dir, sub, x, &format!("{at}.{k}"), errors, checks);
                }
            }
        }
    }
    if let (Some(items), Some(xs)) = (schema.get("items"), v.as_array()) {
        for (i, x) in xs.iter().enumerate() {
            conform(dir, items, x, &format!("{at}[{i}]"), errors, checks);
        }
    }
}

fn assert_conforms(dir: &Path, schema_file: &str, v: &Value) {
    let (mut errors, mut checks) = (Vec::new(), 0);
    conform(dir, &load(dir, schema_file), v, "$", &mut errors, &mut checks);
    assert!(errors.is_empty(), "{schema_file}: {errors:#?}");
    assert!(checks > 3, "{schema_file}: the walker checked something ({checks})");
}

#[tokio::test]
async fn responses_conform_to_the_open311_schemas() {
    let Some(dir) = schema_dir() else {
        eprintln!("SKIPPED: the Open311 schemas are not at ../shared/data/open311 (relative to the workspace); conformance not checked");
        return;
    };
    let (t, key) = setup().await;
    let with_place = report(&t, &key, "06005", &[("lat", "30.5329"), ("long", "105.5927"), ("address_string", "电江路")]).await;
    let closed = report(&t, &key, "06001", &[]).await;
    t.platform.db.execute(sql!("UPDATE events SET state = 'archived', closed_reason = '已解决' WHERE event_no = $1", closed.as_str())).await.expect("close");

    assert_conforms(&dir, "services.json", &get(&t, "/open311/v2/services.json").await.json());
    assert_conforms(&dir, "service-definition.json", &get(&t, "/open311/v2/services/06005.json").await.json());
    let list = get(&t, &format!("/open311/v2/requests.json?api_key={key}")).await.json();
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    assert_conforms(&dir, "requests.json", &list);
    assert_conforms(&dir, "requests.json", &get(&t, &format!("/open311/v2/requests/{with_place}.json?api_key={key}")).await.json());
    assert_conforms(&dir, "request.json", &list[1]);

    // The walker does catch a broken record.
    let mut broken = list[0].clone();
    broken.as_object_mut().expect("object").remove("service_code");
    broken["status"] = json!("pending");
    broken["lat"] = json!("30.5");
    broken["requested_datetime"] = json!("2026-05-29 04:26:40");
    let (mut errors, mut checks) = (Vec::new(), 0);
    conform(&dir, &load(&dir, "request.json"), &broken, "$", &mut errors, &mut checks);
    assert_eq!(errors.len(), 4, "{errors:#?}");

    // The create response has no schema file; swagger.json's RequestResponse lists its fields.
    let swagger = load(&dir, "swagger.json");
    let fields: Vec<&String> = swagger["definitions"]["RequestResponse"]["properties"].as_object().expect("RequestResponse").keys().collect();
    let r = post(&t, "/open311/v2/requests.json", &[("api_key", &key), ("service_code", "06004")], None).await.json();
    let r = r[0].as_object().expect("object");
    for k in r.keys() {
        assert!(fields.contains(&k), "{k} is a RequestResponse field");
    }
    assert!(r["service_request_id"].is_string() && r["service_notice"].is_string() && r["account_id"].is_null());
}
