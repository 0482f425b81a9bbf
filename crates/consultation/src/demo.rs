//! Demo data for this slice, marked 演示数据: the owners of one compound in 电江路社区 with an open
//! owners' ballot (renewing the property contract, raising the maintenance fund), a consultation
//! under 四议两公开, and one village's 村务公开 calendar with a missed publication.

use platform::audit::{self, Actor, Event, Outcome};
use platform::auth::Principal;
use platform::clock::Date;
use platform::scope::UnitCode;
use platform::{AppError, AppResult, Platform, sql};

use geography::model::UnitKind;

use crate::model::{AffairKind, Electorate, Preset};
use crate::service::{self, CreateBallot, QuestionInput};

const COMMUNITY: &str = "510903001001";

fn organiser() -> AppResult<Principal> {
    Ok(Principal::demo_seed(UnitCode::parse("5109").map_err(AppError::internal)?))
}

/// Seeds the slice's demo data once; returns whether anything was added.
pub async fn seed(p: &Platform) -> AppResult<bool> {
    if p.db.scalar(sql!("SELECT COUNT(*) FROM ballots WHERE synthetic = 1")).await? > 0 {
        return Ok(false);
    }
    let me = organiser()?;
    let now = p.now();
    // The first compound of the demo community that has houses.
    let community = UnitCode::parse(COMMUNITY).map_err(AppError::internal)?;
    let compound = geography::store::current_of_kind(&p.db, &community, &[UnitKind::Compound]).await?.into_iter().map(|u| u.code).min();
    let mut added = false;
    if let Some(compound) = compound {
        let mut tx = p.db.begin().await?;
        let n = registry::roll::seed_demo_owners(&mut tx, now, &compound, "遂宁演示置业有限公司").await?;
        audit::record(
            &mut tx,
            now,
            &Event {
                actor: &Actor::system(),
                unit: Some(&compound),
                action: "roll.demo_owners",
                target: &compound,
                outcome: Outcome::Ok,
                detail: &format!("{n} houses"),
            },
        )
        .await?;
        tx.commit().await?;
        if n > 0 {
            let id = service::create_ballot(
                p,
                &me,
                CreateBallot {
                    unit: compound.clone(),
                    title: "续聘物业服务企业及筹集维修资金（演示数据）".into(),
                    description: "业主委员会提请全体业主共同决定两项事项。".into(),
                    organiser: "小区业主委员会".into(),
                    electorate: Electorate::Owners,
                    preset: Preset::CivilCode278,
                    custom: None,
                    secret: true,
                    herd: false,
                    local_rule: String::new(),
                    questions: vec![
                        QuestionInput { text: "续聘现物业服务企业，合同期三年".into(), matter: Some(4), category: None },
                        QuestionInput { text: "按每平方米 20 元筹集专项维修资金".into(), matter: Some(6), category: None },
                    ],
                    synthetic: true,
                    opens_ms: None,
                    closes_ms: None,
                    paper_hours: 0,
                },
            )
            .await?;
            // Units without an area would stop the roll; the demo registers have areas everywhere.
            service::open_ballot(p, &me, &id).await?;
            added = true;
        }
    }
    // 村务公开 in the first village of 船山区, and 居务公开 in the demo community (so the demo township
    // account sees an escalation), each with last month's finance report missed.
    let county = UnitCode::parse("510903").map_err(AppError::internal)?;
    let village = geography::store::current_of_kind(&p.db, &county, &[UnitKind::Village]).await?.into_iter().map(|u| u.code).min();
    let today = Date::of_instant(now);
    let last_month = Date::from_days(crate::model::period_start(AffairKind::Finance, today).days() - 1);
    for unit in village.iter().map(String::as_str).chain([COMMUNITY]) {
        for (kind, title, when, publish) in [
            (AffairKind::Finance, "财务收支明细（演示数据）", last_month, false),
            (AffairKind::Ordinary, "低保、临时救助名单（演示数据）", today, true),
            (AffairKind::Major, "道路硬化工程招标结果（演示数据）", today, true),
        ] {
            match service::add_affair(p, &me, unit, kind, title, "", Some(when), true).await {
                Ok(id) if publish => service::publish_affair(p, &me, &id, "详见公开栏纸质公示，本页同步公开（演示数据）。").await?,
                Ok(_) => {}
                Err(e) if e.code == "affair.duplicate" => {}
                Err(e) => return Err(e),
            }
        }
        let topic = service::raise_topic(
            p,
            &me,
            unit,
            "道路硬化工程立项（演示数据）",
            "党组织提议：硬化三组至五组道路 1.2 公里，资金来源为上级补助和集体收入。",
            "four_two",
            true,
        )
        .await?;
        service::complete_step(p, &me, &topic, 2, "两委会议一致同意提交党员大会").await?;
        added = true;
    }
    service::check_deadlines(p).await?;
    Ok(added)
}
