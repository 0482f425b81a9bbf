//! The base registers: privacy (masking, audited unmasking, sharing lists), import and scopes.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;

use axum::http::StatusCode;
use platform::audit::Actor;
use platform::auth::Role;
use platform::clock::Date;
use platform::scope::UnitCode;
use platform::sql;
use registry::import::{self, Cell, Table};

use crate::harness::{TestApp, make_id};

const COMMUNITY: &str = "510903001001";

fn masked_id(s: &str) -> bool {
    s.len() == 18 && s[..6].bytes().all(|b| b.is_ascii_digit()) && &s[6..14] == "********"
}

/// Any valid, unmasked ID number (structure, birth date and check digit all right) in a text.
fn contains_full_id(text: &str) -> bool {
    let today = Date::parse("2026-11-25").unwrap();
    text.as_bytes().windows(18).any(|w| std::str::from_utf8(w).is_ok_and(|s| registry::model::IdNumber::parse(s, today).is_ok()))
}

async fn audit_details(t: &TestApp, action: &str) -> Vec<String> {
    let (recs, _) = platform::audit::list(
        &t.platform.db,
        &platform::audit::Filter { action: Some(action.into()), ..Default::default() },
        &platform::Scope::new(vec![UnitCode::parse("5109").unwrap()]),
        100,
        0,
    )
    .await
    .unwrap();
    recs.into_iter().map(|r| format!("{}|{}|{}", r.actor, r.target, r.detail)).collect()
}

#[tokio::test]
async fn identifiers_are_encrypted_at_rest_and_masked_everywhere() {
    let t = TestApp::new().await.with_registers().await;
    let db = &t.platform.db;
    let (enc, masked): (String, String) =
        db.fetch_one(sql!("SELECT id_enc, id_masked FROM people WHERE id_enc IS NOT NULL ORDER BY id LIMIT 1")).await.unwrap();
    assert!(enc.starts_with("v1:") && !contains_full_id(&enc), "ciphertext, not the number");
    assert!(masked_id(&masked));
    let full = t.platform.cipher.decrypt(&enc).unwrap();
    assert_eq!((&full[..6], &full[14..]), (&masked[..6], &masked[14..]));
    t.user("worker", Role::CommunityStaff, COMMUNITY).await;
    let b = t.login("worker", None).await;
    let page = t.get(&b, "/registry/510903001001/people").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.matches("/registry/people/").count() >= 50, "a full page of residents");
    assert!(!contains_full_id(&page.body), "no unmasked ID on the list page");
    let api = t.get(&b, "/api/v1/registry/people?unit=510903001001&per_page=200").await;
    assert!(!contains_full_id(&api.body));
    assert!(masked_id(api.json()["items"][0]["id_masked"].as_str().unwrap()));
    for path in ["/registry/510903001001/people/export.csv", "/registry/510903001001/people/export.xlsx"] {
        let r = t.get(&b, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(!contains_full_id(&r.body), "{path} is masked");
    }
    assert!(audit_details(&t, "registry.export").await.len() == 2, "exports are audited");
}

#[tokio::test]
async fn unmasking_needs_a_purpose_and_leaves_an_audit_record_without_the_value() {
    let t = TestApp::new().await.with_registers().await;
    t.user("worker", Role::CommunityStaff, COMMUNITY).await;
    t.user("dept", Role::DepartmentStaff, "510903").await;
    let (pid, enc): (String, String) =
        t.platform.db.fetch_one(sql!("SELECT id, id_enc FROM people WHERE phone_enc IS NOT NULL ORDER BY id LIMIT 1")).await.unwrap();
    let full = t.platform.cipher.decrypt(&enc).unwrap();
    let mut b = t.login("worker", None).await;
    let detail = t.get(&b, &format!("/registry/people/{pid}")).await;
    assert!(!detail.body.contains(&full));
    let none = t.post(&mut b, &format!("/registry/people/{pid}/unmask"), &[("purpose", "")]).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    let idle = t.post(&mut b, &format!("/registry/people/{pid}/unmask"), &[("purpose", "好奇")]).await;
    assert_eq!(idle.status, StatusCode::BAD_REQUEST, "only the listed purposes");
    assert!(!idle.body.contains(&full));
    let r = t.post(&mut b, &format!("/registry/people/{pid}/unmask"), &[("purpose", "入户走访核实"), ("note", "核对住址")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(&full), "the full number is shown after a stated purpose");
    let api = t.post_json(&b, &format!("/api/v1/registry/people/{pid}/unmask"), serde_json::json!({"purpose": "应急联络"})).await.json();
    assert_eq!(api["id_number"], full.as_str());
    let recs = audit_details(&t, "registry.unmask").await;
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().any(|r| r.contains("worker") && r.contains("入户走访核实") && r.contains("核对住址")));
    assert!(recs.iter().all(|r| !r.contains(&full)), "the audit log names fields, never values");
    // A department account has no register access by role at all.
    let mut d = t.login("dept", None).await;
    assert_eq!(t.get(&d, "/registry/510903001001/people").await.status, StatusCode::FORBIDDEN);
    assert_eq!(t.post(&mut d, &format!("/registry/people/{pid}/unmask"), &[("purpose", "应急联络")]).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn registers_are_scoped_like_units() {
    let t = TestApp::new().await.with_registers().await;
    t.user("other", Role::CommunityStaff, "510903001002").await;
    t.user("county", Role::CountyStaff, "510904").await;
    let pid: (String,) = t.platform.db.fetch_one(sql!("SELECT id FROM people ORDER BY id LIMIT 1")).await.unwrap();
    for who in ["other", "county"] {
        let b = t.login(who, None).await;
        assert_eq!(t.get(&b, "/registry/510903001001/people").await.status, StatusCode::NOT_FOUND, "{who}");
        assert_eq!(t.get(&b, &format!("/registry/people/{}", pid.0)).await.status, StatusCode::NOT_FOUND, "{who}");
        assert_eq!(t.get(&b, "/api/v1/registry/people?unit=510903001001").await.status, StatusCode::NOT_FOUND, "{who}");
        assert_eq!(
            t.post_json(&b, &format!("/api/v1/registry/people/{}/unmask", pid.0), serde_json::json!({"purpose": "x"})).await.status,
            StatusCode::NOT_FOUND,
            "{who}"
        );
    }
    // The street above sees the community's residents.
    t.user("street", Role::TownshipStaff, "510903001").await;
    let b = t.login("street", None).await;
    assert_eq!(t.get(&b, &format!("/registry/people/{}", pid.0)).await.status, StatusCode::OK);
}

fn table(rows: &[&[&str]]) -> Table {
    let headers =
        ["姓名", "身份证号", "性别", "出生日期", "联系电话", "人口类别", "户号", "与户主关系", "小区", "楼栋", "单元", "房号", "地址", "标签", "迁入日期"]
            .map(String::from)
            .to_vec();
    Table { headers, rows: rows.iter().enumerate().map(|(i, r)| (i + 2, r.iter().map(|c| Cell::Text((*c).to_owned())).collect())).collect() }
}

#[tokio::test]
async fn a_roster_is_checked_row_by_row_then_written_all_at_once() {
    let t = TestApp::new().await.with_registers().await;
    let db = &t.platform.db;
    let unit = UnitCode::parse(COMMUNITY).unwrap();
    let compounds: HashMap<String, String> =
        geography::store::current_of_kind(db, &unit, &[geography::model::UnitKind::Compound]).await.unwrap().into_iter().map(|c| (c.name, c.code)).collect();
    let compound = compounds.keys().next().unwrap().clone();
    let a = make_id("510903", "19900501", 11);
    let b = make_id("510903", "19920802", 22);
    let shehong = make_id("510922", "19850612", 3);
    let mut bad_check = make_id("510903", "19900503", 31);
    bad_check.replace_range(17.., if bad_check.ends_with('0') { "1" } else { "0" });
    let feb30 = format!("51090319990230001{}", registry::model::check_char(b"51090319990230001"));
    let existing: (String,) = db.fetch_one(sql!("SELECT id_enc FROM people ORDER BY id LIMIT 1")).await.unwrap();
    let existing = t.platform.cipher.decrypt(&existing.0).unwrap();
    let rows: Vec<Vec<String>> = vec![
        vec![
            "王芳".into(),
            a.clone(),
            "男".into(),
            "".into(),
            "13812345678".into(),
            "户籍".into(),
            "A1".into(),
            "户主".into(),
            compound.clone(),
            "3".into(),
            "1".into(),
            "201".into(),
            "".into(),
            "独居老人、党员".into(),
            "".into(),
        ],
        vec![
            "李强".into(),
            b.clone(),
            "".into(),
            "".into(),
            "".into(),
            "流动".into(),
            "A1".into(),
            "配偶".into(),
            compound.clone(),
            "3".into(),
            "1".into(),
            "201".into(),
            "".into(),
            "".into(),
            "2024-03-01".into(),
        ],
        vec![
            "射洪人".into(),
            shehong.clone(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "和平东路12号".into(),
            "".into(),
            "".into(),
        ],
        vec![
            "错校验".into(),
            bad_check,
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
        ],
        vec![
            "二月三十".into(),
            feb30,
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
        ],
        vec![
            "短号".into(),
            "5109031990".into(),
            "".into(),
            "".into(),
            "123".into(),
            "".into(),
            "".into(),
            "".into(),
            "无此小区".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "贫困户".into(),
            "".into(),
        ],
        vec![
            "重复".into(),
            a.clone(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
        ],
        vec![
            "已登记".into(),
            existing,
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
        ],
        vec![
            "性别错".into(),
            make_id("510903", "19700101", 41),
            "女".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
        ],
    ];
    let refs: Vec<Vec<&str>> = rows.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
    let slices: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
    let before = db.scalar(sql!("SELECT COUNT(*) FROM people")).await.unwrap();
    let pv = import::check_roster(db, &t.platform.cipher, &unit, &compounds, &table(&slices), Date::parse("2026-11-25").unwrap()).await.unwrap();
    assert_eq!(pv.rows.len(), 3, "王芳, 李强 and the 射洪 510922 number pass");
    let errs: Vec<(usize, String, &str)> = pv.errors.iter().map(|e| (e.row.unwrap(), e.field.clone().unwrap(), e.code)).collect();
    for want in [
        (5, "身份证号", "registry.bad_id"),
        (6, "身份证号", "registry.bad_id"),
        (7, "身份证号", "registry.bad_id"),
        (7, "联系电话", "registry.bad_phone"),
        (7, "小区", "registry.unknown_compound"),
        (7, "标签", "registry.bad_tag"),
        (8, "身份证号", "registry.duplicate_in_file"),
        (9, "身份证号", "registry.duplicate_in_db"),
        (10, "性别", "registry.sex_mismatch"),
    ] {
        assert!(errs.contains(&(want.0, want.1.to_owned(), want.2)), "missing {want:?} in {errs:?}");
    }
    let msg = |row: usize| pv.errors.iter().filter(|e| e.row == Some(row)).map(|e| e.message.clone()).collect::<Vec<_>>().join(" ");
    assert!(msg(5).contains("校验码"), "{}", msg(5));
    assert!(msg(6).contains("1999-02-30"));
    assert!(msg(7).contains("18 位"));
    assert!(msg(8).contains("第 2 行"));
    assert_eq!(db.scalar(sql!("SELECT COUNT(*) FROM people")).await.unwrap(), before, "a dry run writes nothing");
    let progress = AtomicUsize::new(0);
    let n = import::commit_roster(db, &t.platform.cipher, t.platform.now(), &Actor::system(), &unit, &pv.rows, "roster.csv", &progress).await.unwrap();
    assert_eq!(n, 3);
    assert_eq!(progress.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert_eq!(db.scalar(sql!("SELECT COUNT(*) FROM people")).await.unwrap(), before + 3);
    // Found by ID number through the blind index; same household, same house; tags and sex derived.
    t.user("worker", Role::CommunityStaff, COMMUNITY).await;
    let br = t.login("worker", None).await;
    let found = t.get(&br, &format!("/api/v1/registry/people?unit={COMMUNITY}&q={a}")).await.json();
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["name"], "王芳");
    assert_eq!(found["items"][0]["sex"], "男");
    let tags: Vec<String> = found["items"][0]["tags"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(tags, vec!["党员", "独居老人"]);
    let pair: Vec<(Option<String>, Option<String>)> =
        db.fetch_all(sql!("SELECT household_id, house_id FROM people WHERE name IN ('王芳', '李强')")).await.unwrap();
    assert_eq!(pair.len(), 2);
    assert!(pair[0] == pair[1] && pair[0].0.is_some() && pair[0].1.is_some());
    let page = t.get(&br, &format!("/registry/people/{}", found["items"][0]["id"].as_str().unwrap())).await;
    assert!(page.body.contains("李强") && page.body.contains(&compound), "household members and compound on the person page");
    assert_eq!(audit_details(&t, "registry.import").await.len(), 1);
}

#[test]
fn files_are_recognised_by_content_and_limits_are_named() {
    let csv = "姓名,身份证号\n张三,11010519491231002X\n";
    let e = import::read_table(csv.as_bytes(), "roster.xlsx").unwrap_err();
    assert_eq!(e.code, "import.not_xlsx");
    let e = import::read_table(&[0xFF, 0xFE, b'a', 0], "roster.csv").unwrap_err();
    assert_eq!(e.code, "import.bad_encoding");
    let e = import::read_table(&vec![b'a'; import::MAX_FILE_BYTES + 1], "big.csv").unwrap_err();
    assert_eq!(e.code, "import.too_large");
    let (gbk, _, _) = encoding_rs::GBK.encode(csv);
    let t = import::read_table(&gbk, "roster.csv").unwrap();
    assert_eq!(t.headers, vec!["姓名", "身份证号"]);
    assert_eq!(t.rows[0].1[0], Cell::Text("张三".into()));
}

#[tokio::test]
async fn xlsx_rosters_import_and_numeric_id_cells_are_caught() {
    let t = TestApp::new().await;
    let unit = UnitCode::parse(COMMUNITY).unwrap();
    let id = make_id("510903", "19880808", 15);
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["姓名*", "身份证号*", "标签"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, "赵六").unwrap();
    ws.write_string(1, 1, &id).unwrap();
    ws.write_string(1, 2, "残疾人").unwrap();
    ws.write_string(2, 0, "钱七").unwrap();
    // Excel turned the ID into a number: the last digits are gone.
    ws.write_number(2, 1, 510903198808080210.0).unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    let table = import::read_table(&bytes, "名册.xlsx").unwrap();
    let pv = import::check_roster(&t.platform.db, &t.platform.cipher, &unit, &HashMap::new(), &table, Date::parse("2026-11-25").unwrap()).await.unwrap();
    assert_eq!(pv.rows.len(), 1);
    assert_eq!(pv.rows[0].id.as_str(), id);
    assert_eq!(pv.errors.len(), 1);
    assert!(pv.errors[0].message.contains("存成了数字"), "{}", pv.errors[0].message);
    assert_eq!(pv.errors[0].row, Some(3));
}

#[tokio::test]
async fn the_import_wizard_previews_then_commits_in_the_background() {
    let t = TestApp::new().await;
    t.user("worker", Role::CommunityStaff, COMMUNITY).await;
    let b = t.login("worker", None).await;
    let id = make_id("510903", "19750101", 21);
    let csv = format!("姓名*,身份证号*,标签\n孙八,{id},低保\n坏人,123,\n");
    let boundary = "XBOUNDARYX";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"roster.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    );
    let req = axum::http::Request::post(format!("/registry/{COMMUNITY}/import?_csrf={}", b.csrf))
        .header(axum::http::header::COOKIE, format!("jiceng_session={}", b.cookies[0].1))
        .header(axum::http::header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(axum::body::Body::from(body))
        .unwrap();
    let preview = t.send(req).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(preview.body.contains("data-testid=\"ok-count\">1<"));
    assert!(preview.body.contains("data-testid=\"error-count\">1<"));
    assert!(!preview.body.contains(&id), "the preview shows masked numbers only");
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM people")).await.unwrap(), 0);
    let batch = preview.body.split("/registry/imports/").nth(1).unwrap().split('/').next().unwrap().to_owned();
    let mut b2 = b.clone();
    let r = t.post(&mut b2, &format!("/registry/imports/{batch}/commit"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let mut state = String::new();
    for _ in 0..100 {
        let s = t.get(&b, &format!("/registry/imports/{batch}")).await;
        state = s.body.split("data-state=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        if state != "running" {
            assert!(s.body.contains("已导入 1 人"), "{}", s.body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(state, "done");
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM people")).await.unwrap(), 1);
    // Another user cannot see or commit this batch.
    t.user("other", Role::CommunityStaff, COMMUNITY).await;
    let o = t.login("other", None).await;
    assert_eq!(t.get(&o, &format!("/registry/imports/{batch}")).await.status, StatusCode::NOT_FOUND);
    // Templates download with the headers the importer reads.
    let tpl = t.get(&b, "/registry/template/people.csv").await;
    assert!(tpl.body.contains("姓名*,身份证号*"));
    let rows = import::read_table(tpl.body.as_bytes(), "t.csv").unwrap();
    let pv = import::check_roster(
        &t.platform.db,
        &t.platform.cipher,
        &UnitCode::parse(COMMUNITY).unwrap(),
        &HashMap::new(),
        &rows,
        Date::parse("2026-11-25").unwrap(),
    )
    .await
    .unwrap();
    assert!(pv.errors.is_empty(), "the template's example row is valid: {:?}", pv.errors);
    assert_eq!(t.get(&b, "/registry/template/people.xlsx").await.status, StatusCode::OK);
}

#[tokio::test]
async fn departments_read_only_what_their_sharing_list_allows() {
    let t = TestApp::new().await.with_registers().await;
    let sec = t.user("sec", Role::SecurityAdmin, "5109").await;
    t.user("civil", Role::DepartmentStaff, "510903").await;
    let token = t.token("civil").await;
    let denied = t.get_bearer(&token, "/api/v1/shared/people?unit=510903001001").await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.json()["code"], "sharing.denied");
    let mut admin = t.login("sec", sec.as_deref()).await;
    let body = "consumer=civil&register=people&fields=name_masked&fields=id_masked&fields=tags&unit=510903001001&purpose=%E6%B0%91%E6%94%BF%E6%A0%B8%E5%AF%B9%E4%BD%8E%E4%BF%9D%E5%AF%B9%E8%B1%A1";
    let req = axum::http::Request::post("/admin/sharing")
        .header(axum::http::header::COOKIE, format!("jiceng_session={}", admin.cookies[0].1))
        .header(axum::http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!("_csrf={}&{body}", admin.csrf)))
        .unwrap();
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("已为 civil 添加共享规则"));
    let bad = t.post(&mut admin, "/admin/sharing", &[("consumer", "civil"), ("register", "people"), ("unit", "510903001001"), ("purpose", "用途说明")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "no fields chosen");
    let shared = t.get_bearer(&token, "/api/v1/shared/people?unit=510903001001&per_page=20").await;
    assert_eq!(shared.status, StatusCode::OK, "{}", shared.body);
    let j = shared.json();
    let item = j["items"][0].as_object().unwrap();
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["id_masked", "name_masked", "tags"], "exactly the listed fields");
    assert!(!contains_full_id(&shared.body));
    // Outside the listed unit: denied.
    assert_eq!(t.get_bearer(&token, "/api/v1/shared/people?unit=510903001002").await.status, StatusCode::FORBIDDEN);
    let reads = audit_details(&t, "sharing.read").await;
    assert!(reads.iter().any(|r| r.starts_with("civil|") && r.contains("民政核对低保对象") && r.contains("name_masked,id_masked,tags")), "{reads:?}");
    // A rule listing the full ID number decrypts it for that consumer only.
    let mut tx = t.platform.db.begin().await.unwrap();
    registry::sharing::add_rule(
        &mut tx,
        t.platform.now(),
        &Actor::system(),
        "civil",
        "people",
        &["id_number".to_owned()],
        &UnitCode::parse(COMMUNITY).unwrap(),
        "公安户籍比对",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let full = t.get_bearer(&token, "/api/v1/shared/people?unit=510903001001&per_page=1").await.json();
    assert_eq!(full["items"][0]["id_number"].as_str().unwrap().len(), 18);
}

/// A full run of the binary — demo data, a roster import with errors, a served session — must not
/// write any ID number or phone to its logs, at the most verbose level.
#[test]
fn logs_of_a_full_run_never_contain_identifiers() {
    let dir = std::env::temp_dir().join(format!("jiceng-logs-{}", platform::db::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_jiceng");
    let run = |args: &[&str]| {
        std::process::Command::new(bin).current_dir(&dir).args(["--db", "l.db"]).args(args).env("JICENG_LOG", "trace").env_remove("JICENG_DB").output().unwrap()
    };
    let a = make_id("510903", "19600101", 51);
    let phone = "13900001111";
    std::fs::write(dir.join("r.csv"), format!("姓名*,身份证号*,联系电话\n甲,{a},{phone}\n乙,{a},{phone}\n丙,51090319600101052,1390000\n")).unwrap();
    let mut logs = String::new();
    for args in [vec!["demo", "--no-serve"], vec!["import", "people", "r.csv", "--unit", COMMUNITY, "--skip-invalid"]] {
        let out = run(&args);
        assert!(out.status.success(), "{:?}: {}", args, String::from_utf8_lossy(&out.stderr));
        logs.push_str(&String::from_utf8_lossy(&out.stdout));
        logs.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(logs.contains("已导入 1 人"), "{logs}");
    assert!(logs.contains("第 3 行"), "errors name rows: {logs}");
    assert!(!logs.contains(&a) && !logs.contains(phone) && !logs.contains("1390000"), "identifiers leaked into logs");
    assert!(!contains_full_id(&logs), "an ID number leaked into the logs");
}

#[tokio::test]
async fn staff_record_moving_out_and_edit_tags_and_can_undo() {
    let t = TestApp::new().await.with_registers().await;
    t.user("worker", Role::CommunityStaff, COMMUNITY).await;
    t.user("viewer", Role::CountyStaff, "510903").await;
    let (pid, name): (String, String) = t.platform.db.fetch_one(sql!("SELECT id, name FROM people ORDER BY id LIMIT 1")).await.unwrap();
    let mut b = t.login("worker", None).await;
    let before = t.get(&b, "/api/v1/registry/people?unit=510903001001").await.json()["total"].as_i64().unwrap();
    let r = t.post(&mut b, &format!("/registry/people/{pid}/status"), &[("kind", "迁出"), ("date", "2026-05-01")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(&format!("已登记 {name} 于 2026-05-01 迁出")));
    assert_eq!(t.get(&b, "/api/v1/registry/people?unit=510903001001").await.json()["total"].as_i64().unwrap(), before - 1, "lists hide people who left");
    let future = t.post(&mut b, &format!("/registry/people/{pid}/status"), &[("kind", "死亡"), ("date", "2099-01-01")]).await;
    assert_eq!(future.status, StatusCode::BAD_REQUEST);
    let undo = t.post(&mut b, &format!("/registry/people/{pid}/status"), &[("kind", "迁回")]).await;
    assert_eq!(undo.status, StatusCode::OK);
    assert_eq!(t.get(&b, "/api/v1/registry/people?unit=510903001001").await.json()["total"].as_i64().unwrap(), before);
    let r = t.post(&mut b, &format!("/registry/people/{pid}/tags"), &[("tags", "低保"), ("tags", "残疾人")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(registry::store::tags_of(&t.platform.db, &pid).await.unwrap(), vec!["低保", "残疾人"]);
    let bad = t.post(&mut b, &format!("/registry/people/{pid}/tags"), &[("tags", "贫困户")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(audit_details(&t, "registry.person_status").await.len(), 2);
    // County staff may read but not edit.
    let mut v = t.login("viewer", None).await;
    assert_eq!(t.post(&mut v, &format!("/registry/people/{pid}/tags"), &[("tags", "低保")]).await.status, StatusCode::FORBIDDEN);
}

fn text_table(csv: &str) -> Table {
    import::read_table(csv.as_bytes(), "x.csv").unwrap()
}

#[tokio::test]
async fn every_register_imports_with_the_same_checks() {
    let t = TestApp::new().await.with_registers().await;
    let db = &t.platform.db;
    let unit = UnitCode::parse(COMMUNITY).unwrap();
    let compounds: HashMap<String, String> =
        geography::store::current_of_kind(db, &unit, &[geography::model::UnitKind::Compound]).await.unwrap().into_iter().map(|c| (c.name, c.code)).collect();
    let compound = compounds.keys().next().unwrap().clone();
    let spec = |k| registry::simple_import::spec(k).unwrap();
    let cipher = &t.platform.cipher;
    let now = t.platform.now();

    // Organisations: a bad kind, a bad yes/no, a bad credit code are named; good rows land.
    let csv =
        "名称*,类型*,统一社会信用代码,认证社会企业,两新组织,党的工作覆盖\n遂宁市电江路老年协会,社会组织,,否,否,是\n某公司,公司,,,,\n某企业,企业,12345,也许,,\n";
    let pv = registry::simple_import::check(db, cipher, spec("organisations"), &unit, &compounds, &text_table(csv)).await.unwrap();
    assert_eq!(pv.rows.len(), 1);
    let errs: Vec<(usize, String, &str)> = pv.errors.iter().map(|e| (e.row.unwrap(), e.field.clone().unwrap(), e.code)).collect();
    assert_eq!(
        errs,
        vec![
            (3, "类型".into(), "import.bad_choice"),
            (4, "统一社会信用代码".into(), "import.bad_credit_code"),
            (4, "认证社会企业".into(), "import.bad_yes_no")
        ]
    );
    let before = db.scalar(sql!("SELECT COUNT(*) FROM organisations")).await.unwrap();
    registry::simple_import::commit(db, cipher, now, &Actor::system(), spec("organisations"), &unit, pv.rows, "orgs.csv").await.unwrap();
    assert_eq!(db.scalar(sql!("SELECT COUNT(*) FROM organisations")).await.unwrap(), before + 1);
    assert_eq!(db.scalar(sql!("SELECT party_work_covered FROM organisations WHERE name = '遂宁市电江路老年协会'")).await.unwrap(), 1);

    // Compounds: attributes replace what was there; unknown compound names are errors.
    let csv = format!("小区*,管理方式*,业委会,物业公司,建成年份,智能安防,党组织\n{compound},三无小区,否,,1995,否,是\n不存在的小区,物业管理,,,,,\n");
    let pv = registry::simple_import::check(db, cipher, spec("compounds"), &unit, &compounds, &text_table(&csv)).await.unwrap();
    assert_eq!((pv.rows.len(), pv.errors[0].code), (1, "registry.unknown_compound"));
    registry::simple_import::commit(db, cipher, now, &Actor::system(), spec("compounds"), &unit, pv.rows, "c.csv").await.unwrap();
    let info = registry::store::compound_info(db, &compounds[&compound]).await.unwrap().unwrap();
    assert_eq!((info.management.as_str(), info.built_year, info.party_org), ("三无小区", Some(1995), 1));
    assert!(info.is_old());

    // Vehicles: the owner is found by ID number among the unit's residents; plates are checked and unique.
    let (enc,): (String,) = db.fetch_one(sql!("SELECT id_enc FROM people ORDER BY id LIMIT 1")).await.unwrap();
    let owner = cipher.decrypt(&enc).unwrap();
    let csv = format!("号牌*,类型,车主身份证号\n川JZ99999,小型汽车,{owner}\nABC,小型汽车,\n川JZ99998,,510903199001010000\n川JZ99999,,\n");
    let pv = registry::simple_import::check(db, cipher, spec("vehicles"), &unit, &compounds, &text_table(&csv)).await.unwrap();
    let codes: Vec<&str> = pv.errors.iter().map(|e| e.code).collect();
    assert_eq!(codes, vec!["import.bad_plate", "import.unknown_owner", "import.duplicate_in_file"]);
    assert_eq!(pv.display[0].1[2], registry::model::mask_id(&owner), "the preview masks the owner's ID");
    registry::simple_import::commit(db, cipher, now, &Actor::system(), spec("vehicles"), &unit, pv.rows, "v.csv").await.unwrap();
    let pv = registry::simple_import::check(db, cipher, spec("vehicles"), &unit, &compounds, &text_table("号牌*\n川JZ99999\n")).await.unwrap();
    assert_eq!(pv.errors[0].code, "import.duplicate_in_db");

    // Workforce: phones are encrypted and masked like residents' phones.
    let csv = "姓名*,岗位*,职业资格,联系电话\n周社工,社会工作者,社会工作师,13987654321\n";
    let pv = registry::simple_import::check(db, cipher, spec("workforce"), &unit, &compounds, &text_table(csv)).await.unwrap();
    registry::simple_import::commit(db, cipher, now, &Actor::system(), spec("workforce"), &unit, pv.rows, "w.csv").await.unwrap();
    let (enc, masked): (String, String) = db.fetch_one(sql!("SELECT phone_enc, phone_masked FROM workforce WHERE name = '周社工'")).await.unwrap();
    assert_eq!((cipher.decrypt(&enc).unwrap().as_str(), masked.as_str()), ("13987654321", "139****4321"));

    // Missing required columns are a file-level error.
    let e = registry::simple_import::check(db, cipher, spec("facilities"), &unit, &compounds, &text_table("名称\nx\n")).await.unwrap_err();
    assert_eq!(e.code, "import.missing_columns");

    // Templates and pages are there for each register.
    t.user("worker", Role::CommunityStaff, COMMUNITY).await;
    let b = t.login("worker", None).await;
    for k in ["compounds", "vehicles", "organisations", "facilities", "workforce"] {
        assert_eq!(t.get(&b, &format!("/registry/{COMMUNITY}/{k}/import")).await.status, StatusCode::OK, "{k}");
        assert_eq!(t.get(&b, &format!("/registry/{COMMUNITY}/{k}")).await.status, StatusCode::OK, "{k}");
        let tpl = t.get(&b, &format!("/registry/template/{k}.csv")).await;
        let first = registry::simple_import::spec(k).unwrap().cols[0].header;
        assert!(tpl.body.contains(first), "{k} template");
        assert_eq!(t.get(&b, &format!("/registry/template/{k}.xlsx")).await.status, StatusCode::OK);
        assert!(!t.get(&b, &format!("/registry/{COMMUNITY}/{k}/export.csv")).await.body.contains("13987654321"));
    }
}
