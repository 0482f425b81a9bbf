//! Integration tests for the volunteers slice: registration against the register, activities with
//! signed check-in codes, statutory records with the publication window, the time bank and the
//! points bank as one double-entry ledger — including parallel spends on both engines.

use axum::http::StatusCode;
use platform::auth::{self, Grant, Principal, Role, Via};
use platform::clock::{DAY, HOUR, MINUTE};
use platform::scope::UnitCode;
use platform::sql;
use volunteers::model::{AccountKind, Currency, HouseholdSpend, Payer, ScanAction, TransferKind};
use volunteers::service::{self, Claim, NewActivity, Registration};
use volunteers::store;

use crate::harness::TestApp;

const COMMUNITY: &str = "510903001001";

async fn principal(t: &TestApp, name: &str, role: Role, unit: &str) -> Principal {
    t.user(name, role, unit).await;
    let acct = auth::find_account(&t.platform.db, name).await.unwrap().unwrap();
    Principal {
        user_id: acct.id,
        username: name.into(),
        display_name: name.into(),
        home_unit: UnitCode::parse(unit).unwrap(),
        grants: vec![Grant { role, unit: UnitCode::parse(unit).unwrap() }],
        via: Via::Session,
        csrf: String::new(),
        client_addr: "test".into(),
    }
}

/// (name, ID number, person id, household id) of living people in the community born in [from, to].
async fn people(t: &TestApp, from: &str, to: &str, n: i64) -> Vec<(String, String, String, String)> {
    let rows: Vec<(String, String, String, Option<String>)> = t
        .platform
        .db
        .fetch_all(sql!(
            "SELECT name, id_enc, id, household_id FROM people WHERE unit_code LIKE '510903001001%' AND moved_out IS NULL AND deceased IS NULL AND id_enc IS NOT NULL AND birth_date >= $1 AND birth_date <= $2 ORDER BY id LIMIT $3",
            from,
            to,
            n
        ))
        .await
        .unwrap();
    rows.into_iter().map(|(name, enc, id, hh)| (name, t.platform.cipher.decrypt(&enc).unwrap(), id, hh.unwrap_or_default())).collect()
}

fn reg(name: &str, id: &str) -> Registration {
    Registration {
        name: name.into(),
        id_number: id.into(),
        phone: "13800138000".into(),
        skills: "助老、读报".into(),
        availability: "周末".into(),
        ..Default::default()
    }
}

/// Self-registration as the person with the typed ID number: the account is first bound to her
/// at the counter (实名认证), as the slice now requires.
async fn register_bound(t: &TestApp, me: &Principal, r: &Registration) -> platform::AppResult<store::VolunteerRow> {
    if registry::identity::person_of_account(&t.platform.db, &me.user_id).await.unwrap().is_none() {
        crate::identity::bind_by_id_number(t, &me.username, &r.id_number).await;
    }
    service::register(&t.platform, me, r).await
}

async fn setup() -> TestApp {
    TestApp::new().await.with_registers().await
}

/// A community team and an activity running now for two hours.
async fn activity(t: &TestApp, staff: &Principal, quota: i64) -> String {
    let org = match store::orgs(&t.platform.db, &platform::Scope::new(vec![UnitCode::parse(COMMUNITY).unwrap()]))
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.kind == "team")
    {
        Some(o) => o.id,
        None => service::create_org(&t.platform, staff, COMMUNITY, "电江路志愿服务队", "team", None, "0825-1234567").await.unwrap(),
    };
    let now = t.platform.now();
    service::create_activity(
        &t.platform,
        staff,
        &NewActivity {
            org_id: org,
            title: "周末助老".into(),
            description: "陪老人读报".into(),
            place: "社区活动室".into(),
            starts_ms: now,
            ends_ms: now + 4 * HOUR,
            quota,
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn registration_checks_the_register_and_never_twice() {
    let t = setup().await;
    let who = people(&t, "1950-01-01", "1960-12-31", 2).await;
    let me = principal(&t, "teacher", Role::Resident, COMMUNITY).await;
    let other = principal(&t, "other", Role::Resident, COMMUNITY).await;
    let staff = principal(&t, "office", Role::CommunityStaff, COMMUNITY).await;
    let (name, id, _, _) = &who[0];
    // An account not verified at the counter (实名认证) cannot register, whatever it types.
    assert_eq!(service::register(&t.platform, &me, &reg(name, id)).await.unwrap_err().code, "volunteer.identity_required");
    // Staff registering a resident at the counter: wrong name, bad check digit.
    assert_eq!(service::register_assisted(&t.platform, &staff, &reg("某某某", id)).await.unwrap_err().code, "volunteer.name_mismatch");
    let mut bad = id.clone();
    bad.replace_range(17..18, if &id[17..18] == "0" { "1" } else { "0" });
    assert_eq!(service::register_assisted(&t.platform, &staff, &reg(name, &bad)).await.unwrap_err().code, "person.bad_id");
    // Verified, she registers as her register record: typed name and ID are not used.
    crate::identity::bind_by_id_number(&t, "teacher", id).await;
    let v = service::register(&t.platform, &me, &reg("某某某", &bad)).await.unwrap();
    assert!(v.volunteer_no.starts_with("ZY510903"));
    assert_eq!(&v.name, name);
    // The same person again at the counter, and the same account again.
    assert_eq!(service::register_assisted(&t.platform, &staff, &reg(name, id)).await.unwrap_err().code, "volunteer.duplicate");
    assert_eq!(service::register(&t.platform, &other, &reg(name, id)).await.unwrap_err().code, "volunteer.identity_required");
    assert_eq!(service::register(&t.platform, &me, &reg(&who[1].0, &who[1].1)).await.unwrap_err().code, "volunteer.already_registered");
    // Someone outside the resident's community is not in "the register" for them.
    let far = principal(&t, "far", Role::Resident, "510904001001").await;
    crate::identity::bind_by_id_number(&t, "far", &who[1].1).await;
    assert_eq!(service::register(&t.platform, &far, &reg(&who[1].0, &who[1].1)).await.unwrap_err().code, "volunteer.not_in_register");
    // Minors need a guardian's consent.
    let kid = people(&t, &format!("{}-01-01", 2026 - 17), &format!("{}-12-31", 2026 - 15), 1).await;
    if let Some((kn, kid_id, _, _)) = kid.first() {
        let k = principal(&t, "kid", Role::Resident, COMMUNITY).await;
        assert_eq!(register_bound(&t, &k, &reg(kn, kid_id)).await.unwrap_err().code, "volunteer.guardian_needed");
        let mut r = reg(kn, kid_id);
        r.guardian_name = "家长".into();
        r.guardian_consent = true;
        register_bound(&t, &k, &r).await.unwrap();
    }
    // Welcome hours were credited once through the ledger.
    let acct = store::find_account(&t.platform.db, Currency::Minutes, AccountKind::Person, &v.person_id).await.unwrap().unwrap();
    assert_eq!(acct.balance, 120);
    assert!(store::check_ledger(&t.platform.db).await.unwrap().is_empty());
    // T06 counts registered volunteers against the population.
    let rate = service::registration_rate(&t.platform.db, &UnitCode::parse(COMMUNITY).unwrap()).await.unwrap();
    assert!(rate.numerator >= 1 && rate.denominator > 100 && rate.value < 0.2, "{rate:?}");
}

#[tokio::test]
async fn scan_confirm_publish_deposit_and_correct() {
    let t = setup().await;
    let staff = principal(&t, "office", Role::CommunityStaff, COMMUNITY).await;
    let me = principal(&t, "teacher", Role::Resident, COMMUNITY).await;
    let who = people(&t, "1950-01-01", "1960-12-31", 1).await;
    let v = register_bound(&t, &me, &reg(&who[0].0, &who[0].1)).await.unwrap();
    let a = activity(&t, &staff, 1).await;
    // Check-in needs a sign-up; the quota is 1.
    let cin = service::scan_code(&t.platform, &a, ScanAction::CheckIn);
    assert_eq!(service::scan(&t.platform, &me, &cin).await.unwrap_err().code, "scan.not_signed_up");
    service::sign_up(&t.platform, &me, &a).await.unwrap();
    assert_eq!(service::sign_up(&t.platform, &me, &a).await.unwrap_err().code, "signup.duplicate");
    let late = principal(&t, "late", Role::Resident, COMMUNITY).await;
    let w2 = people(&t, "1961-01-01", "1970-12-31", 1).await;
    register_bound(&t, &late, &reg(&w2[0].0, &w2[0].1)).await.unwrap();
    assert_eq!(service::sign_up(&t.platform, &late, &a).await.unwrap_err().code, "activity.full");
    // Check-out before check-in; forged and expired codes.
    let cout = service::scan_code(&t.platform, &a, ScanAction::CheckOut);
    assert_eq!(service::scan(&t.platform, &me, &cout).await.unwrap_err().code, "scan.out_before_in");
    assert_eq!(service::scan(&t.platform, &me, &cin.replace(".in.", ".out.")).await.unwrap_err().code, "scan.forged");
    t.clock.advance(11 * MINUTE);
    assert_eq!(service::scan(&t.platform, &me, &cin).await.unwrap_err().code, "scan.expired");
    let cin = service::scan_code(&t.platform, &a, ScanAction::CheckIn);
    service::scan(&t.platform, &me, &cin).await.unwrap();
    assert_eq!(service::scan(&t.platform, &me, &cin).await.unwrap_err().code, "scan.already_in");
    t.clock.advance(2 * HOUR + 30 * 1000);
    let out = service::scan(&t.platform, &me, &service::scan_code(&t.platform, &a, ScanAction::CheckOut)).await.unwrap();
    assert_eq!(out.minutes, Some(120));
    let rid = out.record_id.unwrap();
    // Pending records cannot be deposited; the organiser may lower but not raise the minutes.
    assert_eq!(service::deposit(&t.platform, &me, &rid).await.unwrap_err().code, "timebank.not_final");
    assert_eq!(service::confirm(&t.platform, &staff, &rid, true, Some(121), "").await.unwrap_err().code, "record.bad_minutes");
    service::confirm(&t.platform, &staff, &rid, true, Some(110), "").await.unwrap();
    assert_eq!(service::deposit(&t.platform, &me, &rid).await.unwrap_err().code, "timebank.not_final", "published is not final");
    // An objection stops the window; dismissing it publishes again.
    service::object(&t.platform, &late, &rid, "签退时我看到他已经离开").await.unwrap();
    service::resolve(&t.platform, &staff, &rid, false, "经核实无误").await.unwrap();
    t.clock.advance(6 * DAY);
    let r = store::record(&t.platform.db, &rid).await.unwrap().unwrap();
    assert_eq!(r.state_at(t.platform.now()), volunteers::model::RecordState::Final);
    service::deposit(&t.platform, &me, &rid).await.unwrap();
    assert_eq!(service::deposit(&t.platform, &me, &rid).await.unwrap_err().code, "timebank.already_deposited");
    let acct = store::find_account(&t.platform.db, Currency::Minutes, AccountKind::Person, &v.person_id).await.unwrap().unwrap();
    assert_eq!(acct.balance, 120 + 110);
    // A final record is corrected by a compensating record and a compensating ledger entry.
    assert_eq!(service::correct(&t.platform, &staff, &rid, 30, "多记").await.unwrap_err().code, "record.bad_correction");
    service::correct(&t.platform, &staff, &rid, -20, "中途离开 20 分钟").await.unwrap();
    let acct = store::find_account(&t.platform.db, Currency::Minutes, AccountKind::Person, &v.person_id).await.unwrap().unwrap();
    assert_eq!(acct.balance, 120 + 90);
    assert_eq!(store::final_minutes(&t.platform.db, &v.id, t.platform.now()).await.unwrap(), 90);
    let original = store::record(&t.platform.db, &rid).await.unwrap().unwrap();
    assert_eq!(original.minutes, 110, "history is never edited");
    assert!(store::check_ledger(&t.platform.db).await.unwrap().is_empty());
    // A proof with a certificate number.
    let no = service::issue_proof(&t.platform, &me, None).await.unwrap();
    assert_eq!(store::proof(&t.platform.db, &no).await.unwrap().unwrap().minutes, 90);
    // Overlapping time cannot be recorded twice.
    let a2 = activity(&t, &staff, 5).await;
    service::sign_up(&t.platform, &me, &a2).await.unwrap();
    t.platform.db.execute(sql!("UPDATE vol_signups SET checkin_ms = $1 WHERE activity_id = $2", original.started_ms + MINUTE, a2.as_str())).await.unwrap();
    assert_eq!(service::scan(&t.platform, &me, &service::scan_code(&t.platform, &a2, ScanAction::CheckOut)).await.unwrap_err().code, "record.overlap");
}

#[tokio::test]
async fn time_bank_caps_unlock_gifts_and_exchange() {
    let t = setup().await;
    let city = principal(&t, "city", Role::CityStaff, "5109").await;
    let staff = principal(&t, "office", Role::CommunityStaff, COMMUNITY).await;
    let young = people(&t, "1980-01-01", "1990-12-31", 1).await;
    let old = people(&t, "1950-01-01", "1960-12-31", 2).await;
    let y = principal(&t, "young", Role::Resident, COMMUNITY).await;
    let o = principal(&t, "old", Role::Resident, COMMUNITY).await;
    register_bound(&t, &y, &reg(&young[0].0, &young[0].1)).await.unwrap();
    register_bound(&t, &o, &reg(&old[0].0, &old[0].1)).await.unwrap();
    // A service in another county is open to the whole city (通存通兑).
    let meal = service::add_service(&t.platform, &city, "510904", "上门助餐", 60).await.unwrap();
    // Before unlock: the young volunteer has hours but is neither 60 nor at 100 h.
    assert_eq!(service::redeem(&t.platform, &y, &meal, None).await.unwrap_err().code, "timebank.locked");
    service::redeem(&t.platform, &o, &meal, None).await.unwrap();
    service::redeem(&t.platform, &o, &meal, None).await.unwrap();
    assert_eq!(service::redeem(&t.platform, &o, &meal, None).await.unwrap_err().code, "ledger.insufficient");
    // A retried form with the same key is the same redemption.
    let k1 = service::redeem(&t.platform, &y, &meal, Some("k")).await;
    assert!(k1.is_err());
    // Gifts go only to named relatives, never beyond the balance.
    assert_eq!(service::add_relative(&t.platform, &y, "不对", &old[1].1, "母亲").await.unwrap_err().code, "relative.not_found");
    service::add_relative(&t.platform, &y, &old[1].0, &old[1].1, "母亲").await.unwrap();
    let rel = store::relatives_of(&t.platform.db, &service::me_volunteer(&t.platform, &y).await.unwrap().id).await.unwrap();
    assert_eq!(service::give(&t.platform, &y, Some(&rel[0].id), 121).await.unwrap_err().code, "ledger.insufficient");
    service::give(&t.platform, &y, Some(&rel[0].id), 60).await.unwrap();
    service::give(&t.platform, &y, None, 30).await.unwrap();
    let mother = store::find_account(&t.platform.db, Currency::Minutes, AccountKind::Person, &old[1].2).await.unwrap().unwrap();
    assert_eq!(mother.balance, 60);
    // The pool gives only what was donated (30 minutes), to someone named in the register.
    assert_eq!(service::grant_from_pool(&t.platform, &staff, &old[1].0, &old[1].1, 31, "独居高龄").await.unwrap_err().code, "ledger.insufficient");
    assert_eq!(service::grant_from_pool(&t.platform, &staff, "不对", &old[1].1, 10, "独居高龄").await.unwrap_err().code, "relative.not_found");
    service::grant_from_pool(&t.platform, &staff, &old[1].0, &old[1].1, 30, "独居高龄").await.unwrap();
    assert_eq!(service::pool_balance(&t.platform, "510903").await.unwrap(), 0);
    let mother = store::find_account(&t.platform.db, Currency::Minutes, AccountKind::Person, &old[1].2).await.unwrap().unwrap();
    assert_eq!(mother.balance, 90);
    // Daily cap from the Shanghai preset.
    let mut sh = volunteers::model::TimeBankConfig::preset("shanghai").unwrap();
    sh.welcome = 0;
    service::set_config(&t.platform, &city, "510903", &sh, &Default::default()).await.unwrap();
    let a = activity(&t, &staff, 5).await;
    service::sign_up(&t.platform, &y, &a).await.unwrap();
    service::scan(&t.platform, &y, &service::scan_code(&t.platform, &a, ScanAction::CheckIn)).await.unwrap();
    t.clock.advance(3 * HOUR);
    let r = service::scan(&t.platform, &y, &service::scan_code(&t.platform, &a, ScanAction::CheckOut)).await.unwrap().record_id.unwrap();
    service::confirm(&t.platform, &staff, &r, true, None, "").await.unwrap();
    t.clock.advance(8 * DAY);
    let before = store::check_ledger(&t.platform.db).await.unwrap();
    assert_eq!(service::deposit(&t.platform, &y, &r).await.unwrap_err().code, "timebank.daily_cap");
    assert!(before.is_empty() && store::check_ledger(&t.platform.db).await.unwrap().is_empty());
    let n: i64 = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM ledger_transfers WHERE kind = 'deposit'")).await.unwrap();
    assert_eq!(n, 0, "a refused deposit writes nothing");
}

#[tokio::test]
async fn parallel_redemptions_never_spend_twice() {
    let t = setup().await;
    let city = principal(&t, "city", Role::CityStaff, "5109").await;
    let staff = principal(&t, "office", Role::CommunityStaff, COMMUNITY).await;
    let old = people(&t, "1950-01-01", "1960-12-31", 1).await;
    let o = principal(&t, "old", Role::Resident, COMMUNITY).await;
    let v = register_bound(&t, &o, &reg(&old[0].0, &old[0].1)).await.unwrap();
    let meal = service::add_service(&t.platform, &city, "510903", "助浴", 50).await.unwrap();
    // 120 welcome minutes, 8 parallel redemptions of 50: exactly two can succeed.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (p, me, m) = (t.platform.clone(), o.clone(), meal.clone());
        tasks.push(tokio::spawn(async move { service::redeem(&p, &me, &m, None).await }));
    }
    let mut ok = 0;
    for h in tasks {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code, "ledger.insufficient", "{e}"),
        }
    }
    assert_eq!(ok, 2);
    let acct = store::find_account(&t.platform.db, Currency::Minutes, AccountKind::Person, &v.person_id).await.unwrap().unwrap();
    assert_eq!(acct.balance, 20);
    assert!(store::check_ledger(&t.platform.db).await.unwrap().is_empty());

    // Points: a household with 100 points, an item of 60 with stock 5; 6 parallel tries → one.
    // Any member may spend the household's points here (the test person need not be 户主).
    let rules =
        service::draft_rules_with(&t.platform, &staff, COMMUNITY, "L01,垃圾分类达标,+50,检查记录\nL02,乱扔垃圾,-10", HouseholdSpend::Members).await.unwrap();
    service::approve_rules(&t.platform, &staff, &rules, "2026年5月村民代表会议第3号决议").await.unwrap();
    let checker = principal(&t, "checker", Role::TownshipStaff, "510903001").await;
    let hh = &old[0].3;
    for i in 0..2 {
        let id = service::submit_award(
            &t.platform,
            &staff,
            &Claim {
                person_id: None,
                household_id: hh,
                rule_code: "L01",
                source: "inspection",
                evidence: "入户检查",
                idem_key: Some(&format!("k{i}")),
                occurred_ms: t.platform.now(),
            },
        )
        .await
        .unwrap();
        service::decide_award(&t.platform, &staff, &id, true).await.unwrap();
        service::decide_award(&t.platform, &checker, &id, true).await.unwrap();
    }
    let item = service::add_item(&t.platform, &staff, COMMUNITY, "洗衣液", 60, 5).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (p, me, i) = (t.platform.clone(), o.clone(), item.clone());
        tasks.push(tokio::spawn(async move { service::redeem_item(&p, &me, &i, Payer::Household).await }));
    }
    let mut ok = 0;
    for h in tasks {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code, "ledger.insufficient", "{e}"),
        }
    }
    assert_eq!(ok, 1);
    let (stock,): (i64,) = t.platform.db.fetch_one(sql!("SELECT stock FROM pb_items WHERE id = $1", item.as_str())).await.unwrap();
    assert_eq!(stock, 4, "stock taken only by the redemption that was paid");
    assert!(store::check_ledger(&t.platform.db).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_transfer_that_fails_midway_leaves_neither_movement() {
    let t = setup().await;
    let now = t.platform.now();
    let mut tx = t.platform.db.begin().await.unwrap();
    let a = store::account(&mut tx, Currency::Minutes, AccountKind::Issuer, "510903", "510903", now).await.unwrap();
    let b = store::account(&mut tx, Currency::Minutes, AccountKind::Person, "p-1", COMMUNITY, now).await.unwrap();
    tx.commit().await.unwrap();
    // The credit side does not exist: the debit already ran when the insert fails.
    let mut ghost = b.clone();
    ghost.id = "no-such-account".into();
    let mut tx = t.platform.db.begin().await.unwrap();
    let r = store::post(
        &mut tx,
        &store::NewTransfer {
            currency: Currency::Minutes,
            kind: TransferKind::Deposit,
            from: &a,
            to: &ghost,
            amount: 60,
            floor: None,
            reason: "x",
            ref_id: None,
            corrects_id: None,
            service_day: None,
            idem_key: None,
            actor: "test",
            now,
        },
    )
    .await;
    assert!(r.is_err());
    drop(tx);
    let (bal,): (i64,) = t.platform.db.fetch_one(sql!("SELECT balance FROM ledger_accounts WHERE id = $1", a.id.as_str())).await.unwrap();
    assert_eq!(bal, 0);
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM ledger_movements")).await.unwrap(), 0);
    assert!(store::check_ledger(&t.platform.db).await.unwrap().is_empty());
}

#[tokio::test]
async fn points_rules_take_effect_only_when_approved() {
    let t = setup().await;
    let staff = principal(&t, "office", Role::CommunityStaff, COMMUNITY).await;
    let checker = principal(&t, "checker", Role::TownshipStaff, "510903001").await;
    let person = people(&t, "1970-01-01", "1985-12-31", 1).await;
    let hh = person[0].3.clone();
    let claim = |code: &'static str, key: &'static str| Claim {
        person_id: None,
        household_id: "",
        rule_code: code,
        source: "inspection",
        evidence: "",
        idem_key: Some(key),
        occurred_ms: 0,
    };
    let mut c = claim("L01", "a");
    c.household_id = &hh;
    assert_eq!(service::submit_award(&t.platform, &staff, &c).await.unwrap_err().code, "points.no_approved_rules");
    let set = service::draft_rules_with(&t.platform, &staff, COMMUNITY, "L01,门前三包,+10", HouseholdSpend::Members).await.unwrap();
    assert_eq!(service::submit_award(&t.platform, &staff, &c).await.unwrap_err().code, "points.no_approved_rules", "a draft is not in force");
    assert_eq!(service::approve_rules(&t.platform, &staff, &set, "").await.unwrap_err().code, "points.meeting_required");
    service::approve_rules(&t.platform, &staff, &set, "2026年5月村民会议").await.unwrap();
    let mut bad = claim("X99", "b");
    bad.household_id = &hh;
    assert_eq!(service::submit_award(&t.platform, &staff, &bad).await.unwrap_err().code, "points.rule_not_approved");
    let id = service::submit_award(&t.platform, &staff, &c).await.unwrap();
    assert_eq!(service::submit_award(&t.platform, &staff, &c).await.unwrap(), id, "same key, same claim");
    service::decide_award(&t.platform, &staff, &id, true).await.unwrap();
    assert_eq!(service::decide_award(&t.platform, &staff, &id, true).await.unwrap_err().code, "points.same_checker");
    service::decide_award(&t.platform, &checker, &id, true).await.unwrap();
    let acct = store::find_account(&t.platform.db, Currency::Points, AccountKind::Household, &hh).await.unwrap().unwrap();
    assert_eq!(acct.balance, 10);
    // Smart-bin intake through the API: token-authenticated and idempotent.
    let bin = principal(&t, "bin-gateway", Role::CommunityStaff, COMMUNITY).await;
    let token = t.token(&bin.username).await;
    let body = serde_json::json!({"message_id": "bin7-000123", "household_id": hh, "rule_code": "L01", "occurred_ms": t.platform.now(), "weight_g": 850});
    let req = |b: &serde_json::Value| {
        axum::http::Request::post("/api/v1/points/bin-events")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(b.to_string()))
            .unwrap()
    };
    let r1 = t.send(req(&body)).await;
    assert_eq!(r1.status, StatusCode::CREATED, "{}", r1.body);
    let r2 = t.send(req(&body)).await;
    assert_eq!(r2.status, StatusCode::OK, "{}", r2.body);
    assert_eq!(r1.json()["award_id"], r2.json()["award_id"]);
    let acct = store::find_account(&t.platform.db, Currency::Points, AccountKind::Household, &hh).await.unwrap().unwrap();
    assert_eq!(acct.balance, 20, "the retry did not pay twice");
    let anon = t
        .send(
            axum::http::Request::post("/api/v1/points/bin-events")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    // Shop at zero stock.
    let resident = principal(&t, "res", Role::Resident, COMMUNITY).await;
    register_bound(&t, &resident, &reg(&person[0].0, &person[0].1)).await.unwrap();
    let item = service::add_item(&t.platform, &staff, COMMUNITY, "毛巾", 5, 0).await.unwrap();
    assert_eq!(service::redeem_item(&t.platform, &resident, &item, Payer::Household).await.unwrap_err().code, "shop.out_of_stock");
    let item = service::add_item(&t.platform, &staff, COMMUNITY, "牙膏", 15, 3).await.unwrap();
    service::redeem_item(&t.platform, &resident, &item, Payer::Household).await.unwrap();
    assert_eq!(service::redeem_item(&t.platform, &resident, &item, Payer::Household).await.unwrap_err().code, "ledger.insufficient");
    assert!(store::check_ledger(&t.platform.db).await.unwrap().is_empty());
    // T22: a station registered for the community counts it as covered.
    // T22: the street counts as covered once a station is registered in one of its communities.
    let county = UnitCode::parse("510903").unwrap();
    let before = service::station_coverage(&t.platform.db, &county).await.unwrap();
    let has_facility = !registry::lookup::units_with_facility(&t.platform.db, &UnitCode::parse("510903001").unwrap(), "志愿服务站").await.unwrap().is_empty();
    service::create_org(&t.platform, &staff, COMMUNITY, "电江路志愿服务站", "station", None, "").await.unwrap();
    let after = service::station_coverage(&t.platform.db, &county).await.unwrap();
    assert!(after.denominator > 1 && after.denominator == before.denominator, "{before:?} {after:?}");
    assert_eq!(after.numerator, before.numerator + if has_facility { 0 } else { 1 }, "{before:?} {after:?}");
    let street = service::station_coverage(&t.platform.db, &UnitCode::parse("510903001").unwrap()).await.unwrap();
    assert_eq!((street.numerator, street.denominator), (1, 1));
}

#[tokio::test]
async fn pages_keep_to_scope_and_show_clear_errors() {
    let t = setup().await;
    t.user("office", Role::CommunityStaff, COMMUNITY).await;
    t.user("res", Role::Resident, COMMUNITY).await;
    t.user("far", Role::CountyStaff, "510904").await;
    let mut res = t.login("res", None).await;
    let mut office = t.login("office", None).await;
    let far = t.login("far", None).await;
    let who = people(&t, "1950-01-01", "1960-12-31", 1).await;
    // Before registering, a resident already sees what her community runs, with the way to join.
    let staff = principal(&t, "organiser", Role::CommunityStaff, COMMUNITY).await;
    let act = activity(&t, &staff, 5).await;
    let before = t.get(&res, "/volunteers").await;
    assert!(before.body.contains(&format!("/volunteers/activities/{act}")) && before.body.contains("data-testid=\"register-link\""), "{}", before.body);
    // Not verified yet (实名认证): the form is replaced by the way to get verified, and a post is refused.
    let form = t.get(&res, "/volunteers/register").await;
    assert!(form.body.contains("data-testid=\"identity-required\"") && !form.body.contains("name=\"id_number\""), "{}", form.body);
    let r = t.post(&mut res, "/volunteers/register", &[("name", &who[0].0), ("id_number", &who[0].1)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("data-code=\"volunteer.identity_required\""), "{}", r.body);
    // Verified at the counter: the form names her from the register; a bad phone re-renders the
    // form with the typed values and the reason.
    crate::identity::bind_by_id_number(&t, "res", &who[0].1).await;
    let form = t.get(&res, "/volunteers/register").await;
    assert!(form.body.contains(&format!("注册人：{}", who[0].0)), "{}", form.body);
    let r = t.post(&mut res, "/volunteers/register", &[("phone", "123"), ("skills", "读报写信")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("data-code=\"registry.bad_phone\"") && r.body.contains("读报写信"), "{}", r.body);
    let r = t.post(&mut res, "/volunteers/register", &[("skills", "读报")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let home = t.get(&res, "/volunteers").await;
    assert!(home.body.contains("data-testid=\"volunteer-no\""));
    // The staff's register of volunteers finds her by number and links to her record.
    let no = home.body.split("data-testid=\"volunteer-no\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let list = t.get(&office, &format!("/volunteers/people?q={no}")).await;
    assert!(list.body.contains(&no) && list.body.contains("/volunteers/people/"), "{}", list.body);
    assert!(!list.body.contains(&who[0].0) || who[0].0.chars().count() < 2, "names are masked in the list");
    assert_eq!(t.get(&res, "/volunteers/people").await.status, StatusCode::FORBIDDEN);
    // Residents do not reach the organiser's desk; forms without the CSRF token are refused.
    assert_eq!(t.get(&res, "/volunteers/manage").await.status, StatusCode::FORBIDDEN);
    let desk = t.get(&office, "/volunteers/manage").await;
    assert_eq!(desk.status, StatusCode::OK, "{}", desk.body);
    assert!(desk.body.contains("data-testid=\"indicators\"") && desk.body.contains("data-testid=\"pool-balance\""));
    for page in ["/volunteers", "/volunteers/people", "/volunteers/publication", "/volunteers/points", "/volunteers/points/publication"] {
        assert_eq!(t.get(&office, page).await.status, StatusCode::OK, "{page}");
    }
    for page in ["/volunteers", "/volunteers/me", "/volunteers/timebank", "/volunteers/points", "/volunteers/publication", "/volunteers/points/publication"] {
        let r = t.get(&res, page).await;
        assert_eq!(r.status, StatusCode::OK, "{page}: {}", r.body);
    }
    let r = t.post(&mut office, "/volunteers/orgs", &[("unit", COMMUNITY), ("name", "测试队"), ("kind", "team"), ("_csrf", "wrong")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t.post(&mut office, "/volunteers/orgs", &[("unit", COMMUNITY), ("name", "测试队"), ("kind", "team")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let org: (String,) = t.platform.db.fetch_one(sql!("SELECT id FROM vol_orgs WHERE name = '测试队'")).await.unwrap();
    let r = t
        .post(
            &mut office,
            "/volunteers/activities",
            &[("org_id", &org.0), ("title", "助老"), ("starts", "2026-06-01T09:00"), ("ends", "2026-06-01T08:00"), ("quota", "3")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "end before start");
    // One activity next week (too early to check in) and one starting now.
    let r = t
        .post(
            &mut office,
            "/volunteers/activities",
            &[("org_id", &org.0), ("title", "下周助老"), ("starts", "2026-06-08T09:00"), ("ends", "2026-06-08T11:00"), ("quota", "3")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let later = r.location().split('?').next().unwrap().to_owned();
    let local = |ms: i64| platform::clock::format_beijing(ms)[..16].replace(' ', "T");
    let now = t.platform.now();
    let r = t
        .post(
            &mut office,
            "/volunteers/activities",
            &[("org_id", &org.0), ("title", "助老"), ("starts", &local(now)), ("ends", &local(now + 2 * HOUR)), ("quota", "3")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = r.location().split('?').next().unwrap().to_owned();
    let r = t.post(&mut res, &format!("{later}/signup"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let lp = t.get(&office, &later).await;
    let early = lp.body.split("data-testid=\"checkin-link\"").next().unwrap().rsplit("href=\"").next().unwrap().split('"').next().unwrap().to_owned();
    let early = early.split_once("/volunteers/scan/").map(|(_, t)| format!("/volunteers/scan/{t}")).unwrap();
    let refused = t.post(&mut res, &early, &[]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("data-code=\"scan.too_early\""), "{}", refused.body);
    // The organiser sees signed QR codes; another county's staff get 404, as for a missing page.
    let p = t.get(&office, &page).await;
    assert!(p.body.contains("<svg") && p.body.contains("data-testid=\"checkin-link\""));
    assert_eq!(t.get(&far, &page).await.status, StatusCode::NOT_FOUND);
    // The volunteer signs up through the page; a forged code shows the reason on the scan page.
    let r = t.post(&mut res, &format!("{page}/signup"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let link = p.body.split("data-testid=\"checkin-link\"").next().unwrap().rsplit("href=\"").next().unwrap().split('"').next().unwrap().to_owned();
    let path = link.split_once("/volunteers/scan/").map(|(_, t)| format!("/volunteers/scan/{t}")).unwrap();
    let forged = t.get(&res, &path.replace(".in.", ".out.")).await;
    assert!(forged.body.contains("data-code=\"scan.forged\""));
    let ok = t.post(&mut res, &path, &[]).await;
    assert!(ok.body.contains("签到成功"), "{}", ok.body);
    // Nobody else can open the volunteer's proof.
    let r = t.post(&mut res, "/volunteers/proofs", &[]).await;
    let proof = r.location().to_owned();
    assert!(t.get(&res, &proof).await.body.contains("志愿服务证明"));
    assert_eq!(t.get(&far, &proof).await.status, StatusCode::NOT_FOUND);
    // The smart-bin API needs a token; the indicators API keeps to scope.
    let ind = t.get(&office, "/api/v1/volunteers/indicators?unit=510903001001").await;
    assert_eq!(ind.status, StatusCode::OK, "{}", ind.body);
    assert!(ind.json()["T06"]["numerator"].as_i64().unwrap() >= 1);
    assert_eq!(t.get(&office, "/api/v1/volunteers/indicators?unit=510904").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stars_are_applied_for_and_approved_and_points_objections_close() {
    let t = setup().await;
    let city = principal(&t, "city", Role::CityStaff, "5109").await;
    let staff = principal(&t, "office", Role::CommunityStaff, COMMUNITY).await;
    let me = principal(&t, "teacher", Role::Resident, COMMUNITY).await;
    let who = people(&t, "1950-01-01", "1960-12-31", 1).await;
    let v = register_bound(&t, &me, &reg(&who[0].0, &who[0].1)).await.unwrap();
    // A short ladder (张家港-like first step of 1 hour, for the test) configured for the county.
    let mut cfg = volunteers::model::TimeBankConfig::default_preset();
    cfg.storage_cap = Some(150);
    service::set_config(&t.platform, &city, "510903", &cfg, &volunteers::model::StarLadder::parse("1,3").unwrap()).await.unwrap();
    assert_eq!(service::apply_star(&t.platform, &me).await.unwrap_err().code, "star.not_enough_hours");
    let a = activity(&t, &staff, 5).await;
    service::sign_up(&t.platform, &me, &a).await.unwrap();
    service::scan(&t.platform, &me, &service::scan_code(&t.platform, &a, ScanAction::CheckIn)).await.unwrap();
    t.clock.advance(75 * MINUTE);
    let rid = service::scan(&t.platform, &me, &service::scan_code(&t.platform, &a, ScanAction::CheckOut)).await.unwrap().record_id.unwrap();
    service::confirm(&t.platform, &staff, &rid, true, None, "").await.unwrap();
    assert_eq!(service::apply_star(&t.platform, &me).await.unwrap_err().code, "star.not_enough_hours", "published hours do not count yet");
    t.clock.advance(8 * DAY);
    // The storage cap (150 min) refuses a deposit that would pass it: 120 welcome + 75.
    assert_eq!(service::deposit(&t.platform, &me, &rid).await.unwrap_err().code, "timebank.storage_cap");
    assert_eq!(service::apply_star(&t.platform, &me).await.unwrap(), 1);
    assert_eq!(service::apply_star(&t.platform, &me).await.unwrap_err().code, "star.pending");
    let apps = store::star_apps_of(&t.platform.db, &v.id).await.unwrap();
    // Stars go to the level the city sets: 1–3 stars the county by default, not the community nor
    // the city; the county's management page lists the application, the community's does not.
    let county = principal(&t, "county", Role::CountyStaff, "510903").await;
    assert_eq!(service::decide_star(&t.platform, &staff, &apps[0].id, true, "同意").await.unwrap_err().code, "star.wrong_level");
    assert_eq!(service::decide_star(&t.platform, &city, &apps[0].id, true, "同意").await.unwrap_err().code, "star.wrong_level");
    let cb = t.login("county", None).await;
    assert!(t.get(&cb, "/volunteers/manage").await.body.contains(&format!("/volunteers/stars/{}/decide", apps[0].id)));
    let ob = t.login("office", None).await;
    assert!(!t.get(&ob, "/volunteers/manage").await.body.contains(&format!("/volunteers/stars/{}/decide", apps[0].id)));
    service::decide_star(&t.platform, &county, &apps[0].id, true, "同意").await.unwrap();
    assert_eq!(store::volunteer(&t.platform.db, &v.id).await.unwrap().unwrap().stars, 1);
    assert_eq!(service::apply_star(&t.platform, &me).await.unwrap_err().code, "star.not_enough_hours", "2 stars need 3 hours");
    // The city moves every star to itself; only the city may set it, and the page shows the levels.
    assert_eq!(service::set_star_approvers(&t.platform, &county, "510903", "city").await.unwrap_err().code, "star.approvers_city_only");
    assert_eq!(service::set_star_approvers(&t.platform, &city, "5109", "county,town").await.unwrap_err().code, "star.bad_approvers");
    let mut cityb = t.login("city", None).await;
    let r = t.post(&mut cityb, "/volunteers/stars/approvers", &[("unit", "5109"), ("star_approvers", "city,city,city,city,province")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(t.get(&cityb, "/volunteers/manage").await.body.contains("value=\"city,city,city,city,province\""));
    assert_eq!(store::config_for(&t.platform.db, "510903001001").await.unwrap().1.0, vec![1, 3], "the county's own ladder is untouched");
    t.clock.advance(DAY);
    let a2 = activity(&t, &staff, 5).await;
    service::sign_up(&t.platform, &me, &a2).await.unwrap();
    service::scan(&t.platform, &me, &service::scan_code(&t.platform, &a2, ScanAction::CheckIn)).await.unwrap();
    t.clock.advance(3 * HOUR);
    let r2 = service::scan(&t.platform, &me, &service::scan_code(&t.platform, &a2, ScanAction::CheckOut)).await.unwrap().record_id.unwrap();
    service::confirm(&t.platform, &staff, &r2, true, None, "").await.unwrap();
    t.clock.advance(8 * DAY);
    assert_eq!(service::apply_star(&t.platform, &me).await.unwrap(), 2);
    let pending = store::star_apps_of(&t.platform.db, &v.id).await.unwrap().into_iter().find(|a| a.state == "pending").unwrap();
    assert_eq!(service::decide_star(&t.platform, &county, &pending.id, true, "").await.unwrap_err().code, "star.wrong_level");
    service::decide_star(&t.platform, &city, &pending.id, true, "同意").await.unwrap();
    assert_eq!(store::volunteer(&t.platform.db, &v.id).await.unwrap().unwrap().stars, 2);

    // Points objections are taken until 7 days after the month of publication.
    let set = service::draft_rules(&t.platform, &staff, COMMUNITY, "L01,门前三包,+10").await.unwrap();
    service::approve_rules(&t.platform, &staff, &set, "村民代表会议第1号决议").await.unwrap();
    let checker = principal(&t, "checker", Role::TownshipStaff, "510903001").await;
    let hh = who[0].3.clone();
    let id = service::submit_award(
        &t.platform,
        &me,
        &Claim { person_id: None, household_id: &hh, rule_code: "L01", source: "self", evidence: "已清扫", idem_key: None, occurred_ms: t.platform.now() },
    )
    .await
    .unwrap();
    let neighbour = principal(&t, "neighbour", Role::Resident, COMMUNITY).await;
    assert_eq!(service::object_award(&t.platform, &neighbour, &id, "没看到").await.unwrap_err().code, "points.not_published");
    service::decide_award(&t.platform, &staff, &id, true).await.unwrap();
    service::decide_award(&t.platform, &checker, &id, true).await.unwrap();
    service::object_award(&t.platform, &neighbour, &id, "门前仍有杂物").await.unwrap();
    t.clock.advance(40 * DAY);
    assert_eq!(service::object_award(&t.platform, &neighbour, &id, "再次异议").await.unwrap_err().code, "points.window_closed");
    // Someone else cannot declare for a household that is not theirs.
    let stranger = people(&t, "1970-01-01", "1985-12-31", 1).await;
    assert_ne!(stranger[0].3, hh);
    assert_eq!(
        service::submit_award(
            &t.platform,
            &me,
            &Claim { person_id: None, household_id: &stranger[0].3, rule_code: "L01", source: "self", evidence: "", idem_key: None, occurred_ms: 0 }
        )
        .await
        .unwrap_err()
        .code,
        "not_found"
    );
}

#[tokio::test]
async fn staff_register_residents_without_phones_and_enter_paper_records() {
    let t = setup().await;
    t.user("office", Role::CommunityStaff, COMMUNITY).await;
    let mut office = t.login("office", None).await;
    let who = people(&t, "1940-01-01", "1955-12-31", 1).await;
    let r = t.post(&mut office, "/volunteers/people", &[("name", &who[0].0), ("id_number", &who[0].1), ("skills", "剪纸")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let vid = r.location().trim_start_matches("/volunteers/people/").split('?').next().unwrap().to_owned();
    let again = t.post(&mut office, "/volunteers/people", &[("name", &who[0].0), ("id_number", &who[0].1)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "never twice, also when staff register");
    let r = t.post(&mut office, "/volunteers/orgs", &[("unit", COMMUNITY), ("name", "银龄队"), ("kind", "team")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let org: (String,) = t.platform.db.fetch_one(sql!("SELECT id FROM vol_orgs WHERE name = '银龄队'")).await.unwrap();
    // A paper sign-in sheet from yesterday: 2 hours. A future one is refused; an overlapping one too.
    let local = |ms: i64| platform::clock::format_beijing(ms)[..16].replace(' ', "T");
    let now = t.platform.now();
    let (s, e) = (local(now - DAY), local(now - DAY + 2 * HOUR));
    let path = format!("/volunteers/people/{vid}/records");
    let r = t.post(&mut office, &path, &[("org_id", &org.0), ("content", "社区剪纸课"), ("starts", &s), ("ends", &e)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = t.post(&mut office, &path, &[("org_id", &org.0), ("content", "重复"), ("starts", &s), ("ends", &e)]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = t.post(&mut office, &path, &[("org_id", &org.0), ("content", "明天"), ("starts", &local(now + DAY)), ("ends", &local(now + DAY + HOUR))]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let (rid,): (String,) = t.platform.db.fetch_one(sql!("SELECT id FROM vol_records WHERE volunteer_id = $1", vid.as_str())).await.unwrap();
    let r = t.post(&mut office, &format!("/volunteers/records/{rid}/confirm"), &[("decision", "accept"), ("minutes", "120")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    t.clock.advance(8 * DAY);
    let office = t.login("office", None).await;
    let mut office = office;
    let page = t.get(&office, &format!("/volunteers/people/{vid}")).await;
    assert!(page.body.contains("data-testid=\"deposit-for\""), "{}", page.body);
    let r = t.post(&mut office, &format!("/volunteers/timebank/deposit/{rid}"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let v = store::volunteer(&t.platform.db, &vid).await.unwrap().unwrap();
    let acct = store::find_account(&t.platform.db, Currency::Minutes, AccountKind::Person, &v.person_id).await.unwrap().unwrap();
    assert_eq!(acct.balance, 120 + 120, "welcome hours and the paper record");
    // Another community's staff cannot deposit or see it.
    t.user("neighbour", Role::CommunityStaff, "510903001002").await;
    let mut n = t.login("neighbour", None).await;
    assert_eq!(t.get(&n, &format!("/volunteers/people/{vid}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.post(&mut n, &format!("/volunteers/timebank/deposit/{rid}"), &[]).await.status, StatusCode::NOT_FOUND);
}

/// (head, member): (name, ID number, person id) of a household of the community with a 户主 and
/// another living member, both with ID numbers.
async fn head_and_member(t: &TestApp) -> ((String, String, String), (String, String, String), String) {
    let rows: Vec<(String, String, String, String, Option<String>)> = t
        .platform
        .db
        .fetch_all(sql!(
            "SELECT name, id_enc, id, household_id, relation FROM people WHERE unit_code LIKE '510903001001%' AND moved_out IS NULL AND deceased IS NULL AND id_enc IS NOT NULL AND household_id IS NOT NULL ORDER BY household_id, id"
        ))
        .await
        .unwrap();
    for h in rows.iter().filter(|r| r.4.as_deref() == Some("户主")) {
        if let Some(m) = rows.iter().find(|r| r.3 == h.3 && r.4.as_deref() != Some("户主")) {
            let dec = |r: &(String, String, String, String, Option<String>)| (r.0.clone(), t.platform.cipher.decrypt(&r.1).unwrap(), r.2.clone());
            return (dec(h), dec(m), h.3.clone());
        }
    }
    panic!("no household with a head and a member");
}

async fn approve(t: &TestApp, staff: &Principal, checker: &Principal, c: &Claim<'_>) -> String {
    let id = service::submit_award(&t.platform, staff, c).await.unwrap();
    service::decide_award(&t.platform, staff, &id, true).await.unwrap();
    service::decide_award(&t.platform, checker, &id, true).await.unwrap();
    id
}

async fn points_of(t: &TestApp, kind: AccountKind, owner: &str) -> i64 {
    store::find_account(&t.platform.db, Currency::Points, kind, owner).await.unwrap().map(|a| a.balance).unwrap_or(0)
}

#[tokio::test]
async fn person_and_household_points_follow_the_bound_identity() {
    let t = setup().await;
    let staff = principal(&t, "office", Role::CommunityStaff, COMMUNITY).await;
    let checker = principal(&t, "checker", Role::TownshipStaff, "510903001").await;
    let (head, member, hh) = head_and_member(&t).await;
    let set = service::draft_rules(&t.platform, &staff, COMMUNITY, "L01,门前三包,+10\nL02,志愿服务,+20").await.unwrap();
    service::approve_rules(&t.platform, &staff, &set, "2026年5月村民代表会议").await.unwrap();
    // Neither is a registered volunteer: the points bank knows them by the bound identity only.
    let mum = principal(&t, "mum", Role::Resident, COMMUNITY).await;
    let kid = principal(&t, "kid", Role::Resident, COMMUNITY).await;
    assert_eq!(service::my_person(&t.platform, &kid).await.unwrap_err().code, "points.identity_required");
    crate::identity::bind_by_id_number(&t, "mum", &head.1).await;
    crate::identity::bind_by_id_number(&t, "kid", &member.1).await;
    assert!(store::volunteer_of_user(&t.platform.db, &kid.user_id).await.unwrap().is_none());
    // The member declares for herself (person account), staff award the household and the head.
    let claim = |code: &'static str| Claim {
        person_id: None,
        household_id: "",
        rule_code: code,
        source: "self",
        evidence: "",
        idem_key: None,
        occurred_ms: t.platform.now(),
    };
    let id = service::submit_award(&t.platform, &kid, &Claim { person_id: Some(&member.2), ..claim("L02") }).await.unwrap();
    let ob = t.login("office", None).await;
    let queue = t.get(&ob, &format!("/volunteers/points?unit={COMMUNITY}")).await;
    assert!(queue.body.contains(&format!("{}（个人积分）", member.0)), "the review queue names the person: {}", queue.body);
    assert!(service::decide_award(&t.platform, &kid, &id, true).await.is_err(), "a resident cannot review her own claim");
    service::decide_award(&t.platform, &staff, &id, true).await.unwrap();
    service::decide_award(&t.platform, &checker, &id, true).await.unwrap();
    // ...but not for another household's member.
    let stranger = people(&t, "1950-01-01", "1990-12-31", 40).await.into_iter().find(|p| p.3 != hh).unwrap();
    assert_eq!(service::submit_award(&t.platform, &kid, &Claim { person_id: Some(&stranger.2), ..claim("L02") }).await.unwrap_err().code, "not_found");
    approve(&t, &staff, &checker, &Claim { household_id: &hh, source: "inspection", ..claim("L01") }).await;
    approve(&t, &staff, &checker, &Claim { person_id: Some(&head.2), source: "inspection", ..claim("L01") }).await;
    assert_eq!(
        service::submit_award(&t.platform, &staff, &Claim { person_id: Some(&stranger.2), household_id: &hh, source: "inspection", ..claim("L01") })
            .await
            .unwrap_err()
            .code,
        "points.person_not_in_household"
    );
    assert_eq!(points_of(&t, AccountKind::Person, &member.2).await, 20);
    assert_eq!(points_of(&t, AccountKind::Person, &head.2).await, 10);
    assert_eq!(points_of(&t, AccountKind::Household, &hh).await, 10);
    // The shop: by default only the head spends the household's points; everyone her own.
    let soap = service::add_item(&t.platform, &staff, COMMUNITY, "肥皂", 5, 10).await.unwrap();
    assert_eq!(service::redeem_item(&t.platform, &kid, &soap, Payer::Household).await.unwrap_err().code, "points.head_only");
    service::redeem_item(&t.platform, &kid, &soap, Payer::Person).await.unwrap();
    service::redeem_item(&t.platform, &mum, &soap, Payer::Household).await.unwrap();
    assert_eq!(points_of(&t, AccountKind::Person, &member.2).await, 15);
    assert_eq!(points_of(&t, AccountKind::Household, &hh).await, 5);
    // A new rule version letting members spend it, in force once voted.
    let v2 = service::draft_rules_with(&t.platform, &staff, COMMUNITY, "L01,门前三包,+10", HouseholdSpend::Members).await.unwrap();
    assert_eq!(service::redeem_item(&t.platform, &kid, &soap, Payer::Household).await.unwrap_err().code, "points.head_only", "a draft is not in force");
    service::approve_rules(&t.platform, &staff, &v2, "2026年6月村民代表会议").await.unwrap();
    service::redeem_item(&t.platform, &kid, &soap, Payer::Household).await.unwrap();
    assert_eq!(service::redeem_item(&t.platform, &kid, &soap, Payer::Household).await.unwrap_err().code, "ledger.insufficient");
    assert_eq!(points_of(&t, AccountKind::Household, &hh).await, 0);
    // Pages: the resident's page shows both balances without a volunteer registration; the
    // month's publication lists the household and each person apart.
    let kb = t.login("kid", None).await;
    let page = t.get(&kb, "/volunteers/points").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("data-testid=\"person-points\">15<") && page.body.contains("data-testid=\"points-balance\">0<"), "{}", page.body);
    let publ = t.get(&kb, &format!("/volunteers/points/publication?unit={COMMUNITY}")).await;
    let masked = volunteers::model::mask_name(&member.0);
    assert!(publ.body.contains(&format!("{masked}（个人）")) && publ.body.contains(&volunteers::model::mask_name(&head.0)), "{}", publ.body);
    assert!(store::check_ledger(&t.platform.db).await.unwrap().is_empty());
}

#[tokio::test]
async fn staff_redeem_for_residents_present_at_the_counter() {
    let t = setup().await;
    let city = principal(&t, "city", Role::CityStaff, "5109").await;
    let staff = principal(&t, "office", Role::CommunityStaff, COMMUNITY).await;
    let elsewhere = principal(&t, "elsewhere", Role::CommunityStaff, "510904001001").await;
    let checker = principal(&t, "checker", Role::TownshipStaff, "510903001").await;
    // Time bank: an older volunteer registered at the counter, without an account.
    let old = people(&t, "1940-01-01", "1955-12-31", 1).await;
    let v = service::register_assisted(&t.platform, &staff, &reg(&old[0].0, &old[0].1)).await.unwrap();
    let bath = service::add_service(&t.platform, &city, "510903", "助浴", 50).await.unwrap();
    assert_eq!(service::redeem_for(&t.platform, &staff, &v.id, &bath, false, None).await.unwrap_err().code, "assist.presence_required");
    assert_eq!(service::redeem_for(&t.platform, &elsewhere, &v.id, &bath, true, None).await.unwrap_err().code, "not_found");
    // 120 welcome minutes and 6 parallel counter redemptions of 50: exactly two.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (p, me, vid, s) = (t.platform.clone(), staff.clone(), v.id.clone(), bath.clone());
        tasks.push(tokio::spawn(async move { service::redeem_for(&p, &me, &vid, &s, true, None).await }));
    }
    let mut ok = 0;
    for h in tasks {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code, "ledger.insufficient", "{e}"),
        }
    }
    assert_eq!(ok, 2);
    assert_eq!(store::find_account(&t.platform.db, Currency::Minutes, AccountKind::Person, &v.person_id).await.unwrap().unwrap().balance, 20);
    let audits: Vec<(String, String)> =
        t.platform.db.fetch_all(sql!("SELECT actor, detail FROM audit_log WHERE action = 'timebank.redeem_assisted'")).await.unwrap();
    assert_eq!(audits.len(), 2);
    assert!(audits[0].0.contains("office") && audits[0].1.contains(&old[0].0) && audits[0].1.contains("本人在场"), "{audits:?}");
    // The same through the page: without the presence box the form is refused with the reason.
    let mut ob = t.login("office", None).await;
    let page = t.get(&ob, &format!("/volunteers/people/{}", v.id)).await;
    assert!(page.body.contains("data-testid=\"redeem-for\""), "{}", page.body);
    let r = t.post(&mut ob, &format!("/volunteers/people/{}/redeem", v.id), &[("service", &bath), ("idem_key", "k1")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("data-code=\"assist.presence_required\""), "{}", r.body);

    // Points shop: a resident with no account at all, by the register.
    let (head, member, hh) = head_and_member(&t).await;
    let set = service::draft_rules(&t.platform, &staff, COMMUNITY, "L01,门前三包,+10").await.unwrap();
    service::approve_rules(&t.platform, &staff, &set, "2026年5月村民代表会议").await.unwrap();
    let claim =
        Claim { person_id: None, household_id: &hh, rule_code: "L01", source: "inspection", evidence: "", idem_key: None, occurred_ms: t.platform.now() };
    approve(&t, &staff, &checker, &claim).await;
    approve(&t, &staff, &checker, &Claim { person_id: Some(&member.2), household_id: "", ..claim }).await;
    let oil = service::add_item(&t.platform, &staff, COMMUNITY, "食用油", 10, 5).await.unwrap();
    assert_eq!(service::redeem_item_for(&t.platform, &staff, &head.2, &oil, Payer::Household, false).await.unwrap_err().code, "assist.presence_required");
    assert_eq!(service::redeem_item_for(&t.platform, &elsewhere, &head.2, &oil, Payer::Household, true).await.unwrap_err().code, "points.no_person");
    assert_eq!(service::redeem_item_for(&t.platform, &staff, &member.2, &oil, Payer::Household, true).await.unwrap_err().code, "points.head_only");
    let r = t
        .post(&mut ob, "/volunteers/points/assisted", &[("unit", COMMUNITY), ("person", &member.2), ("item", &oil), ("from", "person"), ("present", "1")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    service::redeem_item_for(&t.platform, &staff, &head.2, &oil, Payer::Household, true).await.unwrap();
    assert_eq!(service::redeem_item_for(&t.platform, &staff, &head.2, &oil, Payer::Household, true).await.unwrap_err().code, "ledger.insufficient");
    assert_eq!(points_of(&t, AccountKind::Household, &hh).await, 0);
    assert_eq!(points_of(&t, AccountKind::Person, &member.2).await, 0);
    let (stock,): (i64,) = t.platform.db.fetch_one(sql!("SELECT stock FROM pb_items WHERE id = $1", oil.as_str())).await.unwrap();
    assert_eq!(stock, 3);
    let page = t.get(&ob, &format!("/volunteers/points?unit={COMMUNITY}")).await;
    assert!(page.body.contains(&format!("{} 个人积分，office 代办（本人在场）", member.0)), "{}", page.body);
    let audits: Vec<(String,)> = t.platform.db.fetch_all(sql!("SELECT detail FROM audit_log WHERE action = 'shop.redeem_assisted'")).await.unwrap();
    assert_eq!(audits.len(), 2);
    assert!(audits.iter().any(|a| a.0.contains(&head.0) && a.0.contains("office")), "{audits:?}");
    assert!(store::check_ledger(&t.platform.db).await.unwrap().is_empty());
}

#[tokio::test]
async fn expired_hours_move_to_the_pool_by_transfers_once() {
    let t = setup().await;
    let city = principal(&t, "city", Role::CityStaff, "5109").await;
    let staff = principal(&t, "office", Role::CommunityStaff, COMMUNITY).await;
    let old = people(&t, "1940-01-01", "1955-12-31", 1).await;
    let v = service::register_assisted(&t.platform, &staff, &reg(&old[0].0, &old[0].1)).await.unwrap();
    let acct = || async { store::find_account(&t.platform.db, Currency::Minutes, AccountKind::Person, &v.person_id).await.unwrap().unwrap().balance };
    // Off by default: a year later nothing has expired.
    t.clock.advance(400 * DAY);
    assert_eq!(service::expire_hours(&t.platform).await.unwrap(), 0);
    assert_eq!(acct().await, 120);
    // The county enables a 30-day validity; 50 of the 120 welcome minutes were spent first.
    let bath = service::add_service(&t.platform, &city, "510903", "助浴", 50).await.unwrap();
    service::redeem_for(&t.platform, &staff, &v.id, &bath, true, None).await.unwrap();
    t.clock.advance(MINUTE);
    let mut cfg = volunteers::model::TimeBankConfig::default_preset();
    cfg.expiry_days = Some(30);
    service::set_config(&t.platform, &city, "510903", &cfg, &volunteers::model::StarLadder::default()).await.unwrap();
    let mut cb = t.login("city", None).await;
    let r = t.post(&mut cb, "/volunteers/timebank/config", &[("unit", "510903"), ("preset", "suining"), ("custom", "1"), ("expiry_days", "10")]).await;
    assert!(r.status == StatusCode::BAD_REQUEST && r.body.contains("data-code=\"timebank.bad_expiry\""), "{}", r.body);
    let pool_before = service::pool_balance(&t.platform, "510903").await.unwrap();
    assert_eq!(service::expire_hours(&t.platform).await.unwrap(), 1);
    assert_eq!(acct().await, 0, "the 70 unspent welcome minutes expired");
    assert_eq!(service::pool_balance(&t.platform, "510903").await.unwrap(), pool_before + 70);
    assert_eq!(service::expire_hours(&t.platform).await.unwrap(), 0, "a second run expires nothing more");
    // The welcome credit itself is untouched: the expiry is a transfer of its own.
    let kinds: Vec<(String, i64)> = t
        .platform
        .db
        .fetch_all(sql!(
            "SELECT t.kind, t.amount FROM ledger_transfers t JOIN ledger_accounts a ON a.id = t.from_account OR a.id = t.to_account WHERE a.kind = 'person' AND a.owner = $1 ORDER BY t.created_ms, t.kind",
            v.person_id.as_str()
        ))
        .await
        .unwrap();
    assert_eq!(kinds, vec![("welcome".into(), 120), ("redeem".into(), 50), ("expire".into(), 70)]);
    // Fresh hours are kept: a pool grant today does not expire until 30 days have passed.
    service::grant_from_pool(&t.platform, &staff, &old[0].0, &old[0].1, 30, "独居高龄老人").await.unwrap();
    assert_eq!(service::expire_hours(&t.platform).await.unwrap(), 0);
    t.clock.advance(31 * DAY);
    assert_eq!(service::expire_hours(&t.platform).await.unwrap(), 1);
    assert_eq!(acct().await, 0);
    assert!(store::check_ledger(&t.platform.db).await.unwrap().is_empty());
}
