//! Integration tests for the consultation slice: an owners' ballot from the house register to the
//! archived result through the pages (phone vote, paper entry, refused second vote, exact Art. 278
//! arithmetic), secrecy, concurrency, 四议两公开 with meeting quorum, and 村务公开 deadlines.

use axum::http::StatusCode;
use platform::auth::Role;
use platform::clock::{DAY, Date};
use platform::db::Value;
use platform::scope::UnitCode;
use platform::sql;

use crate::harness::{TestApp, make_id};

const COMMUNITY: &str = "510903001001";

/// A compound of the demo community with a small, known register: owner A holds two units
/// (90 + 60 m²), B and C one each (100, 50 m²), the developer two unsold units (100 + 100 m²).
/// Roll: 4 owners, 500 m². Returns (compound, [A, B, C] ID numbers).
pub(crate) async fn small_compound(t: &TestApp) -> (String, Vec<String>) {
    let community = UnitCode::parse(COMMUNITY).unwrap();
    let compound = geography::store::current_of_kind(&t.platform.db, &community, &[geography::model::UnitKind::Compound])
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.code)
        .min()
        .expect("a compound in the demo community");
    let now = t.platform.now();
    let cipher = &t.platform.cipher;
    let mut tx = t.platform.db.begin().await.unwrap();
    let units = [("101", 9000), ("102", 6000), ("201", 10000), ("202", 5000), ("301", 10000), ("302", 10000)];
    let mut house_ids = Vec::new();
    let mut rows = Vec::new();
    for (room, area) in units {
        let id = platform::db::new_id();
        rows.push(vec![
            Value::from(id.as_str()),
            COMMUNITY.into(),
            Value::from(compound.as_str()),
            "和平路 8 号".into(),
            "1".into(),
            "1".into(),
            room.into(),
            "住宅".into(),
            Value::from(area as i64),
            "自住".into(),
            false.into(),
            now.into(),
        ]);
        house_ids.push(id);
    }
    registry::store::bulk_insert(&mut tx, "houses", &registry::store::HOUSE_COLUMNS, rows).await.unwrap();
    let mut ids = Vec::new();
    let mut people = Vec::new();
    for (i, name) in ["业主甲", "业主乙", "业主丙"].iter().enumerate() {
        let idn = make_id("510903", &format!("19{}0101", 70 + i), 11 + i as u32);
        let pid = platform::db::new_id();
        let row: Vec<Value> = vec![
            Value::from(pid.as_str()),
            COMMUNITY.into(),
            (*name).into(),
            cipher.encrypt(&idn).into(),
            cipher.blind_index("id", &idn).into(),
            registry::model::mask_id(&idn).into(),
            "男".into(),
            format!("19{}-01-01", 70 + i).into(),
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
        people.push(row);
        ids.push((pid, idn));
    }
    registry::store::bulk_insert(&mut tx, "people", &registry::store::PEOPLE_COLUMNS, people).await.unwrap();
    use registry::roll::{Owner, set_owner};
    let owners = [
        Owner::Person(ids[0].0.clone()),
        Owner::Person(ids[0].0.clone()),
        Owner::Person(ids[1].0.clone()),
        Owner::Person(ids[2].0.clone()),
        Owner::Developer("遂宁某置业公司".into()),
        Owner::Developer("遂宁某置业公司".into()),
    ];
    for (h, o) in house_ids.iter().zip(owners.iter()) {
        set_owner(&mut tx, now, h, o, false).await.unwrap();
    }
    tx.commit().await.unwrap();
    (compound, ids.into_iter().map(|(_, n)| n).collect())
}

fn question_ids(html: &str) -> Vec<String> {
    let mut out: Vec<String> = html.split("name=\"q_").skip(1).map(|s| s.split('"').next().unwrap().to_owned()).collect();
    out.dedup();
    out.sort();
    out.dedup();
    out
}

/// Question ids in their page order (first form).
pub(crate) fn ordered_questions(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for id in html.split("name=\"q_").skip(1).map(|s| s.split('"').next().unwrap().to_owned()) {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn alert_code(html: &str) -> String {
    html.split("data-code=\"").nth(1).map(|s| s.split('"').next().unwrap().to_owned()).unwrap_or_default()
}

pub(crate) async fn create_owner_ballot(t: &TestApp, b: &mut crate::harness::Browser, compound: &str) -> String {
    let r = t
        .post(
            b,
            "/consultation/ballots",
            &[
                ("unit", compound),
                ("title", "续聘物业及筹集维修资金"),
                ("organiser", "业主委员会"),
                ("electorate", "owners"),
                ("preset", "civil_code_278"),
                ("secret", "1"),
                ("q1", "续聘现物业服务企业"),
                ("matter1", "4"),
                ("q2", "筹集专项维修资金"),
                ("matter2", "6"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    r.location().trim_start_matches("/consultation/ballots/").to_owned()
}

#[tokio::test]
async fn owners_ballot_from_roll_to_archived_result() {
    let t = TestApp::new().await;
    let (compound, ids) = small_compound(&t).await;
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    t.user("owner-a", Role::Resident, COMMUNITY).await;
    let mut staff = t.login("staff", None).await;
    let id = create_owner_ballot(&t, &mut staff, &compound).await;

    // The draft previews the roll from the registers: 4 owners, one vote each, area summed.
    let page = t.get(&staff, &format!("/consultation/ballots/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("应参与 4 人，专有部分面积 500.00 平方米"), "{}", page.body);
    assert!(page.body.contains("遂宁某置业公司（建设单位未售出房屋）"));
    assert!(page.body.contains("<td data-label=\"面积\">150.00</td><td data-label=\"套数\">2</td>"), "owner A's two units count once");

    // Voting before the roll is frozen is refused.
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/vote"), &[("channel", "booth"), ("id_number", &ids[0])]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/open"), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("名册已冻结（4 人）"));
    // A house added after opening does not change the frozen roll.
    let qs = ordered_questions(&r.body);
    assert_eq!(qs.len(), 2);

    // Owner A, verified at the counter (实名认证), votes on the phone as herself: yes, yes.
    crate::identity::bind_by_id_number(&t, "owner-a", &ids[0]).await;
    let mut a = t.login("owner-a", None).await;
    let r = t
        .post(&mut a, &format!("/consultation/ballots/{id}/vote"), &[("channel", "app"), (&format!("q_{}", qs[0]), "yes"), (&format!("q_{}", qs[1]), "yes")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("业主甲的选票已记录（手机投票）"), "{}", r.body);
    let receipt = r.body.split("data-testid=\"receipt-code\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    // Residents cannot enter paper ballots.
    let r = t.post(&mut a, &format!("/consultation/ballots/{id}/vote"), &[("channel", "paper"), ("roll_no", "2"), ("evidence", "x")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // B's paper ballot (roll no. 2) needs evidence; then yes, no.
    let roll_page = t.get(&staff, &format!("/consultation/ballots/{id}")).await;
    assert!(roll_page.body.contains("已投（手机投票）"));
    let b_seq = roll_page.body.split("<tr data-seq=\"").skip(1).find(|r| r.contains("业主乙")).unwrap().split('"').next().unwrap().to_owned();
    let dev_seq = roll_page.body.split("<tr data-seq=\"").skip(1).find(|r| r.contains("置业公司")).unwrap().split('"').next().unwrap().to_owned();
    let vote_b = |evidence: &'static str| {
        vec![
            ("channel".to_owned(), "paper".to_owned()),
            ("roll_no".into(), b_seq.clone()),
            ("evidence".into(), evidence.to_owned()),
            (format!("q_{}", qs[0]), "yes".into()),
            (format!("q_{}", qs[1]), "no".into()),
        ]
    };
    let f = vote_b("");
    let fr: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/vote"), &fr).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(alert_code(&r.body), "ballot.evidence_required");
    let f = vote_b("纸质票 0002，签字照片存档 A-02");
    let fr: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/vote"), &fr).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // B then tries again on the phone (her verified account): refused, naming the first channel.
    t.user("owner-b", Role::Resident, COMMUNITY).await;
    crate::identity::bind_by_id_number(&t, "owner-b", &ids[1]).await;
    let mut b = t.login("owner-b", None).await;
    let r = t
        .post(&mut b, &format!("/consultation/ballots/{id}/vote"), &[("channel", "app"), (&format!("q_{}", qs[0]), "no"), (&format!("q_{}", qs[1]), "no")])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(alert_code(&r.body), "ballot.already_voted");
    assert!(r.body.contains("纸质票录入"));
    // A's second phone vote is refused too; someone not on the roll cannot vote.
    let r = t
        .post(&mut a, &format!("/consultation/ballots/{id}/vote"), &[("channel", "app"), (&format!("q_{}", qs[0]), "no"), (&format!("q_{}", qs[1]), "no")])
        .await;
    assert_eq!(alert_code(&r.body), "ballot.already_voted");
    // A verified resident who owns nothing in the compound is not on the roll.
    let (_, stranger) = crate::identity::add_person(&t, "路人丁", "1980-01-01", 99).await;
    t.user("stranger", Role::Resident, COMMUNITY).await;
    crate::identity::bind_by_id_number(&t, "stranger", &stranger).await;
    let mut s_ = t.login("stranger", None).await;
    let r = t
        .post(&mut s_, &format!("/consultation/ballots/{id}/vote"), &[("channel", "app"), (&format!("q_{}", qs[0]), "yes"), (&format!("q_{}", qs[1]), "yes")])
        .await;
    assert_eq!(alert_code(&r.body), "ballot.not_on_roll");

    // The developer's unsold units vote as one owner, on paper: yes, yes.
    let dev = [
        ("channel", "paper"),
        ("roll_no", dev_seq.as_str()),
        ("evidence", "建设单位盖章表决票"),
        (&format!("q_{}", qs[0]), "yes"),
        (&format!("q_{}", qs[1]), "yes"),
    ];
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/vote"), &dev).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let page = t.get(&staff, &format!("/consultation/ballots/{id}")).await;
    assert!(page.body.contains("已参与 3 人，面积 450.00 平方米"), "{}", page.body);
    assert!(page.body.contains("data-ok=\"true\""), "3 of 4 owners and 450 of 500 m² meet 2/3");

    // Close: Q1 (ordinary) passes with 3/3; Q2 (raising the fund, special) needs 3/4 of heads
    // and gets 2/3: rejected.
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/close"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let res = t.get(&a, &format!("/consultation/ballots/{id}/result")).await;
    assert_eq!(res.status, StatusCode::OK);
    let outcomes: Vec<&str> = res.body.split("data-outcome=\"").skip(1).map(|s| s.split('"').next().unwrap()).collect();
    assert_eq!(outcomes, ["passed", "rejected"]);
    assert!(res.body.contains("同意人数 2 / 参与表决人数 3，要求四分之三以上（含本数）：未达到"), "{}", res.body);
    assert!(res.body.contains("同意面积 350.00 / 参与表决面积 450.00 平方米"));
    assert!(res.body.contains("纸质票录入 2 人，手机投票 1 人") || res.body.contains("手机投票 1 人，纸质票录入 2 人"), "{}", res.body);

    // The same result as JSON for other systems, with the counts and the rule, never the voters.
    let token = t.token("staff").await;
    let api = t.get_bearer(&token, &format!("/api/v1/ballots/{id}/result")).await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    let j = api.json();
    assert_eq!(j["questions"][1]["outcome"], "rejected");
    assert_eq!(j["questions"][1]["yes"]["area_dm2"], 35000);
    assert_eq!(j["took_part"]["heads"], 3);
    assert_eq!(j["rule"]["special"]["num"], 3);
    assert!(!api.body.contains("业主乙"), "no voter names in the result");

    // The receipt shows its holder their choices; a wrong code finds nothing.
    let r = t.get(&a, &format!("/consultation/ballots/{id}/receipt?code={receipt}")).await;
    assert!(r.body.contains("该回执已计入：第1项：同意；第2项：同意"), "{}", r.body);
    let r = t.get(&a, &format!("/consultation/ballots/{id}/receipt?code=00000000000000000000")).await;
    assert!(r.body.contains("receipt-missing"));

    // The archived result cannot be changed, and voting after closing is refused.
    let edit = t.platform.db.execute(sql!("UPDATE ballot_results SET document = 'x' WHERE ballot_id = $1", id.as_str())).await;
    assert!(edit.is_err(), "ballot_results is immutable");
    let r = t
        .post(
            &mut staff,
            &format!("/consultation/ballots/{id}/vote"),
            &[("channel", "booth"), ("id_number", &ids[2]), (&format!("q_{}", qs[0]), "yes"), (&format!("q_{}", qs[1]), "yes")],
        )
        .await;
    assert_eq!(alert_code(&r.body), "ballot.not_open");

    // Every step is in the audit chain, and the chain verifies.
    let actions: Vec<(String,)> = t.platform.db.fetch_all(sql!("SELECT action FROM audit_log WHERE target = $1 ORDER BY seq", id.as_str())).await.unwrap();
    let actions: Vec<&str> = actions.iter().map(|(a,)| a.as_str()).collect();
    assert_eq!(actions, ["ballot.create", "ballot.open", "ballot.vote", "ballot.vote", "ballot.vote", "ballot.close"]);
    assert!(platform::audit::verify(&t.platform.db).await.unwrap().first_break.is_none());
}

#[tokio::test]
async fn quorum_missed_is_invalid_and_secret_ballots_keep_no_link() {
    let t = TestApp::new().await;
    let (compound, ids) = small_compound(&t).await;
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    let mut staff = t.login("staff", None).await;
    let id = create_owner_ballot(&t, &mut staff, &compound).await;
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/open"), &[]).await;
    let qs = ordered_questions(&r.body);
    // A (150 m²) and C (50 m²) at the booth: 2 of 4 owners and 200 of 500 m² — below 2/3.
    for idn in [&ids[0], &ids[2]] {
        let r = t
            .post(
                &mut staff,
                &format!("/consultation/ballots/{id}/vote"),
                &[("channel", "booth"), ("id_number", idn), (&format!("q_{}", qs[0]), "yes"), (&format!("q_{}", qs[1]), "yes")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    // Nothing links a voter to a choice: the voters table has no choices, the receipts no voter,
    // and the audit no choice.
    let named: i64 = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM ballot_named_choices WHERE ballot_id = $1", id.as_str())).await.unwrap();
    assert_eq!(named, 0);
    let details: Vec<(String,)> = t.platform.db.fetch_all(sql!("SELECT detail FROM audit_log WHERE action = 'ballot.vote'")).await.unwrap();
    assert!(details.iter().all(|(d,)| !d.contains("yes") && !d.contains("同意")), "{details:?}");
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/close"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let res = t.get(&staff, &format!("/consultation/ballots/{id}/result")).await;
    let outcomes: Vec<&str> = res.body.split("data-outcome=\"").skip(1).map(|s| s.split('"').next().unwrap()).collect();
    assert_eq!(outcomes, ["invalid_quorum", "invalid_quorum"], "unanimous but too few: invalid, not passed");
    assert!(res.body.contains("参与表决人数 2 / 应参与 4，要求三分之二以上（含本数）：未达到"));

    // Another ballot in scope of nobody else: a neighbour community's staff gets 404.
    t.user("neighbour", Role::CommunityStaff, "510903001002").await;
    let n = t.login("neighbour", None).await;
    assert_eq!(t.get(&n, &format!("/consultation/ballots/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.get(&n, &format!("/consultation/ballots/{id}/result")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_votes_of_one_voter_count_once() {
    let t = TestApp::new().await;
    let (compound, ids) = small_compound(&t).await;
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    let mut staff = t.login("staff", None).await;
    let id = create_owner_ballot(&t, &mut staff, &compound).await;
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/open"), &[]).await;
    let qs = question_ids(&r.body);
    let (k0, k1) = (format!("q_{}", qs[0]), format!("q_{}", qs[1]));
    let pa = [("channel", "booth"), ("id_number", ids[1].as_str()), (k0.as_str(), "yes"), (k1.as_str(), "yes")];
    // B votes on her phone (verified account) while staff enter her at the booth.
    t.user("owner-b", Role::Resident, COMMUNITY).await;
    crate::identity::bind_by_id_number(&t, "owner-b", &ids[1]).await;
    let pb = [("channel", "app"), (k0.as_str(), "yes"), (k1.as_str(), "yes")];
    let mut s2 = t.login("owner-b", None).await;
    let path = format!("/consultation/ballots/{id}/vote");
    let (ra, rb) = tokio::join!(t.post(&mut staff, &path, &pa), t.post(&mut s2, &path, &pb));
    let oks = [ra.status, rb.status].iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(oks, 1, "exactly one of two simultaneous votes counts: {} {}", ra.status, rb.status);
    let voters: i64 = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM ballot_voters WHERE ballot_id = $1", id.as_str())).await.unwrap();
    assert_eq!(voters, 1);
    let yes: i64 = t.platform.db.scalar(sql!("SELECT heads FROM ballot_tallies WHERE question_id = $1 AND choice = 'yes'", qs[0].as_str())).await.unwrap();
    assert_eq!(yes, 1);
}

#[tokio::test]
async fn roll_refuses_units_without_area_or_owner_and_custom_rules_need_a_local_rule_for_herding() {
    let t = TestApp::new().await;
    let (compound, _) = small_compound(&t).await;
    // One more house without a recorded owner: the roll cannot be built.
    let mut tx = t.platform.db.begin().await.unwrap();
    let hid = platform::db::new_id();
    registry::store::bulk_insert(
        &mut tx,
        "houses",
        &registry::store::HOUSE_COLUMNS,
        vec![vec![
            Value::from(hid.as_str()),
            COMMUNITY.into(),
            Value::from(compound.as_str()),
            "和平路 8 号".into(),
            "2".into(),
            "1".into(),
            "101".into(),
            "住宅".into(),
            Value::Int(None),
            "空置".into(),
            false.into(),
            t.platform.now().into(),
        ]],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    let mut staff = t.login("staff", None).await;
    let id = create_owner_ballot(&t, &mut staff, &compound).await;
    let page = t.get(&staff, &format!("/consultation/ballots/{id}")).await;
    assert!(page.body.contains("1 套房屋未登记产权人"), "{}", page.body);
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/open"), &[]).await;
    assert_eq!(alert_code(&r.body), "roll.missing_owner");
    // 产权登记 from the draft page: an unknown ID number is refused; the developer is accepted.
    assert!(page.body.contains("data-testid=\"unowned\""));
    let stranger = make_id("510903", "19800101", 99);
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/owners"), &[("house_id", &hid), ("id_number", &stranger)]).await;
    assert_eq!(alert_code(&r.body), "roll.unknown_person");
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/owners"), &[("house_id", &hid), ("developer", "遂宁某置业公司")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("已登记产权人：遂宁某置业公司"));
    // With an owner but no area, the area rule stops it.
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/open"), &[]).await;
    assert_eq!(alert_code(&r.body), "roll.missing_area");

    // 从众 under a legal preset is refused; a custom rule needs the local rule named.
    let base = [("unit", COMMUNITY), ("title", "村规民约修订"), ("organiser", "居民委员会"), ("electorate", "persons"), ("q1", "修订第五条")];
    let mut f = base.to_vec();
    f.extend([("preset", "villagers_meeting"), ("herd", "1"), ("local_rule", "某规则")]);
    let r = t.post(&mut staff, "/consultation/ballots", &f).await;
    assert_eq!(alert_code(&r.body), "ballot.herd_not_in_preset");
    let mut f = base.to_vec();
    f.extend([
        ("preset", "custom"),
        ("quorum_cmp", "more_than"),
        ("quorum_frac", "1/2"),
        ("ordinary_cmp", "more_than"),
        ("ordinary_frac", "1/2"),
        ("special_cmp", "at_least"),
        ("special_frac", "2/3"),
        ("herd", "1"),
    ]);
    let r = t.post(&mut staff, "/consultation/ballots", &f).await;
    assert_eq!(alert_code(&r.body), "ballot.herd_needs_rule");
    assert!(r.body.contains("村规民约修订"), "the form keeps its input");
    // Owners' ballots must be held per compound.
    let mut f = base.to_vec();
    f[3] = ("electorate", "owners");
    f.extend([("preset", "civil_code_278"), ("matter1", "2")]);
    let r = t.post(&mut staff, "/consultation/ballots", &f).await;
    assert_eq!(alert_code(&r.body), "ballot.bad_unit");
}

#[tokio::test]
async fn villagers_roll_counts_adults_from_the_register() {
    let t = TestApp::new().await.with_registers().await;
    let today = Date::of_instant(t.platform.now());
    let adults = registry::roll::adults(&t.platform.db, COMMUNITY, today).await.unwrap();
    let all: i64 = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM people WHERE unit_code = $1", COMMUNITY)).await.unwrap();
    assert!(!adults.is_empty() && (adults.len() as i64) < all, "minors are not on the roll: {} of {all}", adults.len());
    let households = registry::roll::household_representatives(&t.platform.db, COMMUNITY, today).await.unwrap();
    let hh: i64 = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM households WHERE unit_code = $1", COMMUNITY)).await.unwrap();
    assert!(!households.is_empty() && households.len() as i64 <= hh);
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    let mut staff = t.login("staff", None).await;
    let r = t
        .post(
            &mut staff,
            "/consultation/ballots",
            &[
                ("unit", COMMUNITY),
                ("title", "居民会议：停车管理办法"),
                ("organiser", "居民委员会"),
                ("electorate", "households"),
                ("preset", "villagers_meeting"),
                ("q1", "通过停车管理办法"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = r.location().trim_start_matches("/consultation/ballots/").to_owned();
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/open"), &[]).await;
    assert!(r.body.contains(&format!("名册已冻结（{} 人）", households.len())), "{}", r.body);
    assert!(r.body.contains("要求三分之二以上（含本数）"), "村民会议 counted by households needs 2/3 of them");
}

#[tokio::test]
async fn four_two_consultation_runs_in_order_with_meeting_quorum_and_publication() {
    let t = TestApp::new().await;
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    t.user("resident", Role::Resident, COMMUNITY).await;
    let mut staff = t.login("staff", None).await;
    let mut res = t.login("resident", None).await;
    // A resident is not asked for a unit code: the topic goes to their own community, named.
    let home = t.get(&res, "/consultation").await;
    assert!(home.body.contains(&format!(r#"<input type="hidden" name="unit" value="{COMMUNITY}">"#)), "{}", home.body);
    assert!(home.body.contains(r#"data-testid="topic-unit""#) && !home.body.contains("单位代码"), "{}", home.body);
    let desk = t.get(&staff, "/consultation").await;
    assert!(desk.body.contains("单位代码（村、社区或小区）"), "staff choose the unit");
    // A resident raises a topic (general template, whatever they ask for).
    let r = t
        .post(
            &mut res,
            "/consultation/topics",
            &[("unit", COMMUNITY), ("title", "小区增设充电桩"), ("body", "电动车乱停乱充，存在火灾隐患"), ("template", "four_two")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let rid = r.location().trim_start_matches("/consultation/topics/").to_owned();
    let page = t.get(&res, &format!("/consultation/topics/{rid}")).await;
    assert!(page.body.contains("居民提出") && page.body.contains("议题征集"));
    let r = t.post(&mut res, &format!("/consultation/topics/{rid}/post"), &[("body", "建议装在 3 栋旁")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = t.post(&mut res, &format!("/consultation/topics/{rid}/step"), &[("seq", "2")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "residents do not run the procedure");

    let r = t
        .post(&mut staff, "/consultation/topics", &[("unit", COMMUNITY), ("title", "老旧小区改造方案"), ("body", "党组织提议"), ("template", "four_two")])
        .await;
    let id = r.location().trim_start_matches("/consultation/topics/").to_owned();
    // Skipping a step is refused.
    let r = t.post(&mut staff, &format!("/consultation/topics/{id}/step"), &[("seq", "3")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("下一步是“两委会议商议”"));
    assert_eq!(t.post(&mut staff, &format!("/consultation/topics/{id}/step"), &[("seq", "2")]).await.status, StatusCode::SEE_OTHER);
    // The party members' meeting: 9 due, 5 present is short of 2/3; 6 is exactly 2/3 and enough.
    let r = t
        .post(&mut staff, &format!("/consultation/topics/{id}/meetings"), &[("title", "党员大会"), ("held_on", "2026-05-28"), ("due", "9"), ("present", "5")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = t.get(&staff, &format!("/consultation/topics/{id}")).await;
    assert!(page.body.contains("应到 9 人，实到 5 人，要求三分之二以上（含本数）：未达到法定人数"), "{}", page.body);
    let mid = page.body.split(&format!("/consultation/topics/{id}/meetings/")).nth(1).unwrap().split(['"', '/']).next().unwrap().to_owned();
    // Live attendance: the page loads the slice's script and polls the count, which 签到 +1 raises
    // (an increment, audited); the quorum state follows.
    assert!(page.body.contains("<script src=\"/consultation/meeting.js\" defer></script>"));
    assert!(page.body.contains(&format!("data-meeting-live=\"/consultation/topics/{id}/meetings/{mid}/attendance\"")));
    let js = t.get(&staff, "/consultation/meeting.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.body.contains("data-meeting-live"));
    let live = format!("/consultation/topics/{id}/meetings/{mid}/attendance");
    let a = t.get(&staff, &live).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!((a.json()["present"].as_i64(), a.json()["quorum_ok"].as_bool()), (Some(5), Some(false)));
    let r = t.post(&mut staff, &format!("/consultation/topics/{id}/meetings/{mid}/arrive"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let a = t.get(&staff, &live).await;
    assert_eq!((a.json()["present"].as_i64(), a.json()["quorum_ok"].as_bool()), (Some(6), Some(true)), "6 of 9 is exactly two thirds");
    assert!(a.json()["line"].as_str().unwrap().contains("已达到法定人数"));
    let r = t.post(&mut staff, &format!("/consultation/topics/{id}/meetings/{mid}"), &[("present", "5"), ("minutes", ""), ("decision", "")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = t
        .post(
            &mut staff,
            &format!("/consultation/topics/{id}/meetings/{mid}"),
            &[("present", "6"), ("minutes", "审议通过"), ("decision", "同意提交居民代表会议")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = t.get(&staff, &format!("/consultation/topics/{id}")).await;
    assert!(page.body.contains("实到 6 人，要求三分之二以上（含本数）：已达到法定人数"));
    let r = t.post(&mut staff, &format!("/consultation/topics/{id}/meetings/{mid}"), &[("present", "10")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "more present than due is refused");
    for seq in 3..=6 {
        let r = t.post(&mut staff, &format!("/consultation/topics/{id}/step"), &[("seq", &seq.to_string()), ("note", "按程序办理")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "step {seq}: {}", r.body);
    }
    let r = t.post(&mut staff, &format!("/consultation/topics/{id}/post"), &[("kind", "followup"), ("body", "已完成施工招标")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = t.get(&res, &format!("/consultation/topics/{id}")).await;
    assert!(page.body.contains("已办结") && page.body.contains("已公开") && page.body.contains("落实反馈"));
    // The decision shows on the community's public page, no sign-in needed.
    let public = t.get(&crate::harness::Browser::default(), &format!("/public/affairs/{COMMUNITY}")).await;
    assert_eq!(public.status, StatusCode::OK);
    assert!(public.body.contains("老旧小区改造方案"));
}

#[tokio::test]
async fn missed_publications_escalate_to_the_township_once() {
    let t = TestApp::new().await;
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    t.user("street", Role::TownshipStaff, "510903001").await;
    let mut staff = t.login("staff", None).await;
    let today = Date::of_instant(t.platform.now());
    let r = t
        .post(&mut staff, "/consultation/affairs", &[("unit", COMMUNITY), ("kind", "finance"), ("title", "本月财务收支"), ("period", &today.to_string())])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = t.post(&mut staff, "/consultation/affairs", &[("unit", COMMUNITY), ("kind", "major"), ("title", "征地补偿分配方案")]).await;
    assert!(r.body.contains("待公开"));
    // The major matter is published at once; the finance report is not.
    let pid: (String,) = t.platform.db.fetch_one(sql!("SELECT id FROM affairs WHERE kind = 'major'")).await.unwrap();
    let r = t.post(&mut staff, &format!("/consultation/affairs/{}/publish", pid.0), &[("body", "按人口平均分配"), ("unit", COMMUNITY)]).await;
    assert!(r.body.contains("已公开"), "{}", r.body);
    // Nothing is overdue yet; the check schedules this quarter's ordinary item.
    let rep = consultation::check_deadlines(&t.platform).await.unwrap();
    assert_eq!(rep.escalated, 0);
    assert_eq!(rep.scheduled, 2, "the calendar adds this month's finance report and this quarter's ordinary item");
    // Past the month's end: escalated to the street, once.
    t.clock.advance(40 * DAY);
    let rep = consultation::check_deadlines(&t.platform).await.unwrap();
    assert!(rep.escalated >= 1);
    let again = consultation::check_deadlines(&t.platform).await.unwrap();
    assert_eq!(again.escalated, 0, "an item is escalated once");
    let to: (Option<String>,) = t.platform.db.fetch_one(sql!("SELECT escalated_to FROM affairs WHERE title = '本月财务收支'")).await.unwrap();
    assert_eq!(to.0.as_deref(), Some("510903001"));
    let street = t.login("street", None).await;
    let page = t.get(&street, "/consultation/affairs?unit=510903001").await;
    assert!(page.body.contains("逾期未公开（已报乡镇、街道）") && page.body.contains("本月财务收支"), "{}", page.body);
    let n: i64 = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM audit_log WHERE action = 'affair.overdue' AND unit_code = '510903001'")).await.unwrap();
    assert!(n >= 1);
    // The public page shows what was published, and nothing unpublished.
    let public = t.get(&crate::harness::Browser::default(), &format!("/public/affairs/{COMMUNITY}")).await;
    assert!(public.body.contains("征地补偿分配方案") && !public.body.contains("本月财务收支"));
    assert!(public.body.contains("小微权力清单"));
}

#[tokio::test]
async fn representatives_meeting_at_exactly_two_thirds_with_a_named_signature_list() {
    let t = TestApp::new().await;
    let (_, ids) = small_compound(&t).await;
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    let mut staff = t.login("staff", None).await;
    let r = t
        .post(
            &mut staff,
            "/consultation/ballots",
            &[
                ("unit", COMMUNITY),
                ("title", "集体资产租赁方案"),
                ("organiser", "居民委员会"),
                ("electorate", "representatives"),
                ("preset", "representatives_meeting"),
                ("q1", "同意租赁方案"),
                ("cat1", "ordinary"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = r.location().trim_start_matches("/consultation/ballots/").to_owned();
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/open"), &[]).await;
    assert_eq!(alert_code(&r.body), "roll.empty");
    for idn in &ids {
        let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/representatives"), &[("id_number", idn)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/open"), &[]).await;
    assert!(r.body.contains("名册已冻结（3 人）"), "{}", r.body);
    let qs = ordered_questions(&r.body);
    // Two of three representatives: exactly 2/3 meets the quorum; both approve.
    for idn in &ids[..2] {
        let r = t
            .post(&mut staff, &format!("/consultation/ballots/{id}/vote"), &[("channel", "booth"), ("id_number", idn), (&format!("q_{}", qs[0]), "yes")])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/close"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let res = t.get(&staff, &format!("/consultation/ballots/{id}/result")).await;
    assert!(res.body.contains("data-outcome=\"passed\""), "{}", res.body);
    assert!(res.body.contains("参与表决人数 2 / 应参与 3，要求三分之二以上（含本数）：达到"));
    // A named ballot prints who chose what, as the signature list.
    assert!(res.body.contains("记名投票签名表") && res.body.contains("业主甲") && res.body.contains("第1项同意"));
}

/// The voting window: refused before the opening time and after the closing time on every
/// channel, except staff entering paper collected in time (with evidence) until the result is
/// computed; the periodic job then closes the ballot as the system, exactly as a manual close.
#[tokio::test]
async fn voting_window_refuses_early_and_late_votes_and_the_job_closes_the_ballot() {
    use platform::clock::HOUR;
    let t = TestApp::new().await;
    let (compound, ids) = small_compound(&t).await;
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    t.user("owner-a", Role::Resident, COMMUNITY).await;
    crate::identity::bind_by_id_number(&t, "owner-a", &ids[0]).await;
    let mut staff = t.login("staff", None).await;
    // The test clock starts at 2026-05-29 04:26 Beijing time.
    let form = |closes: &'static str| {
        vec![
            ("unit", compound.clone()),
            ("title", "更换电梯".to_owned()),
            ("organiser", "业主委员会".into()),
            ("electorate", "owners".into()),
            ("preset", "civil_code_278".into()),
            ("secret", "1".into()),
            ("q1", "使用维修资金更换 1 号电梯".into()),
            ("matter1", "5".into()),
            ("opens_at", "2026-05-29T09:00".into()),
            ("closes_at", closes.into()),
            // Paper ballots collected until the close are entered within 24 hours after it.
            ("paper_hours", "24".into()),
        ]
    };
    let f = form("2026-05-29T08:00");
    let fr: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = t.post(&mut staff, "/consultation/ballots", &fr).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(alert_code(&r.body), "ballot.bad_window", "closing before opening");
    let f = form("2026-05-30T18:00");
    let fr: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = t.post(&mut staff, "/consultation/ballots", &fr).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = r.location().trim_start_matches("/consultation/ballots/").to_owned();
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/open"), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("2026-05-29 09:00:00 至 2026-05-30 18:00:00"), "{}", r.body);
    assert!(r.body.contains("data-window=\"not_open_yet\""));
    let q = ordered_questions(&r.body)[0].clone();
    let qk = format!("q_{q}");
    let booth = |idn: &str| vec![("channel".to_owned(), "booth".to_owned()), ("id_number".into(), idn.to_owned()), (qk.clone(), "yes".into())];
    let post = |v: Vec<(String, String)>| v;

    // Before the opening time: refused at the booth and on the phone.
    let f = post(booth(&ids[1]));
    let fr: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/vote"), &fr).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(alert_code(&r.body), "ballot.not_open_yet");
    assert!(r.body.contains("2026-05-29 09:00:00"), "the message says when voting opens");
    let mut a = t.login("owner-a", None).await;
    let r = t.post(&mut a, &format!("/consultation/ballots/{id}/vote"), &[("channel", "app"), (qk.as_str(), "yes")]).await;
    assert_eq!(alert_code(&r.body), "ballot.not_open_yet");

    // In the window: the phone vote counts.
    t.clock.advance(5 * HOUR);
    // Sessions time out while the clock moves: sign in again.
    let mut a = t.login("owner-a", None).await;
    let r = t.post(&mut a, &format!("/consultation/ballots/{id}/vote"), &[("channel", "app"), (qk.as_str(), "yes")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // After the closing time: the booth is refused; paper collected in time is still entered
    // with its evidence, until the result is computed.
    t.clock.advance(40 * HOUR);
    let mut staff = t.login("staff", None).await;
    let f = post(booth(&ids[1]));
    let fr: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/vote"), &fr).await;
    assert_eq!(alert_code(&r.body), "ballot.closed");
    assert!(r.body.contains("data-window=\"past_closing\""));
    let page = t.get(&staff, &format!("/consultation/ballots/{id}")).await;
    let c_seq = page.body.split("<tr data-seq=\"").skip(1).find(|r| r.contains("业主丙")).unwrap().split('"').next().unwrap().to_owned();
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/vote"), &[("channel", "paper"), ("roll_no", c_seq.as_str()), (qk.as_str(), "no")]).await;
    assert_eq!(alert_code(&r.body), "ballot.evidence_required", "late paper needs its evidence");
    let r = t
        .post(
            &mut staff,
            &format!("/consultation/ballots/{id}/vote"),
            &[("channel", "paper"), ("roll_no", c_seq.as_str()), ("evidence", "票箱 1 号，5 月 30 日 17:40 投入"), (qk.as_str(), "no")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The count waits for the paper-entry period: 24 hours after the close.
    assert_eq!(consultation::service::close_due_ballots(&t.platform).await.unwrap(), 0, "still in the paper-entry period");
    let page = t.get(&staff, &format!("/consultation/ballots/{id}")).await;
    assert!(page.body.contains("data-testid=\"count-at\">2026-05-31 18:00:00"), "{}", page.body);
    t.clock.advance(17 * HOUR);
    let mut staff = t.login("staff", None).await;
    let a = t.login("owner-a", None).await;

    // The job closes it as the system, with the archived result; a second run does nothing.
    assert_eq!(consultation::service::close_due_ballots(&t.platform).await.unwrap(), 1);
    assert_eq!(consultation::service::close_due_ballots(&t.platform).await.unwrap(), 0);
    let (actor,): (String,) = t
        .platform
        .db
        .fetch_optional(sql!("SELECT actor FROM audit_log WHERE target = $1 AND action = 'ballot.close'", id.as_str()))
        .await
        .unwrap()
        .expect("the close is audited");
    assert_eq!(actor, "system");
    let res = t.get(&a, &format!("/consultation/ballots/{id}/result")).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.body.contains("手机投票 1 人") && res.body.contains("纸质票录入 1 人"), "{}", res.body);
    // Now nothing more is entered, not even paper.
    let r = t
        .post(&mut staff, &format!("/consultation/ballots/{id}/vote"), &[("channel", "paper"), ("roll_no", "1"), ("evidence", "迟到的票"), (qk.as_str(), "no")])
        .await;
    assert_eq!(alert_code(&r.body), "ballot.not_open");
    assert!(platform::audit::verify(&t.platform.db).await.unwrap().first_break.is_none());
}

/// The item id of a 小微权力清单 entry on the staff page, by its name.
fn power_item_id(html: &str, name: &str) -> String {
    let section = html.split("data-testid=\"power-item\"").skip(1).find(|s| s.contains(&format!("data-name=\"{name}\""))).expect(name);
    section.split("/consultation/power/").nth(1).unwrap().split('"').next().unwrap().split('/').nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn power_list_is_edited_per_village_with_versions_kept() {
    let t = TestApp::new().await;
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    t.user("neighbour", Role::CommunityStaff, "510903001002").await;
    t.user("resident", Role::Resident, COMMUNITY).await;
    let mut staff = t.login("staff", None).await;
    let public = format!("/public/affairs/{COMMUNITY}");
    let anon = crate::harness::Browser::default();
    let r = t.get(&anon, &public).await;
    assert!(r.body.contains("村级印章使用") && r.body.contains("各类证明出具"), "the template until the village changes it");

    let page = format!("/consultation/power/{COMMUNITY}");
    let r = t.get(&staff, &page).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("data-testid=\"power-template\""));
    let r = t.post(&mut staff, &page, &[("action", "adopt")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body.matches("data-testid=\"power-item\"").count(), 12);

    // Edit one item: a new version; an edit from a stale page is refused, not lost.
    let cert = power_item_id(&r.body, "各类证明出具");
    let edit = |name: &'static str, version: &'static str| {
        vec![
            ("category", "便民服务"),
            ("name", name),
            ("basis", "《村民委员会组织法》第二十四条；本村便民服务规定"),
            ("steps", "申请\n核实（2 个工作日内）\n村委会出具\n登记存档"),
            ("responsible", "村民委员会主任"),
            ("version", version),
        ]
    };
    let r = t.post(&mut staff, &format!("{page}/{cert}"), &edit("各类证明出具（含居住证明）", "1")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("第 2 版"));
    let r = t.post(&mut staff, &format!("{page}/{cert}"), &edit("被覆盖的修改", "1")).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(alert_code(&r.body), "power.stale");
    let mut bad = edit("x", "2");
    bad[3] = ("steps", "只有一步");
    let r = t.post(&mut staff, &format!("{page}/{cert}"), &bad).await;
    assert_eq!(alert_code(&r.body), "power.steps");

    // Retire one, add one.
    let seal = power_item_id(&r.body, "村级印章使用");
    let r = t.post(&mut staff, &format!("{page}/{seal}"), &[("action", "retire"), ("version", "1")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = t
        .post(
            &mut staff,
            &page,
            &[
                ("category", "便民服务"),
                ("name", "农机购置补贴初审"),
                ("basis", "县农业农村局农机购置补贴实施方案"),
                ("steps", "农户申请 → 村核实 → 公示 5 天 → 报乡镇"),
                ("responsible", "村民委员会"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // The public page shows the current list; the history is kept and append-only.
    let r = t.get(&anon, &public).await;
    assert!(r.body.contains("各类证明出具（含居住证明）") && r.body.contains("核实（2 个工作日内）"));
    assert!(r.body.contains("农机购置补贴初审"));
    assert!(!r.body.contains("村级印章使用"), "a retired item leaves the public list");
    let versions: i64 = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM power_item_versions WHERE item_id = $1", cert.as_str())).await.unwrap();
    assert_eq!(versions, 2);
    assert!(t.platform.db.execute(sql!("DELETE FROM power_item_versions WHERE item_id = $1", cert.as_str())).await.is_err());
    let other = t.get(&anon, "/public/affairs/510903001002").await;
    assert!(other.body.contains("村级印章使用"), "another village keeps the template");

    // Out of scope: 404 for a neighbour's staff; residents may not edit.
    let mut n = t.login("neighbour", None).await;
    assert_eq!(t.get(&n, &page).await.status, StatusCode::NOT_FOUND);
    let r = t.post(&mut n, &format!("{page}/{cert}"), &edit("越权", "2")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let res = t.login("resident", None).await;
    assert_eq!(t.get(&res, &page).await.status, StatusCode::FORBIDDEN);

    let actions: Vec<(String,)> = t.platform.db.fetch_all(sql!("SELECT action FROM audit_log WHERE action LIKE 'power.%' ORDER BY seq")).await.unwrap();
    let actions: Vec<&str> = actions.iter().map(|(a,)| a.as_str()).collect();
    assert_eq!(actions, ["power.adopt", "power.edit", "power.retire", "power.add"]);
}

#[tokio::test]
async fn representatives_are_managed_per_village_and_the_meeting_roll_uses_the_current_list() {
    let t = TestApp::new().await;
    let (_, ids) = small_compound(&t).await;
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    t.user("neighbour", Role::CommunityStaff, "510903001002").await;
    let mut staff = t.login("staff", None).await;
    let page = format!("/consultation/representatives/{COMMUNITY}");
    assert_eq!(t.get(&staff, &page).await.status, StatusCode::OK);
    for (idn, group) in ids.iter().zip(["一组 1–20 户", "二组 1–18 户", "三组 1–22 户"]) {
        let r = t.post(&mut staff, &page, &[("id_number", idn), ("household_group", group)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = t.post(&mut staff, &page, &[("id_number", "510903197001011234"), ("household_group", "")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(["ballot.bad_id", "roll.unknown_person"].contains(&alert_code(&r.body).as_str()));
    let r = t.get(&staff, &page).await;
    assert_eq!(r.body.matches("data-testid=\"representative\"").count(), 3);
    assert!(r.body.contains("二组 1–18 户"));

    // Retire the third: the draft of a 村民代表会议 previews only the current two.
    let third = t
        .platform
        .db
        .fetch_optional::<(String,)>(sql!("SELECT person_id FROM village_representatives WHERE household_group = $1", "三组 1–22 户"))
        .await
        .unwrap()
        .unwrap()
        .0;
    let r = t.post(&mut staff, &format!("{page}/{third}/retire"), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body.matches("data-testid=\"representative\"").count(), 2);
    assert!(r.body.contains("data-testid=\"retired\""));
    let r = t.post(&mut staff, &format!("{page}/{third}/retire"), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "retiring twice finds no current representative");
    let r = t
        .post(
            &mut staff,
            "/consultation/ballots",
            &[
                ("unit", COMMUNITY),
                ("title", "集体资产租赁方案"),
                ("organiser", "居民委员会"),
                ("electorate", "representatives"),
                ("preset", "representatives_meeting"),
                ("q1", "同意租赁方案"),
                ("cat1", "ordinary"),
            ],
        )
        .await;
    let id = r.location().trim_start_matches("/consultation/ballots/").to_owned();
    let r = t.get(&staff, &format!("/consultation/ballots/{id}")).await;
    assert!(r.body.contains("应参与 2 人"), "{}", r.body);
    assert!(r.body.contains("联系 一组 1–20 户"));
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/open"), &[]).await;
    assert!(r.body.contains("名册已冻结（2 人）"), "{}", r.body);
    // Changes after opening do not touch the frozen roll; a retired representative can come back.
    let r = t.post(&mut staff, &page, &[("id_number", &ids[2]), ("household_group", "三组 1–25 户")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body.matches("data-testid=\"representative\"").count(), 3);
    let r = t.get(&staff, &format!("/consultation/ballots/{id}")).await;
    assert!(r.body.contains("应参与 2 人"));
    assert_eq!(registry::roll::representatives(&t.platform.db, COMMUNITY).await.unwrap().len(), 3);

    // Out of scope is 404.
    let mut n = t.login("neighbour", None).await;
    assert_eq!(t.get(&n, &page).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.post(&mut n, &page, &[("id_number", &ids[0])]).await.status, StatusCode::NOT_FOUND);

    let actions: Vec<(String,)> =
        t.platform.db.fetch_all(sql!("SELECT action FROM audit_log WHERE action LIKE 'roll.representative%' ORDER BY seq")).await.unwrap();
    let actions: Vec<&str> = actions.iter().map(|(a,)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["roll.representative_add", "roll.representative_add", "roll.representative_add", "roll.representative_retire", "roll.representative_add"]
    );
}

/// Late paper entries racing the automatic close: each is either counted in the archived result or
/// refused, never recorded after the result was computed.
#[tokio::test]
async fn late_paper_entries_racing_the_automatic_close_are_in_the_result_or_refused() {
    use platform::clock::HOUR;
    let t = TestApp::new().await;
    let (compound, _) = small_compound(&t).await;
    t.user("staff", Role::CommunityStaff, COMMUNITY).await;
    let mut staff = t.login("staff", None).await;
    let r = t
        .post(
            &mut staff,
            "/consultation/ballots",
            &[
                ("unit", compound.as_str()),
                ("title", "更换门禁"),
                ("organiser", "业主委员会"),
                ("electorate", "owners"),
                ("preset", "civil_code_278"),
                ("secret", "1"),
                ("q1", "更换小区门禁"),
                ("matter1", "9"),
                ("closes_at", "2026-05-29 10:00"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = r.location().trim_start_matches("/consultation/ballots/").to_owned();
    let r = t.post(&mut staff, &format!("/consultation/ballots/{id}/open"), &[]).await;
    let qk = format!("q_{}", ordered_questions(&r.body)[0]);
    t.clock.advance(6 * HOUR);
    let path = format!("/consultation/ballots/{id}/vote");
    let mut desks = Vec::new();
    for _ in 0..3 {
        desks.push(t.login("staff", None).await);
    }
    let [mut d1, mut d2, mut d3] = <[_; 3]>::try_from(desks).ok().unwrap();
    let paper = |n: &'static str| [("channel", "paper"), ("roll_no", n), ("evidence", "票箱 1 号"), (qk.as_str(), "yes")];
    let (p1, p2, p3) = (paper("1"), paper("2"), paper("3"));
    let (r1, r2, r3, closed) = tokio::join!(
        t.post(&mut d1, &path, &p1),
        t.post(&mut d2, &path, &p2),
        t.post(&mut d3, &path, &p3),
        consultation::service::close_due_ballots(&t.platform)
    );
    assert_eq!(closed.unwrap(), 1);
    for r in [&r1, &r2, &r3] {
        assert!(r.status == StatusCode::OK || alert_code(&r.body) == "ballot.not_open", "{} {}", r.status, alert_code(&r.body));
    }
    let counted = [&r1, &r2, &r3].iter().filter(|r| r.status == StatusCode::OK).count() as i64;
    let voters: i64 = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM ballot_voters WHERE ballot_id = $1", id.as_str())).await.unwrap();
    assert_eq!(voters, counted);
    let (doc,): (String,) = t.platform.db.fetch_optional(sql!("SELECT document FROM ballot_results WHERE ballot_id = $1", id.as_str())).await.unwrap().unwrap();
    assert!(doc.contains(&format!("实际参与：{counted} 人")), "the archived result counts exactly the recorded votes: {doc}");
}
