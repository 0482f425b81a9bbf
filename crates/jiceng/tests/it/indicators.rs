//! Indicators: definitions, live values and roll-ups recomputed independently by straight SQL at
//! every level, 填报 with approval by the level above, snapshots and trends, the dashboard with
//! drill-down and map, the API, the portrait and assessment.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use platform::auth::Role;
use platform::clock::DAY;
use platform::scope::UnitCode;
use platform::sql;

use indicators::model::Fraction;

use crate::harness::{Browser, Response, TestApp};

const CITY: &str = "5109";
const COUNTY: &str = "510903";
const STREET: &str = "510903001";
const COMMUNITY: &str = "510903001001";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82";

async fn scalar(t: &TestApp, q: platform::db::Sql) -> i64 {
    t.platform.db.scalar(q).await.expect("sql")
}

fn like(code: &str) -> String {
    format!("{code}%")
}

/// Units checked at every level: the city, its counties, the townships of one county and the
/// villages/communities of the street that holds the demo registers.
async fn units_to_check(t: &TestApp) -> Vec<String> {
    let mut out = vec![CITY.to_owned()];
    let rows: Vec<(String,)> = t
        .platform
        .db
        .fetch_all(sql!(
            "SELECT code FROM units WHERE valid_to IS NULL AND (level = 3 OR (level = 4 AND code LIKE $1) OR (level = 5 AND code LIKE $2)) ORDER BY code",
            like(COUNTY),
            like(STREET)
        ))
        .await
        .expect("units");
    out.extend(rows.into_iter().map(|(c,)| c));
    out
}

/// The straight-SQL recomputation of a few indicators for one unit: (numerator, denominator).
async fn by_sql(t: &TestApp, id: &str, code: &str) -> Option<Fraction> {
    let l = like(code);
    let residents = || {
        sql!(
            "SELECT CAST(COALESCE(SUM(p.residents), 0) AS BIGINT) FROM unit_population p JOIN units u ON u.code = p.code WHERE u.valid_to IS NULL AND p.code LIKE $1",
            l.clone()
        )
    };
    Some(match id {
        "T04" => Fraction {
            num: scalar(t, sql!("SELECT COUNT(*) FROM workforce WHERE role = '社会工作者' AND unit_code LIKE $1", l.clone())).await,
            den: Some(scalar(t, residents()).await),
        },
        "T05" => {
            // Communities only; grid workers are not community workers.
            let base = "FROM workforce w JOIN units u ON u.code = SUBSTR(w.unit_code, 1, 12) WHERE u.kind = '社区' AND u.valid_to IS NULL AND w.role <> '网格员' AND w.unit_code LIKE $1";
            let in_filter = scalar(t, sql!("SELECT COUNT(*) FROM units WHERE kind = '社区' AND valid_to IS NULL AND code LIKE $1", l.clone())).await;
            if in_filter == 0 {
                return None;
            }
            Fraction {
                num: scalar(t, sql!(&format!("SELECT COUNT(*) {base} AND w.qualification IS NOT NULL AND w.qualification <> ''"), l.clone())).await,
                den: Some(scalar(t, sql!(&format!("SELECT COUNT(*) {base}"), l.clone())).await),
            }
        }
        "T12" => Fraction {
            num: scalar(t, sql!("SELECT COUNT(*) FROM compound_info WHERE management <> '三无小区' AND owners_committee = 1 AND code LIKE $1", l.clone()))
                .await,
            den: Some(scalar(t, sql!("SELECT COUNT(*) FROM compound_info WHERE management <> '三无小区' AND code LIKE $1", l.clone())).await),
        },
        "T13" => {
            if code.len() > 9 {
                return None;
            }
            let n = scalar(t, sql!("SELECT COUNT(*) FROM units WHERE level = 4 AND valid_to IS NULL AND code LIKE $1", l.clone())).await;
            let with = scalar(
                t,
                sql!(
                    "SELECT COUNT(*) FROM units u WHERE u.level = 4 AND u.valid_to IS NULL AND u.code LIKE $1 AND EXISTS (SELECT 1 FROM facilities f WHERE f.category = '社工站' AND SUBSTR(f.unit_code, 1, 9) = u.code)",
                    l.clone()
                ),
            )
            .await;
            Fraction { num: with, den: Some(n) }
        }
        "T11" => {
            let in_filter = scalar(t, sql!("SELECT COUNT(*) FROM units WHERE kind = '社区' AND valid_to IS NULL AND code LIKE $1", l.clone())).await;
            if in_filter == 0 {
                return None;
            }
            Fraction {
                num: scalar(
                    t,
                    sql!(
                        "SELECT CAST(COALESCE(SUM(f.floor_area_dm2), 0) AS BIGINT) FROM facilities f JOIN units u ON u.code = SUBSTR(f.unit_code, 1, 12) WHERE u.kind = '社区' AND f.category NOT IN ('超市', '幼儿园', '避难场所') AND f.unit_code LIKE $1",
                        l.clone()
                    ),
                )
                .await,
                den: Some(
                    scalar(
                        t,
                        sql!("SELECT CAST(COALESCE(SUM(p.households), 0) AS BIGINT) FROM unit_population p JOIN units u ON u.code = p.code WHERE u.kind = '社区' AND u.valid_to IS NULL AND p.code LIKE $1", l.clone()),
                    )
                    .await,
                ),
            }
        }
        "T07" => {
            if code != CITY {
                return Some(Fraction {
                    num: scalar(t, sql!("SELECT COUNT(*) FROM organisations WHERE certified_social_enterprise = 1 AND unit_code LIKE $1", l.clone())).await,
                    den: None,
                });
            }
            Fraction { num: scalar(t, sql!("SELECT COUNT(*) FROM organisations WHERE certified_social_enterprise = 1")).await, den: None }
        }
        "T14" => {
            let in_filter = scalar(t, sql!("SELECT COUNT(*) FROM units WHERE kind = '社区' AND valid_to IS NULL AND code LIKE $1", l.clone())).await;
            if in_filter == 0 {
                return None;
            }
            let hh = "SELECT CAST(COALESCE(SUM(p.households), 0) AS BIGINT) FROM unit_population p JOIN units u ON u.code = p.code WHERE u.kind = '社区' AND u.valid_to IS NULL AND p.code LIKE $1";
            Fraction {
                num: scalar(
                    t,
                    sql!(
                        &format!("{hh} AND EXISTS (SELECT 1 FROM units g WHERE g.parent_code = u.code AND g.kind = '网格' AND g.valid_to IS NULL)"),
                        l.clone()
                    ),
                )
                .await,
                den: Some(scalar(t, sql!(hh, l.clone())).await),
            }
        }
        "T31" => Fraction {
            num: scalar(t, sql!("SELECT COUNT(*) FROM compound_info WHERE smart_security = 1 AND code LIKE $1", l.clone())).await,
            den: Some(scalar(t, sql!("SELECT COUNT(*) FROM compound_info WHERE code LIKE $1", l.clone())).await),
        },
        _ => return None,
    })
}

#[tokio::test]
async fn engine_values_equal_straight_sql_at_every_level_of_the_roll_up() {
    let t = TestApp::new().await.with_registers().await;
    let city = UnitCode::parse(CITY).unwrap();
    let c = indicators::service::compute_all(&t.platform, &city, 2026).await.unwrap();
    let units = units_to_check(&t).await;
    assert!(units.len() > 20, "city, counties, townships and villages: {}", units.len());
    for id in ["T04", "T05", "T07", "T11", "T12", "T13", "T14", "T31"] {
        for code in &units {
            let want = by_sql(&t, id, code).await;
            let got = c.get(id, code);
            // The engine leaves a unit without a value where the filter has no unit (a village-only
            // township for a communities-only indicator); SQL says the same by returning None.
            assert_eq!(got, want, "{id} at {code}");
        }
    }
    // Non-trivial numbers: the fixture has social workers, compounds and a social-work station.
    assert!(c.get("T04", CITY).unwrap().num > 0);
    assert!(c.get("T12", CITY).unwrap().den.unwrap() > 0);
    assert_eq!(c.get("T13", COUNTY).unwrap().num, 1, "one street of 船山区 has the demo registers");
    // A roll-up is the ratio of sums: the city's T04 is not the mean of the counties' T04.
    let f = c.get("T04", CITY).unwrap();
    let counties: Vec<Fraction> = units.iter().filter(|u| u.len() == 6).map(|u| c.get("T04", u).unwrap()).collect();
    assert_eq!(f.num, counties.iter().map(|x| x.num).sum::<i64>());
    assert_eq!(f.den, Some(counties.iter().map(|x| x.den.unwrap()).sum::<i64>()));
}

#[tokio::test]
async fn a_new_register_record_changes_the_live_value_at_every_ancestor() {
    let t = TestApp::new().await.with_registers().await;
    let city = UnitCode::parse(CITY).unwrap();
    let before = indicators::service::compute_all(&t.platform, &city, 2026).await.unwrap();
    let mut tx = t.platform.db.begin().await.unwrap();
    tx.execute(sql!(
        "INSERT INTO workforce (id, unit_code, name, role, qualification, synthetic, created_ms) VALUES ('w-test', $1, '测试社工', '社会工作者', '社会工作师', 0, 0)",
        COMMUNITY
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let after = indicators::service::compute_all(&t.platform, &city, 2026).await.unwrap();
    for code in [CITY, COUNTY, STREET, COMMUNITY] {
        let (b, a) = (before.get("T04", code).unwrap(), after.get("T04", code).unwrap());
        assert_eq!(a.num, b.num + 1, "{code}");
        assert_eq!(a.den, b.den, "{code}");
    }
    assert_eq!(after.get("T04", "510904"), before.get("T04", "510904"), "another county is untouched");
}

fn rows(body: &str) -> usize {
    body.matches("<tr data-id=\"T").count()
}

#[tokio::test]
async fn dashboard_shows_all_52_targets_with_status_and_drills_down_to_communities() {
    let t = TestApp::new().await.with_registers().await;
    t.user("cityop", Role::CityStaff, CITY).await;
    t.user("comm", Role::CommunityStaff, COMMUNITY).await;
    let b = t.login("cityop", None).await;
    let r = t.get(&b, "/indicators").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(rows(&r.body), 52);
    assert!(r.body.contains("遂宁市规划指标"));
    // The coverage-fed targets have a source (no analysis has run here, so no number yet), the
    // service radius T18 among them; T45 has no industrial-park community here and says so.
    for id in ["T10", "T17", "T18", "T52"] {
        let row = r.body.split(&format!("<tr data-id=\"{id}\"")).nth(1).unwrap().split("</tr>").next().unwrap();
        assert!(!row.contains("暂无数据来源"), "{id}: {row}");
    }
    let row = r.body.split("<tr data-id=\"T45\"").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains("暂无园区社区"), "T45: {row}");
    assert!(r.body.contains("约束性") && r.body.contains("预期性"));
    assert!(r.body.contains("data-status=\"green\"") || r.body.contains("data-status=\"red\"") || r.body.contains("data-status=\"amber\""));
    assert!(r.body.contains("/indicators?unit=510903"), "county drill-down link");
    assert!(r.body.contains("href=\"/indicators/report.xlsx?unit=5109\""));
    // Drill: county → township → community.
    let county = t.get(&b, "/indicators?unit=510903").await;
    assert_eq!(rows(&county.body), 52);
    assert!(county.body.contains("/indicators?unit=510903001"));
    let street = t.get(&b, "/indicators?unit=510903001").await;
    assert!(street.body.contains("/indicators?unit=510903001001"));
    assert!(street.body.contains("/indicators/portrait/510903001001"));
    let community = t.get(&b, "/indicators?unit=510903001001").await;
    assert_eq!(rows(&community.body), 52);
    // A township-level indicator has no value at a community.
    let row = community.body.split("<tr data-id=\"T13\"").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains("不适用"), "{row}");
    // The indicator page: a choropleth over the counties (they have boundaries), tiles below.
    let ind = t.get(&b, "/indicators/T04?unit=5109").await;
    assert_eq!(ind.status, StatusCode::OK);
    assert!(ind.body.contains("data-testid=\"choropleth\""), "county boundaries drawn");
    assert!(ind.body.contains("class=\"q"), "coloured by value");
    assert_eq!(ind.body.matches("<tr data-unit=").count(), 5, "five counties ranked");
    let tiles = t.get(&b, "/indicators/T04?unit=510903").await;
    assert!(tiles.body.contains("data-testid=\"tiles\""), "no township boundaries: tile layout");
    // XLSX monthly report.
    let x = t.get(&b, "/indicators/report.xlsx?unit=510903").await;
    assert_eq!(x.status, StatusCode::OK);
    assert!(x.headers[header::CONTENT_TYPE].to_str().unwrap().contains("spreadsheetml"));
    assert!(x.body.starts_with("PK"));
    // Print CSS is served and hides the navigation.
    let css = t.get(&b, "/indicators/indicators.css").await;
    assert!(css.body.contains("@media print"));
    // Scope: a community's staff see their community, not the county; other units are 404.
    let c = t.login("comm", None).await;
    let own = t.get(&c, "/indicators").await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.body.contains("data-testid=\"dash-title\""));
    assert_eq!(t.get(&c, "/indicators?unit=510903").await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.get(&c, "/indicators?unit=510904001001").await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.get(&c, "/indicators/T04?unit=510903").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn api_gives_definitions_and_values_equal_to_the_engine() {
    let t = TestApp::new().await.with_registers().await;
    t.user("cityop", Role::CityStaff, CITY).await;
    let token = t.token("cityop").await;
    let d = t.get_bearer(&token, "/api/v1/indicators").await.json();
    let list = d["indicators"].as_array().unwrap();
    assert_eq!(list.len(), 52);
    assert_eq!(list[3]["id"], "T04");
    assert_eq!(list[3]["target_2025"], 1.4);
    assert_eq!(list[3]["attribute"], "Binding");
    assert_eq!(list[9]["has_source"], true, "T10 comes from the coverage analysis");
    assert_eq!(list[5]["data_source"], "志愿服务", "T06 comes from the volunteers slice");
    let v = t.get_bearer(&token, "/api/v1/indicators/T04/values?unit=5109").await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.body);
    let v = v.json();
    assert_eq!(v["computed"], "live");
    let city = UnitCode::parse(CITY).unwrap();
    let c = indicators::service::compute_all(&t.platform, &city, 2026).await.unwrap();
    let f = c.get("T04", CITY).unwrap();
    assert_eq!(v["unit"]["numerator"], f.num);
    assert_eq!(v["unit"]["denominator"], f.den.unwrap());
    assert_eq!(v["children"].as_array().unwrap().len(), 5);
    for ch in v["children"].as_array().unwrap() {
        let f = c.get("T04", ch["unit_code"].as_str().unwrap()).unwrap();
        assert_eq!(ch["numerator"], f.num);
    }
    assert_eq!(t.get_bearer(&token, "/api/v1/indicators/T99/values").await.status, StatusCode::NOT_FOUND);
    let bad = t.get_bearer(&token, "/api/v1/indicators/T04/values?period=2026-13").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["code"], "indicators.bad_period");
    // A month's snapshot reads back the same numbers.
    let period = indicators::model::Period::month_of(platform::clock::Date::of_instant(t.platform.now()));
    indicators::service::snapshot(&t.platform, &period).await.unwrap();
    let s = t.get_bearer(&token, &format!("/api/v1/indicators/T04/values?unit=5109&period={}", period.as_str())).await.json();
    assert_eq!(s["computed"], "snapshot");
    assert_eq!(s["unit"]["numerator"], f.num);
    assert_eq!(s["unit"]["denominator"], f.den.unwrap());
    assert_eq!(t.get(&Browser::default(), "/api/v1/indicators").await.status, StatusCode::UNAUTHORIZED);
}

async fn submit(t: &TestApp, b: &Browser, fields: &[(&str, &str)], evidence: Option<(&str, &[u8])>) -> Response {
    let boundary = "INDBOUNDARY";
    let mut body: Vec<u8> = Vec::new();
    for (k, v) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
    }
    if let Some((name, bytes)) = evidence {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"evidence\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    let req = Request::post(format!("/indicators/reports?_csrf={}", b.csrf))
        .header(header::COOKIE, format!("jiceng_session={}", b.cookies[0].1))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from(body))
        .unwrap();
    t.send(req).await
}

async fn report_row(t: &TestApp, indicator: &str, unit: &str) -> (String, i64, String) {
    t.platform
        .db
        .fetch_one(sql!(
            "SELECT id, version, state FROM indicator_reports WHERE indicator_id = $1 AND unit_code = $2 ORDER BY submitted_ms DESC LIMIT 1",
            indicator,
            unit
        ))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_reported_value_counts_only_after_the_level_above_approves_it() {
    let t = TestApp::new().await;
    t.user("county1", Role::CountyStaff, COUNTY).await;
    t.user("county2", Role::CountyStaff, COUNTY).await;
    t.user("cityop", Role::CityStaff, CITY).await;
    t.user("cityop2", Role::CityStaff, CITY).await;
    t.user("comm", Role::CommunityStaff, COMMUNITY).await;
    let county = t.login("county1", None).await;
    // Bad input is refused with the field named; nothing is written.
    let r = submit(&t, &county, &[("indicator", "T26"), ("unit", COUNTY), ("period", "2026"), ("numerator", "120"), ("denominator", "100")], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("分子不能大于分母"), "{}", r.body);
    let r = submit(&t, &county, &[("indicator", "T26"), ("unit", STREET), ("period", "2026"), ("numerator", "1"), ("denominator", "10")], None).await;
    assert!(r.body.contains("由县级填报"), "wrong level named");
    let r = submit(&t, &county, &[("indicator", "T04"), ("unit", COUNTY), ("period", "2026"), ("numerator", "1"), ("denominator", "10")], None).await;
    assert!(r.body.contains("无需填报"), "a measured indicator cannot be reported");
    let r = submit(
        &t,
        &county,
        &[("indicator", "T26"), ("unit", COUNTY), ("period", "2026"), ("numerator", "12"), ("denominator", "100")],
        Some(("x.exe", b"MZ\x90\x00")),
    )
    .await;
    assert!(r.body.contains("佐证材料须为"), "evidence checked by content");
    assert_eq!(scalar(&t, sql!("SELECT COUNT(*) FROM indicator_reports")).await, 0);
    // A community cannot report for the county.
    let comm = t.login("comm", None).await;
    let r = submit(&t, &comm, &[("indicator", "T26"), ("unit", COUNTY), ("period", "2026"), ("numerator", "1"), ("denominator", "10")], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A good submission with a PNG as evidence.
    let r = submit(
        &t,
        &county,
        &[("indicator", "T26"), ("unit", COUNTY), ("period", "2026"), ("numerator", "12"), ("denominator", "100"), ("note", "2026 年命名")],
        Some(("cert.png", PNG)),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (id, version, state) = report_row(&t, "T26", COUNTY).await;
    assert_eq!(state, "submitted");
    let city = UnitCode::parse(CITY).unwrap();
    let c = indicators::service::compute_all(&t.platform, &city, 2026).await.unwrap();
    assert_eq!(c.get("T26", COUNTY), None, "not counted before approval");
    // The submitter and a colleague at the same level may not approve; the city may.
    let mut county = county;
    let r = t.post(&mut county, &format!("/indicators/reports/{id}/review"), &[("decision", "approve"), ("version", &version.to_string())]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut peer = t.login("county2", None).await;
    let r = t.post(&mut peer, &format!("/indicators/reports/{id}/review"), &[("decision", "approve"), ("version", &version.to_string())]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut cityb = t.login("cityop", None).await;
    let page = t.get(&cityb, "/indicators/reports").await;
    assert!(page.body.contains("data-testid=\"approve\""), "the reviewer sees the approve button");
    assert!(page.body.contains(&format!("/indicators/reports/{id}/evidence")));
    let ev = t.get(&cityb, &format!("/indicators/reports/{id}/evidence")).await;
    assert_eq!(ev.status, StatusCode::OK);
    assert_eq!(ev.headers[header::CONTENT_TYPE], "image/png");
    let r = t.post(&mut cityb, &format!("/indicators/reports/{id}/review"), &[("decision", "reject"), ("version", &version.to_string())]).await;
    assert!(r.body.contains("退回时须填写原因"));
    let r = t
        .post(&mut cityb, &format!("/indicators/reports/{id}/review"), &[("decision", "approve"), ("version", &version.to_string()), ("note", "核实无误")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // A second decision on the same version is a conflict, not a silent overwrite.
    let r = t.post(&mut cityb, &format!("/indicators/reports/{id}/review"), &[("decision", "reject"), ("version", &version.to_string()), ("note", "x")]).await;
    assert!(r.body.contains("已被审核"), "{}", r.body);
    let c = indicators::service::compute_all(&t.platform, &city, 2026).await.unwrap();
    assert_eq!(c.get("T26", COUNTY), Some(Fraction { num: 12, den: Some(100) }));
    assert_eq!(c.get("T26", CITY), Some(Fraction { num: 12, den: Some(100) }), "the city sums its counties' reports");
    // The dashboard marks it 填报.
    let dash = t.get(&cityb, "/indicators?unit=510903").await;
    let row = dash.body.split("<tr data-id=\"T26\"").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains("填报") && row.contains(">12<"), "{row}");
    // City-level values: reviewed by another city account, never by the submitter.
    let mut citya = t.login("cityop2", None).await;
    let r = submit(&t, &citya, &[("indicator", "T09"), ("unit", CITY), ("period", "2026"), ("numerator", "1300"), ("denominator", "1000")], None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let (id9, v9, _) = report_row(&t, "T09", CITY).await;
    let r = t.post(&mut citya, &format!("/indicators/reports/{id9}/review"), &[("decision", "approve"), ("version", &v9.to_string())]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t.post(&mut cityb, &format!("/indicators/reports/{id9}/review"), &[("decision", "approve"), ("version", &v9.to_string())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let c = indicators::service::compute_all(&t.platform, &city, 2026).await.unwrap();
    let cell = indicators::service::cell(&indicators::model::find("T09").unwrap(), platform::scope::Level::City, 2026, c.get("T09", CITY));
    assert_eq!(cell.value, Some(30.0), "growth (1300 − 1000) ÷ 1000");
    // Every step is in the audit chain.
    for action in ["indicators.report_submit", "indicators.report_approve"] {
        assert!(scalar(&t, sql!("SELECT COUNT(*) FROM audit_log WHERE action = $1", action)).await >= 2, "{action}");
    }
}

#[tokio::test]
async fn monthly_snapshots_feed_as_of_views_and_sparklines() {
    let t = TestApp::new().await.with_registers().await;
    t.user("cityop", Role::CityStaff, CITY).await;
    let n = indicators::service::snapshot_if_due(&t.platform).await.unwrap();
    assert!(n.unwrap() > 1000, "every indicator for every unit");
    assert_eq!(indicators::service::snapshot_if_due(&t.platform).await.unwrap(), None, "not again within a day");
    let first = indicators::model::Period::month_of(platform::clock::Date::of_instant(t.platform.now()));
    // A month later a social worker joins; the next snapshot differs, the old one stays.
    t.clock.advance(31 * DAY);
    let mut tx = t.platform.db.begin().await.unwrap();
    tx.execute(sql!(
        "INSERT INTO workforce (id, unit_code, name, role, qualification, synthetic, created_ms) VALUES ('w2', $1, '新社工', '社会工作者', NULL, 0, 0)",
        COMMUNITY
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();
    indicators::service::snapshot_if_due(&t.platform).await.unwrap().expect("new month");
    let second = indicators::model::Period::month_of(platform::clock::Date::of_instant(t.platform.now()));
    assert_ne!(first, second);
    let get = |p: String| {
        let db = t.platform.db.clone();
        async move {
            let (n,): (Option<i64>,) = db
                .fetch_one(sql!("SELECT numerator FROM indicator_snapshots WHERE period = $1 AND indicator_id = 'T04' AND unit_code = '5109'", p))
                .await
                .unwrap();
            n.unwrap()
        }
    };
    assert_eq!(get(second.as_str().to_owned()).await, get(first.as_str().to_owned()).await + 1);
    let b = t.login("cityop", None).await;
    let old = t.get(&b, &format!("/indicators?as_of={}", first.as_str())).await;
    assert_eq!(old.status, StatusCode::OK);
    assert!(old.body.contains(&format!("{} 月快照", first.as_str())));
    let live = t.get(&b, "/indicators").await;
    assert!(live.body.contains("<svg class=\"spark\""), "two months make a trend line");
    let bad = t.get(&b, "/indicators?as_of=2026-5").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let none = t.get(&b, "/indicators?as_of=2020-01").await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert!(none.body.contains("没有 2020-01 月的快照"), "a month without a snapshot is said so, not shown as blanks");
    assert!(scalar(&t, sql!("SELECT COUNT(*) FROM audit_log WHERE action = 'indicators.snapshot'")).await >= 2);
}

#[tokio::test]
async fn community_portrait_counts_the_six_elements_and_open_events() {
    let t = TestApp::new().await.with_registers().await;
    events::service::seed_demo(&t.platform).await.unwrap();
    t.user("comm", Role::CommunityStaff, COMMUNITY).await;
    let b = t.login("comm", None).await;
    let r = t.get(&b, &format!("/indicators/portrait/{COMMUNITY}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let people = scalar(&t, sql!("SELECT COUNT(*) FROM people WHERE unit_code LIKE $1 AND moved_out IS NULL AND deceased IS NULL", like(COMMUNITY))).await;
    let houses = scalar(&t, sql!("SELECT COUNT(*) FROM houses WHERE unit_code LIKE $1", like(COMMUNITY))).await;
    assert!(people > 100);
    let elements = r.body.split("data-testid=\"elements\"").nth(1).unwrap().split("</div>\n").next().unwrap();
    assert!(elements.contains(&format!("<span>人（实有人口）</span><strong>{people}</strong>")), "{elements}");
    assert!(elements.contains(&format!("<span>房（房屋）</span><strong>{houses}</strong>")));
    let elderly = scalar(&t, sql!("SELECT COUNT(*) FROM person_tags WHERE tag = '高龄老人' AND unit_code LIKE $1", like(COMMUNITY))).await;
    assert!(r.body.contains(&format!("<tr><th>高龄老人</th><td>{elderly}</td></tr>")));
    let closed = "('rejected', 'evaluated', 'archived', 'merged', 'closed')";
    let open = scalar(&t, sql!(&format!("SELECT COUNT(*) FROM events WHERE unit_code LIKE $1 AND state NOT IN {closed}"), like(COMMUNITY))).await;
    assert!(open > 0, "the demo events include open ones in the demo community");
    assert!(elements.contains(&format!("<span>事（未办结事件）</span><strong>{open}</strong>")), "{elements}");
    let table = r.body.split("data-testid=\"open-events\"").nth(1).unwrap().split("</table>").next().unwrap();
    let total: i64 = table.split("</td></tr>").filter_map(|row| row.rsplit("<td>").next()?.parse::<i64>().ok()).sum();
    assert_eq!(total, open, "the family × age table adds up: {table}");
    assert!(r.body.contains("在册志愿者"));
    assert!(r.body.contains("data-testid=\"portrait-indicators\""));
    assert_eq!(t.get(&b, "/indicators/portrait/510903001002").await.status, StatusCode::NOT_FOUND);
    // A resident sees the community's indicators but not the register counts of its portrait.
    t.user("res", Role::Resident, COMMUNITY).await;
    let rb = t.login("res", None).await;
    assert_eq!(t.get(&rb, "/indicators").await.status, StatusCode::OK);
    assert_eq!(t.get(&rb, &format!("/indicators/portrait/{COMMUNITY}")).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn assessment_scores_and_ranks_townships_by_a_weighted_scheme() {
    let t = TestApp::new().await.with_registers().await;
    t.user("cityop", Role::CityStaff, CITY).await;
    t.user("town", Role::TownshipStaff, STREET).await;
    let mut b = t.login("cityop", None).await;
    let r = t.post(&mut b, "/indicators/assessment", &[("name", "街道年度考核"), ("level", "township"), ("items", "T13:60，T99:40")]).await;
    assert!(r.body.contains("T99"), "unknown indicator named");
    let r = t.post(&mut b, "/indicators/assessment", &[("name", "街道年度考核"), ("level", "township"), ("items", "T13:60, T04:40")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = t.get(&b, &format!("/indicators/assessment?unit={COUNTY}")).await;
    assert_eq!(page.status, StatusCode::OK);
    // The street with the social-work station ranks first with the full 60 for T13.
    let first = page.body.split("<tr data-unit=\"").nth(1).unwrap();
    assert!(first.starts_with(STREET), "{first}");
    assert!(first.contains("<td>1</td>") && first.contains("<td>60</td>"));
    let townships = scalar(&t, sql!("SELECT COUNT(*) FROM units WHERE level = 4 AND valid_to IS NULL AND code LIKE $1", like(COUNTY))).await;
    assert_eq!(page.body.matches("<tr data-unit=\"").count() as i64, townships);
    let (sid,): (String,) = t.platform.db.fetch_one(sql!("SELECT id FROM assessment_schemes")).await.unwrap();
    // The same scheme over a month's snapshot gives the same scores.
    let period = indicators::model::Period::month_of(platform::clock::Date::of_instant(t.platform.now()));
    indicators::service::snapshot(&t.platform, &period).await.unwrap();
    let snap = t.get(&b, &format!("/indicators/assessment?unit={COUNTY}&scheme={sid}&as_of={}", period.as_str())).await;
    let table = |body: &str| body.split("data-testid=\"scores\"").nth(1).unwrap().split("</table>").next().unwrap().to_owned();
    assert_eq!(table(&snap.body), table(&page.body));
    assert!(snap.body.contains(&format!("{} 月快照）", period.as_str())));
    let x = t.get(&b, &format!("/indicators/assessment.xlsx?unit={COUNTY}&scheme={sid}")).await;
    assert!(x.body.starts_with("PK"));
    // Townships may look but not define schemes.
    let mut tb = t.login("town", None).await;
    let r = t.post(&mut tb, "/indicators/assessment", &[("name", "x"), ("level", "township"), ("items", "T13:1")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn demo_seed_marks_its_reports_and_takes_a_snapshot() {
    let t = TestApp::new().await;
    assert!(indicators::seed_demo(&t.platform).await.unwrap());
    assert!(!indicators::seed_demo(&t.platform).await.unwrap(), "idempotent");
    assert_eq!(scalar(&t, sql!("SELECT COUNT(*) FROM indicator_reports WHERE synthetic = 0")).await, 0);
    assert!(scalar(&t, sql!("SELECT COUNT(*) FROM indicator_reports WHERE synthetic = 1 AND state = 'approved'")).await > 10);
    assert!(scalar(&t, sql!("SELECT COUNT(*) FROM indicator_snapshots")).await > 1000);
}

#[tokio::test]
async fn volunteer_indicators_come_from_the_volunteers_slice_at_every_level() {
    let t = TestApp::new().await.with_registers().await;
    volunteers::demo::seed(&t.platform).await.unwrap();
    let city = UnitCode::parse(CITY).unwrap();
    let c = indicators::service::compute_all(&t.platform, &city, 2026).await.unwrap();
    for code in [CITY, COUNTY, STREET, COMMUNITY] {
        let u = UnitCode::parse(code).unwrap();
        let r = volunteers::service::registration_rate(&t.platform.db, &u).await.unwrap();
        assert_eq!(c.get("T06", code), Some(Fraction { num: r.numerator, den: Some(r.denominator) }), "{code}");
        let s = volunteers::service::station_coverage(&t.platform.db, &u).await.unwrap();
        assert_eq!(c.get("T22", code), Some(Fraction { num: s.numerator, den: Some(s.denominator) }), "{code}");
    }
    assert!(c.get("T06", COMMUNITY).unwrap().num > 0, "the demo registers volunteers in the demo community");
}

#[tokio::test]
async fn village_income_reports_feed_t36_to_t38_after_the_township_approves() {
    let t = TestApp::new().await;
    let (village, township): (String, String) = t
        .platform
        .db
        .fetch_one(sql!("SELECT code, parent_code FROM units WHERE kind = '村' AND valid_to IS NULL AND code LIKE $1 ORDER BY code LIMIT 1", like(COUNTY)))
        .await
        .unwrap();
    t.user("vil", Role::CommunityStaff, &village).await;
    t.user("town", Role::TownshipStaff, &township).await;
    t.user("comm", Role::CommunityStaff, COMMUNITY).await;
    let vil = t.login("vil", None).await;
    let r = submit(&t, &vil, &[("indicator", "T37"), ("unit", &village), ("period", "2026"), ("numerator", "600000")], None).await;
    assert!(r.body.contains("请填报 T36"), "T37 is derived from the villages' T36 reports");
    let comm = t.login("comm", None).await;
    let r = submit(&t, &comm, &[("indicator", "T36"), ("unit", COMMUNITY), ("period", "2026"), ("numerator", "600000")], None).await;
    assert!(r.body.contains("由各村（村民委员会）填报"), "a community has no village collective economy");
    let r = submit(&t, &vil, &[("indicator", "T36"), ("unit", &village), ("period", "2026"), ("numerator", "600,000"), ("note", "2026 年度决算")], None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (id, version, _) = report_row(&t, "T36", &village).await;
    let mut town = t.login("town", None).await;
    let r = t.post(&mut town, &format!("/indicators/reports/{id}/review"), &[("decision", "approve"), ("version", &version.to_string())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let city = UnitCode::parse(CITY).unwrap();
    let c = indicators::service::compute_all(&t.platform, &city, 2026).await.unwrap();
    assert_eq!(c.get("T36", &township), Some(Fraction { num: 1, den: Some(1) }));
    assert_eq!(c.get("T37", COUNTY), Some(Fraction { num: 1, den: None }), "600,000 is above 500,000");
    assert_eq!(c.get("T38", COUNTY), Some(Fraction { num: 0, den: None }));
    assert_eq!(c.get("T37", "510904"), Some(Fraction { num: 0, den: None }), "every county shows its count");
}
