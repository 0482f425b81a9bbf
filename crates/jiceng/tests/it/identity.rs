//! Integration tests for 实名认证: staff bind a resident's account to her register record on the
//! person page (refusals, scope, revoke and re-bind with history, audit without ID numbers), the
//! resident sees it on /me/identity, and app votes use the bound person only.

use axum::http::StatusCode;
use platform::audit::Actor;
use platform::auth::{self, Role};
use platform::db::Value;
use platform::scope::{Scope, UnitCode};
use platform::sql;

use crate::harness::{TestApp, make_id};

const COMMUNITY: &str = "510903001001";

/// Binds `username` to the person with ID number `idn`, as staff at the counter would (scope: the
/// person's own unit). Returns the person id.
pub async fn bind_by_id_number(t: &TestApp, username: &str, idn: &str) -> String {
    let index = t.platform.cipher.blind_index("id", idn);
    let (pid, unit): (String, String) = t
        .platform
        .db
        .fetch_optional(sql!("SELECT id, unit_code FROM people WHERE id_index = $1", index.as_str()))
        .await
        .unwrap()
        .expect("person with this ID number");
    let user = auth::find_account(&t.platform.db, username).await.unwrap().expect("account");
    let mut tx = t.platform.db.begin().await.unwrap();
    registry::identity::bind(&mut tx, t.platform.now(), &Actor::system(), &Scope::new(vec![UnitCode::parse(&unit).unwrap()]), &user.id, &pid).await.unwrap();
    tx.commit().await.unwrap();
    pid
}

/// Adds one living person to the community's register; returns (person id, ID number).
pub async fn add_person(t: &TestApp, name: &str, birth: &str, seq: u32) -> (String, String) {
    let idn = make_id("510903", &birth.replace('-', ""), seq);
    let pid = platform::db::new_id();
    let cipher = &t.platform.cipher;
    let now = t.platform.now();
    let row: Vec<Value> = vec![
        Value::from(pid.as_str()),
        COMMUNITY.into(),
        name.into(),
        cipher.encrypt(&idn).into(),
        cipher.blind_index("id", &idn).into(),
        registry::model::mask_id(&idn).into(),
        "女".into(),
        birth.into(),
        Value::Text(None),
        Value::Text(None),
        Value::Text(None),
        "户籍".into(),
        Value::Text(None),
        Value::Text(None),
        Value::Text(None),
        Value::Text(None),
        false.into(),
        now.into(),
        now.into(),
    ];
    let mut tx = t.platform.db.begin().await.unwrap();
    registry::store::bulk_insert(&mut tx, "people", &registry::store::PEOPLE_COLUMNS, vec![row]).await.unwrap();
    tx.commit().await.unwrap();
    (pid, idn)
}

fn alert_code(html: &str) -> String {
    html.split("data-code=\"").nth(1).map(|s| s.split('"').next().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn staff_bind_at_the_counter_with_refusals_revoke_and_rebind() {
    let t = TestApp::new().await;
    let (a, a_idn) = add_person(&t, "张三丰", "1970-03-04", 21).await;
    let (b, b_idn) = add_person(&t, "李四", "1980-05-06", 22).await;
    let (gone, _) = add_person(&t, "王五", "1940-01-01", 23).await;
    t.user("community", Role::CommunityStaff, COMMUNITY).await;
    t.user("far", Role::CommunityStaff, "510904001001").await;
    t.user("resident", Role::Resident, COMMUNITY).await;
    t.user("neighbour", Role::Resident, COMMUNITY).await;
    t.user("sysadmin", Role::SystemAdmin, "5109").await;
    let mut staff = t.login("community", None).await;
    let bind_path = format!("/registry/people/{a}/identity");

    // The card offers the binding form with the in-person check.
    let page = t.get(&staff, &format!("/registry/people/{a}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("data-testid=\"identity-bind\""), "{}", page.body);
    assert!(page.body.contains("已当面核验居民身份证原件"));

    // Refusals: no in-person check, unknown account, an administrator's account.
    let r = t.post(&mut staff, &bind_path, &[("username", "resident")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(alert_code(&r.body), "identity.not_verified");
    let r = t.post(&mut staff, &bind_path, &[("username", "nobody"), ("confirmed", "1")]).await;
    assert_eq!(alert_code(&r.body), "identity.unknown_account");
    let r = t.post(&mut staff, &bind_path, &[("username", "sysadmin"), ("confirmed", "1")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(alert_code(&r.body), "identity.admin_account");

    // A resident cannot bind herself; staff of another community do not see the person at all.
    let mut me = t.login("resident", None).await;
    assert_eq!(t.post(&mut me, &bind_path, &[("username", "resident"), ("confirmed", "1")]).await.status, StatusCode::FORBIDDEN);
    let mut far = t.login("far", None).await;
    assert_eq!(t.post(&mut far, &bind_path, &[("username", "resident"), ("confirmed", "1")]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.post(&mut far, &bind_path, &[("username", "resident")]).await.status, StatusCode::NOT_FOUND);
    let mine = t.get(&me, "/me/identity").await;
    assert!(mine.body.contains("尚未实名认证：请携带身份证到社区窗口办理"), "{}", mine.body);

    // Bound.
    let r = t.post(&mut staff, &bind_path, &[("username", "resident"), ("confirmed", "1")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("已绑定账户 <strong>resident</strong>"), "{}", r.body);
    let mine = t.get(&me, "/me/identity").await;
    let today = platform::clock::Date::of_instant(t.platform.now());
    assert!(
        mine.body.contains(&format!("已实名认证：张**（{}），电江路社区居委会，{today} 由 community 核验", registry::model::mask_id(&a_idn))),
        "{}",
        mine.body
    );
    assert!(!mine.body.contains(&a_idn), "never the full ID number");

    // One person per account and one account per person.
    let r = t.post(&mut staff, &format!("/registry/people/{b}/identity"), &[("username", "resident"), ("confirmed", "1")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(alert_code(&r.body), "identity.account_bound");
    let r = t.post(&mut staff, &bind_path, &[("username", "neighbour"), ("confirmed", "1")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(alert_code(&r.body), "identity.person_bound");

    // People who died or moved out cannot be bound.
    let r = t.post(&mut staff, &format!("/registry/people/{gone}/status"), &[("kind", "死亡"), ("date", "2026-05-01")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = t.post(&mut staff, &format!("/registry/people/{gone}/identity"), &[("username", "neighbour"), ("confirmed", "1")]).await;
    assert_eq!(alert_code(&r.body), "identity.person_left");

    // Revoke needs a reason, and out-of-scope staff cannot revoke.
    let revoke_path = format!("/registry/people/{a}/identity/revoke");
    assert_eq!(t.post(&mut far, &revoke_path, &[("reason", "x")]).await.status, StatusCode::NOT_FOUND);
    let r = t.post(&mut staff, &revoke_path, &[("reason", " ")]).await;
    assert_eq!(alert_code(&r.body), "identity.reason_required");
    // The reason is audited, so it may not carry an ID or phone number.
    let r = t.post(&mut staff, &revoke_path, &[("reason", "应为 510903199001011234 本人")]).await;
    assert_eq!(alert_code(&r.body), "identity.reason_has_number");
    t.clock.advance(platform::clock::DAY);
    // A day later (sessions have expired): sign in again.
    let mut staff = t.login("community", None).await;
    let me = t.login("resident", None).await;
    let r = t.post(&mut staff, &revoke_path, &[("reason", "绑定错误")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("data-testid=\"identity-bind\""));
    let tomorrow = platform::clock::Date::of_instant(t.platform.now());
    assert!(r.body.contains(&format!("{today} 由 community 绑定，{tomorrow} 由 community 解除（绑定错误）")), "{}", r.body);
    assert!(t.get(&me, "/me/identity").await.body.contains("尚未实名认证"));
    let r = t.post(&mut staff, &revoke_path, &[("reason", "再次")]).await;
    assert_eq!(alert_code(&r.body), "identity.not_bound");

    // Re-bind both ways: the account to B, A to the neighbour; history is kept.
    let r = t.post(&mut staff, &format!("/registry/people/{b}/identity"), &[("username", "resident"), ("confirmed", "1")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = t.post(&mut staff, &bind_path, &[("username", "neighbour"), ("confirmed", "1")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let rows: i64 = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM account_people")).await.unwrap();
    assert_eq!(rows, 3, "the revoked binding stays");
    let resident_id = auth::find_account(&t.platform.db, "resident").await.unwrap().unwrap().id;
    let now_bound = registry::identity::person_of_account(&t.platform.db, &resident_id).await.unwrap().unwrap();
    assert_eq!(now_bound.id, b);
    assert_eq!(now_bound.name, "李四");

    // Every binding and revocation is audited, never with an ID number.
    let audit: Vec<(String, String)> =
        t.platform.db.fetch_all(sql!("SELECT action, detail FROM audit_log WHERE action LIKE 'registry.identity%' ORDER BY seq")).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["registry.identity_bind", "registry.identity_revoke", "registry.identity_bind", "registry.identity_bind"]);
    assert!(audit[0].1.contains("account=resident") && audit[1].1.contains("绑定错误"), "{audit:?}");
    for (_, d) in &audit {
        assert!(!d.contains(&a_idn) && !d.contains(&b_idn), "no ID number in the audit: {d}");
    }
}

#[tokio::test]
async fn app_votes_use_the_bound_person_only() {
    let t = TestApp::new().await;
    let (compound, ids) = crate::consultation::small_compound(&t).await;
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    t.user("owner-a", Role::Resident, COMMUNITY).await;
    t.user("unverified", Role::Resident, COMMUNITY).await;
    bind_by_id_number(&t, "owner-a", &ids[0]).await;
    let mut staff = t.login("staff", None).await;
    let id = crate::consultation::create_owner_ballot(&t, &mut staff, &compound).await;
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/open"), &[]).await;
    let qs = crate::consultation::ordered_questions(&r.body);
    let path = format!("/consultation/ballots/{id}/vote");
    let yes: Vec<(String, String)> = qs.iter().map(|q| (format!("q_{q}"), "yes".to_owned())).collect();
    let form = |extra: &[(&str, &str)]| {
        let mut f: Vec<(String, String)> = vec![("channel".into(), "app".into())];
        f.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        f.extend(yes.iter().cloned());
        f
    };
    let as_refs = |f: &Vec<(String, String)>| f.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>();

    // An unverified account is told to get verified, even when it types an owner's ID number.
    let mut u = t.login("unverified", None).await;
    let page = t.get(&u, &format!("/consultation/ballots/{id}")).await;
    assert!(page.body.contains("请先到社区窗口完成实名认证后再投票"), "{}", page.body);
    assert!(!page.body.contains("data-testid=\"vote-app\""));
    let f = as_refs(&form(&[("id_number", &ids[1])]));
    let fr: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = t.post(&mut u, &path, &fr).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body.split("data-code=\"").nth(1).unwrap().split('"').next().unwrap(), "ballot.identity_required");

    // The bound owner sees whom she votes as; a typed ID number of another owner is ignored.
    let mut a = t.login("owner-a", None).await;
    let page = t.get(&a, &format!("/consultation/ballots/{id}")).await;
    assert!(page.body.contains("以实名认证身份投票：业主甲"), "{}", page.body);
    assert!(!page.body.contains("本人身份证号"), "no typed ID number for app votes");
    let f = as_refs(&form(&[("id_number", &ids[1])]));
    let fr: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = t.post(&mut a, &path, &fr).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("业主甲的选票已记录（手机投票）"), "{}", r.body);
    let roll = t.get(&staff, &format!("/consultation/ballots/{id}")).await;
    let row_b = roll.body.split("<tr data-seq=\"").skip(1).find(|r| r.contains("业主乙")).unwrap().split("</tr>").next().unwrap().to_owned();
    assert!(!row_b.contains("已投"), "B has not voted: {row_b}");
    // Once only.
    let r = t.post(&mut a, &path, &fr).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("ballot.already_voted"));
    let voters: i64 = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM ballot_voters WHERE ballot_id = $1", id.as_str())).await.unwrap();
    assert_eq!(voters, 1);

    // Staff cannot use the app channel with a voter's ID number either: that is the booth.
    let f = as_refs(&form(&[("id_number", &ids[2])]));
    let fr: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = t.post(&mut staff, &path, &fr).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("ballot.identity_required"));
}
