//! Demo data for this slice, marked 演示数据: in and around 电江路社区, a volunteer team, a station
//! and the street's association; upcoming activities; a few dozen registered volunteers (from the
//! demo register) with final service records deposited in the time bank; a time-bank catalogue; and
//! an approved points rule set with awarded households and a points shop.

use platform::auth::Principal;
use platform::clock::{DAY, Date, HOUR};
use platform::db::new_id;
use platform::scope::UnitCode;
use platform::{AppError, AppResult, Platform, sql};

use crate::model::{self, AccountKind, Currency, TransferKind};
use crate::service::{self, NewActivity};
use crate::store::{self, NewTransfer, NewVolunteer, OrgRow, RecordRow};

const COMMUNITY: &str = "510903001001";
const TOWNSHIP: &str = "510903001";

fn organiser() -> AppResult<Principal> {
    Ok(Principal::demo_seed(UnitCode::parse("5109").map_err(AppError::internal)?))
}

/// Seeds the slice's demo data once; returns whether anything was added.
pub async fn seed(p: &Platform) -> AppResult<bool> {
    if p.db.scalar(sql!("SELECT COUNT(*) FROM vol_orgs WHERE synthetic = 1")).await? > 0 {
        return Ok(false);
    }
    let me = organiser()?;
    let now = p.now();
    let today = Date::of_instant(now);
    let mut tx = p.db.begin().await?;
    let mut orgs = Vec::new();
    for (unit, name, kind) in [
        (COMMUNITY, "电江路社区志愿服务队（演示数据）", "team"),
        (COMMUNITY, "电江路社区志愿服务站（演示数据）", "station"),
        (TOWNSHIP, "南津路街道志愿者协会（演示数据）", "organisation"),
    ] {
        let id = new_id();
        store::insert_org(
            &mut tx,
            &OrgRow {
                id: id.clone(),
                unit_code: unit.into(),
                name: name.into(),
                kind: kind.into(),
                parent_id: None,
                contact: "0825-0000000".into(),
                created_ms: now,
                synthetic: 1,
            },
        )
        .await?;
        orgs.push(id);
    }
    store::put_config(&mut tx, "5109", &model::TimeBankConfig::default_preset(), &model::StarLadder::default(), "demo-seed", now).await?;
    tx.commit().await?;

    // Upcoming activities: this weekend and the next.
    let day0 = today.days() * DAY - 8 * HOUR;
    for (i, (title, place, start_day, hour, hours, quota)) in [
        ("周末助老：陪伴读报（演示数据）", "电江路社区日间照料中心", 1, 9, 3, 12),
        ("垃圾分类入户宣传（演示数据）", "电江路社区各小区", 2, 14, 2, 20),
        ("义诊与健康讲座（演示数据）", "南津路街道党群服务中心", 6, 9, 4, 8),
    ]
    .into_iter()
    .enumerate()
    {
        let org = if i == 2 { &orgs[2] } else { &orgs[0] };
        let starts = day0 + start_day * DAY + hour * HOUR;
        service::create_activity(
            p,
            &me,
            &NewActivity {
                org_id: org.clone(),
                title: title.into(),
                description: "演示数据：示例活动。".into(),
                place: place.into(),
                starts_ms: starts,
                ends_ms: starts + hours * HOUR,
                quota,
            },
        )
        .await?;
    }
    p.db.execute(sql!("UPDATE vol_activities SET synthetic = 1 WHERE title LIKE '%演示数据%'")).await?;

    // Time-bank catalogue for the county.
    for (name, minutes) in [("上门助餐（演示数据）", 60), ("居家助洁（演示数据）", 120), ("陪同就医（演示数据）", 120), ("上门理发（演示数据）", 30)]
    {
        service::add_service(p, &me, "510903", name, minutes).await?;
    }

    // Volunteers from the demo register, aged 18–75, with past final records.
    let root = UnitCode::parse(COMMUNITY).map_err(AppError::internal)?;
    let from = Date::from_days(today.days() - 75 * 366).to_string();
    let to = Date::from_days(today.days() - 18 * 366).to_string();
    let people = registry::lookup::people_born_between(&p.db, &root, &from, &to, 400).await?;
    let mut tx = p.db.begin().await?;
    let issuer = store::account(&mut tx, Currency::Minutes, AccountKind::Issuer, "510903", "510903", now).await?;
    let mut households = Vec::new();
    for (n, person) in people.iter().enumerate().filter(|(n, _)| n % 12 == 0).take(30) {
        let Some(index) = person.id_index.clone() else { continue };
        let vid = new_id();
        let seq = store::next_seq(&mut tx, "volunteer:510903").await?;
        let no = model::volunteer_no("510903", seq);
        store::insert_volunteer(
            &mut tx,
            &NewVolunteer {
                id: &vid,
                volunteer_no: &no,
                person_id: &person.id,
                id_index: &index,
                user_id: None,
                unit_code: &person.unit_code,
                name: &person.name,
                sex: person.sex.as_deref(),
                birth_date: person.birth_date.as_deref(),
                phone_masked: person.phone_masked.clone(),
                phone_enc: None,
                skills: ["助老", "文艺", "医疗", "教学", "环保"][n % 5],
                availability: "周末",
                guardian_name: None,
                guardian_consent: false,
                now: now - 90 * DAY,
                synthetic: true,
            },
        )
        .await?;
        if let Some(h) = &person.household_id {
            households.push((h.clone(), person.unit_code.clone()));
        }
        let acct = store::account(&mut tx, Currency::Minutes, AccountKind::Person, &person.id, &person.unit_code, now).await?;
        // Two to six past services of 1.5–3 hours, final and deposited; the latest still published.
        for k in 0..(2 + n % 5) as i64 {
            let started = day0 - (60 - k * 9) * DAY + 9 * HOUR;
            let minutes = 90 + ((n as i64 + k) % 4) * 30;
            let rid = new_id();
            let published = k == (1 + n % 5) as i64;
            store::insert_record(
                &mut tx,
                &RecordRow {
                    id: rid.clone(),
                    volunteer_id: vid.clone(),
                    activity_id: None,
                    signup_id: None,
                    org_id: orgs[0].clone(),
                    unit_code: COMMUNITY.into(),
                    content: ["助老陪伴（演示数据）", "社区环境整治（演示数据）", "文艺演出（演示数据）"][(k as usize) % 3].into(),
                    started_ms: started,
                    ended_ms: started + minutes * 60_000,
                    minutes,
                    kind: "service".into(),
                    corrects_id: None,
                    state: if published { "published" } else { "final" }.into(),
                    confirmed_by: Some("demo-seed".into()),
                    confirmed_ms: Some(started + DAY),
                    publish_until_ms: Some(if published { now + 2 * DAY } else { started + 5 * DAY }),
                    objection: None,
                    created_ms: started,
                    synthetic: 1,
                },
            )
            .await?;
            if !published {
                let day = Date::of_instant(started).to_string();
                store::post(
                    &mut tx,
                    &NewTransfer {
                        currency: Currency::Minutes,
                        kind: TransferKind::Deposit,
                        from: &issuer,
                        to: &acct,
                        amount: minutes,
                        floor: None,
                        reason: "服务存入（演示数据）",
                        ref_id: Some(&rid),
                        corrects_id: None,
                        service_day: Some(&day),
                        idem_key: Some(&format!("deposit:{rid}")),
                        actor: "demo-seed",
                        now,
                    },
                )
                .await?;
            }
        }
    }
    tx.commit().await?;

    // Points bank: an approved rule set, awards for the volunteers' households, a shop.
    let set = service::draft_rules(
        p,
        &me,
        COMMUNITY,
        "L01,垃圾分类准确投放,+5,智能垃圾箱称重或检查记录\nL02,参加志愿服务,+10,服务记录\nL03,庭院整洁,+10,入户检查\nL04,乱扔垃圾,-5,照片\nL05,邻里互助好人好事,+20,群众举报核实",
    )
    .await?;
    service::approve_rules(p, &me, &set, "演示数据：2026年村民代表会议第1号决议").await?;
    let rules = store::rules_of(&p.db, &set).await?;
    let mut tx = p.db.begin().await?;
    households.sort();
    households.dedup();
    for (i, (h, unit)) in households.iter().enumerate() {
        for (j, rule) in rules.iter().filter(|r| r.points > 0).enumerate() {
            if (i + j) % 3 == 2 {
                continue;
            }
            let id = new_id();
            let a = store::AwardRow {
                id: id.clone(),
                unit_code: unit.clone(),
                household_id: h.clone(),
                person_id: None,
                rule_id: rule.id.clone(),
                points: rule.points,
                source: ["inspection", "self", "report", "bin"][(i + j) % 4].into(),
                evidence: "演示数据".into(),
                state: "approved".into(),
                submitted_by: "demo-seed".into(),
                reviewed_by: Some("demo-review".into()),
                reviewed_ms: Some(now - DAY),
                checked_by: Some("demo-seed".into()),
                checked_ms: Some(now - (i as i64 % 20) * HOUR),
                transfer_id: None,
                idem_key: None,
                occurred_ms: now - 2 * DAY,
                created_ms: now - 2 * DAY,
                synthetic: 1,
            };
            store::insert_award(&mut tx, &a).await?;
            let household = store::account(&mut tx, Currency::Points, AccountKind::Household, h, unit, now).await?;
            let iss = store::account(&mut tx, Currency::Points, AccountKind::Issuer, COMMUNITY, COMMUNITY, now).await?;
            let t = store::post(
                &mut tx,
                &NewTransfer {
                    currency: Currency::Points,
                    kind: TransferKind::Award,
                    from: &iss,
                    to: &household,
                    amount: rule.points,
                    floor: None,
                    reason: &format!("{}（演示数据）", rule.item),
                    ref_id: Some(&id),
                    corrects_id: None,
                    service_day: None,
                    idem_key: Some(&format!("award:{id}")),
                    actor: "demo-seed",
                    now,
                },
            )
            .await?;
            tx.execute(sql!("UPDATE pb_awards SET transfer_id = $1 WHERE id = $2", t.as_str(), id.as_str())).await?;
        }
    }
    tx.commit().await?;
    for (name, price, stock) in [("抽纸（演示数据）", 5, 50), ("牙膏（演示数据）", 10, 30), ("洗衣液（演示数据）", 20, 20), ("大米 5 斤（演示数据）", 40, 10)]
    {
        service::add_item(p, &me, COMMUNITY, name, price, stock).await?;
    }
    Ok(true)
}
