//! Accounts, roles held at units, sessions, API tokens, lockout and TOTP.
//!
//! The rules (which role may do what, where a role may be held, password strength) are pure
//! functions here; the SQL sits below them in the same file because it is small and only this
//! module touches these tables.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::{self, Actor, Event, Outcome};
use crate::clock::{HOUR, MINUTE, Millis};
use crate::db::{Db, DbResult, Tx, new_id};
use crate::error::{AppError, AppResult};
use crate::scope::{Level, Scope, UnitCode};
use crate::{Platform, sql, totp};

/// Roles with stable machine names. 三员分立: the system, security and audit administrators are
/// separate roles, and each needs TOTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SystemAdmin,
    SecurityAdmin,
    AuditAdmin,
    CityStaff,
    CountyStaff,
    TownshipStaff,
    CommunityStaff,
    GridWorker,
    DepartmentStaff,
    Resident,
}

/// What a role allows. Every handler asks for one permission and gets the scope it holds it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Browse the governance tree and unit details.
    ViewUnits,
    /// Import units, reform them, add compounds and grids.
    ManageUnits,
    /// See accounts.
    ViewAccounts,
    /// Create accounts, reset passwords, disable accounts (系统管理员).
    ManageAccounts,
    /// Grant and revoke roles (安全管理员).
    GrantRoles,
    /// Read and export the audit log (审计管理员).
    ViewAudit,
    /// Browse the base registers (identifiers masked).
    ViewRegisters,
    /// Import and edit register records.
    EditRegisters,
    /// See a full ID number or phone, for a stated purpose (audited).
    UnmaskPersonal,
    /// Maintain the sharing lists (共享清单) of departments and systems.
    ManageSharing,
    /// Report events (上报).
    ReportEvents,
    /// Accept, dispatch, close, evaluate, escalate events (the command role of a unit).
    HandleEvents,
    /// Sign for, handle and feed back events sent to one's unit or department.
    WorkEvents,
    /// 吹哨: summon departments to an event.
    Whistle,
    /// Run volunteer activities, confirm service records, keep the time bank's and the points bank's
    /// catalogues and awards (志愿服务、时间银行、积分银行).
    ManageVolunteers,
    /// Run consultations (议事协商), ballots and village-affairs publication (村务公开).
    ManageConsultation,
    /// Take part as a resident: register as a volunteer, sign up, spend hours and points, vote.
    Participate,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::SystemAdmin,
        Role::SecurityAdmin,
        Role::AuditAdmin,
        Role::CityStaff,
        Role::CountyStaff,
        Role::TownshipStaff,
        Role::CommunityStaff,
        Role::GridWorker,
        Role::DepartmentStaff,
        Role::Resident,
    ];

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s.trim())
    }
    pub fn name(self) -> &'static str {
        match self {
            Role::SystemAdmin => "system_admin",
            Role::SecurityAdmin => "security_admin",
            Role::AuditAdmin => "audit_admin",
            Role::CityStaff => "city_staff",
            Role::CountyStaff => "county_staff",
            Role::TownshipStaff => "township_staff",
            Role::CommunityStaff => "community_staff",
            Role::GridWorker => "grid_worker",
            Role::DepartmentStaff => "department_staff",
            Role::Resident => "resident",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Role::SystemAdmin => "系统管理员",
            Role::SecurityAdmin => "安全管理员",
            Role::AuditAdmin => "审计管理员",
            Role::CityStaff => "市级工作人员",
            Role::CountyStaff => "县（区）工作人员",
            Role::TownshipStaff => "乡镇（街道）工作人员",
            Role::CommunityStaff => "村（社区）工作人员",
            Role::GridWorker => "网格员",
            Role::DepartmentStaff => "部门工作人员",
            Role::Resident => "居民",
        }
    }
    pub fn is_admin(self) -> bool {
        matches!(self, Role::SystemAdmin | Role::SecurityAdmin | Role::AuditAdmin)
    }
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::SystemAdmin => matches!(p, ViewUnits | ManageUnits | ViewAccounts | ManageAccounts),
            Role::SecurityAdmin => matches!(p, ViewUnits | ViewAccounts | GrantRoles | ManageSharing),
            Role::AuditAdmin => matches!(p, ViewAudit),
            Role::CityStaff | Role::CountyStaff => matches!(
                p,
                ViewUnits
                    | ViewRegisters
                    | UnmaskPersonal
                    | ReportEvents
                    | HandleEvents
                    | WorkEvents
                    | Whistle
                    | ManageVolunteers
                    | ManageConsultation
                    | Participate
            ),
            Role::TownshipStaff => matches!(
                p,
                ViewUnits
                    | ViewRegisters
                    | EditRegisters
                    | UnmaskPersonal
                    | ReportEvents
                    | HandleEvents
                    | WorkEvents
                    | Whistle
                    | ManageVolunteers
                    | ManageConsultation
                    | Participate
            ),
            Role::CommunityStaff => matches!(
                p,
                ViewUnits
                    | ViewRegisters
                    | EditRegisters
                    | UnmaskPersonal
                    | ReportEvents
                    | HandleEvents
                    | WorkEvents
                    | ManageVolunteers
                    | ManageConsultation
                    | Participate
            ),
            Role::GridWorker => matches!(p, ViewUnits | ViewRegisters | EditRegisters | UnmaskPersonal | ReportEvents | WorkEvents | Participate),
            // Departments read registers only through their sharing list; they work the events sent to them.
            Role::DepartmentStaff => matches!(p, ViewUnits | WorkEvents),
            Role::Resident => matches!(p, ViewUnits | ReportEvents | Participate),
        }
    }
    /// The levels a role may be held at: staff roles belong to their tier, grid workers and residents
    /// to a village/community or a grid below it; administrators and departments to any tier down to
    /// the township.
    pub fn allowed_at(self, level: Level) -> bool {
        match self {
            Role::CityStaff => level == Level::City,
            Role::CountyStaff => level == Level::County,
            Role::TownshipStaff => level == Level::Township,
            Role::CommunityStaff => level == Level::Village,
            Role::GridWorker | Role::Resident => matches!(level, Level::Village | Level::Cell),
            Role::SystemAdmin | Role::SecurityAdmin | Role::AuditAdmin | Role::DepartmentStaff => {
                matches!(level, Level::City | Level::County | Level::Township)
            }
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Grant {
    pub role: Role,
    pub unit: UnitCode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Session,
    Token,
}

/// The signed-in user or API client, with their grants.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub home_unit: UnitCode,
    pub grants: Vec<Grant>,
    pub via: Via,
    /// The session's CSRF token (empty for token clients, which need none).
    pub csrf: String,
    pub client_addr: String,
}

impl Principal {
    /// The account demo seeds act as: city staff at `city`, so seeded rows pass the same checks as
    /// a person's (demo data goes through the slices' services, not around them).
    pub fn demo_seed(city: UnitCode) -> Principal {
        let unit = city;
        Principal {
            user_id: "demo".into(),
            username: "demo-seed".into(),
            display_name: "演示数据".into(),
            home_unit: unit.clone(),
            grants: vec![Grant { role: Role::CityStaff, unit }],
            via: Via::Token,
            csrf: String::new(),
            client_addr: "local".into(),
        }
    }

    /// The subtrees in which this principal holds `p`.
    pub fn scope(&self, p: Permission) -> Scope {
        Scope::new(self.grants.iter().filter(|g| g.role.allows(p)).map(|g| g.unit.clone()).collect())
    }
    pub fn can(&self, p: Permission) -> bool {
        self.grants.iter().any(|g| g.role.allows(p))
    }
    /// Fails with 403 when no role allows `p` anywhere; otherwise returns the scope.
    pub fn require(&self, p: Permission) -> AppResult<Scope> {
        let s = self.scope(p);
        if s.is_empty() { Err(AppError::forbidden()) } else { Ok(s) }
    }
    pub fn actor(&self) -> Actor {
        Actor { name: self.username.clone(), client_addr: self.client_addr.clone() }
    }
    pub fn is_admin(&self) -> bool {
        self.grants.iter().any(|g| g.role.is_admin())
    }
}

/// 等保 level 3 asks for complex passwords: at least 8 characters from at least 3 of the classes
/// lower case, upper case, digits, symbols.
pub fn check_password_strength(pw: &str) -> AppResult<()> {
    let classes = [
        pw.chars().any(|c| c.is_ascii_lowercase()),
        pw.chars().any(|c| c.is_ascii_uppercase()),
        pw.chars().any(|c| c.is_ascii_digit()),
        pw.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if pw.chars().count() < 8 || classes.iter().filter(|b| **b).count() < 3 {
        return Err(AppError::bad_request("auth.weak_password", "密码至少 8 位，且须包含大写字母、小写字母、数字、符号中的至少三类").at_field("password"));
    }
    Ok(())
}

/// A random password that passes the strength rule, for demo accounts and resets.
pub fn generate_password() -> String {
    const CH: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes: [u8; 10] = rand::random();
    let body: String = bytes.iter().map(|b| CH[*b as usize % CH.len()] as char).collect();
    format!("Jc-{body}-7")
}

fn argon2(cheap: bool) -> Argon2<'static> {
    // Production: OWASP's argon2id minimum (19 MiB, 2 passes). Tests: 1 MiB, 1 pass.
    let params = if cheap { Params::new(1024, 1, 1, None) } else { Params::new(19 * 1024, 2, 1, None) };
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.unwrap_or_default())
}

pub fn hash_password(pw: &str, cheap: bool) -> AppResult<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(AppError::internal)?;
    Ok(argon2(cheap).hash_password(pw.as_bytes(), &salt).map_err(AppError::internal)?.to_string())
}

/// A real hash to verify against when the username does not exist.
fn dummy_hash(cheap: bool) -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no such user", cheap).unwrap_or_default())
}

fn verify_password(pw: &str, phc: &str) -> bool {
    // Parameters come from the PHC string, so hashes made with either cost verify.
    PasswordHash::new(phc).map(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok()).unwrap_or(false)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn random_token(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{prefix}{}", hex::encode(bytes))
}

// ---------------------------------------------------------------------------------------------
// Accounts

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub home_unit: String,
    #[serde(skip)]
    pub password_hash: String,
    pub disabled: i64,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    #[serde(skip)]
    pub totp_secret: Option<String>,
    pub created_ms: i64,
}

pub fn valid_username(name: &str) -> AppResult<&str> {
    let name = name.trim();
    let ok = (2..=32).contains(&name.chars().count()) && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(name)
    } else {
        Err(AppError::bad_request("auth.bad_username", "用户名须为 2–32 位字母、数字、下划线、连字符或点").at_field("username"))
    }
}

pub async fn find_account(db: &Db, username: &str) -> DbResult<Option<Account>> {
    db.fetch_optional(sql!("SELECT * FROM users WHERE username = $1", username)).await
}

/// Creates an account. Its unit must already be validated by the caller (the geography slice owns units).
pub async fn create_account(
    tx: &mut Tx,
    now: Millis,
    actor: &Actor,
    username: &str,
    display_name: &str,
    home_unit: &UnitCode,
    password: &str,
    cheap: bool,
) -> AppResult<String> {
    let username = valid_username(username)?;
    check_password_strength(password)?;
    let display = if display_name.trim().is_empty() { username } else { display_name.trim() };
    let id = new_id();
    let hash = hash_password(password, cheap)?;
    let r = tx
        .execute(sql!(
            "INSERT INTO users (id, username, display_name, home_unit, password_hash, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            id.as_str(),
            username,
            display,
            home_unit.as_str(),
            hash,
            now
        ))
        .await;
    match r {
        Err(e) if e.is_unique_violation() => {
            return Err(AppError::conflict("auth.duplicate_username", format!("用户名 {username} 已存在")).at_field("username"));
        }
        r => r?,
    };
    audit::record(tx, now, &Event { actor, unit: Some(home_unit.as_str()), action: "account.create", target: username, outcome: Outcome::Ok, detail: "" })
        .await?;
    Ok(id)
}

/// Grants a role at a unit; admin roles get a TOTP secret if they have none. Returns the new secret
/// when one was made, so it can be shown to the user exactly once.
pub async fn grant_role(tx: &mut Tx, now: Millis, actor: &Actor, username: &str, role: Role, unit: &UnitCode) -> AppResult<Option<String>> {
    if !role.allowed_at(unit.level()) {
        return Err(AppError::bad_request("auth.role_level", format!("角色「{}」不能设在{}单位", role.label(), unit.level().label())).at_field("unit"));
    }
    let acct: Account = tx.fetch_optional(sql!("SELECT * FROM users WHERE username = $1", username)).await?.ok_or_else(AppError::not_found)?;
    tx.execute(sql!(
        "INSERT INTO role_grants (user_id, role, unit_code, granted_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, role, unit_code) DO NOTHING",
        acct.id.as_str(),
        role.name(),
        unit.as_str(),
        now
    ))
    .await?;
    let mut secret = None;
    if role.is_admin() && acct.totp_secret.is_none() {
        let s = totp::new_secret();
        tx.execute(sql!("UPDATE users SET totp_secret = $1 WHERE id = $2", s.as_str(), acct.id.as_str())).await?;
        secret = Some(s);
    }
    let detail = format!("{}@{}", role.name(), unit);
    audit::record(tx, now, &Event { actor, unit: Some(unit.as_str()), action: "account.grant", target: username, outcome: Outcome::Ok, detail: &detail })
        .await?;
    Ok(secret)
}

pub async fn revoke_role(tx: &mut Tx, now: Millis, actor: &Actor, username: &str, role: Role, unit: &UnitCode) -> AppResult<()> {
    let n = tx
        .execute(sql!(
            "DELETE FROM role_grants WHERE role = $1 AND unit_code = $2 AND user_id = (SELECT id FROM users WHERE username = $3)",
            role.name(),
            unit.as_str(),
            username
        ))
        .await?;
    if n == 0 {
        return Err(AppError::not_found());
    }
    let detail = format!("{}@{}", role.name(), unit);
    audit::record(tx, now, &Event { actor, unit: Some(unit.as_str()), action: "account.revoke", target: username, outcome: Outcome::Ok, detail: &detail })
        .await?;
    Ok(())
}

/// Sets a new password, clears the lockout and ends the user's sessions.
pub async fn reset_password(tx: &mut Tx, now: Millis, actor: &Actor, username: &str, password: &str, cheap: bool) -> AppResult<()> {
    check_password_strength(password)?;
    let hash = hash_password(password, cheap)?;
    let n = tx.execute(sql!("UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = NULL WHERE username = $2", hash, username)).await?;
    if n == 0 {
        return Err(AppError::not_found());
    }
    tx.execute(sql!("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = $1)", username)).await?;
    audit::record(tx, now, &Event { actor, unit: None, action: "account.reset_password", target: username, outcome: Outcome::Ok, detail: "" }).await?;
    Ok(())
}

/// Disables (or re-enables) an account; disabling ends its sessions and revokes its API tokens.
pub async fn set_disabled(tx: &mut Tx, now: Millis, actor: &Actor, username: &str, disabled: bool) -> AppResult<()> {
    let n = tx.execute(sql!("UPDATE users SET disabled = $1 WHERE username = $2", disabled, username)).await?;
    if n == 0 {
        return Err(AppError::not_found());
    }
    if disabled {
        tx.execute(sql!("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = $1)", username)).await?;
        tx.execute(sql!(
            "UPDATE api_tokens SET revoked_ms = $1 WHERE revoked_ms IS NULL AND user_id = (SELECT id FROM users WHERE username = $2)",
            now,
            username
        ))
        .await?;
    }
    let action = if disabled { "account.disable" } else { "account.enable" };
    audit::record(tx, now, &Event { actor, unit: None, action, target: username, outcome: Outcome::Ok, detail: "" }).await?;
    Ok(())
}

/// Makes a new TOTP secret for an account (lost phone). Returns it for one-time display.
pub async fn reset_totp(tx: &mut Tx, now: Millis, actor: &Actor, username: &str) -> AppResult<String> {
    let s = totp::new_secret();
    let n = tx.execute(sql!("UPDATE users SET totp_secret = $1 WHERE username = $2", s.as_str(), username)).await?;
    if n == 0 {
        return Err(AppError::not_found());
    }
    audit::record(tx, now, &Event { actor, unit: None, action: "account.reset_totp", target: username, outcome: Outcome::Ok, detail: "" }).await?;
    Ok(s)
}

pub async fn grants_of(db: &Db, user_id: &str) -> DbResult<Vec<Grant>> {
    let rows: Vec<(String, String)> =
        db.fetch_all(sql!("SELECT role, unit_code FROM role_grants WHERE user_id = $1 ORDER BY unit_code, role", user_id)).await?;
    Ok(rows.into_iter().filter_map(|(r, u)| Some(Grant { role: Role::parse(&r)?, unit: UnitCode::parse(&u).ok()? })).collect())
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub account: Account,
    pub grants: Vec<Grant>,
}

/// Accounts whose home unit lies in `scope`, with their grants, ordered by username.
pub async fn list_accounts(db: &Db, scope: &Scope, q: &str, limit: i64, offset: i64) -> DbResult<(Vec<AccountView>, i64)> {
    let build = |select: &str| {
        let mut s = crate::db::Sql::new(select, []);
        s.push(" WHERE ");
        scope.push_filter(&mut s, "home_unit");
        if !q.trim().is_empty() {
            let pat = format!("%{}%", crate::db::like_escape(q.trim()));
            s.push(" AND (username LIKE ").bind(pat.as_str()).push(" ESCAPE '\\' OR display_name LIKE ").bind(pat).push(" ESCAPE '\\')");
        }
        s
    };
    let total = db.scalar(build("SELECT COUNT(*) FROM users")).await?;
    let mut s = build("SELECT * FROM users");
    s.push(" ORDER BY username");
    s.page(limit, offset);
    let accounts: Vec<Account> = db.fetch_all(s).await?;
    let mut out = Vec::with_capacity(accounts.len());
    for a in accounts {
        let grants = grants_of(db, &a.id).await?;
        out.push(AccountView { account: a, grants });
    }
    Ok((out, total))
}

// ---------------------------------------------------------------------------------------------
// Sign-in

pub const SESSION_COOKIE: &str = "jiceng_session";
/// Signed-in stage of a session: `totp` while the second factor is pending.
const STAGE_FULL: &str = "full";
const STAGE_TOTP: &str = "totp";

pub enum SignIn {
    /// Signed in; the raw session token for the cookie.
    Done(String),
    /// Password accepted; the TOTP code is still needed. The token names the pending session.
    NeedTotp(String),
}

fn bad_credentials() -> AppError {
    AppError::new(axum::http::StatusCode::UNAUTHORIZED, "auth.bad_credentials", "用户名或密码错误")
}

fn locked_error(until: Millis) -> AppError {
    AppError::new(
        axum::http::StatusCode::LOCKED,
        "auth.locked",
        format!("连续登录失败次数过多，账户已锁定，请于 {} 后再试", crate::clock::format_beijing(until)),
    )
}

/// Records a failed attempt and locks the account on the threshold. Returns the lock end if locked.
async fn note_failure(p: &Platform, acct: &Account, client: &str, reason: &str) -> AppResult<Option<Millis>> {
    let now = p.now();
    let failures = acct.failed_logins + 1;
    let lock = (failures >= p.settings.lockout_threshold).then_some(now + p.settings.lockout_ms);
    let mut tx = p.db.begin().await?;
    tx.execute(sql!(
        "UPDATE users SET failed_logins = $1, locked_until = $2 WHERE id = $3",
        if lock.is_some() { 0 } else { failures },
        lock.or(acct.locked_until),
        acct.id.as_str()
    ))
    .await?;
    let actor = Actor { name: acct.username.clone(), client_addr: client.to_owned() };
    audit::record(&mut tx, now, &Event { actor: &actor, unit: None, action: "auth.login", target: &acct.username, outcome: Outcome::Denied, detail: reason })
        .await?;
    if let Some(until) = lock {
        let d = format!("locked until {until}");
        audit::record(&mut tx, now, &Event { actor: &actor, unit: None, action: "auth.lockout", target: &acct.username, outcome: Outcome::Ok, detail: &d })
            .await?;
    }
    tx.commit().await?;
    Ok(lock)
}

async fn open_session(p: &Platform, acct: &Account, stage: &str, client: &str) -> AppResult<String> {
    let now = p.now();
    let token = random_token("");
    let csrf = random_token("");
    let mut tx = p.db.begin().await?;
    tx.execute(sql!(
        "INSERT INTO sessions (token_hash, user_id, stage, csrf, created_ms, last_seen_ms, client_addr) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        sha256_hex(&token),
        acct.id.as_str(),
        stage,
        csrf,
        now,
        now,
        client
    ))
    .await?;
    if stage == STAGE_FULL {
        tx.execute(sql!("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1", acct.id.as_str())).await?;
        let actor = Actor { name: acct.username.clone(), client_addr: client.to_owned() };
        audit::record(&mut tx, now, &Event { actor: &actor, unit: None, action: "auth.login", target: &acct.username, outcome: Outcome::Ok, detail: "" })
            .await?;
    }
    tx.commit().await?;
    Ok(token)
}

/// Checks a username and password. Admin accounts then need a TOTP code ([`complete_totp`]).
pub async fn sign_in(p: &Platform, username: &str, password: &str, client: &str) -> AppResult<SignIn> {
    let now = p.now();
    let Some(acct) = find_account(&p.db, username.trim()).await? else {
        // Spend the same time as a real check so timing does not reveal which names exist.
        let _ = verify_password(password, dummy_hash(p.settings.cheap_hashing));
        return Err(bad_credentials());
    };
    if let Some(until) = acct.locked_until.filter(|u| *u > now) {
        return Err(locked_error(until));
    }
    if !verify_password(password, &acct.password_hash) {
        return Err(match note_failure(p, &acct, client, "bad password").await? {
            Some(until) => locked_error(until),
            None => bad_credentials(),
        });
    }
    if acct.disabled != 0 {
        return Err(AppError::new(axum::http::StatusCode::FORBIDDEN, "auth.disabled", "该账户已停用，请联系系统管理员"));
    }
    let grants = grants_of(&p.db, &acct.id).await?;
    if grants.iter().any(|g| g.role.is_admin()) {
        if acct.totp_secret.is_none() {
            return Err(AppError::new(axum::http::StatusCode::FORBIDDEN, "auth.totp_missing", "管理员账户须先绑定动态口令（请运行 jiceng user totp 重置）"));
        }
        return Ok(SignIn::NeedTotp(open_session(p, &acct, STAGE_TOTP, client).await?));
    }
    Ok(SignIn::Done(open_session(p, &acct, STAGE_FULL, client).await?))
}

/// Second step for admins: the pending session becomes a full one (with a new token) on a good code.
pub async fn complete_totp(p: &Platform, pending_token: &str, code: &str, client: &str) -> AppResult<String> {
    let now = p.now();
    let row: Option<(String, i64)> =
        p.db.fetch_optional(sql!("SELECT user_id, created_ms FROM sessions WHERE token_hash = $1 AND stage = $2", sha256_hex(pending_token), STAGE_TOTP))
            .await?;
    let Some((user_id, created)) = row.filter(|(_, c)| now - c < 5 * MINUTE) else {
        return Err(AppError::new(axum::http::StatusCode::UNAUTHORIZED, "auth.session_expired", "登录已超时，请重新输入用户名和密码"));
    };
    let _ = created;
    let acct: Account = p.db.fetch_one(sql!("SELECT * FROM users WHERE id = $1", user_id.as_str())).await?;
    let mut tx = p.db.begin().await?;
    tx.execute(sql!("DELETE FROM sessions WHERE token_hash = $1", sha256_hex(pending_token))).await?;
    tx.commit().await?;
    let ok = acct.totp_secret.as_deref().is_some_and(|s| totp::verify(s, code, now));
    if !ok {
        return Err(match note_failure(p, &acct, client, "bad totp").await? {
            Some(until) => locked_error(until),
            None => AppError::new(axum::http::StatusCode::UNAUTHORIZED, "auth.bad_totp", "动态口令错误，请重新登录"),
        });
    }
    open_session(p, &acct, STAGE_FULL, client).await
}

pub enum SessionState {
    Valid(Box<Principal>),
    Expired,
    Missing,
}

/// Resolves a session cookie. Sessions idle past the limit (30 minutes) or older than 12 hours end.
pub async fn resolve_session(p: &Platform, token: &str, client: &str) -> AppResult<SessionState> {
    let now = p.now();
    let hash = sha256_hex(token);
    let rows: Vec<SignedInRow> =
        p.db.fetch_all(sql!(
            "SELECT u.*, s.csrf AS handle, s.created_ms AS started_ms, s.last_seen_ms AS seen_ms, g.role AS grant_role, g.unit_code AS grant_unit \
             FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN role_grants g ON g.user_id = u.id \
             WHERE s.token_hash = $1 AND s.stage = $2 ORDER BY g.unit_code, g.role",
            hash.as_str(),
            STAGE_FULL
        ))
        .await?;
    let Some(first) = rows.first() else {
        return Ok(SessionState::Missing);
    };
    let (created, last_seen) = (first.started_ms, first.seen_ms.unwrap_or(first.started_ms));
    if now - last_seen > p.settings.idle_timeout_ms || now - created > 12 * HOUR {
        let mut tx = p.db.begin().await?;
        tx.execute(sql!("DELETE FROM sessions WHERE token_hash = $1", hash.as_str())).await?;
        tx.commit().await?;
        return Ok(SessionState::Expired);
    }
    if now - last_seen > 10_000 {
        // Best effort, like the token's last use: a busy database must not fail the request.
        if let Err(e) = p.db.execute(sql!("UPDATE sessions SET last_seen_ms = $1 WHERE token_hash = $2", now, hash.as_str())).await {
            tracing::debug!(error = %e, "session activity not recorded");
        }
    }
    Ok(match signed_in(rows, Via::Session, client)? {
        Some((pr, _)) => SessionState::Valid(Box::new(pr)),
        None => SessionState::Missing,
    })
}

/// A credential (session or token) joined with its account and the account's grants, one row per
/// grant: one query per request instead of three.
#[derive(sqlx::FromRow)]
struct SignedInRow {
    #[sqlx(flatten)]
    account: Account,
    /// The session's CSRF token, or the API token's id.
    handle: String,
    started_ms: i64,
    seen_ms: Option<i64>,
    grant_role: Option<String>,
    grant_unit: Option<String>,
}

/// An API token's id and last use (empty for a session).
type Credential = (String, Option<i64>);

/// The principal behind joined credential rows, with the credential's handle and last use; `None`
/// for a disabled account.
fn signed_in(rows: Vec<SignedInRow>, via: Via, client: &str) -> AppResult<Option<(Principal, Credential)>> {
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else { return Ok(None) };
    if first.account.disabled != 0 {
        return Ok(None);
    }
    let grant = |r: &SignedInRow| Some(Grant { role: Role::parse(r.grant_role.as_deref()?)?, unit: UnitCode::parse(r.grant_unit.as_deref()?).ok()? });
    let mut grants: Vec<Grant> = grant(&first).into_iter().collect();
    grants.extend(rows.filter_map(|r| grant(&r)));
    let SignedInRow { account: acct, handle, seen_ms, .. } = first;
    let (csrf, credential) = match via {
        Via::Session => (handle, (String::new(), seen_ms)),
        _ => (String::new(), (handle, seen_ms)),
    };
    let pr = Principal {
        home_unit: UnitCode::parse(&acct.home_unit).map_err(AppError::internal)?,
        user_id: acct.id,
        username: acct.username,
        display_name: acct.display_name,
        grants,
        via,
        csrf,
        client_addr: client.to_owned(),
    };
    Ok(Some((pr, credential)))
}

pub async fn sign_out(p: &Platform, token: &str, actor: &Actor) -> AppResult<()> {
    let mut tx = p.db.begin().await?;
    tx.execute(sql!("DELETE FROM sessions WHERE token_hash = $1", sha256_hex(token))).await?;
    audit::record(&mut tx, p.now(), &Event { actor, unit: None, action: "auth.logout", target: &actor.name, outcome: Outcome::Ok, detail: "" }).await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// API tokens

pub const TOKEN_PREFIX: &str = "jct_";

/// Creates a bearer token for an account; returns (id, raw token). Only the hash is stored.
pub async fn create_token(tx: &mut Tx, now: Millis, actor: &Actor, username: &str, label: &str) -> AppResult<(String, String)> {
    let acct: Account = tx.fetch_optional(sql!("SELECT * FROM users WHERE username = $1", username)).await?.ok_or_else(AppError::not_found)?;
    let id = new_id();
    let token = random_token(TOKEN_PREFIX);
    tx.execute(sql!(
        "INSERT INTO api_tokens (id, user_id, token_hash, label, created_ms) VALUES ($1, $2, $3, $4, $5)",
        id.as_str(),
        acct.id.as_str(),
        sha256_hex(&token),
        label,
        now
    ))
    .await?;
    audit::record(tx, now, &Event { actor, unit: Some(acct.home_unit.as_str()), action: "token.create", target: username, outcome: Outcome::Ok, detail: &id })
        .await?;
    Ok((id, token))
}

pub async fn revoke_token(tx: &mut Tx, now: Millis, actor: &Actor, id: &str) -> AppResult<()> {
    let n = tx.execute(sql!("UPDATE api_tokens SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL", now, id)).await?;
    if n == 0 {
        return Err(AppError::not_found());
    }
    audit::record(tx, now, &Event { actor, unit: None, action: "token.revoke", target: id, outcome: Outcome::Ok, detail: "" }).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub username: String,
    pub label: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
}

pub async fn list_tokens(db: &Db, username: Option<&str>) -> DbResult<Vec<TokenInfo>> {
    let mut q = crate::db::Sql::new(
        "SELECT t.id, u.username, t.label, t.created_ms, t.revoked_ms, t.last_used_ms FROM api_tokens t JOIN users u ON u.id = t.user_id",
        [],
    );
    if let Some(u) = username {
        q.push(" WHERE u.username = ").bind(u);
    }
    q.push(" ORDER BY t.created_ms, t.id");
    db.fetch_all(q).await
}

/// Resolves a bearer token; revoked tokens and disabled accounts resolve to nothing. The token's
/// last use is recorded at most once a minute and never holds up the request: during a long import
/// the write lock is taken, and reads must still answer.
pub async fn resolve_token(p: &Platform, token: &str, client: &str) -> AppResult<Option<Principal>> {
    let hash = sha256_hex(token);
    let rows: Vec<SignedInRow> =
        p.db.fetch_all(sql!(
            "SELECT u.*, t.id AS handle, t.created_ms AS started_ms, t.last_used_ms AS seen_ms, g.role AS grant_role, g.unit_code AS grant_unit \
             FROM api_tokens t JOIN users u ON u.id = t.user_id LEFT JOIN role_grants g ON g.user_id = u.id \
             WHERE t.token_hash = $1 AND t.revoked_ms IS NULL ORDER BY g.unit_code, g.role",
            hash
        ))
        .await?;
    let Some((pr, (id, last_used))) = signed_in(rows, Via::Token, client)? else { return Ok(None) };
    let now = p.now();
    if last_used.is_none_or(|t| now - t > MINUTE) {
        let db = p.db.clone();
        tokio::spawn(async move {
            if let Err(e) = db.execute(sql!("UPDATE api_tokens SET last_used_ms = $1 WHERE id = $2", now, id)).await {
                tracing::debug!(error = %e, "token last-use not recorded");
            }
        });
    }
    Ok(Some(pr))
}

/// The account by username, inside a transaction.
pub async fn find_account_tx(tx: &mut Tx, username: &str) -> DbResult<Option<Account>> {
    tx.fetch_optional(sql!("SELECT * FROM users WHERE username = $1", username)).await
}

/// The account by id, inside a transaction: slices check an account (disabled? whose?) through
/// this, never by reading the accounts table themselves.
pub async fn account_by_id_tx(tx: &mut Tx, user_id: &str) -> DbResult<Option<Account>> {
    tx.fetch_optional(sql!("SELECT * FROM users WHERE id = $1", user_id)).await
}

/// A user's grants, inside a transaction.
pub async fn grants_of_tx(tx: &mut Tx, user_id: &str) -> DbResult<Vec<Grant>> {
    let rows: Vec<(String, String)> =
        tx.fetch_all(sql!("SELECT role, unit_code FROM role_grants WHERE user_id = $1 ORDER BY unit_code, role", user_id)).await?;
    Ok(rows.into_iter().filter_map(|(r, u)| Some(Grant { role: Role::parse(&r)?, unit: UnitCode::parse(&u).ok()? })).collect())
}

/// Usernames by account id, for pages of other slices that show who.
pub async fn usernames(db: &Db, ids: &[&str]) -> DbResult<std::collections::HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let mut q = crate::db::Sql::new("SELECT id, username FROM users WHERE id IN ", []);
    q.push_list(ids.iter().copied());
    let rows: Vec<(String, String)> = db.fetch_all(q).await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_need_three_classes_and_eight_characters() {
        assert!(check_password_strength("abcdefgh").is_err());
        assert!(check_password_strength("Abc12!").is_err());
        assert!(check_password_strength("Abcdefg1").is_ok());
        assert!(check_password_strength(&generate_password()).is_ok());
    }

    #[test]
    fn hashes_verify_only_the_right_password() {
        let h = hash_password("Correct-horse-1", true).expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Correct-horse-1", &h));
        assert!(!verify_password("Correct-horse-2", &h));
    }

    #[test]
    fn roles_sit_at_their_tier() {
        let lv = |s: &str| UnitCode::parse(s).expect("code").level();
        assert!(Role::CountyStaff.allowed_at(lv("510903")));
        assert!(!Role::CountyStaff.allowed_at(lv("510903001")));
        assert!(Role::GridWorker.allowed_at(lv("510903001001501")));
        assert!(!Role::SystemAdmin.allowed_at(lv("510903001001")));
        assert_eq!(Role::parse("audit_admin"), Some(Role::AuditAdmin));
        assert!(Role::AuditAdmin.allows(Permission::ViewAudit) && !Role::AuditAdmin.allows(Permission::ManageAccounts));
        assert!(!Role::SystemAdmin.allows(Permission::ViewAudit));
    }
}
