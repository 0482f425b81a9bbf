//! The consultation slice's operations: permissions and scope, the ballot lifecycle (draft → open
//! with a frozen roll → closed with an archived result), consultations and 村务公开 with the
//! deadline check. Each write is one transaction with its audit record.

use platform::audit::{self, Actor, Event as AuditEvent, Outcome as AuditOutcome};
use platform::auth::{Permission, Principal};
use platform::clock::{Date, Millis};
use platform::scope::{Level, UnitCode};
use platform::{AppError, AppResult, Platform};
use sha2::{Digest, Sha256};

use crate::model::{self, AffairKind, Category, Channel, Choice, Decision, Electorate, Preset, RollEntry, Rule, Tally, Threshold, Weight};
use crate::store::{self, BallotRow, QuestionRow};

fn sha(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

async fn audit(tx: &mut platform::Tx, now: Millis, actor: &Actor, unit: &str, action: &str, target: &str, detail: &str) -> AppResult<()> {
    audit::record(tx, now, &AuditEvent { actor, unit: Some(unit), action, target, outcome: AuditOutcome::Ok, detail }).await?;
    Ok(())
}

fn text(s: &str, field: &'static str, max: usize) -> AppResult<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(AppError::bad_request("input.required", "此项必填").at_field(field));
    }
    if t.chars().count() > max {
        return Err(AppError::bad_request("input.too_long", format!("不能超过 {max} 个字")).at_field(field));
    }
    Ok(t.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Ballots

pub struct QuestionInput {
    pub text: String,
    /// 民法典第二百七十八条 item (1–9) for owners' ballots.
    pub matter: Option<i64>,
    /// For other electorates: the category the organiser states.
    pub category: Option<Category>,
}

pub struct CustomRule {
    pub quorum: Threshold,
    pub ordinary: Threshold,
    pub special: Threshold,
    pub by_area: bool,
}

pub struct CreateBallot {
    pub unit: String,
    pub title: String,
    pub description: String,
    pub organiser: String,
    pub electorate: Electorate,
    pub preset: Preset,
    pub custom: Option<CustomRule>,
    pub secret: bool,
    pub herd: bool,
    pub local_rule: String,
    pub questions: Vec<QuestionInput>,
    pub synthetic: bool,
    /// The voting window (UTC ms), optional at either end.
    pub opens_ms: Option<Millis>,
    pub closes_ms: Option<Millis>,
    /// 纸质票录入期: hours after the close during which staff still enter the paper ballots
    /// collected before it; the automatic count waits for them (0–168).
    pub paper_hours: i64,
}

/// Checks that the ballot's unit fits its electorate: owners vote per compound, the others per
/// village or community.
async fn check_unit(p: &Platform, me: &Principal, unit: &str, electorate: Electorate) -> AppResult<UnitCode> {
    let code = UnitCode::parse(unit.trim()).map_err(|_| AppError::bad_request("ballot.bad_unit", "单位代码无效").at_field("单位"))?;
    let scope = me.require(Permission::ManageConsultation)?;
    if !scope.contains(&code) || geography::store::get(&p.db, code.as_str()).await?.is_none() {
        return Err(AppError::not_found());
    }
    let ok = match electorate {
        Electorate::Owners => code.level() == Level::Cell && code.as_str()[12..].parse::<u32>().is_ok_and(|n| (1..500).contains(&n)),
        _ => code.level() == Level::Village,
    };
    if !ok {
        return Err(AppError::bad_request(
            "ballot.bad_unit",
            if electorate == Electorate::Owners {
                "业主表决应选择小区（15 位代码）"
            } else {
                "村（居）民表决应选择村或社区（12 位代码）"
            },
        )
        .at_field("单位"));
    }
    Ok(code)
}

pub async fn create_ballot(p: &Platform, me: &Principal, c: CreateBallot) -> AppResult<String> {
    let code = check_unit(p, me, &c.unit, c.electorate).await?;
    let title = text(&c.title, "标题", 100)?;
    let organiser = text(&c.organiser, "组织者", 60)?;
    let mut rule = match (&c.custom, c.preset) {
        (Some(cr), Preset::Custom) => Rule {
            preset: Preset::Custom,
            quorum: cr.quorum,
            by_area: cr.by_area && c.electorate == Electorate::Owners,
            ordinary: cr.ordinary,
            special: cr.special,
            abstain_follows_majority: false,
            local_rule: String::new(),
        },
        (None, Preset::Custom) => return Err(AppError::bad_request("ballot.custom_rule", "自定义规则须填写参与比例和通过比例").at_field("自定义规则")),
        _ => Rule::preset(c.preset, c.electorate)?,
    };
    rule.abstain_follows_majority = c.herd;
    rule.local_rule = c.local_rule.trim().to_owned();
    rule.check()?;
    let mut qs = Vec::new();
    for (i, q) in c.questions.iter().enumerate() {
        if q.text.trim().is_empty() {
            continue;
        }
        let t = text(&q.text, "表决事项", 200).map_err(|e| e.at_row(i + 1))?;
        let (cat, matter) = if c.electorate == Electorate::Owners && c.preset == Preset::CivilCode278 {
            let m = q.matter.ok_or_else(|| {
                AppError::bad_request("ballot.matter_required", "业主表决事项须选择民法典第二百七十八条所列事项").at_row(i + 1).at_field("法定事项")
            })?;
            let cat = model::art_278_category(m)
                .ok_or_else(|| AppError::bad_request("ballot.matter_required", "法定事项应为第（一）至（九）项").at_row(i + 1).at_field("法定事项"))?;
            (cat, Some(m))
        } else {
            (q.category.unwrap_or(Category::Ordinary), None)
        };
        qs.push((t, cat, matter));
    }
    if qs.is_empty() {
        return Err(AppError::bad_request("ballot.no_questions", "至少填写一项表决事项").at_field("表决事项"));
    }
    model::check_window(c.opens_ms, c.closes_ms)?;
    if !(0..=168).contains(&c.paper_hours) {
        return Err(AppError::bad_request("ballot.bad_paper_hours", "纸质票录入期应为 0 到 168 小时").at_field("纸质票录入期"));
    }
    let now = p.now();
    if c.closes_ms.is_some_and(|t| t <= now) {
        return Err(AppError::bad_request("ballot.bad_window", "截止时间已过，请重新填写").at_field("截止时间"));
    }
    let actor = me.actor();
    let mut tx = p.db.begin().await?;
    let nb = store::NewBallot {
        unit_code: code.as_str(),
        title: &title,
        description: c.description.trim(),
        organiser: &organiser,
        electorate: c.electorate,
        rule: &rule,
        secret: c.secret,
        synthetic: c.synthetic,
        created_by: &me.username,
        opens_ms: c.opens_ms,
        closes_ms: c.closes_ms,
        count_at_ms: c.closes_ms.map(|t| t + c.paper_hours * platform::clock::HOUR),
    };
    let id = store::insert_ballot(&mut tx, now, &nb, &qs).await?;
    let detail = format!("{} · {} · {} 项 · {}", c.electorate.as_str(), rule.preset.as_str(), qs.len(), if c.secret { "secret" } else { "named" });
    audit(&mut tx, now, &actor, code.as_str(), "ballot.create", &id, &detail).await?;
    tx.commit().await?;
    Ok(id)
}

/// The visible ballot: managers see those in their scope, participants those of their area.
pub async fn ballot(p: &Platform, me: &Principal, id: &str) -> AppResult<BallotRow> {
    let scope = me.require(Permission::Participate)?;
    let manage = me.scope(Permission::ManageConsultation);
    let b = match store::ballot(&p.db, &manage, id).await? {
        Some(b) => b,
        None => store::ballot(&p.db, &scope, id).await?.ok_or_else(AppError::not_found)?,
    };
    if b.state == "draft" && !manage.contains(&UnitCode::parse(&b.unit_code).map_err(AppError::internal)?) {
        return Err(AppError::not_found());
    }
    Ok(b)
}

pub fn can_manage(me: &Principal, b: &BallotRow) -> bool {
    UnitCode::parse(&b.unit_code).is_ok_and(|c| me.scope(Permission::ManageConsultation).contains(&c))
}

/// The roll as the registers give it now (draft preview, and what opening freezes), with each
/// voter's ID-number blind index for matching phone and booth votes.
pub async fn build_roll(p: &Platform, b: &BallotRow) -> AppResult<Vec<(RollEntry, Option<String>)>> {
    let today = Date::of_instant(p.now());
    let voters = match b.electorate() {
        Electorate::Owners => {
            let units = registry::roll::compound_units(&p.db, &b.unit_code).await?;
            let unowned: Vec<&str> = units.iter().filter(|u| u.person_id.is_none() && u.developer.is_none()).map(|u| u.label.as_str()).collect();
            if !unowned.is_empty() {
                return Err(AppError::bad_request(
                    "roll.missing_owner",
                    format!(
                        "{} 套房屋未登记产权人（{}{}），请先补录产权登记",
                        unowned.len(),
                        unowned.iter().take(5).copied().collect::<Vec<_>>().join("、"),
                        if unowned.len() > 5 { "等" } else { "" }
                    ),
                ));
            }
            let mut index = std::collections::HashMap::new();
            let owned: Vec<model::OwnedUnit> = units
                .iter()
                .map(|u| {
                    let holder = match (&u.person_id, &u.developer) {
                        (Some(id), _) => {
                            index.insert(format!("person:{id}"), u.id_index.clone());
                            model::Holder::Person { id: id.clone(), name: u.person_name.clone().unwrap_or_default() }
                        }
                        (None, d) => model::Holder::Developer { name: d.clone().unwrap_or_default() },
                    };
                    model::OwnedUnit { house_id: u.house_id.clone(), label: u.label.clone(), area_dm2: u.floor_area_dm2, holder }
                })
                .collect();
            let roll = model::owner_roll(&owned)?;
            return Ok(roll
                .into_iter()
                .map(|e| {
                    let idx = index.get(&e.voter_key).cloned().flatten();
                    (e, idx)
                })
                .collect());
        }
        Electorate::Persons => registry::roll::adults(&p.db, &b.unit_code, today).await?,
        Electorate::Households => registry::roll::household_representatives(&p.db, &b.unit_code, today).await?,
        Electorate::Representatives => registry::roll::representatives(&p.db, &b.unit_code).await?,
    };
    Ok(voters
        .into_iter()
        .map(|v| {
            let e =
                RollEntry { voter_key: format!("person:{}", v.person_id), name: v.name, person_id: Some(v.person_id), area_dm2: 0, units: 0, detail: v.detail };
            (e, v.id_index)
        })
        .collect())
}

/// Opens voting: the roll is built from the registers and frozen in the same transaction; its hash
/// goes into the audit record, so the roll used can be proven later.
pub async fn open_ballot(p: &Platform, me: &Principal, id: &str) -> AppResult<(i64, i64)> {
    let b = ballot(p, me, id).await?;
    if !can_manage(me, &b) {
        return Err(AppError::forbidden());
    }
    if b.state != "draft" {
        return Err(AppError::conflict("ballot.not_draft", "表决已开始或已结束，名册已冻结"));
    }
    if let Some(c) = b.closes_ms.filter(|c| *c <= p.now()) {
        return Err(AppError::conflict("ballot.closed", format!("截止时间 {} 已过，不能再开始投票", platform::clock::format_beijing(c))));
    }
    let roll = build_roll(p, &b).await?;
    if roll.is_empty() {
        return Err(AppError::bad_request("roll.empty", "名册为空：登记的台账中没有符合条件的选民"));
    }
    let body: Vec<String> = roll.iter().map(|(e, _)| format!("{}|{}|{}|{}", e.voter_key, e.name, e.area_dm2, e.units)).collect();
    let hash = sha(&body.join("\n"));
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let n = store::freeze_roll(&mut tx, id, &roll, &hash, now).await?;
    if n == 0 {
        return Err(AppError::conflict("ballot.not_draft", "表决已开始或已结束，名册已冻结"));
    }
    let area: i64 = roll.iter().map(|(e, _)| e.area_dm2).sum();
    let detail = format!("roll {} voters, {} dm2, sha256 {hash}", roll.len(), area);
    audit(&mut tx, now, &me.actor(), &b.unit_code, "ballot.open", id, &detail).await?;
    tx.commit().await?;
    Ok((roll.len() as i64, area))
}

/// 产权登记 from a draft owners' ballot: the owner of one unit of the compound, by ID number, or
/// the developer for an unsold unit. Recorded in the register (registry::roll), audited.
pub async fn register_owner(p: &Platform, me: &Principal, id: &str, house_id: &str, id_number: &str, developer: &str) -> AppResult<String> {
    let b = ballot(p, me, id).await?;
    if !can_manage(me, &b) {
        return Err(AppError::forbidden());
    }
    if b.state != "draft" || b.electorate() != Electorate::Owners {
        return Err(AppError::conflict("ballot.not_draft", "只有业主表决的草稿可以补录产权人；名册冻结后不再改变"));
    }
    let units = registry::roll::compound_units(&p.db, &b.unit_code).await?;
    let unit = units.iter().find(|u| u.house_id == house_id).ok_or_else(AppError::not_found)?;
    let today = Date::of_instant(p.now());
    let (owner, label) = if !id_number.trim().is_empty() {
        let idx = registry::roll::id_index(&p.cipher, id_number, today)
            .ok_or_else(|| AppError::bad_request("ballot.bad_id", "身份证号格式或校验码不正确").at_field("身份证号"))?;
        let (pid, name) = registry::roll::person_by_index(&p.db, &idx, None)
            .await?
            .ok_or_else(|| AppError::bad_request("roll.unknown_person", "人口台账中没有此身份证号，请先登记该业主").at_field("身份证号"))?;
        (registry::roll::Owner::Person(pid), name)
    } else {
        let d = text(developer, "建设单位", 100)?;
        (registry::roll::Owner::Developer(d.clone()), d)
    };
    let now = p.now();
    let mut tx = p.db.begin().await?;
    registry::roll::set_owner(&mut tx, now, house_id, &owner, false).await?;
    audit(
        &mut tx,
        now,
        &me.actor(),
        &b.unit_code,
        "roll.owner_set",
        house_id,
        &format!("{} → {}", unit.label, if matches!(owner, registry::roll::Owner::Developer(_)) { "developer" } else { "person" }),
    )
    .await?;
    tx.commit().await?;
    Ok(label)
}

/// Adds a 村民代表 to the village's list from a draft representatives' ballot, by ID number.
pub async fn add_representative(p: &Platform, me: &Principal, id: &str, id_number: &str) -> AppResult<String> {
    let b = ballot(p, me, id).await?;
    if !can_manage(me, &b) {
        return Err(AppError::forbidden());
    }
    if b.state != "draft" || b.electorate() != Electorate::Representatives {
        return Err(AppError::conflict("ballot.not_draft", "只有村民代表会议表决的草稿可以补录代表；名册冻结后不再改变"));
    }
    let idx = registry::roll::id_index(&p.cipher, id_number, Date::of_instant(p.now()))
        .ok_or_else(|| AppError::bad_request("ballot.bad_id", "身份证号格式或校验码不正确").at_field("身份证号"))?;
    let (pid, name) = registry::roll::person_by_index(&p.db, &idx, Some(&b.unit_code))
        .await?
        .ok_or_else(|| AppError::bad_request("roll.unknown_person", "该村民不在本村人口台账中").at_field("身份证号"))?;
    let now = p.now();
    let mut tx = p.db.begin().await?;
    registry::roll::add_representative(&mut tx, now, &b.unit_code, &pid, "", &me.username, false).await?;
    audit(&mut tx, now, &me.actor(), &b.unit_code, "roll.representative_add", &pid, "").await?;
    tx.commit().await?;
    Ok(name)
}

/// Units of the ballot's compound without a registered owner (for the draft page's 产权登记 forms).
pub async fn unowned_units(p: &Platform, b: &BallotRow) -> AppResult<Vec<(String, String)>> {
    if b.electorate() != Electorate::Owners {
        return Ok(Vec::new());
    }
    Ok(registry::roll::compound_units(&p.db, &b.unit_code)
        .await?
        .into_iter()
        .filter(|u| u.person_id.is_none() && u.developer.is_none())
        .take(50)
        .map(|u| (u.house_id, u.label))
        .collect())
}

/// For named ballots only: who chose what, as the signature list of the result. Secret ballots
/// have nothing to list.
pub async fn named_choices(p: &Platform, b: &BallotRow) -> AppResult<Vec<(i64, String, String)>> {
    if b.secret != 0 {
        return Ok(Vec::new());
    }
    Ok(store::named_choices(&p.db, &b.id).await?)
}

/// Who is voting: in the app, the person bound to the signed-in account (实名认证 at the
/// counter); at the booth, the ID number the voter enters beside staff; on paper, the roll number.
pub enum VoterRef {
    Account,
    IdNumber(String),
    RollNo(i64),
}

pub struct VoteInput {
    pub channel: Channel,
    pub voter: VoterRef,
    pub evidence: String,
    pub choices: Vec<(String, Choice)>,
}

pub struct Receipt {
    pub code: String,
    pub voter_name: String,
}

fn already_voted(channel: Option<&str>) -> AppError {
    let via = channel.and_then(Channel::parse).map(|c| c.label()).unwrap_or("其他渠道");
    AppError::conflict("ballot.already_voted", format!("该选民已通过“{via}”参与本次表决，每人只能投一次，不能重复投票或改投"))
}

/// Casts one vote. The `(ballot, voter)` primary key is the one-vote rule across channels; in a
/// secret ballot the choices go only into totals and an unlinkable receipt.
pub async fn vote(p: &Platform, me: &Principal, id: &str, v: VoteInput) -> AppResult<Receipt> {
    let b = ballot(p, me, id).await?;
    match v.channel {
        Channel::App => {}
        Channel::Paper | Channel::Booth if can_manage(me, &b) => {}
        _ => return Err(AppError::forbidden()),
    }
    if b.state != "open" {
        return Err(AppError::conflict("ballot.not_open", if b.state == "draft" { "表决尚未开始" } else { "表决已结束，不能再投票" }));
    }
    model::window_allows(b.opens_ms, b.closes_ms, p.now(), v.channel == Channel::Paper)?;
    let evidence = v.evidence.trim().to_owned();
    if v.channel == Channel::Paper && evidence.is_empty() {
        return Err(AppError::bad_request("ballot.evidence_required", "纸质票录入须填写凭证（纸质票编号、签字照片存档位置等）").at_field("录入凭证"));
    }
    if evidence.chars().count() > 200 {
        return Err(AppError::bad_request("input.too_long", "不能超过 200 个字").at_field("录入凭证"));
    }
    let questions = store::questions(&p.db, id).await?;
    let mut picks: Vec<(&QuestionRow, Choice)> = Vec::new();
    for q in &questions {
        let c = v.choices.iter().find(|(qid, _)| *qid == q.id).map(|(_, c)| *c).ok_or_else(|| {
            AppError::bad_request("ballot.choice_missing", format!("第 {} 项未选择（同意、反对或弃权）", q.seq)).at_row(q.seq as usize).at_field("表决意见")
        })?;
        picks.push((q, c));
    }
    let today = Date::of_instant(p.now());
    let now = p.now();
    // A typed ID number proves nothing about who holds the phone: app votes use the bound person,
    // and only app votes may (staff at the booth or the paper desk see the voter or the paper).
    let bound = match (v.channel, &v.voter) {
        (Channel::App, VoterRef::Account) => Some(
            registry::identity::person_of_account(&p.db, &me.user_id)
                .await?
                .filter(|x| x.is_current())
                .ok_or_else(|| AppError::bad_request("ballot.identity_required", "请先到社区窗口完成实名认证后再投票").at_field("选民"))?,
        ),
        (Channel::App, _) | (_, VoterRef::Account) => {
            return Err(AppError::bad_request("ballot.identity_required", "手机投票只能以本人实名认证的身份进行").at_field("选民"));
        }
        _ => None,
    };
    let mut tx = p.db.begin().await?;
    if store::lock_open_ballot(&mut tx, id).await? == 0 {
        return Err(AppError::conflict("ballot.not_open", "表决已结束，不能再投票"));
    }
    let entry = match &v.voter {
        VoterRef::Account => {
            let person = bound.as_ref().ok_or_else(|| AppError::internal("app vote without a bound person"))?;
            store::roll_entry_by_person(&mut tx, id, &person.id, person.id_index.as_deref()).await?
        }
        VoterRef::IdNumber(raw) => {
            let idx = registry::roll::id_index(&p.cipher, raw, today)
                .ok_or_else(|| AppError::bad_request("ballot.bad_id", "身份证号格式或校验码不正确").at_field("身份证号"))?;
            store::roll_entry_by_index(&mut tx, id, &idx).await?
        }
        VoterRef::RollNo(n) => store::roll_entry_by_seq(&mut tx, id, *n).await?,
    }
    .ok_or_else(|| AppError::bad_request("ballot.not_on_roll", "不在本次表决的冻结名册中，不能投票").at_field("选民"))?;
    if entry.channel.is_some() {
        return Err(already_voted(entry.channel.as_deref()));
    }
    match store::insert_voter(&mut tx, id, &entry.voter_key, v.channel.as_str(), &me.username, &evidence, now).await {
        Ok(_) => {}
        Err(e) if e.is_unique_violation() => return Err(already_voted(None)),
        Err(e) => return Err(e.into()),
    }
    let heads = 1;
    let area = if b.by_area != 0 { entry.area_dm2 } else { 0 };
    let mut summary = Vec::new();
    for (q, c) in &picks {
        store::add_to_tally(&mut tx, &q.id, c.as_str(), heads, area).await?;
        if b.secret == 0 {
            store::insert_named_choice(&mut tx, id, &entry.voter_key, &q.id, c.as_str()).await?;
        }
        summary.push(format!("第{}项：{}", q.seq, c.label()));
    }
    let code = {
        use rand::Rng;
        let bytes: [u8; 10] = rand::rng().random();
        hex::encode(bytes)
    };
    store::insert_receipt(&mut tx, &sha(&format!("{id}:{code}")), id, &summary.join("；")).await?;
    // The audit says who took part and how, never what they chose.
    let detail =
        format!("channel={} voter=#{}{}", v.channel.as_str(), entry.seq, if evidence.is_empty() { String::new() } else { format!(" evidence={evidence}") });
    audit(&mut tx, now, &me.actor(), &b.unit_code, "ballot.vote", id, &detail).await?;
    tx.commit().await?;
    Ok(Receipt { code, voter_name: entry.name })
}

/// What a receipt code shows its holder: the choices recorded, nothing else.
pub async fn check_receipt(p: &Platform, me: &Principal, id: &str, code: &str) -> AppResult<Option<String>> {
    let b = ballot(p, me, id).await?;
    let code = code.trim().to_ascii_lowercase();
    if code.is_empty() {
        return Ok(None);
    }
    Ok(store::receipt(&p.db, &b.id, &sha(&format!("{}:{code}", b.id))).await?)
}

pub struct QuestionResult {
    pub question: QuestionRow,
    pub tally: Tally,
    pub decision: Decision,
}

pub struct BallotResult {
    pub roll: Weight,
    pub took_part: Weight,
    pub by_channel: Vec<(String, i64)>,
    pub questions: Vec<QuestionResult>,
}

/// The arithmetic of a ballot from its totals (pure given the rows).
pub fn compute(b: &BallotRow, questions: Vec<QuestionRow>, participation: &[(String, i64, i64)], tallies: &[store::TallyRow]) -> BallotResult {
    let rule = b.rule();
    let roll = Weight { heads: b.roll_heads, area_dm2: if rule.by_area { b.roll_area } else { 0 } };
    let mut took_part = Weight::default();
    for (_, n, a) in participation {
        took_part.add(Weight { heads: *n, area_dm2: if rule.by_area { *a } else { 0 } });
    }
    let questions = questions
        .into_iter()
        .map(|q| {
            let mut tally = Tally::default();
            for t in tallies.iter().filter(|t| t.question_id == q.id) {
                if let Some(c) = Choice::parse(&t.choice) {
                    tally.add(c, Weight { heads: t.heads, area_dm2: t.area_dm2 });
                }
            }
            let decision = model::decide(&rule, q.category(), roll, took_part, &tally);
            QuestionResult { question: q, tally, decision }
        })
        .collect();
    BallotResult { roll, took_part, by_channel: participation.iter().map(|(c, n, _)| (c.clone(), *n)).collect(), questions }
}

/// The result document: plain text, every count and the rule applied; its SHA-256 is archived.
pub fn document(b: &BallotRow, r: &BallotResult, unit_name: &str, closed_ms: Millis) -> String {
    let rule = b.rule();
    let mut d = String::new();
    let by_area = rule.by_area;
    d.push_str(&format!("表决结果公告\n\n{}\n单位：{}（{}）\n组织者：{}\n", b.title, unit_name, b.unit_code, b.organiser));
    d.push_str(&format!("选民类型：{}\n适用规则：{}\n", b.electorate().label(), rule.preset.label()));
    d.push_str(&format!(
        "参与表决要求：{}{}；一般事项同意要求：参与表决者{}；特别事项同意要求：参与表决者{}\n",
        if by_area { "专有部分面积和人数均" } else { "应参与人数" },
        rule.quorum.label(),
        rule.ordinary.label(),
        rule.special.label()
    ));
    d.push_str(&format!("投票方式：{}\n", if b.secret != 0 { "无记名投票（身份与选择分开保存）" } else { "记名投票" }));
    d.push_str(&format!(
        "投票时间：{} 至 {}\n名册冻结校验值（SHA-256）：{}\n\n",
        b.opened_ms.map(platform::clock::format_beijing).unwrap_or_default(),
        platform::clock::format_beijing(closed_ms),
        b.roll_hash.clone().unwrap_or_default()
    ));
    d.push_str(&format!(
        "应参与表决：{} 人{}\n",
        r.roll.heads,
        if by_area { format!("，专有部分面积 {} 平方米", model::area_m2(r.roll.area_dm2)) } else { String::new() }
    ));
    d.push_str(&format!(
        "实际参与：{} 人{}\n",
        r.took_part.heads,
        if by_area { format!("，专有部分面积 {} 平方米", model::area_m2(r.took_part.area_dm2)) } else { String::new() }
    ));
    let chans: Vec<String> = r.by_channel.iter().map(|(c, n)| format!("{} {n} 人", Channel::parse(c).map(|c| c.label()).unwrap_or("其他"))).collect();
    d.push_str(&format!("其中：{}\n\n", if chans.is_empty() { "无".to_owned() } else { chans.join("，") }));
    for q in &r.questions {
        let t = &q.tally;
        let w = |x: &Weight| if by_area { format!("{} 人 / {} 平方米", x.heads, model::area_m2(x.area_dm2)) } else { format!("{} 人", x.heads) };
        let matter =
            q.question.matter.and_then(|m| model::ART_278_MATTERS.get((m - 1) as usize)).map(|m| format!("（民法典第二百七十八条{m}）")).unwrap_or_default();
        d.push_str(&format!("第{}项 {}{}，{}\n", q.question.seq, q.question.text, matter, q.question.category().label()));
        d.push_str(&format!("  同意 {}；反对 {}；弃权 {}\n", w(&t.yes), w(&t.no), w(&t.abstain)));
        for l in &q.decision.lines {
            d.push_str(&format!("  {l}\n"));
        }
        for l in &q.decision.warnings {
            d.push_str(&format!("  {l}\n"));
        }
        d.push_str(&format!("  结果：{}\n\n", q.decision.outcome.label()));
    }
    d
}

/// Closes voting: computes, writes the result document (immutable) and its hash, in one transaction.
pub async fn close_ballot(p: &Platform, me: &Principal, id: &str) -> AppResult<String> {
    let b = ballot(p, me, id).await?;
    if !can_manage(me, &b) {
        return Err(AppError::forbidden());
    }
    close_as(p, &me.actor(), id).await
}

/// The close itself, for a person or for the system when the closing time has passed: the same
/// computation, document and audit record either way.
async fn close_as(p: &Platform, actor: &Actor, id: &str) -> AppResult<String> {
    let not_open = || AppError::conflict("ballot.not_open", "只有投票中的表决可以结束");
    let now = p.now();
    let mut tx = p.db.begin().await?;
    if store::lock_open_ballot(&mut tx, id).await? == 0 {
        return Err(not_open());
    }
    let b = store::ballot_tx(&mut tx, id).await?.ok_or_else(AppError::not_found)?;
    let unit = geography::store::get(&p.db, &b.unit_code).await?.map(|u| u.name).unwrap_or_default();
    let qs = store::questions_tx(&mut tx, id).await?;
    let part = store::participation_tx(&mut tx, id).await?;
    let tallies = store::tallies_tx(&mut tx, id).await?;
    let r = compute(&b, qs, &part, &tallies);
    let doc = document(&b, &r, &unit, now);
    let hash = sha(&doc);
    if store::close_ballot(&mut tx, id, &doc, &hash, now).await? == 0 {
        return Err(not_open());
    }
    let outcomes: Vec<&str> = r.questions.iter().map(|q| q.decision.outcome.as_str()).collect();
    audit(&mut tx, now, actor, &b.unit_code, "ballot.close", id, &format!("{} took part; {}; sha256 {hash}", r.took_part.heads, outcomes.join(","))).await?;
    tx.commit().await?;
    Ok(hash)
}

/// The periodic close: every open ballot whose closing time has passed is closed by the system.
/// Returns how many it closed; one already closed by hand meanwhile is skipped.
pub async fn close_due_ballots(p: &Platform) -> AppResult<usize> {
    let mut n = 0;
    for id in store::due_for_closing(&p.db, p.now()).await? {
        match close_as(p, &Actor::system(), &id).await {
            Ok(_) => n += 1,
            Err(e) if e.code == "ballot.not_open" => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The live counts of an open ballot (participation only; choices stay sealed until it closes).
pub async fn live(p: &Platform, b: &BallotRow) -> AppResult<(Weight, Vec<(String, i64)>)> {
    let part = store::participation(&p.db, &b.id).await?;
    let mut w = Weight::default();
    for (_, n, a) in &part {
        w.add(Weight { heads: *n, area_dm2: *a });
    }
    Ok((w, part.into_iter().map(|(c, n, _)| (c, n)).collect()))
}

// ---------------------------------------------------------------------------------------------
// Consultations (议事协商)

fn village_unit(p: &Principal, unit: &str, perm: Permission) -> AppResult<UnitCode> {
    let code = UnitCode::parse(unit.trim()).map_err(|_| AppError::bad_request("input.bad_unit", "单位代码无效").at_field("单位"))?;
    if !matches!(code.level(), Level::Village | Level::Cell) {
        return Err(AppError::bad_request("input.bad_unit", "请选择村、社区或小区").at_field("单位"));
    }
    if !p.require(perm)?.contains(&code) {
        return Err(AppError::not_found());
    }
    Ok(code)
}

pub async fn raise_topic(p: &Platform, me: &Principal, unit: &str, title: &str, body: &str, template: &str, synthetic: bool) -> AppResult<String> {
    let code = village_unit(me, unit, Permission::Participate)?;
    let staff = me.scope(Permission::ManageConsultation).contains(&code);
    let title = text(title, "议题", 100)?;
    let body = text(body, "内容", 2000)?;
    let template = if template == "four_two" && staff { "four_two" } else { "general" };
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let id = store::insert_consultation(
        &mut tx,
        now,
        code.as_str(),
        &title,
        &body,
        if staff { "staff" } else { "resident" },
        &me.username,
        template,
        model::template_steps(template),
        synthetic,
    )
    .await?;
    // Raising the topic is the first step of either template.
    store::complete_step(&mut tx, &id, 1, &me.username, "", now).await?;
    audit(&mut tx, now, &me.actor(), code.as_str(), "consultation.raise", &id, template).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn topic(p: &Platform, me: &Principal, id: &str) -> AppResult<store::ConsultationRow> {
    let scope = me.require(Permission::Participate)?;
    store::consultation(&p.db, &scope, id).await?.ok_or_else(AppError::not_found)
}

pub fn can_manage_topic(me: &Principal, c: &store::ConsultationRow) -> bool {
    UnitCode::parse(&c.unit_code).is_ok_and(|u| me.scope(Permission::ManageConsultation).contains(&u))
}

/// A discussion post by anyone who may participate, or a follow-up note on a decision by staff.
pub async fn post(p: &Platform, me: &Principal, id: &str, kind: &str, body: &str) -> AppResult<()> {
    let c = topic(p, me, id).await?;
    let kind = if kind == "followup" { "followup" } else { "comment" };
    if kind == "followup" && !can_manage_topic(me, &c) {
        return Err(AppError::forbidden());
    }
    if c.state == "closed" && kind == "comment" {
        return Err(AppError::conflict("consultation.closed", "该议题已办结，不能再发表意见"));
    }
    let body = text(body, "内容", 1000)?;
    let now = p.now();
    let mut tx = p.db.begin().await?;
    store::insert_post(&mut tx, id, kind, &me.username, &body, now).await?;
    audit(&mut tx, now, &me.actor(), &c.unit_code, if kind == "followup" { "consultation.followup" } else { "consultation.comment" }, id, "").await?;
    tx.commit().await?;
    Ok(())
}

/// Completes the next step of the template; steps cannot be skipped (四议两公开 is a sequence).
pub async fn complete_step(p: &Platform, me: &Principal, id: &str, seq: i64, note: &str) -> AppResult<()> {
    let c = topic(p, me, id).await?;
    if !can_manage_topic(me, &c) {
        return Err(AppError::forbidden());
    }
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let steps = store::steps_tx(&mut tx, id).await?;
    let next = steps.iter().find(|s| s.done_ms.is_none()).ok_or_else(|| AppError::conflict("consultation.done", "所有步骤均已完成"))?;
    if next.seq != seq {
        return Err(AppError::conflict("consultation.step_order", format!("请按顺序办理：下一步是“{}”", next.name)));
    }
    store::complete_step(&mut tx, id, seq, &me.username, note.trim(), now).await?;
    let last = steps.iter().all(|s| s.seq == seq || s.done_ms.is_some());
    // The publication steps put the decision on the public page; the last step closes the topic.
    let publishes = next.name.contains("公开");
    store::set_consultation_state(&mut tx, id, if last { "closed" } else { "open" }, publishes.then_some(now), now).await?;
    audit(&mut tx, now, &me.actor(), &c.unit_code, "consultation.step", id, &format!("{seq} {}", next.name)).await?;
    tx.commit().await?;
    Ok(())
}

pub struct MeetingInput {
    pub title: String,
    pub held_on: String,
    pub due: i64,
    pub present: i64,
    pub minutes: String,
    pub decision: String,
}

fn check_attendance(due: i64, present: i64) -> AppResult<()> {
    if due <= 0 {
        return Err(AppError::bad_request("meeting.bad_due", "应到人数须大于 0").at_field("应到人数"));
    }
    if present < 0 || present > due {
        return Err(AppError::bad_request("meeting.bad_present", "实到人数应在 0 到应到人数之间").at_field("实到人数"));
    }
    Ok(())
}

pub async fn add_meeting(p: &Platform, me: &Principal, id: &str, m: MeetingInput) -> AppResult<String> {
    let c = topic(p, me, id).await?;
    if !can_manage_topic(me, &c) {
        return Err(AppError::forbidden());
    }
    let title = text(&m.title, "会议名称", 100)?;
    let held = Date::parse(m.held_on.trim()).ok_or_else(|| AppError::bad_request("meeting.bad_date", "日期应为 YYYY-MM-DD").at_field("会议日期"))?;
    check_attendance(m.due, m.present)?;
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let mid = store::insert_meeting(
        &mut tx,
        now,
        id,
        &title,
        &held.to_string(),
        m.due,
        m.present,
        Threshold::at_least(2, 3),
        m.minutes.trim(),
        m.decision.trim(),
        &me.username,
    )
    .await?;
    audit(&mut tx, now, &me.actor(), &c.unit_code, "consultation.meeting", &mid, &format!("due {} present {}", m.due, m.present)).await?;
    tx.commit().await?;
    Ok(mid)
}

/// Updates attendance as people arrive, and the minutes and decision as the meeting goes on.
pub async fn update_meeting(p: &Platform, me: &Principal, id: &str, mid: &str, present: i64, minutes: &str, decision: &str) -> AppResult<()> {
    let c = topic(p, me, id).await?;
    if !can_manage_topic(me, &c) {
        return Err(AppError::forbidden());
    }
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let m = store::meeting_tx(&mut tx, mid).await?.filter(|m| m.consultation_id == id).ok_or_else(AppError::not_found)?;
    check_attendance(m.due, present)?;
    store::update_meeting(&mut tx, mid, present, minutes.trim(), decision.trim()).await?;
    audit(&mut tx, now, &me.actor(), &c.unit_code, "consultation.meeting_update", mid, &format!("present {present}")).await?;
    tx.commit().await?;
    Ok(())
}

/// The live attendance of a meeting: (due, present, quorum met, the line shown).
pub async fn attendance(p: &Platform, me: &Principal, id: &str, mid: &str) -> AppResult<(i64, i64, bool, String)> {
    topic(p, me, id).await?;
    let m = store::meeting(&p.db, mid).await?.filter(|m| m.consultation_id == id).ok_or_else(AppError::not_found)?;
    let (ok, line) = model::meeting_quorum(m.due, m.present, m.quorum());
    Ok((m.due, m.present, ok, line))
}

/// Records one arrival at the door (签到), audited like any attendance change.
pub async fn meeting_arrive(p: &Platform, me: &Principal, id: &str, mid: &str) -> AppResult<()> {
    let c = topic(p, me, id).await?;
    if !can_manage_topic(me, &c) {
        return Err(AppError::forbidden());
    }
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let m = store::meeting_tx(&mut tx, mid).await?.filter(|m| m.consultation_id == id).ok_or_else(AppError::not_found)?;
    if store::meeting_arrive(&mut tx, mid).await? == 0 {
        return Err(AppError::bad_request("meeting.bad_present", "实到人数已等于应到人数").at_field("实到人数"));
    }
    audit(&mut tx, now, &me.actor(), &c.unit_code, "consultation.meeting_update", mid, &format!("present {}", m.present + 1)).await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 小微权力清单

/// A village (12-digit code) the staff member manages; anything else is 404.
fn managed_village(me: &Principal, unit: &str) -> AppResult<UnitCode> {
    let code = UnitCode::parse(unit.trim()).map_err(|_| AppError::not_found())?;
    if code.level() != Level::Village || !me.require(Permission::ManageConsultation)?.contains(&code) {
        return Err(AppError::not_found());
    }
    Ok(code)
}

/// The list a village shows: its own current items once it has changed anything, else the template.
pub async fn power_list(p: &Platform, unit: &str) -> AppResult<Vec<model::PowerItemInput>> {
    let own = store::power_items(&p.db, unit).await?;
    if own.is_empty() {
        return Ok(model::power_template());
    }
    Ok(own
        .into_iter()
        .filter(|i| i.retired_ms.is_none())
        .map(|i| model::PowerItemInput { category: i.category, name: i.name, basis: i.basis, steps: i.steps, responsible: i.responsible })
        .collect())
}

/// The village's items for its staff (current and retired), copying the template in on first use
/// is left to the first change, so a village that never edits keeps following the template.
pub async fn power_items(p: &Platform, me: &Principal, unit: &str) -> AppResult<(UnitCode, Vec<store::PowerItemRow>, Vec<store::PowerVersionRow>)> {
    let code = managed_village(me, unit)?;
    Ok((code.clone(), store::power_items(&p.db, code.as_str()).await?, store::power_versions(&p.db, code.as_str()).await?))
}

/// Copies the template into the village's own list (version 1 of each item, by the editor), once.
async fn adopt_template(tx: &mut platform::Tx, unit: &str, by: &str, now: Millis) -> AppResult<Vec<store::PowerItemRow>> {
    let own = store::power_items_tx(tx, unit).await?;
    if !own.is_empty() {
        return Ok(own);
    }
    for (i, item) in model::power_template().iter().enumerate() {
        store::insert_power_item(tx, unit, i as i64 + 1, item, by, now).await?;
    }
    Ok(store::power_items_tx(tx, unit).await?)
}

/// What staff do to an item.
pub enum PowerChange {
    /// Take the template as the village's own list, to edit it item by item.
    Adopt,
    Add(model::PowerItemInput),
    /// Item id, the version the editor saw, the new text.
    Edit(String, i64, model::PowerItemInput),
    Retire(String, i64),
}

pub async fn change_power_item(p: &Platform, me: &Principal, unit: &str, change: PowerChange) -> AppResult<String> {
    let code = managed_village(me, unit)?;
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let items = adopt_template(&mut tx, code.as_str(), &me.username, now).await?;
    let find = |id: &str| items.iter().find(|i| i.id == id).cloned().ok_or_else(AppError::not_found);
    let stale = || AppError::conflict("power.stale", "该事项已被他人修改或已停用，请刷新后再改");
    let (action, id, detail) = match change {
        PowerChange::Adopt => ("power.adopt", code.as_str().to_owned(), format!("{} items from the template", items.len())),
        PowerChange::Add(i) => {
            let seq = items.iter().map(|x| x.seq).max().unwrap_or(0) + 1;
            let id = store::insert_power_item(&mut tx, code.as_str(), seq, &i, &me.username, now).await?;
            ("power.add", id, i.name)
        }
        PowerChange::Edit(id, seen, i) => {
            let item = find(&id)?;
            if item.version != seen || store::update_power_item(&mut tx, &item, &i, false, &me.username, now).await? == 0 {
                return Err(stale());
            }
            ("power.edit", id, format!("v{} {}", item.version + 1, i.name))
        }
        PowerChange::Retire(id, seen) => {
            let item = find(&id)?;
            let same = model::PowerItemInput {
                category: item.category.clone(),
                name: item.name.clone(),
                basis: item.basis.clone(),
                steps: item.steps.clone(),
                responsible: item.responsible.clone(),
            };
            if item.version != seen || store::update_power_item(&mut tx, &item, &same, true, &me.username, now).await? == 0 {
                return Err(stale());
            }
            ("power.retire", id, format!("v{} {}", item.version + 1, item.name))
        }
    };
    audit(&mut tx, now, &me.actor(), code.as_str(), action, &id, &detail).await?;
    tx.commit().await?;
    Ok(id)
}

// ---------------------------------------------------------------------------------------------
// 村民代表

pub async fn representatives(p: &Platform, me: &Principal, unit: &str) -> AppResult<(UnitCode, Vec<registry::roll::Representative>)> {
    let code = managed_village(me, unit)?;
    Ok((code.clone(), registry::roll::all_representatives(&p.db, code.as_str()).await?))
}

/// Adds a 村民代表 from the register by ID number (living in the village), with the 户 group they
/// stand for; a retired one comes back. Returns the name.
pub async fn add_village_representative(p: &Platform, me: &Principal, unit: &str, id_number: &str, group: &str) -> AppResult<String> {
    let code = managed_village(me, unit)?;
    let group = group.trim();
    if group.chars().count() > 60 {
        return Err(AppError::bad_request("input.too_long", "不能超过 60 个字").at_field("联系户"));
    }
    let idx = registry::roll::id_index(&p.cipher, id_number, Date::of_instant(p.now()))
        .ok_or_else(|| AppError::bad_request("ballot.bad_id", "身份证号格式或校验码不正确").at_field("身份证号"))?;
    let (pid, name) = registry::roll::person_by_index(&p.db, &idx, Some(code.as_str()))
        .await?
        .ok_or_else(|| AppError::bad_request("roll.unknown_person", "该村民不在本村人口台账中").at_field("身份证号"))?;
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let new = registry::roll::add_representative(&mut tx, now, code.as_str(), &pid, group, &me.username, false).await.map_err(|e| e.at_field("身份证号"))?;
    audit(&mut tx, now, &me.actor(), code.as_str(), if new { "roll.representative_add" } else { "roll.representative_group" }, &pid, group).await?;
    tx.commit().await?;
    Ok(name)
}

pub async fn retire_village_representative(p: &Platform, me: &Principal, unit: &str, person_id: &str) -> AppResult<()> {
    let code = managed_village(me, unit)?;
    let now = p.now();
    let mut tx = p.db.begin().await?;
    if registry::roll::retire_representative(&mut tx, now, code.as_str(), person_id, &me.username).await? == 0 {
        return Err(AppError::not_found());
    }
    audit(&mut tx, now, &me.actor(), code.as_str(), "roll.representative_retire", person_id, "").await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 村务公开

#[allow(clippy::too_many_arguments)]
pub async fn add_affair(
    p: &Platform,
    me: &Principal,
    unit: &str,
    kind: AffairKind,
    title: &str,
    body: &str,
    period: Option<Date>,
    synthetic: bool,
) -> AppResult<String> {
    let code = village_unit(me, unit, Permission::ManageConsultation)?;
    if code.level() != Level::Village {
        return Err(AppError::bad_request("input.bad_unit", "村务公开以村（社区）为单位").at_field("单位"));
    }
    let title = text(title, "公开事项", 100)?;
    let today = Date::of_instant(p.now());
    let start = model::period_start(kind, period.unwrap_or(today));
    let due = model::publication_due(kind, start);
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let id =
        store::insert_affair(&mut tx, now, code.as_str(), kind.as_str(), &title, body.trim(), &start.to_string(), &due.to_string(), &me.username, synthetic)
            .await?
            .ok_or_else(|| AppError::conflict("affair.duplicate", "同一期间已有同名公开事项"))?;
    audit(&mut tx, now, &me.actor(), code.as_str(), "affair.add", &id, &format!("{} due {due}", kind.as_str())).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn publish_affair(p: &Platform, me: &Principal, id: &str, body: &str) -> AppResult<()> {
    let scope = me.require(Permission::ManageConsultation)?;
    let body = text(body, "公开内容", 5000)?;
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let a = store::affair_tx(&mut tx, id).await?.filter(|a| UnitCode::parse(&a.unit_code).is_ok_and(|u| scope.contains(&u))).ok_or_else(AppError::not_found)?;
    if store::publish_affair(&mut tx, id, &body, &me.username, now).await? == 0 {
        return Err(AppError::conflict("affair.published", "该事项已公开"));
    }
    let late = a.due_date.as_str() < Date::of_instant(now).to_string().as_str();
    audit(&mut tx, now, &me.actor(), &a.unit_code, "affair.publish", id, if late { "late" } else { "on time" }).await?;
    tx.commit().await?;
    Ok(())
}

/// What the deadline check did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DeadlineReport {
    pub scheduled: usize,
    pub escalated: usize,
}

/// The periodic check: for every village that keeps a calendar, make sure this month's finance
/// item and this quarter's ordinary item exist; then flag every unpublished item past its last day
/// to the township (村民委员会组织法第三十一条), once, with an audit record at the township.
pub async fn check_deadlines(p: &Platform) -> AppResult<DeadlineReport> {
    let now = p.now();
    let today = Date::of_instant(now);
    let actor = Actor::system();
    let mut report = DeadlineReport::default();
    let mut tx = p.db.begin().await?;
    for unit in store::publishing_units(&mut tx).await? {
        for (kind, title) in [(AffairKind::Finance, "财务收支公开"), (AffairKind::Ordinary, "村务公开（一般事项）")] {
            let start = model::period_start(kind, today);
            let due = model::publication_due(kind, start);
            let title = format!("{}（{}）", title, model::period_label(kind, start));
            if store::insert_affair(&mut tx, now, &unit, kind.as_str(), &title, "", &start.to_string(), &due.to_string(), "system", false).await?.is_some() {
                report.scheduled += 1;
            }
        }
    }
    for a in store::overdue_unescalated(&mut tx, &today.to_string()).await? {
        let township: String = a.unit_code.chars().take(9).collect();
        store::mark_escalated(&mut tx, &a.id, &township, now).await?;
        audit(&mut tx, now, &actor, &township, "affair.overdue", &a.id, &format!("{} {} due {} not published", a.unit_code, a.title, a.due_date)).await?;
        report.escalated += 1;
    }
    tx.commit().await?;
    Ok(report)
}

/// The background loop of a serving process: ballots past their closing time are closed every
/// minute (so the gap for late paper entry is short and the result appears promptly); the
/// publication deadline check runs every hour.
pub fn spawn_jobs(p: Platform) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut minute = 0u64;
        loop {
            if let Err(e) = close_due_ballots(&p).await {
                tracing::error!(error = %e, "closing ballots past their closing time failed");
            }
            if minute.is_multiple_of(60)
                && let Err(e) = check_deadlines(&p).await
            {
                tracing::error!(error = %e, "village-affairs deadline check failed");
            }
            minute += 1;
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
    })
}
