use axum::http::StatusCode;
use geography::import;
use geography::model::{NewUnit, UnitKind};
use geography::store;
use platform::audit::Actor;
use platform::auth::Role;
use platform::clock::Date;
use platform::scope::UnitCode;
use platform::sql;

use crate::harness::TestApp;

fn code(s: &str) -> UnitCode {
    UnitCode::parse(s).unwrap()
}

async fn unit_count(t: &TestApp) -> i64 {
    t.platform.db.scalar(sql!("SELECT COUNT(*) FROM units")).await.unwrap()
}

#[tokio::test]
async fn a_bad_import_names_every_problem_and_writes_nothing() {
    let t = TestApp::new().await;
    let before = unit_count(&t).await;
    let csv = "代码,名称,上级代码,类型\n\
               510903001001601,新网格,510903001001,网格\n\
               510903001001602,,510903001001,网格\n\
               51090300100160x,坏代码,510903001001,网格\n\
               510903001001603,错上级,510903001002,网格\n\
               510903001001604,未知类型,510903001001,楼栋\n";
    let errs = import::import_units(&t.platform.db, t.platform.now(), &Actor::system(), csv, "test.csv").await.unwrap_err();
    let got: Vec<(Option<usize>, Option<&str>, &str)> = errs.iter().map(|e| (e.row, e.field.as_deref(), e.code)).collect();
    assert_eq!(
        got,
        vec![
            (Some(3), Some("name"), "unit.bad_name"),
            (Some(4), Some("code"), "unit.bad_code"),
            (Some(5), Some("parent_code"), "unit.parent_mismatch"),
            (Some(6), Some("kind"), "unit.bad_kind"),
        ]
    );
    assert_eq!(unit_count(&t).await, before, "nothing written");
}

#[tokio::test]
async fn database_checks_fail_the_whole_import() {
    let t = TestApp::new().await;
    let before = unit_count(&t).await;
    // Row 2 is fine, row 3 duplicates an existing unit: neither is written.
    let csv = "code,name,parent_code,kind\n510903001001601,新网格,510903001001,网格\n510903001001,电江路社区,510903001,社区\n";
    let errs = import::import_units(&t.platform.db, t.platform.now(), &Actor::system(), csv, "dup.csv").await.unwrap_err();
    assert_eq!((errs[0].code, errs[0].row), ("unit.duplicate_code", Some(3)));
    // A parent that does not exist.
    let csv = "code,name,parent_code,kind\n510903001999001,某小区,510903001999,小区\n";
    let errs = import::import_units(&t.platform.db, t.platform.now(), &Actor::system(), csv, "orphan.csv").await.unwrap_err();
    assert_eq!((errs[0].code, errs[0].row, errs[0].field.as_deref()), ("unit.parent_not_found", Some(2), Some("parent_code")));
    // The same code twice in one file.
    let csv = "code,name,parent_code,kind\n510903001001601,甲,510903001001,网格\n510903001001601,乙,510903001001,网格\n";
    let errs = import::import_units(&t.platform.db, t.platform.now(), &Actor::system(), csv, "twice.csv").await.unwrap_err();
    assert_eq!((errs[0].code, errs[0].row), ("unit.duplicate_code", Some(3)));
    assert_eq!(unit_count(&t).await, before);
    // Missing columns.
    let errs = import::import_units(&t.platform.db, t.platform.now(), &Actor::system(), "foo,bar\n1,2\n", "x.csv").await.unwrap_err();
    assert_eq!(errs[0].code, "import.missing_columns");
}

#[tokio::test]
async fn a_good_import_in_gbk_from_excel_lands_with_an_audit_record() {
    let t = TestApp::new().await;
    let text = "代码,名称,上级代码,类型\r\n510903001001601,滨江网格,510903001001,网格\r\n";
    let (gbk, _, _) = encoding_rs::GBK.encode(text);
    let decoded = import::decode_text(&gbk);
    let n = import::import_units(&t.platform.db, t.platform.now(), &Actor::system(), &decoded, "gbk.csv").await.unwrap();
    assert_eq!(n, 1);
    let u = store::get(&t.platform.db, "510903001001601").await.unwrap().unwrap();
    assert_eq!((u.name.as_str(), u.kind.as_str()), ("滨江网格", "网格"));
    let (recs, _) = platform::audit::list(
        &t.platform.db,
        &platform::audit::Filter { action: Some("unit.import".into()), ..Default::default() },
        &platform::Scope::nothing(),
        10,
        0,
    )
    .await
    .unwrap();
    assert_eq!(recs[0].target, "gbk.csv");
}

#[tokio::test]
async fn merging_villages_keeps_history_and_answers_as_of_queries() {
    let t = TestApp::new().await;
    let db = &t.platform.db;
    // Two village-level units in 船山区 南津路街道 merge into a new community on 2025-01-01.
    let from = [code("510903001001"), code("510903001002")];
    let into = NewUnit {
        code: code("510903001900"),
        name: "电江新社区".into(),
        kind: UnitKind::Community,
        parent: Some(code("510903001")),
        valid_from: None,
        synthetic: false,
    };
    let mut tx = db.begin().await.unwrap();
    let r = store::merge(&mut tx, t.platform.now(), &Actor::system(), &from, &into, Date::parse("2025-01-01").unwrap(), "撤并试点").await.unwrap();
    tx.commit().await.unwrap();
    assert!(r.recoded > 0, "compounds and grids moved under the new community");
    let old = store::get(db, "510903001001").await.unwrap().unwrap();
    assert_eq!(old.valid_to.as_deref(), Some("2025-01-01"));
    let new = store::get(db, "510903001900").await.unwrap().unwrap();
    assert_eq!(new.valid_from.as_deref(), Some("2025-01-01"));
    // The old community's grid 501 now lives on under a new 15-digit code with the same name.
    let moved: Vec<(String, String)> =
        db.fetch_all(sql!("SELECT from_code, to_code FROM unit_lineage WHERE kind = 'recode' AND from_code = '510903001001501'")).await.unwrap();
    assert_eq!(moved.len(), 1);
    assert!(moved[0].1.starts_with("510903001900") && moved[0].1.len() == 15);
    let all = platform::Scope::new(vec![code("5109")]);
    let names = |rows: Vec<store::ChildRow>| rows.into_iter().map(|r| r.unit.code).collect::<Vec<_>>();
    let before = names(store::children(db, &code("510903001"), &all, "", Date::parse("2024-12-31").unwrap(), 500, 0).await.unwrap().0);
    let after = names(store::children(db, &code("510903001"), &all, "", Date::parse("2025-01-01").unwrap(), 500, 0).await.unwrap().0);
    assert!(before.contains(&"510903001001".to_string()) && !before.contains(&"510903001900".to_string()));
    assert!(!after.contains(&"510903001001".to_string()) && after.contains(&"510903001900".to_string()));
    assert_eq!(before.len(), after.len() + 1);
    // Population carries over.
    let p = store::population(db, "510903001900").await.unwrap().unwrap();
    let a = store::population(db, "510903001001").await.unwrap().unwrap();
    let b = store::population(db, "510903001002").await.unwrap().unwrap();
    assert_eq!(p.residents, a.residents + b.residents);
    // The unit page shows the history; the old unit says it was retired.
    t.user("county", Role::CountyStaff, "510903").await;
    let br = t.login("county", None).await;
    let page = t.get(&br, "/units/510903001001").await;
    assert!(page.body.contains("已于 2025-01-01 撤销"));
    assert!(page.body.contains("区划沿革") && page.body.contains("电江新社区"));
    let api = t.get(&br, "/api/v1/units?parent=510903001&as_of=2024-06-01&per_page=500").await.json();
    assert_eq!(api["total"].as_i64().unwrap(), before.len() as i64);
}

#[tokio::test]
async fn reforms_refuse_what_cannot_be_done() {
    let t = TestApp::new().await;
    let db = &t.platform.db;
    let eff = Date::parse("2025-01-01").unwrap();
    let mut tx = db.begin().await.unwrap();
    // Across parents.
    let into = NewUnit {
        code: code("510903001900"),
        name: "x".into(),
        kind: UnitKind::Community,
        parent: Some(code("510903001")),
        valid_from: None,
        synthetic: false,
    };
    let e = store::merge(&mut tx, 0, &Actor::system(), &[code("510903001001"), code("510903002001")], &into, eff, "").await.unwrap_err();
    assert_eq!(e.code, "unit.merge_mismatch");
    drop(tx);
    // A split of a unit that still has compounds and grids.
    let mut tx = db.begin().await.unwrap();
    let parts = ["510903001901", "510903001902"].map(|c| NewUnit {
        code: code(c),
        name: c.into(),
        kind: UnitKind::Community,
        parent: Some(code("510903001")),
        valid_from: None,
        synthetic: false,
    });
    let e = store::split(&mut tx, 0, &Actor::system(), &code("510903001001"), &parts, eff, "").await.unwrap_err();
    assert_eq!(e.code, "unit.split_has_children");
    drop(tx);
    // A split of a village without subordinate units works.
    let village = store::children(db, &code("510903002"), &platform::Scope::new(vec![code("5109")]), "", Date::parse("2026-01-01").unwrap(), 500, 0)
        .await
        .unwrap()
        .0
        .into_iter()
        .find(|r| r.children == 0)
        .unwrap()
        .unit;
    let parent = village.parent_code.clone().unwrap();
    let kind = village.kind().unwrap();
    let parts = ["901", "902"].map(|s| NewUnit {
        code: code(&format!("{parent}{s}")),
        name: format!("新{s}"),
        kind,
        parent: Some(code(&parent)),
        valid_from: None,
        synthetic: false,
    });
    let mut tx = db.begin().await.unwrap();
    let r = store::split(&mut tx, 0, &Actor::system(), &code(&village.code), &parts, eff, "拆分").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(r.created.len(), 2);
    assert_eq!(store::lineage(db, &village.code).await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_unit_page_shows_counts_map_scale_and_paged_children() {
    let t = TestApp::new().await;
    let secret = t.user("cityview", Role::CityStaff, "5109").await;
    let b = t.login("cityview", secret.as_deref()).await;
    let city = t.get(&b, "/units/5109").await;
    assert_eq!(city.status, StatusCode::OK);
    for s in ["遂宁市", "<b>20</b><span>街道", "<b>72</b><span>镇", "<b>3</b><span>乡", "<b>336</b><span>社区", "<b>1109</b><span>村"] {
        assert!(city.body.contains(s), "city page shows {s}");
    }
    assert_eq!(city.body.matches("<path").count(), 5, "five county shapes");
    assert_eq!(city.body.matches("\"><path").count(), 5, "all five clickable for the city");
    // A community with synthetic figures: scale check and the synthetic marker.
    let c = t.get(&b, "/units/510903001001").await;
    assert!(c.body.contains("data-testid=\"scale\""));
    assert!(c.body.contains("演示数据"));
    assert!(c.body.contains("传统城区社区"));
    // Search inside the children, and paging.
    let town = t.get(&b, "/units/510921").await;
    assert!(town.body.contains("共 "));
    let filtered = t.get(&b, "/units/510903?q=%E8%A1%97%E9%81%93").await;
    assert!(filtered.body.contains("南津路街道"));
    assert!(!filtered.body.contains("data-unit=\"510903100\""), "towns filtered out");
    let empty = t.get(&b, "/units/510903?q=zzzz").await;
    assert!(empty.body.contains("没有名称或代码包含"));
    let csv = t.get(&b, "/units/510903/children.csv").await;
    assert!(csv.body.starts_with('\u{feff}'));
    assert!(csv.body.contains("南津路街道"));
    // Big parents page: 510921 蓬溪县 has more than 10 townships; village lists page at 50.
    let many = t.get(&b, "/api/v1/units?parent=510921001&per_page=5").await.json();
    assert_eq!(many["items"].as_array().unwrap().len().min(5), many["items"].as_array().unwrap().len());
}

#[tokio::test]
async fn openapi_documents_every_api_route() {
    let t = TestApp::new().await;
    let doc = t.get(&crate::harness::Browser::default(), "/api/v1/openapi.json").await.json();
    let paths = doc["paths"].as_object().unwrap();
    for p in ["/api/v1/me", "/api/v1/units", "/api/v1/units/{code}", "/api/v1/openapi.json", "/healthz", "/metrics"] {
        assert!(paths.contains_key(p), "{p} documented");
    }
    // Every API route the code mounts appears in the document.
    let src = concat!(
        include_str!("../../../geography/src/lib.rs"),
        include_str!("../../../registry/src/lib.rs"),
        include_str!("../../../events/src/lib.rs"),
        include_str!("../../../platform/src/pages.rs"),
        include_str!("../../src/lib.rs")
    );
    for line in src.lines().filter(|l| l.contains(".route(\"/api/")) {
        let route = line.split('"').nth(1).unwrap();
        assert!(paths.contains_key(route), "{route} missing from openapi.json");
    }
}

#[tokio::test]
async fn health_and_metrics_answer() {
    let t = TestApp::new().await;
    let b = crate::harness::Browser::default();
    let h = t.get(&b, "/healthz").await.json();
    assert_eq!(h["status"], "ok");
    t.get(&b, "/login").await;
    let m = t.get(&b, "/metrics").await.body;
    assert!(m.contains("jiceng_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"}"), "{m}");
    assert!(m.contains("jiceng_audit_records"));
}

#[tokio::test]
async fn the_units_import_can_mark_new_communities_as_industrial_parks() {
    let t = TestApp::new().await;
    // Only a community carries the mark, and only 是/否: nothing is written on either mistake.
    let csv = "代码,名称,上级代码,类型,产业园区社区\n510903001901,园区一社区,510903001,社区,是\n510903001901601,园区网格,510903001901,网格,是\n510903001902,园区二社区,510903001,社区,也许\n";
    let errs = import::import_units(&t.platform.db, t.platform.now(), &Actor::system(), csv, "parks.csv").await.unwrap_err();
    let got: Vec<(Option<usize>, &str)> = errs.iter().map(|e| (e.row, e.code)).collect();
    assert_eq!(got, vec![(Some(3), "unit.park_kind"), (Some(4), "import.bad_park")]);
    assert!(store::get(&t.platform.db, "510903001901").await.unwrap().is_none());
    let csv = "代码,名称,上级代码,类型,产业园区社区\n510903001901,园区一社区,510903001,社区,是\n510903001902,老街社区,510903001,社区,否\n";
    assert_eq!(import::import_units(&t.platform.db, t.platform.now(), &Actor::system(), csv, "parks.csv").await.unwrap(), 2);
    let parks = store::industrial_parks(&t.platform.db, &platform::scope::UnitCode::parse("510903001").unwrap()).await.unwrap();
    assert_eq!(parks.into_iter().collect::<Vec<_>>(), vec!["510903001901".to_owned()]);
}
