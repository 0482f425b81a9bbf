//! 审计日志: the append-only, hash-chained audit log.
//!
//! Every write, and every read of a sensitive field, appends one record in the same transaction as
//! the change, so a change without its record cannot commit. Each record's hash covers its own fields
//! and the previous record's hash; `jiceng audit verify` recomputes the chain and names the first
//! record that was edited, deleted or inserted out of band.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock::Millis;
use crate::db::{Db, DbResult, Sql, Tx};
use crate::scope::Scope;
use crate::sql;

/// Who did it, from where.
#[derive(Clone, Debug)]
pub struct Actor {
    /// Username, or `cli` / `system` for work that no signed-in person did.
    pub name: String,
    pub client_addr: String,
}

impl Actor {
    pub fn cli() -> Self {
        let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Self { name: format!("cli:{who}"), client_addr: "local".into() }
    }
    pub fn system() -> Self {
        Self { name: "system".into(), client_addr: "local".into() }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// One thing that happened. `action` is a stable dotted code such as `unit.import` or `auth.login`.
#[derive(Clone, Debug)]
pub struct Event<'a> {
    pub actor: &'a Actor,
    pub unit: Option<&'a str>,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: Outcome,
    pub detail: &'a str,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Record {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub unit_code: Option<String>,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub client_addr: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Record {
    fn expected_hash(&self, prev_hash: &str) -> String {
        chain_hash(
            prev_hash,
            self.seq,
            self.at_ms,
            &self.actor,
            self.unit_code.as_deref(),
            &self.action,
            &self.target,
            &self.outcome,
            &self.client_addr,
            &self.detail,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn chain_hash(
    prev: &str,
    seq: i64,
    at_ms: i64,
    actor: &str,
    unit: Option<&str>,
    action: &str,
    target: &str,
    outcome: &str,
    client: &str,
    detail: &str,
) -> String {
    // A JSON array is an unambiguous encoding: no field can bleed into the next.
    let body = serde_json::json!([prev, seq, at_ms, actor, unit, action, target, outcome, client, detail]);
    hex::encode(Sha256::digest(body.to_string().as_bytes()))
}

/// Appends a record inside the caller's transaction.
pub async fn record(tx: &mut Tx, now: Millis, e: &Event<'_>) -> DbResult<()> {
    record_after(tx, now, e, Vec::new()).await
}

/// The chain's head row as read back.
#[derive(sqlx::FromRow)]
struct Head {
    seq: i64,
    hash: String,
}

/// Runs `before` (the writes the record is about) and appends the record, in one round trip on
/// SQLite once the transaction holds the chain's head (see [`Tx::execute_all`]).
pub async fn record_after(tx: &mut Tx, now: Millis, e: &Event<'_>, before: Vec<crate::db::Sql>) -> DbResult<()> {
    let (insert, head) = next_record(tx, now, e).await?;
    let mut writes = before;
    writes.push(insert);
    tx.execute_all(writes).await?;
    // The head row is brought up to date once, when the transaction commits.
    tx.audit_head = Some(head);
    Ok(())
}

/// Like [`record_after`], and returns the one row that statement `at` of `writes` gives (see
/// [`Tx::fetch_one_in`]): a new row and the record of it in one round trip on SQLite.
pub async fn record_returning<T: crate::db::Row>(tx: &mut Tx, now: Millis, e: &Event<'_>, writes: Vec<crate::db::Sql>, at: usize) -> DbResult<T> {
    let (insert, head) = next_record(tx, now, e).await?;
    let mut writes = writes;
    writes.push(insert);
    let row = tx.fetch_one_in(writes, at).await?;
    tx.audit_head = Some(head);
    Ok(row)
}

/// Fetches the one row `q` gives and, in the same round trip on SQLite, takes the chain's head for
/// this transaction (unless it holds it already), so that the record it appends next needs no read
/// of its own: for a transaction whose first statement is a read it needs anyway.
pub async fn fetch_taking_head<T: crate::db::Row>(tx: &mut Tx, q: crate::db::Sql) -> DbResult<T> {
    if tx.audit_head.is_some() {
        return tx.fetch_one(q).await;
    }
    // A write that changes nothing still takes the head's row lock on PostgreSQL.
    let (row, head): (T, Head) = tx.fetch_pair(q, sql!("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")).await?;
    tx.audit_head = Some(crate::db::AuditHead { seq: head.seq, hash: head.hash, unwritten: false });
    Ok(row)
}

/// The insert of the next record in the chain, and the head once it is written.
async fn next_record(tx: &mut Tx, now: Millis, e: &Event<'_>) -> DbResult<(crate::db::Sql, crate::db::AuditHead)> {
    let head = match tx.audit_head.take() {
        // This transaction already holds the head (see `Tx`): no other appender can have moved it.
        Some(h) => Head { seq: h.seq + 1, hash: h.hash },
        // Bumping the head takes its row lock (PostgreSQL) or the write lock (SQLite): appenders
        // queue here until this transaction ends.
        None => tx.fetch_one(sql!("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")).await?,
    };
    let hash = chain_hash(&head.hash, head.seq, now, &e.actor.name, e.unit, e.action, e.target, e.outcome.as_str(), &e.actor.client_addr, e.detail);
    let insert = sql!(
        "INSERT INTO audit_log (seq, at_ms, actor, unit_code, action, target, outcome, client_addr, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        head.seq,
        now,
        e.actor.name.as_str(),
        e.unit,
        e.action,
        e.target,
        e.outcome.as_str(),
        e.actor.client_addr.as_str(),
        e.detail,
        head.hash.as_str(),
        hash.as_str()
    );
    Ok((insert, crate::db::AuditHead { seq: head.seq, hash, unwritten: true }))
}

/// Records on their own, for events with no other write (a login, a denied request, a read).
pub async fn record_alone(db: &Db, now: Millis, e: &Event<'_>) -> DbResult<()> {
    let mut tx = db.begin().await?;
    record(&mut tx, now, e).await?;
    tx.commit().await
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Break {
    /// A record's stored hash does not match its content: it was edited.
    Edited { seq: i64 },
    /// A record's `prev_hash` does not match the record before it, or a sequence number is missing:
    /// a record was deleted (or inserted) before this one.
    Gap { expected_seq: i64, found_seq: i64 },
    /// The chain ends before the head says it should: the last records were deleted.
    Truncated { last_seq: i64, head_seq: i64 },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Edited { seq } => write!(f, "第 {seq} 条审计记录被篡改（哈希不符） / audit record {seq} was edited"),
            Break::Gap { expected_seq, found_seq } => {
                write!(f, "第 {expected_seq} 条审计记录缺失或链接断开（下一条为 {found_seq}） / audit record {expected_seq} is missing or unlinked")
            }
            Break::Truncated { last_seq, head_seq } => {
                write!(f, "审计日志在第 {last_seq} 条后被截断（应至第 {head_seq} 条） / records after {last_seq} were deleted")
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub checked: i64,
    pub first_break: Option<Break>,
}

/// Walks the whole chain in order, in pages, and reports the first broken link.
pub async fn verify(db: &Db) -> DbResult<Verification> {
    let mut prev_hash = "0".repeat(64);
    let mut expected = 1i64;
    let mut checked = 0i64;
    loop {
        let rows: Vec<Record> = db.fetch_all(sql!("SELECT * FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT 5000", expected)).await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            if r.seq != expected || r.prev_hash != prev_hash {
                return Ok(Verification { checked, first_break: Some(Break::Gap { expected_seq: expected, found_seq: r.seq }) });
            }
            if r.hash != r.expected_hash(&prev_hash) {
                return Ok(Verification { checked, first_break: Some(Break::Edited { seq: r.seq }) });
            }
            prev_hash = r.hash.clone();
            expected += 1;
            checked += 1;
        }
    }
    let head_seq = db.scalar(sql!("SELECT seq FROM audit_head WHERE id = 1")).await?;
    let first_break = (head_seq != expected - 1).then_some(Break::Truncated { last_seq: expected - 1, head_seq });
    Ok(Verification { checked, first_break })
}

/// Filters for the audit viewer and export.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from_ms: Option<Millis>,
    pub to_ms: Option<Millis>,
}

fn filtered(select: &str, f: &Filter, scope: &Scope) -> Sql {
    let mut q = Sql::new(select, []);
    q.push(" WHERE (unit_code IS NULL OR ");
    scope.push_filter(&mut q, "unit_code");
    q.push(")");
    if let Some(a) = f.actor.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND actor = ").bind(a);
    }
    if let Some(a) = f.action.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND action LIKE ").bind(format!("{}%", crate::db::like_escape(a))).push(" ESCAPE '\\'");
    }
    if let Some(t) = f.from_ms {
        q.push(" AND at_ms >= ").bind(t);
    }
    if let Some(t) = f.to_ms {
        q.push(" AND at_ms < ").bind(t);
    }
    q
}

/// Newest first. Records with no unit (logins, system work) are visible to every audit admin;
/// unit-bound records only within the admin's scope.
pub async fn list(db: &Db, f: &Filter, scope: &Scope, limit: i64, offset: i64) -> DbResult<(Vec<Record>, i64)> {
    let total = db.scalar(filtered("SELECT COUNT(*) FROM audit_log", f, scope)).await?;
    let mut q = filtered("SELECT * FROM audit_log", f, scope);
    q.push(" ORDER BY seq DESC");
    q.page(limit, offset);
    Ok((db.fetch_all(q).await?, total))
}
