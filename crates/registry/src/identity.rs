//! 实名认证: binding a platform account to its person in the people register. Real-name checks
//! against the national ID system are out of reach on an intranet, so staff verify the resident in
//! person at the counter (窗口核验, ID card seen) and bind her account to her record. Slices where
//! identity matters (owners' votes, volunteer sign-up) then ask `person_of_account` instead of
//! trusting a typed ID number, which anyone who knows a neighbour's number could type.
//!
//! Bindings are never deleted: a revocation stamps the row and a new binding is a new row. The
//! partial unique indexes of migration 0011 allow one live binding per account and per person.

use platform::audit::{self, Actor, Event, Outcome};
use platform::clock::{Date, Millis};
use platform::db::{DbResult, Sql};
use platform::scope::{Scope, UnitCode};
use platform::{AppError, AppResult, Db, Tx, sql};

/// How a binding was verified. Only the counter exists: a self-declared binding would prove nothing.
pub const METHOD_COUNTER: &str = "counter";

/// What other slices learn about the person bound to an account: the masked identifiers only.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct PersonRef {
    pub id: String,
    pub name: String,
    pub unit_code: String,
    pub id_masked: Option<String>,
    pub birth_date: Option<String>,
    /// The register's blind index of the ID number, to find the person on rolls frozen from the
    /// registers; it reveals nothing and is never shown.
    #[serde(skip)]
    pub id_index: Option<String>,
    pub moved_out: Option<String>,
    pub deceased: Option<String>,
}

impl PersonRef {
    /// Still living in the register's area (not moved out, not deceased).
    pub fn is_current(&self) -> bool {
        self.moved_out.is_none() && self.deceased.is_none()
    }
}

/// One binding, live or revoked, as the staff card and the resident's page show it.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct Binding {
    pub id: String,
    pub user_id: String,
    pub username: String,
    pub person_id: String,
    pub method: String,
    pub verified_by: String,
    pub verified_ms: Millis,
    pub revoked_ms: Option<Millis>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<String>,
}

impl Binding {
    pub fn method_label(&self) -> &'static str {
        if self.method == METHOD_COUNTER { "窗口核验" } else { "其他" }
    }
    pub fn verified_date(&self) -> String {
        Date::of_instant(self.verified_ms).to_string()
    }
    pub fn revoked_date(&self) -> String {
        self.revoked_ms.map(|ms| Date::of_instant(ms).to_string()).unwrap_or_default()
    }
}

// The username is filled in from the platform's accounts (`with_usernames`): a slice never reads
// the accounts table itself.
const BINDING: &str = "SELECT a.id, a.user_id, CAST('' AS TEXT) AS username, a.person_id, a.method, a.verified_by, a.verified_ms, a.revoked_ms, a.revoked_by, a.revoke_reason FROM account_people a";

async fn with_usernames(db: &Db, mut rows: Vec<Binding>) -> DbResult<Vec<Binding>> {
    let ids: Vec<&str> = rows.iter().map(|b| b.user_id.as_str()).collect();
    let names = platform::auth::usernames(db, &ids).await?;
    for b in &mut rows {
        b.username = names.get(&b.user_id).cloned().unwrap_or_default();
    }
    Ok(rows)
}

/// The person currently bound to this account, if any (moved-out and deceased people included:
/// the caller decides, with `is_current`).
pub async fn person_of_account(db: &Db, user_id: &str) -> DbResult<Option<PersonRef>> {
    db.fetch_optional(sql!(
        "SELECT p.id, p.name, p.unit_code, p.id_masked, p.birth_date, p.id_index, p.moved_out, p.deceased FROM account_people a JOIN people p ON p.id = a.person_id WHERE a.user_id = $1 AND a.revoked_ms IS NULL",
        user_id
    ))
    .await
}

/// The live binding of an account.
pub async fn binding_of_account(db: &Db, user_id: &str) -> DbResult<Option<Binding>> {
    let mut q = Sql::new(BINDING, []);
    q.push(" WHERE a.user_id = ").bind(user_id).push(" AND a.revoked_ms IS NULL");
    let row: Option<Binding> = db.fetch_optional(q).await?;
    Ok(with_usernames(db, row.into_iter().collect()).await?.pop())
}

/// A person's bindings, the live one (if any) first, then past ones newest first.
pub async fn bindings_of_person(db: &Db, person_id: &str) -> DbResult<Vec<Binding>> {
    let mut q = Sql::new(BINDING, []);
    q.push(" WHERE a.person_id = ").bind(person_id).push(" ORDER BY CASE WHEN a.revoked_ms IS NULL THEN 0 ELSE 1 END, a.verified_ms DESC, a.id");
    let rows = db.fetch_all(q).await?;
    with_usernames(db, rows).await
}

#[derive(sqlx::FromRow)]
struct PersonState {
    id: String,
    unit_code: String,
    moved_out: Option<String>,
    deceased: Option<String>,
}

/// The person if `scope` covers her unit; 404 otherwise, like every out-of-scope record.
async fn person_in_scope(tx: &mut Tx, scope: &Scope, person_id: &str) -> AppResult<PersonState> {
    let p: Option<PersonState> = tx.fetch_optional(sql!("SELECT id, unit_code, moved_out, deceased FROM people WHERE id = $1", person_id)).await?;
    let p = p.ok_or_else(AppError::not_found)?;
    let unit = UnitCode::parse(&p.unit_code).map_err(AppError::internal)?;
    if !scope.contains(&unit) {
        return Err(AppError::not_found());
    }
    Ok(p)
}

fn account_bound() -> AppError {
    AppError::conflict("identity.account_bound", "该账户已绑定其他居民，须先在原居民页面解除绑定").at_field("username")
}

fn person_bound() -> AppError {
    AppError::conflict("identity.person_bound", "该居民已绑定账户，一人只能绑定一个账户；如需更换请先解除原绑定").at_field("username")
}

/// 绑定账户: binds account `user_id` to person `person_id`, verified at the counter by `actor`
/// (who holds the register edit permission over `staff_scope`). Refuses administrators' accounts
/// (三员 never act as residents), people who left, and anything already bound on either side.
pub async fn bind(tx: &mut Tx, now: Millis, actor: &Actor, staff_scope: &Scope, user_id: &str, person_id: &str) -> AppResult<String> {
    let person = person_in_scope(tx, staff_scope, person_id).await?;
    if person.moved_out.is_some() || person.deceased.is_some() {
        return Err(AppError::bad_request("identity.person_left", "该居民已迁出或死亡，不能绑定账户"));
    }
    let account = platform::auth::account_by_id_tx(tx, user_id).await?.ok_or_else(unknown_account)?;
    let username = account.username;
    if account.disabled != 0 {
        return Err(AppError::bad_request("identity.account_disabled", "该账户已停用，不能绑定").at_field("username"));
    }
    if platform::auth::grants_of_tx(tx, user_id).await?.iter().any(|g| g.role.is_admin()) {
        return Err(AppError::bad_request("identity.admin_account", "系统管理员、安全管理员、审计管理员账户不能绑定居民身份").at_field("username"));
    }
    let live_user: Option<(String,)> =
        tx.fetch_optional(sql!("SELECT person_id FROM account_people WHERE user_id = $1 AND revoked_ms IS NULL", user_id)).await?;
    if let Some((bound_to,)) = live_user {
        return Err(if bound_to == person.id {
            AppError::conflict("identity.already_bound", "该账户已绑定此居民，无需重复绑定").at_field("username")
        } else {
            account_bound()
        });
    }
    let live_person: Option<(String,)> =
        tx.fetch_optional(sql!("SELECT user_id FROM account_people WHERE person_id = $1 AND revoked_ms IS NULL", person_id)).await?;
    if live_person.is_some() {
        return Err(person_bound());
    }
    let id = platform::db::new_id();
    let inserted = tx
        .execute(sql!(
            "INSERT INTO account_people (id, user_id, person_id, method, verified_by, verified_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            id.as_str(),
            user_id,
            person_id,
            METHOD_COUNTER,
            actor.name.as_str(),
            now
        ))
        .await;
    match inserted {
        Ok(_) => {}
        // Two counters binding at once: the partial unique indexes decide; say which side lost.
        Err(e) if e.is_unique_violation() => return Err(person_bound()),
        Err(e) => return Err(e.into()),
    }
    let detail = format!("account={username} method={METHOD_COUNTER}");
    audit::record(
        tx,
        now,
        &Event { actor, unit: Some(person.unit_code.as_str()), action: "registry.identity_bind", target: &person.id, outcome: Outcome::Ok, detail: &detail },
    )
    .await?;
    Ok(id)
}

fn unknown_account() -> AppError {
    AppError::bad_request("identity.unknown_account", "没有这个用户名的账户，请核对居民的登录用户名").at_field("username")
}

/// Resolves the username staff typed, then binds (`bind`).
pub async fn bind_username(tx: &mut Tx, now: Millis, actor: &Actor, staff_scope: &Scope, username: &str, person_id: &str) -> AppResult<String> {
    let name = username.trim();
    if name.is_empty() {
        return Err(AppError::bad_request("identity.username_required", "请填写居民的登录用户名").at_field("username"));
    }
    let account = platform::auth::find_account_tx(tx, name).await?.ok_or_else(unknown_account)?;
    bind(tx, now, actor, staff_scope, &account.id, person_id).await
}

/// 解除绑定: revokes the person's live binding, keeping who, when and why.
pub async fn revoke(tx: &mut Tx, now: Millis, actor: &Actor, staff_scope: &Scope, person_id: &str, reason: &str) -> AppResult<()> {
    let person = person_in_scope(tx, staff_scope, person_id).await?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::bad_request("identity.reason_required", "解除绑定须填写原因").at_field("reason"));
    }
    if reason.chars().count() > 100 {
        return Err(AppError::bad_request("input.too_long", "原因不能超过 100 个字").at_field("reason"));
    }
    // The reason goes into the audit log, which never holds identifiers.
    if longest_digit_run(reason) >= 11 {
        return Err(AppError::bad_request("identity.reason_has_number", "原因中请勿填写身份证号、电话等号码").at_field("reason"));
    }
    let mut q = Sql::new(BINDING, []);
    q.push(" WHERE a.person_id = ").bind(person_id).push(" AND a.revoked_ms IS NULL");
    let mut live: Binding = tx.fetch_optional(q).await?.ok_or_else(|| AppError::conflict("identity.not_bound", "该居民没有已绑定的账户"))?;
    live.username = platform::auth::account_by_id_tx(tx, &live.user_id).await?.map(|a| a.username).unwrap_or_default();
    tx.execute(sql!(
        "UPDATE account_people SET revoked_ms = $1, revoked_by = $2, revoke_reason = $3 WHERE id = $4 AND revoked_ms IS NULL",
        now,
        actor.name.as_str(),
        reason,
        live.id.as_str()
    ))
    .await?;
    let detail = format!("account={} reason={reason}", live.username);
    audit::record(
        tx,
        now,
        &Event { actor, unit: Some(person.unit_code.as_str()), action: "registry.identity_revoke", target: &person.id, outcome: Outcome::Ok, detail: &detail },
    )
    .await?;
    Ok(())
}

/// Demo data: binds `user_id` to the first living, unbound adult of `community` (by id), as staff
/// at the counter would, so the demo resident can vote and sign up at once. Returns the person id.
pub async fn bind_demo(db: &Db, now: Millis, actor: &Actor, user_id: &str, community: &UnitCode) -> AppResult<Option<String>> {
    // Born on or before this day 18 years ago (a text comparison of 'YYYY-MM-DD' dates).
    let today = Date::of_instant(now).to_string();
    let year: i64 = today[..4].parse().map_err(AppError::internal)?;
    let adult_born_by = format!("{}{}", year - 18, &today[4..]);
    let mut q = Sql::new("SELECT id FROM people WHERE moved_out IS NULL AND deceased IS NULL AND id_index IS NOT NULL AND birth_date <= ", []);
    q.bind(adult_born_by.as_str()).push(" AND id NOT IN (SELECT person_id FROM account_people WHERE revoked_ms IS NULL) AND ");
    Scope::new(vec![community.clone()]).push_filter(&mut q, "unit_code");
    q.push(" ORDER BY id LIMIT 1");
    let Some((person_id,)) = db.fetch_optional::<(String,)>(q).await? else {
        return Ok(None);
    };
    let mut tx = db.begin().await?;
    bind(&mut tx, now, actor, &Scope::new(vec![community.clone()]), user_id, &person_id).await?;
    tx.commit().await?;
    Ok(Some(person_id))
}

/// 张** for 张三丰: the surname and one star per further character.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// The longest run of consecutive ASCII digits (an ID number has 17–18, a mobile number 11).
fn longest_digit_run(s: &str) -> usize {
    s.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_masked_after_the_surname() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("李四"), "李*");
        assert_eq!(mask_name(""), "");
    }
}
