//! Gathering measures from the other slices (through their public functions only), computing every
//! indicator for a subtree, monthly snapshots, and the 填报 flow (submit → review by the level
//! above → approve or reject), each write in one transaction with its audit record.

use std::collections::HashMap;

use geography::model::UnitKind;
use platform::audit::{self, Event, Outcome};
use platform::auth::{Principal, Role};
use platform::clock::Date;
use platform::scope::{Level, UnitCode};
use platform::{AppError, AppResult, Platform};

use crate::compute::{Dataset, Prepared, UnitInfo, level_of};
use crate::model::{self, Formula, Fraction, Indicator, Measure, Period, ReportedKind, Status};
use crate::store;

const TREE_KINDS: [UnitKind; 9] = [
    UnitKind::City,
    UnitKind::District,
    UnitKind::County,
    UnitKind::CountyCity,
    UnitKind::Street,
    UnitKind::Town,
    UnitKind::Township,
    UnitKind::Community,
    UnitKind::Village,
];

/// Facility categories counted as community public-service floor area (每百户公共服务配套设施面积):
/// shops, kindergartens and shelters are left out.
const SERVICE_CATEGORIES: [&str; 11] =
    ["党群服务中心", "综合服务站", "养老服务", "托育", "卫生服务站", "文化活动", "社工站", "志愿服务站", "法律服务", "体育健身", "便民服务"];

/// Collects the measures of a subtree from geography and the registers, and the approved 填报
/// values of `year`.
pub async fn gather(p: &Platform, root: &UnitCode, year: i64) -> AppResult<Dataset> {
    let db = &p.db;
    let mut ds = Dataset::default();
    let units = geography::store::current_of_kind(db, root, &TREE_KINDS).await?;
    let pops = geography::measures::populations_in(db, root).await?;
    let kinds: HashMap<String, Option<String>> = pops.iter().map(|x| (x.code.clone(), x.community_kind.clone())).collect();
    ds.units = units
        .into_iter()
        .map(|u| UnitInfo { kind: u.kind(), community_kind: kinds.get(&u.code).cloned().flatten(), parent: u.parent_code.clone(), name: u.name, code: u.code })
        .collect();
    let village_codes: Vec<String> = ds.units.iter().filter(|u| u.code.len() == 12).map(|u| u.code.clone()).collect();
    for c in &village_codes {
        ds.add(c, Measure::Units, 1);
    }
    let grids: HashMap<String, i64> =
        geography::measures::cells_per_village(db, root).await?.into_iter().filter(|(_, k, _)| k == UnitKind::Grid.label()).map(|(c, _, n)| (c, n)).collect();
    for x in &pops {
        ds.add(&x.code, Measure::Residents, x.residents);
        ds.add(&x.code, Measure::Households, x.households);
        if grids.get(&x.code).copied().unwrap_or(0) > 0 {
            ds.add(&x.code, Measure::GridHouseholds, x.households);
        }
    }
    for g in registry::measures::workforce(db, root).await? {
        let (role, q) = g.key.split_once('|').unwrap_or((g.key.as_str(), "0"));
        if role == "社会工作者" {
            ds.add(&g.code, Measure::SocialWorkers, g.n);
        }
        if role != "网格员" {
            ds.add(&g.code, Measure::CommunityWorkforce, g.n);
            if q == "1" {
                ds.add(&g.code, Measure::QualifiedWorkforce, g.n);
            }
        }
    }
    for g in registry::measures::organisations(db, root).await? {
        let f: Vec<&str> = g.key.split('|').collect();
        let (kind, two_new, party, cert) = (f.first().copied().unwrap_or(""), f.get(1) == Some(&"1"), f.get(2) == Some(&"1"), f.get(3) == Some(&"1"));
        if two_new {
            ds.add(&g.code, Measure::TwoNewOrgs, g.n);
            if party {
                ds.add(&g.code, Measure::TwoNewOrgsCovered, g.n);
            }
        }
        if cert {
            ds.add(&g.code, Measure::CertifiedSocialEnterprises, g.n);
        }
        match kind {
            "慈善基金" => ds.add(&g.code, Measure::CharityFunds, g.n),
            "社会组织" | "社会企业" => ds.add(&g.code, Measure::SocialOrgs, g.n),
            "社区经济组织" => ds.add(&g.code, Measure::EconomicOrgs, g.n),
            _ => {}
        }
    }
    for g in registry::measures::facility_areas(db, root).await? {
        let (cat, renovated) = g.key.split_once('|').unwrap_or((g.key.as_str(), "0"));
        if SERVICE_CATEGORIES.contains(&cat) {
            ds.add(&g.code, Measure::ServiceAreaDm2, g.sum);
        }
        match cat {
            "党群服务中心" => {
                ds.add(&g.code, Measure::CentreAreaDm2, g.sum);
                ds.add(&g.code, Measure::PartyCentres, g.n);
                if renovated == "1" {
                    ds.add(&g.code, Measure::PartyCentresRenovated, g.n);
                }
            }
            "综合服务站" => ds.add(&g.code, Measure::CentreAreaDm2, g.sum),
            "社工站" => ds.add(&g.code, Measure::SocialWorkStations, g.n),
            "养老服务" => ds.add(&g.code, Measure::ElderlyCareFacilities, g.n),
            _ => {}
        }
    }
    for g in registry::measures::facility_capacity(db, root).await? {
        if g.key == "托育" {
            ds.add(&g.code, Measure::ChildcarePlaces, g.sum);
        }
    }
    for g in registry::measures::compounds(db, root).await? {
        let f: Vec<&str> = g.key.split('|').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        let (mgmt, committee, smart, party, age) = (get(0), get(1) == "1", get(2) == "1", get(3) == "1", get(4));
        let mut add = |m| ds.add(&g.code, m, g.n);
        add(Measure::Compounds);
        if mgmt != "三无小区" {
            add(Measure::EligibleCompounds);
            if committee {
                add(Measure::EligibleWithCommittee);
            }
        }
        if mgmt == "物业管理" {
            add(Measure::ManagedCompounds);
            if party {
                add(Measure::ManagedWithParty);
            }
        }
        if mgmt == "三无小区" {
            add(Measure::UnmanagedCompounds);
            if party {
                add(Measure::UnmanagedWithParty);
            }
        }
        if smart {
            add(Measure::SmartCompounds);
        }
        if age == "old" {
            add(Measure::OldCompounds);
            if smart {
                add(Measure::OldSmart);
            }
        }
        if age == "new" {
            add(Measure::NewCompounds);
            if smart {
                add(Measure::NewSmart);
            }
        }
    }
    for (ind, unit, f) in store::approved_values(db, root, year).await? {
        ds.reports.entry(ind).or_default().push((unit, f));
    }
    Ok(ds)
}

/// One indicator's value at one unit, ready to show.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Cell {
    pub fraction: Option<Fraction>,
    pub value: Option<f64>,
    pub status: Status,
}

pub fn cell(ind: &Indicator, level: Level, year: i64, f: Option<Fraction>) -> Cell {
    if !ind.formula.has_source() {
        return Cell { fraction: None, value: None, status: Status::NoSource };
    }
    let value = f.and_then(|f| model::value_of(&ind.formula, f));
    let status = if ind.status_applies_at(level) { model::status(ind.direction, ind.target_for(year), value) } else { Status::None };
    Cell { fraction: f, value, status }
}

/// Every indicator for every unit of the subtree: indicator id → unit code → fraction.
pub struct Computed {
    pub indicators: Vec<Indicator>,
    pub values: HashMap<String, HashMap<String, Fraction>>,
    pub dataset: Dataset,
}

impl Computed {
    pub fn get(&self, id: &str, unit: &str) -> Option<Fraction> {
        self.values.get(id).and_then(|m| m.get(unit)).copied()
    }
}

/// Which units get the values other slices compute one subtree at a time (one call per unit):
/// every unit for snapshots and assessments, the root and its children for a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    RootAndChildren,
    All,
}

pub async fn compute_all(p: &Platform, root: &UnitCode, year: i64) -> AppResult<Computed> {
    compute(p, root, year, Reach::All).await
}

pub async fn compute(p: &Platform, root: &UnitCode, year: i64, reach: Reach) -> AppResult<Computed> {
    let dataset = gather(p, root, year).await?;
    let indicators = model::indicators();
    let mut values: HashMap<String, HashMap<String, Fraction>> = {
        let prep = Prepared::new(&dataset);
        indicators.iter().map(|i| (i.id.clone(), prep.compute(i))).collect()
    };
    let units: Vec<&UnitInfo> =
        dataset.units.iter().filter(|u| reach == Reach::All || u.code == root.as_str() || u.parent.as_deref() == Some(root.as_str())).collect();
    for ind in &indicators {
        if let Formula::External { measure, .. } = ind.formula {
            let m = values.entry(ind.id.clone()).or_default();
            for u in &units {
                let code = UnitCode::parse(&u.code).map_err(AppError::internal)?;
                m.insert(u.code.clone(), external(p, measure, &code).await?);
            }
        }
    }
    Ok(Computed { indicators, values, dataset })
}

/// One external measure for one subtree, from the slice that owns it.
pub async fn external(p: &Platform, m: model::External, root: &UnitCode) -> AppResult<Fraction> {
    if let model::External::Coverage(target) = m {
        // None: no unit of the subtree is one the target applies to (shown as such, not as 0).
        return Ok(match coverage::service::indicator(&p.db, target, root).await? {
            Some((num, den)) => Fraction { num, den: Some(den) },
            None => Fraction { num: 0, den: None },
        });
    }
    let r = match m {
        model::External::VolunteerRegistration => volunteers::service::registration_rate(&p.db, root).await?,
        model::External::VolunteerStations => volunteers::service::station_coverage(&p.db, root).await?,
        model::External::Coverage(_) => return Err(AppError::internal("coverage handled above")),
    };
    Ok(Fraction { num: r.numerator, den: Some(r.denominator) })
}

pub fn this_year(p: &Platform) -> i64 {
    Date::of_instant(p.now()).to_string()[..4].parse().unwrap_or(2026)
}

/// Computes every indicator for the whole city and stores the month's snapshot (replacing an
/// earlier run of the same month). Returns the number of rows written.
pub async fn snapshot(p: &Platform, period: &Period) -> AppResult<usize> {
    let city = UnitCode::parse("5109").map_err(AppError::internal)?;
    let c = compute_all(p, &city, period.year()).await?;
    let mut rows = Vec::new();
    for ind in &c.indicators {
        if !ind.formula.has_source() {
            rows.push((ind.id.clone(), city.as_str().to_owned(), None));
            continue;
        }
        if let Some(m) = c.values.get(&ind.id) {
            let mut v: Vec<_> = m.iter().collect();
            v.sort_by(|a, b| a.0.cmp(b.0));
            rows.extend(v.into_iter().map(|(u, f)| (ind.id.clone(), u.clone(), Some(*f))));
        }
    }
    let mut tx = p.db.begin().await?;
    let n = store::replace_snapshots(&mut tx, period.as_str(), rows, p.now()).await?;
    let detail = format!("{n} values for {} units", c.dataset.units.len());
    audit::record(
        &mut tx,
        p.now(),
        &Event {
            actor: &platform::audit::Actor::system(),
            unit: Some("5109"),
            action: "indicators.snapshot",
            target: period.as_str(),
            outcome: Outcome::Ok,
            detail: &detail,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// The job's step: snapshot the current month unless it was taken in the last `min_age_ms`.
pub async fn snapshot_if_due(p: &Platform) -> AppResult<Option<usize>> {
    let period = Period::month_of(Date::of_instant(p.now()));
    let last =
        p.db.scalar(platform::sql!("SELECT CAST(COALESCE(MAX(computed_ms), 0) AS BIGINT) FROM indicator_snapshots WHERE period = $1", period.as_str())).await?;
    // Once a day within the month keeps the current month's snapshot close to live values.
    if last > 0 && p.now() - last < platform::clock::DAY {
        return Ok(None);
    }
    Ok(Some(snapshot(p, &period).await?))
}

// ---------------------------------------------------------------------------------------------
// 填报

/// The roles that enter and review reported values: staff of the unit's own tier and above.
fn staff(role: Role) -> bool {
    matches!(role, Role::CityStaff | Role::CountyStaff | Role::TownshipStaff | Role::CommunityStaff)
}

/// Whether the principal may enter a value for `unit` (a staff role held at the unit or above).
pub fn may_submit(me: &Principal, unit: &UnitCode) -> bool {
    me.grants.iter().any(|g| staff(g.role) && g.unit.contains(unit))
}

/// Whether the principal may review a value for `unit`: a staff role held strictly above the unit
/// (the level above); the city's own values are reviewed by another city staff account.
pub fn may_review(me: &Principal, unit: &UnitCode, submitted_by: &str) -> bool {
    if me.username == submitted_by {
        return false;
    }
    me.grants.iter().any(|g| staff(g.role) && g.unit.contains(unit) && (g.unit.as_str().len() < unit.as_str().len() || unit.level() == Level::City))
}

pub struct Submission {
    pub indicator_id: String,
    pub unit: String,
    pub period: String,
    pub numerator: String,
    pub denominator: String,
    pub note: String,
    pub evidence: Option<(String, String, Vec<u8>)>,
}

pub const MAX_EVIDENCE_BYTES: usize = 5 * 1024 * 1024;

fn evidence_type(name: &str, bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"PK\x03\x04") && (name.ends_with(".xlsx") || name.ends_with(".docx")) {
        Some("application/octet-stream")
    } else {
        None
    }
}

fn parse_amount(s: &str, field: &str) -> AppResult<i64> {
    let t = s.trim().replace([',', '，'], "");
    t.parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| AppError::bad_request("indicators.bad_number", format!("「{}」不是非负整数", s.trim())).at_field(field))
}

/// Validates and stores a 填报 value as `submitted`.
pub async fn submit(p: &Platform, me: &Principal, s: Submission) -> AppResult<String> {
    let ind = model::find(&s.indicator_id).ok_or_else(AppError::not_found)?;
    let (level, kind) = match ind.formula {
        Formula::Reported { level, kind } => (level, kind),
        // Villages report the amount itself (yuan); the indicator counts the villages over a line.
        Formula::ReportedUnits { item, .. } if item == ind.id => (Level::Village, ReportedKind::Count),
        Formula::ReportedUnits { item, .. } => {
            return Err(AppError::bad_request("indicators.derived", format!("指标 {} 由各村填报的 {item}（村集体经济收入）计算，请填报 {item}", ind.id)));
        }
        _ => return Err(AppError::bad_request("indicators.not_reported", format!("指标 {} 由系统根据台账计算，无需填报", ind.id))),
    };
    let unit = UnitCode::parse(s.unit.trim()).map_err(|_| AppError::bad_request("indicators.bad_unit", "单位代码无效").at_field("unit"))?;
    let scope = me.require(platform::auth::Permission::ViewUnits)?;
    if !scope.contains(&unit) || geography::store::get(&p.db, unit.as_str()).await?.filter(|u| u.is_current()).is_none() {
        return Err(AppError::not_found());
    }
    if !may_submit(me, &unit) {
        return Err(AppError::forbidden());
    }
    if matches!(ind.formula, Formula::ReportedUnits { .. })
        && geography::store::get(&p.db, unit.as_str()).await?.and_then(|u| u.kind()) != Some(UnitKind::Village)
    {
        return Err(AppError::bad_request("indicators.wrong_level", format!("指标 {} 由各村（村民委员会）填报", ind.id)).at_field("unit"));
    }
    if level_of(unit.as_str()) != level {
        return Err(AppError::bad_request("indicators.wrong_level", format!("指标 {} 由{}填报", ind.id, level.label())).at_field("unit"));
    }
    let period = Period::parse(&s.period)
        .filter(|x| x.as_str().len() == 4)
        .ok_or_else(|| AppError::bad_request("indicators.bad_period", "填报期应为年份，如 2026").at_field("period"))?;
    if period.year() > this_year(p) {
        return Err(AppError::bad_request("indicators.future_period", "不能填报未来的年份").at_field("period"));
    }
    let numerator = parse_amount(&s.numerator, "numerator")?;
    let denominator = match kind {
        ReportedKind::Count => None,
        ReportedKind::Ratio(_) | ReportedKind::Growth => {
            let d = parse_amount(&s.denominator, "denominator")?;
            if d == 0 {
                return Err(AppError::bad_request("indicators.zero_denominator", "分母（或基期数）不能为 0").at_field("denominator"));
            }
            if matches!(kind, ReportedKind::Ratio(_)) && numerator > d {
                return Err(AppError::bad_request("indicators.num_exceeds_den", "分子不能大于分母").at_field("numerator"));
            }
            Some(d)
        }
    };
    if s.note.chars().count() > 500 {
        return Err(AppError::bad_request("indicators.note_too_long", "说明不超过 500 字").at_field("note"));
    }
    let evidence = match &s.evidence {
        Some((name, _, bytes)) if !bytes.is_empty() => {
            if bytes.len() > MAX_EVIDENCE_BYTES {
                return Err(AppError::bad_request("indicators.evidence_too_large", "佐证材料不超过 5 MB").at_field("evidence"));
            }
            let t = evidence_type(name, bytes)
                .ok_or_else(|| AppError::bad_request("indicators.evidence_type", "佐证材料须为 PDF、JPEG、PNG、XLSX 或 DOCX 文件").at_field("evidence"))?;
            Some((name.as_str(), t, platform::crypto::base64_encode(bytes)))
        }
        _ => None,
    };
    let mut tx = p.db.begin().await?;
    let id = store::insert_report(
        &mut tx,
        p.now(),
        &store::NewReport {
            indicator_id: &ind.id,
            unit_code: unit.as_str(),
            period: period.as_str(),
            numerator,
            denominator,
            note: s.note.trim(),
            evidence,
            submitted_by: &me.username,
            synthetic: false,
        },
    )
    .await?;
    let detail = format!("{} {} {} = {}/{}", ind.id, unit, period.as_str(), numerator, denominator.map(|d| d.to_string()).unwrap_or_default());
    audit::record(
        &mut tx,
        p.now(),
        &Event { actor: &me.actor(), unit: Some(unit.as_str()), action: "indicators.report_submit", target: &id, outcome: Outcome::Ok, detail: &detail },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Approves or rejects a submitted value. Out-of-scope reports are 404; a reviewer not above the
/// unit (or the submitter) is 403; a report already decided (or a stale version) is a conflict.
pub async fn review(p: &Platform, me: &Principal, id: &str, approve: bool, version: i64, note: &str) -> AppResult<()> {
    let scope = me.require(platform::auth::Permission::ViewUnits)?;
    let r = store::report(&p.db, id).await?.ok_or_else(AppError::not_found)?;
    let unit = UnitCode::parse(&r.unit_code).map_err(AppError::internal)?;
    if !scope.contains(&unit) {
        return Err(AppError::not_found());
    }
    if !may_review(me, &unit, &r.submitted_by) {
        return Err(AppError::forbidden());
    }
    if !approve && note.trim().is_empty() {
        return Err(AppError::bad_request("indicators.reason_required", "退回时须填写原因").at_field("note"));
    }
    let state = if approve { "approved" } else { "rejected" };
    let mut tx = p.db.begin().await?;
    let n = store::review(&mut tx, id, version, state, &me.username, p.now(), note.trim()).await?;
    if n == 0 {
        return Err(AppError::conflict("indicators.already_reviewed", "该填报已被审核或已更新，请刷新后重试"));
    }
    let detail = format!("{} {} {} {}", r.indicator_id, r.unit_code, r.period, note.trim());
    audit::record(
        &mut tx,
        p.now(),
        &Event {
            actor: &me.actor(),
            unit: Some(&r.unit_code),
            action: if approve { "indicators.report_approve" } else { "indicators.report_reject" },
            target: id,
            outcome: Outcome::Ok,
            detail: &detail,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Demo: approved 填报 values (marked synthetic) for the reported city-level indicators and each
/// county, then the current month's snapshot. Idempotent.
pub async fn seed_demo(p: &Platform) -> AppResult<bool> {
    if p.db.scalar(platform::sql!("SELECT COUNT(*) FROM indicator_reports WHERE synthetic = 1")).await? > 0 {
        return Ok(false);
    }
    let city = UnitCode::parse("5109").map_err(AppError::internal)?;
    if geography::store::get(&p.db, "5109").await?.is_none() {
        return Ok(false);
    }
    let counties = geography::store::current_of_kind(&p.db, &city, &[UnitKind::District, UnitKind::County, UnitKind::CountyCity]).await?;
    let year = format!("{:04}", this_year(p));
    let demo: Vec<(&str, String, i64, Option<i64>)> = vec![
        ("T09", "5109".into(), 38_600_000, Some(30_000_000)),
        ("T21", "5109".into(), 820, None),
        ("T25", "5109".into(), 5, None),
        ("T29", "5109".into(), 312, Some(400)),
        ("T34", "5109".into(), 9, None),
        ("T40", "5109".into(), 1_420_000_000, Some(1_000_000_000)),
        ("T44", "5109".into(), 2_650, None),
    ];
    let mut rows = demo;
    for (i, c) in counties.iter().enumerate() {
        let villages =
            geography::store::current_of_kind(&p.db, &UnitCode::parse(&c.code).map_err(AppError::internal)?, &[UnitKind::Community, UnitKind::Village])
                .await?
                .len() as i64;
        let i = i as i64;
        rows.push(("T26", c.code.clone(), villages / (8 + i), Some(villages)));
        rows.push(("T30", c.code.clone(), villages * (5 + i) / 10, Some(villages)));
        rows.push(("T35", c.code.clone(), villages * (3 + i) / 10, Some(villages)));
    }
    // 村集体经济收入 of every village, spread by a hash of its code (demo numbers, marked so).
    for v in geography::store::current_of_kind(&p.db, &city, &[UnitKind::Village]).await? {
        let h = v.code.bytes().fold(1469598103934665603u64, |h, b| (h ^ b as u64).wrapping_mul(1099511628211));
        let income = 20_000 + (h % 1_000) as i64 * (h % 7 + 1) as i64 * 200;
        rows.push(("T36", v.code.clone(), income, None));
    }
    let mut tx = p.db.begin().await?;
    for (ind, unit, num, den) in &rows {
        let id = store::insert_report(
            &mut tx,
            p.now(),
            &store::NewReport {
                indicator_id: ind,
                unit_code: unit,
                period: &year,
                numerator: *num,
                denominator: *den,
                note: "演示数据",
                evidence: None,
                submitted_by: "demo",
                synthetic: true,
            },
        )
        .await?;
        store::review(&mut tx, &id, 1, "approved", "demo-reviewer", p.now(), "演示数据").await?;
    }
    let detail = format!("{} demo reports", rows.len());
    audit::record(
        &mut tx,
        p.now(),
        &Event {
            actor: &platform::audit::Actor::system(),
            unit: None,
            action: "indicators.demo_seed",
            target: "synthetic",
            outcome: Outcome::Ok,
            detail: &detail,
        },
    )
    .await?;
    tx.commit().await?;
    // Only the current month: an earlier month's snapshot computed from today's data would be a
    // made-up history. Trends grow as the job takes a snapshot each month.
    snapshot(p, &Period::month_of(Date::of_instant(p.now()))).await?;
    Ok(true)
}
