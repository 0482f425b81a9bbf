//! The slice's operations: each checks permission and scope, applies the model's rules and writes in
//! one transaction together with its audit record, so nothing is ever half-done.

use platform::audit::{self, Event as AuditEvent, Outcome};
use platform::auth::{Permission, Principal};
use platform::clock::{Date, Millis};
use platform::db::new_id;
use platform::scope::UnitCode;
use platform::{AppError, AppResult, Platform, Tx};

use crate::model::{self, AccountKind, Currency, QrToken, RecordState, ScanAction, TransferKind, WorkDays};
use crate::store::{self, AccountRow, ActivityRow, AwardRow, NewTransfer, NewVolunteer, OrgRow, RecordRow, RuleRow, RuleSetRow, SignupRow, VolunteerRow};

async fn audit(tx: &mut Tx, p: &Platform, me: &Principal, unit: &str, action: &str, target: &str, detail: &str) -> AppResult<()> {
    audit::record(tx, p.now(), &AuditEvent { actor: &me.actor(), unit: Some(unit), action, target, outcome: Outcome::Ok, detail }).await?;
    Ok(())
}

fn today(p: &Platform) -> Date {
    Date::of_instant(p.now())
}

/// The key that signs check-in codes: derived from the field key, so it is secret exactly when the
/// personal data is, and the same on every process of an installation.
pub fn scan_key(p: &Platform) -> Vec<u8> {
    p.cipher.blind_index("volunteer scan key", "v1").into_bytes()
}

fn county_of(unit: &str) -> String {
    unit.chars().take(6).collect()
}

/// The caller's own volunteer record, or a clear error.
pub async fn me_volunteer(p: &Platform, me: &Principal) -> AppResult<VolunteerRow> {
    me.require(Permission::Participate)?;
    store::volunteer_of_user(&p.db, &me.user_id)
        .await?
        .ok_or_else(|| AppError::bad_request("volunteer.not_registered", "您还没有实名注册为志愿者").at_field("volunteer"))
}

// ---------------------------------------------------------------------------------------------
// Registration

#[derive(Clone, Debug, Default)]
pub struct Registration {
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub skills: String,
    pub availability: String,
    pub guardian_name: String,
    pub guardian_consent: bool,
}

/// 实名注册 by the resident herself: she registers as the person her account is bound to (实名认证
/// at the counter), inside her scope; name and ID come from the register, never typed, so nobody
/// can register as a neighbour whose ID number they know. The register's blind index makes a
/// second registration of the same person impossible.
pub async fn register(p: &Platform, me: &Principal, r: &Registration) -> AppResult<VolunteerRow> {
    let scope = me.require(Permission::Participate)?;
    if store::volunteer_of_user(&p.db, &me.user_id).await?.is_some() {
        return Err(AppError::conflict("volunteer.already_registered", "您的账户已注册志愿者，不能重复注册"));
    }
    let bound = registry::identity::person_of_account(&p.db, &me.user_id)
        .await?
        .filter(|b| b.is_current())
        .ok_or_else(|| AppError::bad_request("volunteer.identity_required", "请先携带身份证到社区窗口完成实名认证，再注册志愿者"))?;
    let person = registry::lookup::person(&p.db, &bound.id).await?.ok_or_else(AppError::not_found)?;
    let unit = platform::scope::UnitCode::parse(&person.unit_code).map_err(AppError::internal)?;
    if !scope.contains(&unit) {
        return Err(AppError::bad_request("volunteer.not_in_register", "您实名认证的居民不在本辖区居民台账中，请联系社区核对"));
    }
    register_in(p, me, Some(&me.user_id), person, r).await
}

/// 代为注册: staff register a resident who has no account or phone (older residents, paper
/// sign-up sheets), within their own scope, checking name and ID number against the register
/// with the ID card in front of them; the same duplicate rule applies.
pub async fn register_assisted(p: &Platform, me: &Principal, r: &Registration) -> AppResult<VolunteerRow> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let name = r.name.trim();
    if name.is_empty() {
        return Err(AppError::bad_request("volunteer.name_required", "请填写真实姓名").at_field("name"));
    }
    let person = registry::lookup::find_by_id_number(&p.db, &p.cipher, &scope, &r.id_number, today(p))
        .await?
        .ok_or_else(|| AppError::bad_request("volunteer.not_in_register", "本辖区居民台账中没有这个身份证号，请核对或联系社区登记").at_field("id_number"))?;
    if person.name != name {
        return Err(AppError::bad_request("volunteer.name_mismatch", "姓名与居民台账登记的不一致").at_field("name"));
    }
    register_in(p, me, None, person, r).await
}

async fn register_in(p: &Platform, me: &Principal, user_id: Option<&str>, person: registry::lookup::PersonBrief, r: &Registration) -> AppResult<VolunteerRow> {
    let name = person.name.as_str();
    if store::volunteer_of_person(&p.db, &person.id).await?.is_some() {
        return Err(AppError::conflict("volunteer.duplicate", "该身份证号已注册为志愿者，不能重复注册").at_field("id_number"));
    }
    let age = person.age_on(today(p)).unwrap_or(0);
    model::check_age(age, r.guardian_consent, &r.guardian_name)?;
    let skills = model::clean_text(&r.skills, 200, "skills", "服务技能")?;
    let availability = model::clean_text(&r.availability, 200, "availability", "可服务时间")?;
    let guardian = model::clean_text(&r.guardian_name, 30, "guardian_name", "监护人姓名")?;
    let (phone_masked, phone_enc) = if r.phone.trim().is_empty() {
        (person.phone_masked.clone(), None)
    } else {
        let ph = registry::model::Phone::parse(&r.phone)?;
        (Some(ph.masked()), Some(p.cipher.encrypt(ph.as_str())))
    };
    let id_index = person.id_index.clone().ok_or_else(|| AppError::internal("register person without id index"))?;
    // Everything read from the pool is read before the transaction: a transaction waiting for a
    // second pooled connection could starve the pool under load.
    let (cfg, _, _) = store::config_for(&p.db, &person.unit_code).await?;
    let mut tx = p.db.begin().await?;
    let county = county_of(&person.unit_code);
    let seq = store::next_seq(&mut tx, &format!("volunteer:{county}")).await?;
    let id = new_id();
    let no = model::volunteer_no(&county, seq);
    let res = store::insert_volunteer(
        &mut tx,
        &NewVolunteer {
            id: &id,
            volunteer_no: &no,
            person_id: &person.id,
            id_index: &id_index,
            user_id,
            unit_code: &person.unit_code,
            name,
            sex: person.sex.as_deref(),
            birth_date: person.birth_date.as_deref(),
            phone_masked,
            phone_enc,
            skills: &skills,
            availability: &availability,
            guardian_name: (age < 18).then_some(guardian.as_str()),
            guardian_consent: age < 18 && r.guardian_consent,
            now: p.now(),
            synthetic: false,
        },
    )
    .await;
    match res {
        Err(e) if e.is_unique_violation() => {
            return Err(AppError::conflict("volunteer.duplicate", "该身份证号已注册为志愿者，不能重复注册").at_field("id_number"));
        }
        r => r?,
    }
    open_time_account(&mut tx, p, &cfg, &me.username, &person.id, &person.unit_code).await?;
    audit(&mut tx, p, me, &person.unit_code, "volunteer.register", &id, &format!("志愿者 {no}")).await?;
    tx.commit().await?;
    store::volunteer(&p.db, &id).await?.ok_or_else(|| AppError::internal("volunteer vanished"))
}

/// Opens a person's time account, crediting the configured welcome hours once.
async fn open_time_account(tx: &mut Tx, p: &Platform, cfg: &model::TimeBankConfig, actor: &str, person_id: &str, unit: &str) -> AppResult<AccountRow> {
    let acct = store::account(tx, Currency::Minutes, AccountKind::Person, person_id, unit, p.now()).await?;
    if cfg.welcome > 0 {
        let issuer = store::account(tx, Currency::Minutes, AccountKind::Issuer, &county_of(unit), &county_of(unit), p.now()).await?;
        let key = format!("welcome:{person_id}");
        if store::transfer_by_key_tx(tx, &key).await?.is_none() {
            store::post(
                tx,
                &NewTransfer {
                    currency: Currency::Minutes,
                    kind: TransferKind::Welcome,
                    from: &issuer,
                    to: &acct,
                    amount: cfg.welcome,
                    floor: None,
                    reason: "开户赠送",
                    ref_id: None,
                    corrects_id: None,
                    service_day: None,
                    idem_key: Some(&key),
                    actor,
                    now: p.now(),
                },
            )
            .await?;
        }
    }
    Ok(acct)
}

// ---------------------------------------------------------------------------------------------
// Organisations and activities

pub const ORG_KINDS: [(&str, &str); 3] = [("organisation", "志愿服务组织"), ("team", "志愿服务队"), ("station", "志愿服务站")];

pub async fn create_org(p: &Platform, me: &Principal, unit: &str, name: &str, kind: &str, parent: Option<&str>, contact: &str) -> AppResult<String> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let code = UnitCode::parse(unit).map_err(|_| AppError::bad_request("unit.bad_code", "单位代码无效").at_field("unit"))?;
    if !scope.contains(&code) {
        return Err(AppError::not_found());
    }
    let name = model::clean_text(name, 60, "name", "名称")?;
    if name.is_empty() {
        return Err(AppError::bad_request("org.name_required", "请填写组织名称").at_field("name"));
    }
    if !ORG_KINDS.iter().any(|(k, _)| *k == kind) {
        return Err(AppError::bad_request("org.bad_kind", "组织类型无效").at_field("kind"));
    }
    if let Some(pid) = parent.filter(|s| !s.is_empty()) {
        let po = store::org(&p.db, pid).await?.ok_or_else(AppError::not_found)?;
        if !scope.contains(&UnitCode::parse(&po.unit_code).map_err(AppError::internal)?) {
            return Err(AppError::not_found());
        }
    }
    let id = new_id();
    let mut tx = p.db.begin().await?;
    let row = OrgRow {
        id: id.clone(),
        unit_code: code.as_str().to_owned(),
        name: name.clone(),
        kind: kind.to_owned(),
        parent_id: parent.filter(|s| !s.is_empty()).map(str::to_owned),
        contact: model::clean_text(contact, 60, "contact", "联系方式")?,
        created_ms: p.now(),
        synthetic: 0,
    };
    match store::insert_org(&mut tx, &row).await {
        Err(e) if e.is_unique_violation() => return Err(AppError::conflict("org.duplicate", "本单位已有同名组织").at_field("name")),
        r => r?,
    }
    audit(&mut tx, p, me, code.as_str(), "volunteer.org_create", &id, &name).await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Clone, Debug, Default)]
pub struct NewActivity {
    pub org_id: String,
    pub title: String,
    pub description: String,
    pub place: String,
    pub starts_ms: Millis,
    pub ends_ms: Millis,
    pub quota: i64,
}

pub async fn create_activity(p: &Platform, me: &Principal, a: &NewActivity) -> AppResult<String> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let org = store::org(&p.db, &a.org_id).await?.ok_or_else(|| AppError::bad_request("activity.org_required", "请选择组织方").at_field("org_id"))?;
    let unit = UnitCode::parse(&org.unit_code).map_err(AppError::internal)?;
    if !scope.contains(&unit) {
        return Err(AppError::not_found());
    }
    let title = model::clean_text(&a.title, 60, "title", "活动名称")?;
    if title.is_empty() {
        return Err(AppError::bad_request("activity.title_required", "请填写活动名称").at_field("title"));
    }
    if a.ends_ms <= a.starts_ms {
        return Err(AppError::bad_request("activity.bad_time", "结束时间须晚于开始时间").at_field("ends"));
    }
    if a.ends_ms - a.starts_ms > 24 * platform::clock::HOUR {
        return Err(AppError::bad_request("activity.too_long", "单场活动不超过 24 小时，多日活动请分场发布").at_field("ends"));
    }
    if !(1..=10_000).contains(&a.quota) {
        return Err(AppError::bad_request("activity.bad_quota", "招募人数须在 1–10000 之间").at_field("quota"));
    }
    let id = new_id();
    let mut tx = p.db.begin().await?;
    store::insert_activity(
        &mut tx,
        &ActivityRow {
            id: id.clone(),
            org_id: org.id.clone(),
            unit_code: org.unit_code.clone(),
            title: title.clone(),
            description: model::clean_text(&a.description, 2000, "description", "活动内容")?,
            place: model::clean_text(&a.place, 100, "place", "地点")?,
            starts_ms: a.starts_ms,
            ends_ms: a.ends_ms,
            quota: a.quota,
            signed_up: 0,
            state: "recruiting".into(),
            created_by: me.username.clone(),
            created_ms: p.now(),
            synthetic: 0,
        },
    )
    .await?;
    audit(&mut tx, p, me, &org.unit_code, "volunteer.activity_create", &id, &title).await?;
    tx.commit().await?;
    Ok(id)
}

/// Activities a volunteer may join: those of their county (a county's teams serve all its villages).
pub fn volunteer_scope(v: &VolunteerRow) -> platform::Scope {
    platform::Scope::new(UnitCode::parse(&county_of(&v.unit_code)).ok().into_iter().collect())
}

pub async fn sign_up(p: &Platform, me: &Principal, activity_id: &str) -> AppResult<String> {
    let v = me_volunteer(p, me).await?;
    let a = store::activity(&p.db, activity_id).await?.ok_or_else(AppError::not_found)?;
    if !volunteer_scope(&v).contains(&UnitCode::parse(&a.unit_code).map_err(AppError::internal)?) {
        return Err(AppError::not_found());
    }
    if a.ends_ms <= p.now() {
        return Err(AppError::conflict("activity.over", "活动已结束，不能报名"));
    }
    if store::signup(&p.db, &a.id, &v.id).await?.is_some() {
        return Err(AppError::conflict("signup.duplicate", "您已报名该活动"));
    }
    let mut tx = p.db.begin().await?;
    if !store::take_place(&mut tx, &a.id).await? {
        return Err(AppError::conflict("activity.full", "名额已满或已停止招募"));
    }
    let id = new_id();
    match store::insert_signup(
        &mut tx,
        &SignupRow { id: id.clone(), activity_id: a.id.clone(), volunteer_id: v.id.clone(), signed_ms: p.now(), checkin_ms: None, checkout_ms: None },
    )
    .await
    {
        Err(e) if e.is_unique_violation() => return Err(AppError::conflict("signup.duplicate", "您已报名该活动")),
        r => r?,
    }
    audit(&mut tx, p, me, &a.unit_code, "volunteer.signup", &id, &a.title).await?;
    tx.commit().await?;
    Ok(id)
}

/// A fresh code for the site: valid for [`model::QR_TTL`].
pub fn scan_code(p: &Platform, activity_id: &str, action: ScanAction) -> String {
    QrToken { activity_id: activity_id.to_owned(), action, expires_ms: p.now() + model::QR_TTL }.sign(&scan_key(p))
}

/// What a scan did.
#[derive(Clone, Debug)]
pub struct ScanResult {
    pub action: ScanAction,
    pub activity: ActivityRow,
    pub record_id: Option<String>,
    pub minutes: Option<i64>,
}

/// 扫码签到/签退. Check-out makes the pending service record with the actual minutes.
pub async fn scan(p: &Platform, me: &Principal, token: &str) -> AppResult<ScanResult> {
    let t = QrToken::verify(&scan_key(p), token, p.now())?;
    let v = me_volunteer(p, me).await?;
    let a = store::activity(&p.db, &t.activity_id).await?.ok_or_else(|| AppError::bad_request("scan.forged", "签到码对应的活动不存在"))?;
    let mut tx = p.db.begin().await?;
    let s = store::signup_tx(&mut tx, &a.id, &v.id).await?.ok_or_else(|| AppError::conflict("scan.not_signed_up", "您没有报名该活动，请先报名"))?;
    let now = p.now();
    match t.action {
        ScanAction::CheckIn => {
            model::check_checkin_window(a.starts_ms, a.ends_ms, now)?;
            if !store::set_checkin(&mut tx, &s.id, now).await? {
                return Err(AppError::conflict("scan.already_in", "您已签到，无需重复签到"));
            }
            audit(&mut tx, p, me, &a.unit_code, "volunteer.checkin", &s.id, &a.title).await?;
            tx.commit().await?;
            Ok(ScanResult { action: t.action, activity: a, record_id: None, minutes: None })
        }
        ScanAction::CheckOut => {
            let Some(cin) = s.checkin_ms else {
                return Err(AppError::conflict("scan.out_before_in", "尚未签到，不能签退"));
            };
            if s.checkout_ms.is_some() {
                return Err(AppError::conflict("scan.already_out", "您已签退"));
            }
            let end = model::checkout_end(a.ends_ms, now);
            if store::overlapping(&mut tx, &v.id, cin, end).await? > 0 {
                return Err(AppError::conflict("record.overlap", "该时段已有其他服务记录，同一时间不能重复记时"));
            }
            let minutes = model::service_minutes(cin, end)?;
            if !store::set_checkout(&mut tx, &s.id, now).await? {
                return Err(AppError::conflict("scan.already_out", "您已签退"));
            }
            let rid = new_id();
            store::insert_record(
                &mut tx,
                &RecordRow {
                    id: rid.clone(),
                    volunteer_id: v.id.clone(),
                    activity_id: Some(a.id.clone()),
                    signup_id: Some(s.id.clone()),
                    org_id: a.org_id.clone(),
                    unit_code: a.unit_code.clone(),
                    content: a.title.clone(),
                    started_ms: cin,
                    ended_ms: end,
                    minutes,
                    kind: "service".into(),
                    corrects_id: None,
                    state: RecordState::Pending.as_str().into(),
                    confirmed_by: None,
                    confirmed_ms: None,
                    publish_until_ms: None,
                    objection: None,
                    created_ms: now,
                    synthetic: 0,
                },
            )
            .await?;
            audit(&mut tx, p, me, &a.unit_code, "volunteer.checkout", &s.id, &format!("{} 分钟", minutes)).await?;
            tx.commit().await?;
            Ok(ScanResult { action: t.action, activity: a, record_id: Some(rid), minutes: Some(minutes) })
        }
    }
}

/// 补录: the organiser enters a service from a paper sign-in sheet; it is pending like a scanned one
/// and goes through the same confirmation and publication.
pub async fn record_manual(
    p: &Platform,
    me: &Principal,
    volunteer_id: &str,
    org_id: &str,
    content: &str,
    started_ms: Millis,
    ended_ms: Millis,
) -> AppResult<String> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let v = store::volunteer_in(&p.db, &scope, volunteer_id).await?.ok_or_else(AppError::not_found)?;
    let org = store::org(&p.db, org_id).await?.ok_or_else(|| AppError::bad_request("record.org_required", "请选择组织方").at_field("org_id"))?;
    if !scope.contains(&UnitCode::parse(&org.unit_code).map_err(AppError::internal)?) {
        return Err(AppError::not_found());
    }
    let content = model::clean_text(content, 200, "content", "服务内容")?;
    if content.is_empty() {
        return Err(AppError::bad_request("record.content_required", "请填写服务内容").at_field("content"));
    }
    if ended_ms > p.now() {
        return Err(AppError::bad_request("record.in_future", "只能补录已经结束的服务").at_field("ends"));
    }
    let minutes = model::service_minutes(started_ms, ended_ms)?;
    let id = new_id();
    let mut tx = p.db.begin().await?;
    if store::overlapping(&mut tx, &v.id, started_ms, ended_ms).await? > 0 {
        return Err(AppError::conflict("record.overlap", "该时段已有其他服务记录，同一时间不能重复记时"));
    }
    store::insert_record(
        &mut tx,
        &RecordRow {
            id: id.clone(),
            volunteer_id: v.id.clone(),
            activity_id: None,
            signup_id: None,
            org_id: org.id.clone(),
            unit_code: org.unit_code.clone(),
            content: content.clone(),
            started_ms,
            ended_ms,
            minutes,
            kind: "service".into(),
            corrects_id: None,
            state: RecordState::Pending.as_str().into(),
            confirmed_by: None,
            confirmed_ms: None,
            publish_until_ms: None,
            objection: None,
            created_ms: p.now(),
            synthetic: 0,
        },
    )
    .await?;
    audit(&mut tx, p, me, &org.unit_code, "volunteer.record_manual", &id, &format!("{content}，{minutes} 分钟")).await?;
    tx.commit().await?;
    Ok(id)
}

// ---------------------------------------------------------------------------------------------
// Records: confirm, publish, object, correct

async fn record_in_scope(p: &Platform, me: &Principal, id: &str) -> AppResult<RecordRow> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let r = store::record(&p.db, id).await?.ok_or_else(AppError::not_found)?;
    if !scope.contains(&UnitCode::parse(&r.unit_code).map_err(AppError::internal)?) {
        return Err(AppError::not_found());
    }
    Ok(r)
}

/// 确认: the organiser confirms (minutes may be lowered, never raised above the scans) and the
/// record is published for 3 working days; or the organiser declines it with a reason.
pub async fn confirm(p: &Platform, me: &Principal, id: &str, accept: bool, minutes: Option<i64>, note: &str) -> AppResult<()> {
    let r = record_in_scope(p, me, id).await?;
    if r.state != "pending" {
        return Err(AppError::conflict("record.not_pending", "该记录不在待确认状态"));
    }
    let mut tx = p.db.begin().await?;
    if accept {
        let m = minutes.unwrap_or(r.minutes);
        if m <= 0 || m > r.minutes {
            return Err(
                AppError::bad_request("record.bad_minutes", format!("确认时长须在 1–{} 分钟之间（不超过实际签到签退时长）", r.minutes)).at_field("minutes")
            );
        }
        let until = WorkDays::official().end_of_working_days_after(p.now(), model::PUBLICATION_WORKING_DAYS);
        if !store::set_record_state(&mut tx, id, "pending", "published", Some(m), Some((&me.username, p.now(), until)), None).await? {
            return Err(AppError::conflict("record.stale", "记录已被他人处理，请刷新"));
        }
        audit(&mut tx, p, me, &r.unit_code, "volunteer.record_confirm", id, &format!("{m} 分钟，公示至 {}", platform::clock::format_beijing(until))).await?;
    } else {
        if note.trim().is_empty() {
            return Err(AppError::bad_request("record.reason_required", "不予确认须说明理由").at_field("note"));
        }
        if !store::set_record_state(&mut tx, id, "pending", "rejected", None, None, Some(note.trim())).await? {
            return Err(AppError::conflict("record.stale", "记录已被他人处理，请刷新"));
        }
        audit(&mut tx, p, me, &r.unit_code, "volunteer.record_reject", id, note.trim()).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// 异议: anyone taking part in the unit may object while a record is published; it then waits for
/// the organiser.
pub async fn object(p: &Platform, me: &Principal, id: &str, text: &str) -> AppResult<()> {
    let scope = me.require(Permission::Participate)?;
    let r = store::record(&p.db, id).await?.ok_or_else(AppError::not_found)?;
    let unit = UnitCode::parse(&r.unit_code).map_err(AppError::internal)?;
    let own = store::volunteer_of_user(&p.db, &me.user_id).await?.is_some_and(|v| v.id == r.volunteer_id);
    if !own && !scope.contains(&unit) && !scope.is_ancestor_of_scope(&unit) {
        return Err(AppError::not_found());
    }
    if r.state_at(p.now()) != RecordState::Published {
        return Err(AppError::conflict("record.not_published", "只能在公示期内提出异议"));
    }
    let text = model::clean_text(text, 500, "text", "异议内容")?;
    if text.is_empty() {
        return Err(AppError::bad_request("record.objection_required", "请写明异议内容").at_field("text"));
    }
    let mut tx = p.db.begin().await?;
    if !store::set_record_state(&mut tx, id, "published", "objected", None, None, Some(&text)).await? {
        return Err(AppError::conflict("record.stale", "记录状态已变化，请刷新"));
    }
    audit(&mut tx, p, me, &r.unit_code, "volunteer.record_object", id, &text).await?;
    tx.commit().await?;
    Ok(())
}

/// The organiser settles an objection: upheld → the record is declined; dismissed → published again
/// for a fresh window.
pub async fn resolve(p: &Platform, me: &Principal, id: &str, upheld: bool, note: &str) -> AppResult<()> {
    let r = record_in_scope(p, me, id).await?;
    if r.state != "objected" {
        return Err(AppError::conflict("record.not_objected", "该记录没有待处理的异议"));
    }
    let mut tx = p.db.begin().await?;
    let ok = if upheld {
        store::set_record_state(&mut tx, id, "objected", "rejected", None, None, None).await?
    } else {
        let until = WorkDays::official().end_of_working_days_after(p.now(), model::PUBLICATION_WORKING_DAYS);
        store::set_record_state(&mut tx, id, "objected", "published", None, Some((&me.username, p.now(), until)), None).await?
    };
    if !ok {
        return Err(AppError::conflict("record.stale", "记录状态已变化，请刷新"));
    }
    audit(&mut tx, p, me, &r.unit_code, if upheld { "volunteer.objection_upheld" } else { "volunteer.objection_dismissed" }, id, note.trim()).await?;
    tx.commit().await?;
    Ok(())
}

/// 更正: a final record is never edited; a compensating record of `delta` minutes (signed) is
/// added, final at once, and if the hours were deposited the time bank gets a compensating entry.
pub async fn correct(p: &Platform, me: &Principal, id: &str, delta: i64, reason: &str) -> AppResult<String> {
    let r = record_in_scope(p, me, id).await?;
    if r.state_at(p.now()) != RecordState::Final || r.kind != "service" {
        return Err(AppError::conflict("record.not_final", "只有已生效的服务记录可以更正；公示期内请提出异议"));
    }
    let reason = model::clean_text(reason, 300, "reason", "更正理由")?;
    if reason.is_empty() {
        return Err(AppError::bad_request("record.reason_required", "请写明更正理由").at_field("reason"));
    }
    let corrected: i64 = store::records_of(&p.db, &r.volunteer_id).await?.iter().filter(|c| c.corrects_id.as_deref() == Some(id)).map(|c| c.minutes).sum();
    if delta == 0 || r.minutes + corrected + delta < 0 || r.minutes + corrected + delta > (r.ended_ms - r.started_ms) / 60_000 {
        return Err(AppError::bad_request("record.bad_correction", "更正后的时长须在 0 与实际服务时长之间，且不能为 0 改动").at_field("minutes"));
    }
    let v = store::volunteer(&p.db, &r.volunteer_id).await?.ok_or_else(AppError::not_found)?;
    let deposited = store::transfer_by_key(&p.db, &format!("deposit:{id}")).await?;
    let now = p.now();
    let cid = new_id();
    let mut tx = p.db.begin().await?;
    store::insert_record(
        &mut tx,
        &RecordRow {
            id: cid.clone(),
            volunteer_id: r.volunteer_id.clone(),
            activity_id: r.activity_id.clone(),
            signup_id: None,
            org_id: r.org_id.clone(),
            unit_code: r.unit_code.clone(),
            content: format!("更正：{reason}"),
            started_ms: r.started_ms,
            ended_ms: r.ended_ms,
            minutes: delta,
            kind: "correction".into(),
            corrects_id: Some(id.to_owned()),
            state: "final".into(),
            confirmed_by: Some(me.username.clone()),
            confirmed_ms: Some(now),
            publish_until_ms: None,
            objection: None,
            created_ms: now,
            synthetic: 0,
        },
    )
    .await?;
    if let Some(dep) = deposited {
        let person = store::account(&mut tx, Currency::Minutes, AccountKind::Person, &v.person_id, &v.unit_code, now).await?;
        let issuer = store::account(&mut tx, Currency::Minutes, AccountKind::Issuer, &county_of(&v.unit_code), &county_of(&v.unit_code), now).await?;
        let (from, to) = if delta < 0 { (&person, &issuer) } else { (&issuer, &person) };
        store::post(
            &mut tx,
            &NewTransfer {
                currency: Currency::Minutes,
                kind: TransferKind::Correction,
                from,
                to,
                amount: delta.abs(),
                floor: None,
                reason: &format!("服务记录更正：{reason}"),
                ref_id: Some(&cid),
                corrects_id: Some(&dep.id),
                service_day: dep.service_day.as_deref(),
                idem_key: Some(&format!("correction:{cid}")),
                actor: &me.username,
                now,
            },
        )
        .await?;
    }
    audit(&mut tx, p, me, &r.unit_code, "volunteer.record_correct", id, &format!("{delta:+} 分钟：{reason}")).await?;
    tx.commit().await?;
    Ok(cid)
}

/// Adds a training, commendation, evaluation or complaint entry (the other statutory blocks).
pub async fn add_note(p: &Platform, me: &Principal, volunteer_id: &str, block: &str, content: &str, on_date: &str) -> AppResult<()> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let v = store::volunteer_in(&p.db, &scope, volunteer_id).await?.ok_or_else(AppError::not_found)?;
    if !NOTE_BLOCKS.iter().any(|(k, _)| *k == block) {
        return Err(AppError::bad_request("note.bad_block", "记录类别无效").at_field("block"));
    }
    let d = Date::parse(on_date).ok_or_else(|| AppError::bad_request("note.bad_date", "日期格式应为 YYYY-MM-DD").at_field("on_date"))?;
    let content = model::clean_text(content, 500, "content", "内容")?;
    if content.is_empty() {
        return Err(AppError::bad_request("note.content_required", "请填写内容").at_field("content"));
    }
    let mut tx = p.db.begin().await?;
    let id = new_id();
    store::insert_note(
        &mut tx,
        &store::NoteRow {
            id: id.clone(),
            volunteer_id: v.id.clone(),
            block: block.into(),
            content,
            on_date: d.to_string(),
            issuer: me.display_name.clone(),
            created_by: me.username.clone(),
            created_ms: p.now(),
        },
    )
    .await?;
    audit(&mut tx, p, me, &v.unit_code, "volunteer.note_add", &id, block).await?;
    tx.commit().await?;
    Ok(())
}

pub const NOTE_BLOCKS: [(&str, &str); 4] = [("training", "培训情况"), ("commendation", "表彰奖励"), ("evaluation", "评价情况"), ("complaint", "投诉情况")];

/// Issues a proof (志愿服务证明) of all final service: free, numbered, stored so the number can be
/// checked later.
pub async fn issue_proof(p: &Platform, me: &Principal, volunteer_id: Option<&str>) -> AppResult<String> {
    let v = match volunteer_id {
        Some(id) => {
            let scope = me.require(Permission::ManageVolunteers)?;
            store::volunteer_in(&p.db, &scope, id).await?.ok_or_else(AppError::not_found)?
        }
        None => me_volunteer(p, me).await?,
    };
    let records = store::records_of(&p.db, &v.id).await?;
    let now = p.now();
    let finals: Vec<&RecordRow> = records.iter().filter(|r| r.state_at(now) == RecordState::Final).collect();
    let minutes: i64 = finals.iter().map(|r| r.minutes).sum();
    let no = model::certificate_no(&v.unit_code, now, &new_id());
    let mut tx = p.db.begin().await?;
    store::insert_proof(&mut tx, &no, &v.id, minutes, finals.iter().filter(|r| r.kind == "service").count() as i64, now, &me.username).await?;
    audit(&mut tx, p, me, &v.unit_code, "volunteer.proof_issue", &v.id, &no).await?;
    tx.commit().await?;
    Ok(no)
}

// ---------------------------------------------------------------------------------------------
// Stars

pub async fn apply_star(p: &Platform, me: &Principal) -> AppResult<i64> {
    let v = me_volunteer(p, me).await?;
    let (_, ladder, _) = store::config_for(&p.db, &v.unit_code).await?;
    let minutes = store::final_minutes(&p.db, &v.id, p.now()).await?;
    let level = v.stars + 1;
    ladder.check_application(v.stars, level, minutes)?;
    if store::star_apps_of(&p.db, &v.id).await?.iter().any(|a| a.state == "pending") {
        return Err(AppError::conflict("star.pending", "已有待审核的星级申请"));
    }
    let mut tx = p.db.begin().await?;
    let id = new_id();
    tx.execute(platform::sql!(
        "INSERT INTO vol_star_apps (id, volunteer_id, unit_code, level, minutes_at, state, applied_ms) VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
        id.as_str(),
        v.id.as_str(),
        v.unit_code.as_str(),
        level,
        minutes,
        p.now()
    ))
    .await?;
    audit(&mut tx, p, me, &v.unit_code, "volunteer.star_apply", &id, &format!("{level} 星")).await?;
    tx.commit().await?;
    Ok(level)
}

/// May the caller decide a star of `level` for a volunteer of `unit`? Only through a grant at the
/// level the city set for that star (区县 for 1–3, 市 for 4–5 by default) that covers the unit.
pub fn may_decide_star(me: &Principal, approvers: &model::StarApprovers, level: i64, unit: &str) -> bool {
    let Ok(code) = UnitCode::parse(unit) else {
        return false;
    };
    let scope = me.scope(Permission::ManageVolunteers);
    scope.roots().iter().any(|r| r.contains(&code) && approvers.may_decide(level, r.level()))
}

/// 星级认定 approval levels, set by the city.
pub async fn set_star_approvers(p: &Platform, me: &Principal, unit: &str, text: &str) -> AppResult<()> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let code = UnitCode::parse(unit).map_err(|_| AppError::bad_request("unit.bad_code", "单位代码无效").at_field("unit"))?;
    if code.level() != platform::scope::Level::City {
        return Err(AppError::bad_request("star.approvers_city_only", "星级审批层级由市设置").at_field("unit"));
    }
    if !scope.contains(&code) {
        return Err(AppError::forbidden());
    }
    let a = model::StarApprovers::parse(text)?;
    let mut tx = p.db.begin().await?;
    store::put_star_approvers(&mut tx, code.as_str(), &a, &me.username, p.now()).await?;
    audit(&mut tx, p, me, code.as_str(), "volunteer.star_approvers", code.as_str(), &a.to_config()).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn decide_star(p: &Platform, me: &Principal, app_id: &str, approve: bool, note: &str) -> AppResult<()> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let apps = store::star_apps_in(&p.db, &scope, "pending").await?;
    let a = apps.into_iter().find(|a| a.id == app_id).ok_or_else(AppError::not_found)?;
    let v = store::volunteer(&p.db, &a.volunteer_id).await?.ok_or_else(AppError::not_found)?;
    let approvers = store::star_approvers_for(&p.db, &v.unit_code).await?;
    if !may_decide_star(me, &approvers, a.level, &v.unit_code) {
        let by = model::StarApprovers::level_label(approvers.level_for(a.level));
        return Err(AppError::conflict("star.wrong_level", format!("{} 星由{by}志愿服务主管部门审批", a.level)));
    }
    let (_, ladder, _) = store::config_for(&p.db, &v.unit_code).await?;
    if approve {
        ladder.check_application(v.stars, a.level, store::final_minutes(&p.db, &v.id, p.now()).await?)?;
    }
    let mut tx = p.db.begin().await?;
    let n = tx
        .execute(platform::sql!(
            "UPDATE vol_star_apps SET state = $1, decided_by = $2, decided_ms = $3, note = $4 WHERE id = $5 AND state = 'pending'",
            if approve { "approved" } else { "rejected" },
            me.username.as_str(),
            p.now(),
            note.trim(),
            app_id
        ))
        .await?;
    if n != 1 {
        return Err(AppError::conflict("star.stale", "申请已被处理"));
    }
    if approve
        && tx.execute(platform::sql!("UPDATE vol_volunteers SET stars = $1 WHERE id = $2 AND stars = $3", a.level, v.id.as_str(), a.level - 1)).await? != 1
    {
        return Err(AppError::conflict("star.stale", "星级已变化，请刷新"));
    }
    audit(&mut tx, p, me, &v.unit_code, if approve { "volunteer.star_approve" } else { "volunteer.star_reject" }, app_id, &format!("{} 星", a.level)).await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Time bank

/// A person's time account (opened if needed) with the county issuer, sink and pool.
pub struct TimeAccounts {
    pub person: AccountRow,
    pub issuer: AccountRow,
}

/// 存入: a final service record becomes hours in the time bank, once, within the caps.
/// The volunteer deposits their own records; staff may deposit for a volunteer in their scope (one
/// registered for them without an account).
pub async fn deposit(p: &Platform, me: &Principal, record_id: &str) -> AppResult<String> {
    let r = store::record(&p.db, record_id).await?.ok_or_else(AppError::not_found)?;
    let v = store::volunteer(&p.db, &r.volunteer_id).await?.ok_or_else(AppError::not_found)?;
    let own = v.user_id.as_deref() == Some(me.user_id.as_str());
    if !own && !me.scope(Permission::ManageVolunteers).contains(&UnitCode::parse(&v.unit_code).map_err(AppError::internal)?) {
        return Err(AppError::not_found());
    }
    let now = p.now();
    if r.kind != "service" {
        return Err(AppError::conflict("timebank.not_service", "更正记录随原记录自动调整，不能单独存入"));
    }
    if r.state_at(now) != RecordState::Final {
        return Err(AppError::conflict("timebank.not_final", "服务记录公示期满生效后才能存入时间银行"));
    }
    let key = format!("deposit:{record_id}");
    if store::transfer_by_key(&p.db, &key).await?.is_some() {
        return Err(AppError::conflict("timebank.already_deposited", "该服务记录已存入，不能重复存入"));
    }
    let (cfg, _, _) = store::config_for(&p.db, &v.unit_code).await?;
    let minutes: i64 =
        r.minutes + store::records_of(&p.db, &v.id).await?.iter().filter(|c| c.corrects_id.as_deref() == Some(record_id)).map(|c| c.minutes).sum::<i64>();
    if minutes <= 0 {
        return Err(AppError::conflict("timebank.nothing", "该记录更正后没有可存入的时长"));
    }
    let day = Date::of_instant(r.started_ms).to_string();
    let mut tx = p.db.begin().await?;
    let person = store::account(&mut tx, Currency::Minutes, AccountKind::Person, &v.person_id, &v.unit_code, now).await?;
    let issuer = store::account(&mut tx, Currency::Minutes, AccountKind::Issuer, &county_of(&v.unit_code), &county_of(&v.unit_code), now).await?;
    let same_day = store::deposited_on(&mut tx, &person.id, &day).await?;
    let (balance,): (i64,) = tx.fetch_one(platform::sql!("SELECT balance FROM ledger_accounts WHERE id = $1", person.id.as_str())).await?;
    cfg.check_deposit(balance, minutes, same_day)?;
    let id = store::post(
        &mut tx,
        &NewTransfer {
            currency: Currency::Minutes,
            kind: TransferKind::Deposit,
            from: &issuer,
            to: &person,
            amount: minutes,
            floor: None,
            reason: &format!("服务存入：{}", r.content),
            ref_id: Some(record_id),
            corrects_id: None,
            service_day: Some(&day),
            idem_key: Some(&key),
            actor: &me.username,
            now,
        },
    )
    .await?;
    audit(&mut tx, p, me, &v.unit_code, "timebank.deposit", &id, &format!("{minutes} 分钟")).await?;
    tx.commit().await?;
    Ok(id)
}

/// 兑换: hours spent on a catalogue service, anywhere in the city (通存通兑); the holder must be
/// unlocked by age or earned hours, and the balance (plus any overdraft) must cover it.
pub async fn redeem(p: &Platform, me: &Principal, service_id: &str, idem_key: Option<&str>) -> AppResult<String> {
    let v = me_volunteer(p, me).await?;
    redeem_as(p, me, &v, service_id, idem_key, false).await
}

/// 代兑换: staff spend the hours of a volunteer of their scope who is at the counter (older
/// residents without phones); the same unlock, balance and overdraft checks apply, and the audit
/// record names the staff member (actor) and the resident.
pub async fn redeem_for(p: &Platform, me: &Principal, volunteer_id: &str, service_id: &str, present: bool, idem_key: Option<&str>) -> AppResult<String> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let v = store::volunteer_in(&p.db, &scope, volunteer_id).await?.ok_or_else(AppError::not_found)?;
    check_present(present)?;
    redeem_as(p, me, &v, service_id, idem_key, true).await
}

async fn redeem_as(p: &Platform, me: &Principal, v: &VolunteerRow, service_id: &str, idem_key: Option<&str>, assisted: bool) -> AppResult<String> {
    let s =
        store::service(&p.db, service_id).await?.ok_or_else(|| AppError::bad_request("timebank.no_service", "服务项目不存在或已下架").at_field("service"))?;
    if s.unit_code.chars().take(4).collect::<String>() != v.unit_code.chars().take(4).collect::<String>() {
        return Err(AppError::not_found());
    }
    if let Some(k) = idem_key.filter(|k| !k.is_empty())
        && let Some(t) = store::transfer_by_key(&p.db, &format!("redeem:{k}")).await?
    {
        return Ok(t.id);
    }
    let (cfg, _, _) = store::config_for(&p.db, &v.unit_code).await?;
    let person_brief = registry::lookup::person(&p.db, &v.person_id).await?;
    let age = person_brief.and_then(|b| b.age_on(today(p)));
    let now = p.now();
    let earned = match store::find_account(&p.db, Currency::Minutes, AccountKind::Person, &v.person_id).await? {
        Some(a) => store::earned(&p.db, &a.id).await?,
        None => 0,
    };
    cfg.check_unlocked(age, earned)?;
    let mut tx = p.db.begin().await?;
    let person = store::account(&mut tx, Currency::Minutes, AccountKind::Person, &v.person_id, &v.unit_code, now).await?;
    let sink = store::account(&mut tx, Currency::Minutes, AccountKind::Sink, &county_of(&s.unit_code), &county_of(&s.unit_code), now).await?;
    let key = idem_key.filter(|k| !k.is_empty()).map(|k| format!("redeem:{k}"));
    let id = store::post(
        &mut tx,
        &NewTransfer {
            currency: Currency::Minutes,
            kind: TransferKind::Redeem,
            from: &person,
            to: &sink,
            amount: s.minutes,
            floor: AccountKind::Person.floor(cfg.overdraft),
            reason: &format!("兑换服务：{}", s.name),
            ref_id: Some(&s.id),
            corrects_id: None,
            service_day: None,
            idem_key: key.as_deref(),
            actor: &me.username,
            now,
        },
    )
    .await?;
    if assisted {
        let detail = format!("{} 代 {}（{}，本人在场）兑换 {}，{} 分钟", me.username, v.name, v.volunteer_no, s.name, s.minutes);
        audit(&mut tx, p, me, &v.unit_code, "timebank.redeem_assisted", &id, &detail).await?;
    } else {
        audit(&mut tx, p, me, &v.unit_code, "timebank.redeem", &id, &format!("{}，{} 分钟", s.name, s.minutes)).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Names a relative (by ID number and name, checked against the register anywhere in the city) to
/// receive gifted hours.
pub async fn add_relative(p: &Platform, me: &Principal, name: &str, id_number: &str, relation: &str) -> AppResult<()> {
    let v = me_volunteer(p, me).await?;
    let city = platform::Scope::new(UnitCode::parse(&v.unit_code[..4]).ok().into_iter().collect());
    let person = registry::lookup::find_by_id_number(&p.db, &p.cipher, &city, id_number, today(p))
        .await?
        .filter(|x| x.name == name.trim())
        .ok_or_else(|| AppError::bad_request("relative.not_found", "居民台账中没有姓名与身份证号相符的人").at_field("id_number"))?;
    if person.id == v.person_id {
        return Err(AppError::bad_request("relative.self", "不能把自己添加为亲属").at_field("id_number"));
    }
    let relation = model::clean_text(relation, 10, "relation", "关系")?;
    if relation.is_empty() {
        return Err(AppError::bad_request("relative.relation_required", "请填写与您的关系（如母亲）").at_field("relation"));
    }
    let mut tx = p.db.begin().await?;
    let id = new_id();
    match store::insert_relative(
        &mut tx,
        &store::RelativeRow {
            id: id.clone(),
            volunteer_id: v.id.clone(),
            person_id: person.id.clone(),
            name: person.name.clone(),
            relation: relation.clone(),
            created_ms: p.now(),
        },
    )
    .await
    {
        Err(e) if e.is_unique_violation() => return Err(AppError::conflict("relative.duplicate", "已添加过这位亲属")),
        r => r?,
    }
    audit(&mut tx, p, me, &v.unit_code, "timebank.relative_add", &id, &relation).await?;
    tx.commit().await?;
    Ok(())
}

/// 转赠 to a named relative, or 捐赠 to the county's donation pool (`relative_id` = None).
pub async fn give(p: &Platform, me: &Principal, relative_id: Option<&str>, minutes: i64) -> AppResult<String> {
    let v = me_volunteer(p, me).await?;
    let (cfg, _, _) = store::config_for(&p.db, &v.unit_code).await?;
    let now = p.now();
    let target = match relative_id {
        Some(rid) => {
            if !cfg.gifts {
                return Err(AppError::conflict("timebank.gifts_off", "本地时间银行不允许转赠"));
            }
            Some(
                store::relatives_of(&p.db, &v.id)
                    .await?
                    .into_iter()
                    .find(|r| r.id == rid)
                    .ok_or_else(|| AppError::bad_request("relative.not_named", "只能转赠给已登记的亲属").at_field("relative"))?,
            )
        }
        None => None,
    };
    let target_unit = match &target {
        Some(r) => registry::lookup::person(&p.db, &r.person_id).await?.map(|b| b.unit_code).unwrap_or_else(|| v.unit_code.clone()),
        None => v.unit_code.clone(),
    };
    let mut tx = p.db.begin().await?;
    let person = store::account(&mut tx, Currency::Minutes, AccountKind::Person, &v.person_id, &v.unit_code, now).await?;
    let (to, kind, reason) = match &target {
        Some(r) => {
            let unit = target_unit.clone();
            (
                store::account(&mut tx, Currency::Minutes, AccountKind::Person, &r.person_id, &unit, now).await?,
                TransferKind::Gift,
                format!("转赠{}{}", r.relation, r.name),
            )
        }
        None => (
            store::account(&mut tx, Currency::Minutes, AccountKind::Pool, &county_of(&v.unit_code), &county_of(&v.unit_code), now).await?,
            TransferKind::Donate,
            "捐入爱心池".to_owned(),
        ),
    };
    // Gifts spend only what is there: no overdraft for giving away.
    let id = store::post(
        &mut tx,
        &NewTransfer {
            currency: Currency::Minutes,
            kind,
            from: &person,
            to: &to,
            amount: minutes,
            floor: Some(0),
            reason: &reason,
            ref_id: None,
            corrects_id: None,
            service_day: None,
            idem_key: None,
            actor: &me.username,
            now,
        },
    )
    .await?;
    audit(&mut tx, p, me, &v.unit_code, &format!("timebank.{}", kind.as_str()), &id, &format!("{minutes} 分钟")).await?;
    tx.commit().await?;
    Ok(id)
}

/// 爱心池发放: staff give hours from the county's donation pool to a resident in need (独居、高龄、
/// 低保 elders), found in the register by name and ID number within their scope. The pool can only
/// give what was donated.
pub async fn grant_from_pool(p: &Platform, me: &Principal, name: &str, id_number: &str, minutes: i64, reason: &str) -> AppResult<String> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let person = registry::lookup::find_by_id_number(&p.db, &p.cipher, &scope, id_number, today(p))
        .await?
        .filter(|x| x.name == name.trim())
        .ok_or_else(|| AppError::bad_request("relative.not_found", "居民台账中没有姓名与身份证号相符的人").at_field("id_number"))?;
    let reason = model::clean_text(reason, 200, "reason", "发放理由")?;
    if reason.is_empty() {
        return Err(AppError::bad_request("timebank.reason_required", "请写明发放理由（如：独居高龄老人）").at_field("reason"));
    }
    let county = county_of(&person.unit_code);
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let pool = store::account(&mut tx, Currency::Minutes, AccountKind::Pool, &county, &county, now).await?;
    let to = store::account(&mut tx, Currency::Minutes, AccountKind::Person, &person.id, &person.unit_code, now).await?;
    let id = store::post(
        &mut tx,
        &NewTransfer {
            currency: Currency::Minutes,
            kind: TransferKind::Grant,
            from: &pool,
            to: &to,
            amount: minutes,
            floor: Some(0),
            reason: &format!("爱心池发放：{reason}"),
            ref_id: None,
            corrects_id: None,
            service_day: None,
            idem_key: None,
            actor: &me.username,
            now,
        },
    )
    .await?;
    audit(&mut tx, p, me, &person.unit_code, "timebank.grant", &id, &format!("{minutes} 分钟：{reason}")).await?;
    tx.commit().await?;
    Ok(id)
}

/// The balance of a county's donation pool.
pub async fn pool_balance(p: &Platform, county: &str) -> AppResult<i64> {
    Ok(store::find_account(&p.db, Currency::Minutes, AccountKind::Pool, county).await?.map(|a| a.balance).unwrap_or(0))
}

pub async fn add_service(p: &Platform, me: &Principal, unit: &str, name: &str, minutes: i64) -> AppResult<String> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let code = UnitCode::parse(unit).map_err(|_| AppError::bad_request("unit.bad_code", "单位代码无效").at_field("unit"))?;
    if !scope.contains(&code) {
        return Err(AppError::not_found());
    }
    let name = model::clean_text(name, 40, "name", "服务名称")?;
    if name.is_empty() || minutes <= 0 {
        return Err(AppError::bad_request("timebank.bad_service", "请填写服务名称和所需时长").at_field("name"));
    }
    let id = new_id();
    let mut tx = p.db.begin().await?;
    match store::insert_service(
        &mut tx,
        &store::ServiceRow { id: id.clone(), unit_code: code.as_str().into(), name: name.clone(), minutes, active: 1, created_ms: p.now() },
    )
    .await
    {
        Err(e) if e.is_unique_violation() => return Err(AppError::conflict("timebank.service_duplicate", "已有同名服务项目").at_field("name")),
        r => r?,
    }
    audit(&mut tx, p, me, code.as_str(), "timebank.service_add", &id, &name).await?;
    tx.commit().await?;
    Ok(id)
}

/// Sets a county's or the city's time-bank rules from a preset, with the caps adjustable.
pub async fn set_config(p: &Platform, me: &Principal, unit: &str, c: &model::TimeBankConfig, stars: &model::StarLadder) -> AppResult<()> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let code = UnitCode::parse(unit).map_err(|_| AppError::bad_request("unit.bad_code", "单位代码无效").at_field("unit"))?;
    if !matches!(code.level(), platform::scope::Level::City | platform::scope::Level::County) {
        return Err(AppError::bad_request("timebank.config_level", "时间银行规则只能在市或县（区）设置").at_field("unit"));
    }
    if !scope.contains(&code) {
        return Err(AppError::forbidden());
    }
    let mut tx = p.db.begin().await?;
    store::put_config(&mut tx, code.as_str(), c, stars, &me.username, p.now()).await?;
    audit(&mut tx, p, me, code.as_str(), "timebank.config", code.as_str(), &format!("{c:?}")).await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Points bank

fn village_of(unit: &str) -> String {
    unit.chars().take(12).collect()
}

/// A draft rule set from lines `编号,事项,分值,佐证` (分值 may be negative for deductions), with
/// the default setting that only the head spends the household's points.
pub async fn draft_rules(p: &Platform, me: &Principal, unit: &str, text: &str) -> AppResult<String> {
    draft_rules_with(p, me, unit, text, model::HouseholdSpend::Head).await
}

/// A draft rule set with its setting on who spends the household's points: voted together with
/// the rules, in force together with them.
pub async fn draft_rules_with(p: &Platform, me: &Principal, unit: &str, text: &str, spend: model::HouseholdSpend) -> AppResult<String> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let code = UnitCode::parse(unit).map_err(|_| AppError::bad_request("unit.bad_code", "单位代码无效").at_field("unit"))?;
    if code.level() != platform::scope::Level::Village || !scope.contains(&code) {
        return Err(AppError::bad_request("points.village_only", "积分细则由村（社区）制定").at_field("unit"));
    }
    let mut rules = Vec::new();
    for (i, line) in text.lines().map(str::trim).filter(|l| !l.is_empty()).enumerate() {
        let f: Vec<&str> = line.split([',', '，']).map(str::trim).collect();
        let bad = |m: &str| AppError::bad_request("points.bad_rule", m.to_owned()).at_row(i + 1).at_field("rules");
        if f.len() < 3 {
            return Err(bad("每行应为：编号,事项,分值[,佐证要求]"));
        }
        let points: i64 = f[2].trim_start_matches('+').parse().map_err(|_| bad("分值须为整数（扣分写负数）"))?;
        if points == 0 || points.abs() > 1000 || f[0].is_empty() || f[1].is_empty() {
            return Err(bad("编号、事项不能为空，分值须为 ±1–1000"));
        }
        if rules.iter().any(|r: &RuleRow| r.code == f[0]) {
            return Err(bad("编号重复"));
        }
        rules.push(RuleRow {
            id: new_id(),
            set_id: String::new(),
            code: f[0].into(),
            item: f[1].into(),
            points,
            evidence: f.get(3).copied().unwrap_or("").into(),
        });
    }
    if rules.is_empty() {
        return Err(AppError::bad_request("points.no_rules", "请至少填写一条细则").at_field("rules"));
    }
    let mut tx = p.db.begin().await?;
    let version = store::next_rule_version(&mut tx, code.as_str()).await?;
    let id = new_id();
    store::insert_rule_set(
        &mut tx,
        &RuleSetRow {
            id: id.clone(),
            unit_code: code.as_str().into(),
            version,
            state: "draft".into(),
            meeting_ref: None,
            approved_by: None,
            approved_ms: None,
            created_by: me.username.clone(),
            created_ms: p.now(),
            household_spend: spend.as_str().into(),
        },
        &rules,
    )
    .await?;
    audit(&mut tx, p, me, code.as_str(), "points.rules_draft", &id, &format!("第 {version} 版，{} 条，{}", rules.len(), spend.label())).await?;
    tx.commit().await?;
    Ok(id)
}

/// A rule set takes effect only when approved, with the meeting or vote that passed it recorded.
pub async fn approve_rules(p: &Platform, me: &Principal, set_id: &str, meeting: &str) -> AppResult<()> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let s = store::rule_set(&p.db, set_id).await?.ok_or_else(AppError::not_found)?;
    if !scope.contains(&UnitCode::parse(&s.unit_code).map_err(AppError::internal)?) {
        return Err(AppError::not_found());
    }
    let meeting = model::clean_text(meeting, 200, "meeting", "表决会议")?;
    if meeting.chars().count() < 4 {
        return Err(AppError::bad_request("points.meeting_required", "请填写通过细则的村民（代表）会议或表决记录，如“2026年3月村民代表会议第2号决议”")
            .at_field("meeting"));
    }
    let mut tx = p.db.begin().await?;
    if !store::approve_rule_set(&mut tx, set_id, &meeting, &me.username, p.now()).await? {
        return Err(AppError::conflict("points.not_draft", "该版本已生效或不是草案"));
    }
    audit(&mut tx, p, me, &s.unit_code, "points.rules_approve", set_id, &meeting).await?;
    tx.commit().await?;
    Ok(())
}

/// Finds a rule by code in the village's approved rule set; a draft rule is refused.
async fn approved_rule(p: &Platform, village: &str, code: &str) -> AppResult<RuleRow> {
    let set = store::active_rule_set(&p.db, village)
        .await?
        .ok_or_else(|| AppError::conflict("points.no_approved_rules", "本村（社区）还没有经会议表决通过的积分细则"))?;
    store::rules_of(&p.db, &set.id).await?.into_iter().find(|r| r.code == code.trim()).ok_or_else(|| {
        AppError::bad_request("points.rule_not_approved", format!("细则「{}」不在已生效的第 {} 版细则中", code.trim(), set.version)).at_field("rule")
    })
}

pub struct Claim<'a> {
    /// The household credited; may be empty when `person_id` is given (her household is used).
    pub household_id: &'a str,
    /// 个人积分: the person credited instead of the household.
    pub person_id: Option<&'a str>,
    pub rule_code: &'a str,
    pub source: &'a str,
    pub evidence: &'a str,
    pub idem_key: Option<&'a str>,
    pub occurred_ms: Millis,
}

/// 申报/举报/检查: a points claim against an approved rule; it waits for review.
pub async fn submit_award(p: &Platform, me: &Principal, c: &Claim<'_>) -> AppResult<String> {
    let person = match c.person_id.filter(|s| !s.is_empty()) {
        Some(id) => Some(
            registry::lookup::person(&p.db, id)
                .await?
                .filter(|b| b.household_id.is_some())
                .ok_or_else(|| AppError::bad_request("points.no_person", "居民不存在或没有户信息").at_field("person"))?,
        ),
        None => None,
    };
    let hid = match (&person, c.household_id) {
        (Some(b), "") => b.household_id.clone().unwrap_or_default(),
        (Some(b), h) if b.household_id.as_deref() != Some(h) => {
            return Err(AppError::bad_request("points.person_not_in_household", "该居民不在所选的户中").at_field("person"));
        }
        (_, h) => h.to_owned(),
    };
    let hh = registry::lookup::household(&p.db, &hid).await?.ok_or_else(|| AppError::bad_request("points.no_household", "户不存在").at_field("household"))?;
    let unit = UnitCode::parse(&hh.unit_code).map_err(AppError::internal)?;
    let staff = me.scope(Permission::ManageVolunteers).contains(&unit);
    // A resident declares for herself or for her household, as the person her account is bound to.
    let mine = match registry::lookup::bound_person(&p.db, &me.user_id).await? {
        Some(b) => match &person {
            Some(x) => x.id == b.id,
            None => b.household_id.as_deref() == Some(hh.id.as_str()),
        },
        None => false,
    };
    if !staff && !(mine && c.source == "self") {
        return Err(AppError::not_found());
    }
    if !model::AWARD_SOURCES.iter().any(|(k, _)| *k == c.source) {
        return Err(AppError::bad_request("points.bad_source", "积分来源无效").at_field("source"));
    }
    let rule = approved_rule(p, &village_of(&hh.unit_code), c.rule_code).await?;
    if let Some(k) = c.idem_key
        && let Some(a) = store::award_by_key(&p.db, k).await?
    {
        return Ok(a.id);
    }
    let id = new_id();
    let mut tx = p.db.begin().await?;
    let res = store::insert_award(
        &mut tx,
        &AwardRow {
            id: id.clone(),
            unit_code: hh.unit_code.clone(),
            household_id: hh.id.clone(),
            person_id: person.as_ref().map(|b| b.id.clone()),
            rule_id: rule.id.clone(),
            points: rule.points,
            source: c.source.into(),
            evidence: model::clean_text(c.evidence, 500, "evidence", "佐证")?,
            state: "submitted".into(),
            submitted_by: me.username.clone(),
            reviewed_by: None,
            reviewed_ms: None,
            checked_by: None,
            checked_ms: None,
            transfer_id: None,
            idem_key: c.idem_key.map(str::to_owned),
            occurred_ms: c.occurred_ms,
            created_ms: p.now(),
            synthetic: 0,
        },
    )
    .await;
    match res {
        Err(e) if e.is_unique_violation() => {
            drop(tx);
            if let Some(a) = store::award_by_key(&p.db, c.idem_key.unwrap_or("")).await? {
                return Ok(a.id);
            }
            return Err(AppError::conflict("points.duplicate", "重复提交"));
        }
        r => r?,
    }
    let whom = match &person {
        Some(b) => format!("{} {}", hh.household_no, b.name),
        None => hh.household_no.clone(),
    };
    audit(&mut tx, p, me, &hh.unit_code, "points.submit", &id, &format!("{whom} {} {:+}", rule.item, rule.points)).await?;
    tx.commit().await?;
    Ok(id)
}

async fn post_award(tx: &mut Tx, p: &Platform, a: &AwardRow, actor: &str, reason: &str) -> AppResult<String> {
    let now = p.now();
    let village = village_of(&a.unit_code);
    // 个人积分 or 家庭积分: the award names a person when it is hers alone.
    let household = match &a.person_id {
        Some(pid) => store::account(tx, Currency::Points, AccountKind::Person, pid, &a.unit_code, now).await?,
        None => store::account(tx, Currency::Points, AccountKind::Household, &a.household_id, &a.unit_code, now).await?,
    };
    let issuer = store::account(tx, Currency::Points, AccountKind::Issuer, &village, &village, now).await?;
    let (from, to) = if a.points >= 0 { (&issuer, &household) } else { (&household, &issuer) };
    store::post(
        tx,
        &NewTransfer {
            currency: Currency::Points,
            kind: TransferKind::Award,
            from,
            to,
            amount: a.points.abs(),
            floor: None,
            reason,
            ref_id: Some(&a.id),
            corrects_id: None,
            service_day: None,
            idem_key: Some(&format!("award:{}", a.id)),
            actor,
            now,
        },
    )
    .await
}

/// 评议小组 review, then 监督小组 check by someone else; the check posts the points.
pub async fn decide_award(p: &Platform, me: &Principal, id: &str, approve: bool) -> AppResult<()> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let a = store::award(&p.db, id).await?.ok_or_else(AppError::not_found)?;
    if !scope.contains(&UnitCode::parse(&a.unit_code).map_err(AppError::internal)?) {
        return Err(AppError::not_found());
    }
    let rule = store::rule(&p.db, &a.rule_id).await?.ok_or_else(AppError::not_found)?;
    let mut tx = p.db.begin().await?;
    match (a.state.as_str(), approve) {
        ("submitted", true) => {
            if !store::set_award_state(&mut tx, id, "submitted", "reviewed", &me.username, p.now(), true, None).await? {
                return Err(AppError::conflict("points.stale", "已被他人处理，请刷新"));
            }
            audit(&mut tx, p, me, &a.unit_code, "points.review", id, "评议通过").await?;
        }
        ("reviewed", true) => {
            if a.reviewed_by.as_deref() == Some(me.username.as_str()) {
                return Err(AppError::conflict("points.same_checker", "监督核查须由评议人以外的人进行"));
            }
            let t = post_award(&mut tx, p, &a, &me.username, &format!("{}（{}）", rule.item, model::source_label(&a.source))).await?;
            if !store::set_award_state(&mut tx, id, "reviewed", "approved", &me.username, p.now(), false, Some(&t)).await? {
                return Err(AppError::conflict("points.stale", "已被他人处理，请刷新"));
            }
            audit(&mut tx, p, me, &a.unit_code, "points.approve", id, &format!("{:+}", a.points)).await?;
        }
        (s @ ("submitted" | "reviewed"), false) => {
            if !store::set_award_state(&mut tx, id, s, "rejected", &me.username, p.now(), s == "submitted", None).await? {
                return Err(AppError::conflict("points.stale", "已被他人处理，请刷新"));
            }
            audit(&mut tx, p, me, &a.unit_code, "points.reject", id, "").await?;
        }
        _ => return Err(AppError::conflict("points.decided", "该申报已处理完毕")),
    }
    tx.commit().await?;
    Ok(())
}

/// Smart-bin intake: the bin's message id makes a retry the same award; the bin's weighing is the
/// evidence, so the award is posted at once under the approved rule.
pub async fn bin_award(
    p: &Platform,
    me: &Principal,
    message_id: &str,
    household_id: &str,
    rule_code: &str,
    occurred_ms: Millis,
    evidence: &str,
) -> AppResult<(String, bool)> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let key = format!("bin:{}", message_id.trim());
    if message_id.trim().is_empty() || message_id.len() > 100 {
        return Err(AppError::bad_request("bin.bad_message_id", "message_id 必填，且不超过 100 个字符").at_field("message_id"));
    }
    if let Some(a) = store::award_by_key(&p.db, &key).await? {
        return Ok((a.id, false));
    }
    let hh = registry::lookup::household(&p.db, household_id)
        .await?
        .ok_or_else(|| AppError::bad_request("points.no_household", "户不存在").at_field("household_id"))?;
    if !scope.contains(&UnitCode::parse(&hh.unit_code).map_err(AppError::internal)?) {
        return Err(AppError::bad_request("points.no_household", "户不存在").at_field("household_id"));
    }
    let rule = approved_rule(p, &village_of(&hh.unit_code), rule_code).await?;
    let id = new_id();
    let now = p.now();
    let a = AwardRow {
        id: id.clone(),
        unit_code: hh.unit_code.clone(),
        household_id: hh.id.clone(),
        person_id: None,
        rule_id: rule.id.clone(),
        points: rule.points,
        source: "bin".into(),
        evidence: model::clean_text(evidence, 500, "evidence", "佐证")?,
        state: "approved".into(),
        submitted_by: me.username.clone(),
        reviewed_by: Some(me.username.clone()),
        reviewed_ms: Some(now),
        checked_by: Some(me.username.clone()),
        checked_ms: Some(now),
        transfer_id: None,
        idem_key: Some(key.clone()),
        occurred_ms,
        created_ms: now,
        synthetic: 0,
    };
    let mut tx = p.db.begin().await?;
    match store::insert_award(&mut tx, &a).await {
        Err(e) if e.is_unique_violation() => {
            drop(tx);
            let a = store::award_by_key(&p.db, &key).await?.ok_or_else(|| AppError::conflict("points.duplicate", "重复提交"))?;
            return Ok((a.id, false));
        }
        r => r?,
    }
    let t = post_award(&mut tx, p, &a, &me.username, &format!("{}（智能垃圾箱）", rule.item)).await?;
    tx.execute(platform::sql!("UPDATE pb_awards SET transfer_id = $1 WHERE id = $2", t.as_str(), id.as_str())).await?;
    audit(&mut tx, p, me, &hh.unit_code, "points.bin", &id, &format!("{} {:+}", hh.household_no, rule.points)).await?;
    tx.commit().await?;
    Ok((id, true))
}

/// An objection to a published award, within the month's window.
pub async fn object_award(p: &Platform, me: &Principal, award_id: &str, text: &str) -> AppResult<()> {
    let scope = me.require(Permission::Participate)?;
    let a = store::award(&p.db, award_id).await?.ok_or_else(AppError::not_found)?;
    let unit = UnitCode::parse(&a.unit_code).map_err(AppError::internal)?;
    if !scope.contains(&unit) && !scope.is_ancestor_of_scope(&unit) {
        return Err(AppError::not_found());
    }
    let Some(checked) = a.checked_ms.filter(|_| a.state == "approved") else {
        return Err(AppError::conflict("points.not_published", "只能对已公示的积分提出异议"));
    };
    let d = Date::of_instant(checked).to_string();
    let (y, m) = model::parse_month(&d[..7])?;
    let (_, end) = model::month_range(y, m);
    if p.now() > end + model::OBJECTION_DAYS * platform::clock::DAY {
        return Err(AppError::conflict("points.window_closed", format!("异议期已过（月度公示后 {} 天内）", model::OBJECTION_DAYS)));
    }
    let text = model::clean_text(text, 500, "text", "异议内容")?;
    if text.is_empty() {
        return Err(AppError::bad_request("points.objection_required", "请写明异议内容").at_field("text"));
    }
    let mut tx = p.db.begin().await?;
    let id = new_id();
    store::insert_objection(&mut tx, &id, award_id, &a.unit_code, &text, &me.username, p.now()).await?;
    audit(&mut tx, p, me, &a.unit_code, "points.object", award_id, &text).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn add_item(p: &Platform, me: &Principal, unit: &str, name: &str, price: i64, stock: i64) -> AppResult<String> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let code = UnitCode::parse(unit).map_err(|_| AppError::bad_request("unit.bad_code", "单位代码无效").at_field("unit"))?;
    if code.level() != platform::scope::Level::Village || !scope.contains(&code) {
        return Err(AppError::bad_request("points.village_only", "积分超市设在村（社区）").at_field("unit"));
    }
    let name = model::clean_text(name, 40, "name", "商品名称")?;
    if name.is_empty() || price <= 0 || !(0..=100_000).contains(&stock) {
        return Err(AppError::bad_request("shop.bad_item", "请填写商品名称、正整数积分价格和库存").at_field("name"));
    }
    let id = new_id();
    let mut tx = p.db.begin().await?;
    match store::insert_item(
        &mut tx,
        &store::ItemRow { id: id.clone(), unit_code: code.as_str().into(), name: name.clone(), price, stock, active: 1, created_ms: p.now() },
    )
    .await
    {
        Err(e) if e.is_unique_violation() => return Err(AppError::conflict("shop.duplicate", "已有同名商品").at_field("name")),
        r => r?,
    }
    audit(&mut tx, p, me, code.as_str(), "shop.item_add", &id, &format!("{name} {price} 分 × {stock}")).await?;
    tx.commit().await?;
    Ok(id)
}

/// The person the caller's account is bound to (实名认证), living in the register: resident-facing
/// points pages need no volunteer registration.
pub async fn my_person(p: &Platform, me: &Principal) -> AppResult<registry::lookup::PersonBrief> {
    me.require(Permission::Participate)?;
    registry::lookup::bound_person(&p.db, &me.user_id)
        .await?
        .ok_or_else(|| AppError::conflict("points.identity_required", "请先到社区办理实名认证（账号与居民台账绑定），再使用积分银行"))
}

/// The caller's household, through the person her account is bound to.
pub async fn my_household(p: &Platform, me: &Principal) -> AppResult<registry::lookup::HouseholdBrief> {
    let b = my_person(p, me).await?;
    household_of(p, &b).await
}

async fn household_of(p: &Platform, b: &registry::lookup::PersonBrief) -> AppResult<registry::lookup::HouseholdBrief> {
    let none = || AppError::conflict("points.no_household", "居民台账中没有您的户信息，请联系社区");
    let hid = b.household_id.clone().ok_or_else(none)?;
    registry::lookup::household(&p.db, &hid).await?.ok_or_else(none)
}

/// The household-spend setting in force at a village (the default when no rules are approved yet).
pub async fn household_spend(p: &Platform, village: &str) -> AppResult<model::HouseholdSpend> {
    Ok(match store::active_rule_set(&p.db, village).await? {
        Some(s) => model::HouseholdSpend::parse(&s.household_spend).unwrap_or_default(),
        None => model::HouseholdSpend::default(),
    })
}

/// 兑换商品 by the resident herself, from her own points or her household's (the head's, unless the
/// rules let every member spend them).
pub async fn redeem_item(p: &Platform, me: &Principal, item_id: &str, payer: model::Payer) -> AppResult<String> {
    let b = my_person(p, me).await?;
    shop_redeem(p, me, &b, item_id, payer, None).await
}

/// 代兑换: community staff redeem for a resident of their scope who is at the counter (older
/// residents without phones); same stock, balance and household rules, and the record names both.
pub async fn redeem_item_for(p: &Platform, me: &Principal, person_id: &str, item_id: &str, payer: model::Payer, present: bool) -> AppResult<String> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let b = registry::lookup::person(&p.db, person_id).await?.ok_or_else(|| AppError::bad_request("points.no_person", "居民不存在").at_field("person"))?;
    if !scope.contains(&UnitCode::parse(&b.unit_code).map_err(AppError::internal)?) {
        return Err(AppError::bad_request("points.no_person", "居民不存在").at_field("person"));
    }
    check_present(present)?;
    shop_redeem(p, me, &b, item_id, payer, Some(&me.username)).await
}

fn check_present(present: bool) -> AppResult<()> {
    if present {
        Ok(())
    } else {
        Err(AppError::bad_request("assist.presence_required", "代为兑换须居民本人在场：请核对本人后勾选“本人在场”").at_field("present"))
    }
}

/// One item from stock and its price from the chosen account, together or not at all.
async fn shop_redeem(
    p: &Platform,
    me: &Principal,
    b: &registry::lookup::PersonBrief,
    item_id: &str,
    payer: model::Payer,
    assisted_by: Option<&str>,
) -> AppResult<String> {
    let hh = household_of(p, b).await?;
    let item = store::item(&p.db, item_id).await?.filter(|i| i.active == 1).ok_or_else(AppError::not_found)?;
    if item.unit_code != village_of(&hh.unit_code) {
        return Err(AppError::not_found());
    }
    if payer == model::Payer::Household {
        household_spend(p, &item.unit_code).await?.check(b.relation.as_deref())?;
    }
    let now = p.now();
    let mut tx = p.db.begin().await?;
    if !store::take_stock(&mut tx, &item.id).await? {
        return Err(AppError::conflict("shop.out_of_stock", format!("「{}」已兑完，请等待补货", item.name)));
    }
    let from = match payer {
        model::Payer::Household => store::account(&mut tx, Currency::Points, AccountKind::Household, &hh.id, &hh.unit_code, now).await?,
        model::Payer::Person => store::account(&mut tx, Currency::Points, AccountKind::Person, &b.id, &b.unit_code, now).await?,
    };
    let shop = store::account(&mut tx, Currency::Points, AccountKind::Sink, &item.unit_code, &item.unit_code, now).await?;
    let t = store::post(
        &mut tx,
        &NewTransfer {
            currency: Currency::Points,
            kind: TransferKind::Redeem,
            from: &from,
            to: &shop,
            amount: item.price,
            floor: Some(0),
            reason: &format!("兑换：{}", item.name),
            ref_id: Some(&item.id),
            corrects_id: None,
            service_day: None,
            idem_key: None,
            actor: &me.username,
            now,
        },
    )
    .await?;
    let rid = new_id();
    store::insert_redemption(
        &mut tx,
        &store::RedemptionRow {
            id: rid.clone(),
            item_id: item.id.clone(),
            unit_code: item.unit_code.clone(),
            household_id: hh.id.clone(),
            transfer_id: t,
            points: item.price,
            by_user: me.username.clone(),
            created_ms: now,
            account_kind: payer.as_str().into(),
            person_id: Some(b.id.clone()),
            assisted_by: assisted_by.map(str::to_owned),
        },
    )
    .await?;
    let whose = if payer == model::Payer::Household { "家庭积分" } else { "个人积分" };
    let detail = match assisted_by {
        Some(staff) => format!("{staff} 代 {}（户 {}，本人在场）兑换 {}，{whose} {} 分", b.name, hh.household_no, item.name, item.price),
        None => format!("{} {}，{whose} {} 分", item.name, b.name, item.price),
    };
    audit(&mut tx, p, me, &hh.unit_code, if assisted_by.is_some() { "shop.redeem_assisted" } else { "shop.redeem" }, &rid, &detail).await?;
    tx.commit().await?;
    Ok(rid)
}

// ---------------------------------------------------------------------------------------------
// Indicators

/// A rate with its parts, for the indicator system.
#[derive(Clone, Debug, serde::Serialize, PartialEq)]
pub struct Rate {
    pub unit: String,
    pub numerator: i64,
    pub denominator: i64,
    /// numerator / denominator, or 0 when the denominator is 0.
    pub value: f64,
    pub target: f64,
}

impl Rate {
    fn new(unit: &str, n: i64, d: i64, target: f64) -> Self {
        Rate { unit: unit.into(), numerator: n, denominator: d, value: if d > 0 { n as f64 / d as f64 } else { 0.0 }, target }
    }
    pub fn percent(&self) -> String {
        format!("{:.1}%", self.value * 100.0)
    }
}

/// T06 注册志愿者占常住人口比例: active registered volunteers in the subtree ÷ resident population
/// (the unit population figures where the geography has them, else the people register). Target 20 %.
pub async fn registration_rate(db: &platform::Db, root: &UnitCode) -> AppResult<Rate> {
    let n = store::count_volunteers(db, root).await?;
    let d = match geography::store::population_total(db, root).await? {
        Some((_, residents)) if residents > 0 => residents,
        _ => registry::lookup::resident_count(db, root).await?,
    };
    Ok(Rate::new(root.as_str(), n, d, 0.20))
}

/// T22 乡镇（街道）志愿服务站覆盖: townships and streets in the subtree with a volunteer service
/// station anywhere in them (a 志愿服务站 facility in the register, or a station organisation here)
/// ÷ all of them (the plan's target: 100 %). Below the township level the unit itself is measured
/// (1 of 1 when it has a station).
pub async fn station_coverage(db: &platform::Db, root: &UnitCode) -> AppResult<Rate> {
    use geography::model::UnitKind;
    let township_of = |c: &str| c.chars().take(9).collect::<String>();
    let mut covered: std::collections::HashSet<String> = std::collections::HashSet::new();
    for c in registry::lookup::units_with_facility(db, root, "志愿服务站").await?.into_iter().chain(store::station_units(db, root).await?) {
        covered.insert(if root.as_str().len() > 9 { root.as_str().to_owned() } else { township_of(&c) });
    }
    if root.as_str().len() > 9 {
        return Ok(Rate::new(root.as_str(), covered.len().min(1) as i64, 1, 1.0));
    }
    let townships = geography::store::current_of_kind(db, root, &[UnitKind::Street, UnitKind::Town, UnitKind::Township]).await?;
    let n = townships.iter().filter(|u| covered.contains(&u.code)).count() as i64;
    Ok(Rate::new(root.as_str(), n, townships.len() as i64, 1.0))
}

// ---------------------------------------------------------------------------------------------
// Expiry (off by default)

/// 过期: where a county's (or the city's) time-bank rules set a validity, unspent hours credited
/// longer ago than that move to the county's donation pool (爱心池) by a transfer of their own —
/// no deposit is ever edited. First in, first out; idempotent (a second run, or a second process
/// at the same moment, expires nothing more). Returns the number of transfers posted.
pub async fn expire_hours(p: &Platform) -> AppResult<usize> {
    if !store::any_expiry(&p.db).await? {
        return Ok(0);
    }
    let actor = audit::Actor::system();
    let now = p.now();
    let mut configs: std::collections::HashMap<String, Option<i64>> = std::collections::HashMap::new();
    let mut posted = 0;
    let mut after = String::new();
    loop {
        let page = store::person_minute_accounts(&p.db, &after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        for acct in page {
            let county = county_of(&acct.unit_code);
            let days = match configs.get(&county) {
                Some(d) => *d,
                None => {
                    let d = store::config_for(&p.db, &acct.unit_code).await?.0.expiry_days;
                    configs.insert(county.clone(), d);
                    d
                }
            };
            let Some(days) = days.filter(|d| *d > 0) else { continue };
            let mut tx = p.db.begin().await?;
            let (credited, debited) = store::credits_and_debits(&mut tx, &acct.id, now - days * platform::clock::DAY).await?;
            let (balance,): (i64,) = tx.fetch_one(platform::sql!("SELECT balance FROM ledger_accounts WHERE id = $1", acct.id.as_str())).await?;
            let amount = model::expiring(credited, debited, balance);
            if amount == 0 {
                continue;
            }
            let pool = store::account(&mut tx, Currency::Minutes, AccountKind::Pool, &county, &county, now).await?;
            // The key names the debits already counted: a concurrent run computing the same
            // amount collides on it instead of expiring twice.
            let key = format!("expire:{}:{debited}", acct.id);
            let res = store::post(
                &mut tx,
                &NewTransfer {
                    currency: Currency::Minutes,
                    kind: TransferKind::Expire,
                    from: &acct,
                    to: &pool,
                    amount,
                    floor: Some(0),
                    reason: &format!("超过 {days} 天未使用的时长转入爱心池"),
                    ref_id: None,
                    corrects_id: None,
                    service_day: None,
                    idem_key: Some(&key),
                    actor: &actor.name,
                    now,
                },
            )
            .await;
            let id = match res {
                Ok(id) => id,
                Err(e) if e.code == "ledger.duplicate" || e.code == "ledger.insufficient" => continue,
                Err(e) => return Err(e),
            };
            audit::record(
                &mut tx,
                now,
                &AuditEvent {
                    actor: &actor,
                    unit: Some(&acct.unit_code),
                    action: "timebank.expire",
                    target: &id,
                    outcome: Outcome::Ok,
                    detail: &format!("{amount} 分钟，账户 {}", acct.owner),
                },
            )
            .await?;
            tx.commit().await?;
            posted += 1;
        }
    }
    Ok(posted)
}
