//! Storage on two engines with one SQL dialect.
//!
//! Slices write portable SQL (`$N` placeholders, `RETURNING`, `ON CONFLICT`, integers and text only)
//! into a [`Sql`] value and run it through [`Db`] or [`Tx`], which dispatch to a concrete sqlx pool.
//! Integers are `BIGINT` on PostgreSQL and `INTEGER` on SQLite so rows decode as `i64` on both;
//! booleans are 0/1 integers; instants are UTC milliseconds. The few places where the engines must
//! differ live here, not in slices.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{AssertSqlSafe, FromRow, PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::error::{AppError, AppResult};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database address {0:?}: use a file path, sqlite://… or postgres://…")]
    BadUrl(String),
    #[error("SQLite safety check failed: {0}")]
    Unsafe(String),
}

impl DbError {
    /// True when the error is a unique or primary-key violation (a duplicate).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, DbError::Sqlx(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// A bind parameter. Typed nulls, because PostgreSQL wants to know the type of a NULL.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(Some(v as i64))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_owned()))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_owned))
    }
}

/// SQL text with its parameters. Placeholders are `$1…$N`, numbered by [`Sql::bind`].
///
/// SQL built only by appending (`push`/`bind`) also keeps a copy with anonymous `?` placeholders,
/// which SQLite binds in constant time each; SQLite resolves a named `$N` by scanning the statement's
/// parameter list, which makes a 4,000-parameter bulk insert quadratic.
#[derive(Clone, Debug, Default)]
pub struct Sql {
    text: String,
    params: Vec<Value>,
    anonymous: Option<String>,
}

impl Sql {
    /// Static SQL with parameters already numbered `$1…` in the text.
    pub fn new(text: &str, params: impl IntoIterator<Item = Value>) -> Self {
        let params: Vec<Value> = params.into_iter().collect();
        let anonymous = (params.is_empty() && !text.contains('$')).then(|| text.to_owned());
        Self { text: text.to_owned(), params, anonymous }
    }
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        if text.contains('$') {
            self.anonymous = None;
        }
        if let Some(a) = &mut self.anonymous {
            a.push_str(text);
        }
        self
    }
    /// Appends the next placeholder and its value.
    pub fn bind(&mut self, v: impl Into<Value>) -> &mut Self {
        self.params.push(v.into());
        self.text.push('$');
        self.text.push_str(&self.params.len().to_string());
        if let Some(a) = &mut self.anonymous {
            a.push('?');
        }
        self
    }
    /// The text SQLite should prepare: anonymous placeholders when the order allows.
    fn sqlite_text(self) -> (String, Vec<Value>) {
        (self.anonymous.unwrap_or(self.text), self.params)
    }
    /// Appends `(v1, v2, …)` with every value bound, for `IN` lists.
    pub fn push_list<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = V>) -> &mut Self {
        self.push("(");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v);
        }
        self.push(")")
    }
    /// `LIMIT n OFFSET m` with both bound.
    pub fn page(&mut self, limit: i64, offset: i64) -> &mut Self {
        self.push(" LIMIT ").bind(limit).push(" OFFSET ").bind(offset)
    }
    pub fn text(&self) -> &str {
        &self.text
    }
    /// Several statements as one SQLite script (`a;\nb;…`), each statement's `$N` shifted past the
    /// parameters of those before it so that every statement keeps its own values.
    fn joined(stmts: Vec<Sql>) -> Sql {
        let mut text = String::new();
        let mut params = Vec::new();
        for s in stmts {
            if !text.is_empty() {
                text.push_str(";\n");
            }
            text.push_str(&shift_placeholders(&s.text, params.len()));
            params.extend(s.params);
        }
        Sql { text, params, anonymous: None }
    }
}

/// `$N` → `$(N + offset)` outside quoted strings.
fn shift_placeholders(text: &str, offset: usize) -> String {
    if offset == 0 {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '\'' {
            quoted = !quoted;
        } else if c == '$' && !quoted {
            let mut n = 0usize;
            let mut digits = 0;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                n = n * 10 + d as usize;
                digits += 1;
                chars.next();
            }
            if digits > 0 {
                out.push_str(&(n + offset).to_string());
            }
        }
    }
    out
}

/// Shorthand: `sql!("SELECT … WHERE code = $1", code)`.
#[macro_export]
macro_rules! sql {
    ($text:expr $(, $p:expr)* $(,)?) => {
        $crate::db::Sql::new($text, [$($crate::db::Value::from($p)),*])
    };
}

macro_rules! bind_all {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                Value::Int(v) => q.bind(v),
                Value::Text(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Rows that decode on both engines.
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqliteDb),
    Postgres(PgPool),
}

/// A SQLite pool and the queue its writers wait in. SQLite has one writer at a time; left to itself,
/// a waiting writer sleeps in growing steps (up to 100 ms) and retries, which under concurrent
/// reports turns into long tails. Queuing write transactions in the process hands the lock over at
/// once instead.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    /// sqlx's pool, for transactions begun with [`Db::begin`] and for migrations.
    pub pool: SqlitePool,
    /// The connections everything else runs on: plain queries and the group writer.
    conns: std::sync::Arc<SqliteConns>,
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The group-commit queue ([`Db::write_grouped`]), started on first use.
    group: std::sync::Arc<std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<GroupJob>>>,
    /// Group commits so far and the jobs they carried (for `/metrics`).
    group_stats: std::sync::Arc<GroupStats>,
}

#[derive(Debug, Default)]
struct GroupStats {
    commits: std::sync::atomic::AtomicU64,
    jobs: std::sync::atomic::AtomicU64,
}

/// SQLite connections handed out without sqlx's pool. sqlx runs each SQLite connection on a
/// worker thread of its own, and its pool pings every connection given back (to flush whatever a
/// cancelled query left behind): one more round trip to that thread, a pair of thread switches on
/// every query, which on two cores cost as much as a short query itself. A SQLite connection is a
/// handle in this process and cannot go stale, and its worker runs commands in order, so a
/// connection given back after a cancelled plain query serves the next one as it is. One given
/// back in the middle of a transaction is dropped instead (see [`Checkout::discard`]): closing it
/// rolls the transaction back.
#[derive(Debug)]
struct SqliteConns {
    options: SqliteConnectOptions,
    idle: std::sync::Mutex<Vec<sqlx::SqliteConnection>>,
    /// One permit per connection that may be out at once.
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl SqliteConns {
    fn new(options: SqliteConnectOptions, max: usize) -> Self {
        Self { options, idle: Default::default(), permits: std::sync::Arc::new(tokio::sync::Semaphore::new(max)) }
    }

    /// An idle connection, or a new one while fewer than the maximum are open; else waits.
    async fn checkout(self: &std::sync::Arc<Self>) -> DbResult<Checkout> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| DbError::Sqlx(sqlx::Error::PoolClosed))?;
        let idle = self.idle.lock().map_err(|_| DbError::Unsafe("connection list poisoned".into()))?.pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                use sqlx::ConnectOptions;
                self.options.connect().await?
            }
        };
        Ok(Checkout { conn: Some(conn), home: self.clone(), _permit: permit })
    }

    /// Closes the idle connections and refuses new checkouts.
    async fn close(&self) {
        self.permits.close();
        let idle: Vec<_> = self.idle.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
        for c in idle {
            use sqlx::Connection;
            let _ = c.close().await;
        }
    }
}

/// A connection out of [`SqliteConns`]; it goes back when dropped.
#[derive(Debug)]
struct Checkout {
    conn: Option<sqlx::SqliteConnection>,
    home: std::sync::Arc<SqliteConns>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Checkout {
    /// Closes the connection instead of giving it back (its worker thread closes the SQLite
    /// handle, which rolls back an open transaction).
    fn discard(&mut self) {
        self.conn = None;
    }
}

impl std::ops::Deref for Checkout {
    type Target = sqlx::SqliteConnection;
    fn deref(&self) -> &Self::Target {
        self.conn.as_ref().expect("a checked-out connection is present until dropped or discarded")
    }
}

impl std::ops::DerefMut for Checkout {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn.as_mut().expect("a checked-out connection is present until dropped or discarded")
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if let (Some(c), Ok(mut idle)) = (self.conn.take(), self.home.idle.lock())
            && !self.home.permits.is_closed()
        {
            idle.push(c);
        }
    }
}

/// A write transaction, with the audit chain's head as this transaction last moved it (see
/// [`crate::audit::record`]): once a transaction has appended to the chain it holds the head's lock
/// (SQLite's write lock; PostgreSQL's row lock) until it ends, so later appends need not read the
/// head again, and the head row is written once, at commit.
pub struct Tx {
    conn: TxConn,
    pub(crate) audit_head: Option<AuditHead>,
    /// Counters this transaction has moved and so holds locked until it ends, with the value it
    /// last gave them (see [`Tx::held`]); group commit restores them with a job's savepoint.
    held: std::collections::HashMap<String, i64>,
    /// A statement that goes out in front of this transaction's next one, in the same script
    /// (SQLite only): group commit sends its `BEGIN` and each job's savepoint this way, with no
    /// round trip of their own to the connection's worker thread.
    lead: Option<Sql>,
    /// What became of the last `lead`.
    lead_state: LeadState,
}

/// Whether a [`Tx`]'s leading statement has run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeadState {
    /// Not sent yet: nothing has gone to the database since it was set.
    Pending,
    /// It ran: the script it led succeeded, or failed on a constraint, which a leading `BEGIN`
    /// or `SAVEPOINT` cannot raise.
    Ran,
    /// The script it led failed for another reason, so it may or may not have run.
    Unknown,
}

enum TxConn {
    /// Holds the process's write turn (`SqliteDb::writer`) until the transaction ends.
    Sqlite {
        tx: Transaction<'static, Sqlite>,
        _turn: tokio::sync::OwnedMutexGuard<()>,
    },
    Postgres(Transaction<'static, Postgres>),
    /// The group writer's transaction on SQLite: its `BEGIN` and `COMMIT` go out in scripts with
    /// its other statements (see `Tx::lead`) instead of in round trips of their own, so it holds
    /// a plain pooled connection rather than an sqlx transaction.
    SqliteGrouped(GroupedConn),
}

struct GroupedConn {
    conn: Checkout,
    /// Holds the process's write turn, as `TxConn::Sqlite` does.
    _turn: tokio::sync::OwnedMutexGuard<()>,
    /// Whether a transaction may be open on the connection.
    open: bool,
}

impl Drop for GroupedConn {
    fn drop(&mut self) {
        // Never hand a connection back to the pool in the middle of a transaction: closed, SQLite
        // rolls it back.
        if self.open {
            self.conn.discard();
        }
    }
}

/// The audit chain's last sequence number and hash, and whether the head row still has to be
/// brought up to them.
#[derive(Clone, Debug)]
pub(crate) struct AuditHead {
    pub seq: i64,
    pub hash: String,
    pub unwritten: bool,
}

/// Generates the query methods once for the pool and once for a transaction.
macro_rules! query_methods {
    ($self:ident $(, $m:ident)?; $sqlite:pat => $se:expr, $pg:pat => $pe:expr) => {
        pub async fn execute(& $($m)? $self, sql: Sql) -> DbResult<u64> {
            let (sql, led) = $self.take_lead(sql);
            let r: DbResult<u64> = async { Ok(match $self.inner().await? {
                $sqlite => { let (t, ps) = sql.sqlite_text(); bind_all!(sqlx::query::<Sqlite>(AssertSqlSafe(t)), ps).execute($se).await?.rows_affected() }
                $pg => bind_all!(sqlx::query::<Postgres>(AssertSqlSafe(sql.text)), sql.params).execute($pe).await?.rows_affected(),
            }) }.await;
            $self.lead_outcome(led, &r);
            r
        }
        pub async fn fetch_all<T: Row>(& $($m)? $self, sql: Sql) -> DbResult<Vec<T>> {
            let (sql, led) = $self.take_lead(sql);
            let r: DbResult<Vec<T>> = async { Ok(match $self.inner().await? {
                $sqlite => { let (t, ps) = sql.sqlite_text(); bind_all!(sqlx::query_as::<Sqlite, T>(AssertSqlSafe(t)), ps).fetch_all($se).await? }
                $pg => bind_all!(sqlx::query_as::<Postgres, T>(AssertSqlSafe(sql.text)), sql.params).fetch_all($pe).await?,
            }) }.await;
            $self.lead_outcome(led, &r);
            r
        }
        pub async fn fetch_optional<T: Row>(& $($m)? $self, sql: Sql) -> DbResult<Option<T>> {
            let (sql, led) = $self.take_lead(sql);
            let r: DbResult<Option<T>> = async { Ok(match $self.inner().await? {
                $sqlite => { let (t, ps) = sql.sqlite_text(); bind_all!(sqlx::query_as::<Sqlite, T>(AssertSqlSafe(t)), ps).fetch_optional($se).await? }
                $pg => bind_all!(sqlx::query_as::<Postgres, T>(AssertSqlSafe(sql.text)), sql.params).fetch_optional($pe).await?,
            }) }.await;
            $self.lead_outcome(led, &r);
            r
        }
        pub async fn fetch_one<T: Row>(& $($m)? $self, sql: Sql) -> DbResult<T> {
            let (sql, led) = $self.take_lead(sql);
            let r: DbResult<T> = async { Ok(match $self.inner().await? {
                $sqlite => { let (t, ps) = sql.sqlite_text(); bind_all!(sqlx::query_as::<Sqlite, T>(AssertSqlSafe(t)), ps).fetch_one($se).await? }
                $pg => bind_all!(sqlx::query_as::<Postgres, T>(AssertSqlSafe(sql.text)), sql.params).fetch_one($pe).await?,
            }) }.await;
            $self.lead_outcome(led, &r);
            r
        }
        /// A single integer, e.g. a `COUNT(*)` (PostgreSQL's `COUNT` is already `BIGINT`).
        pub async fn scalar(& $($m)? $self, sql: Sql) -> DbResult<i64> {
            let (v,): (i64,) = $self.fetch_one(sql).await?;
            Ok(v)
        }
    };
}

enum DbRef<'a> {
    Sqlite(Checkout),
    Postgres(&'a PgPool),
}
enum TxRef<'a> {
    Sqlite(&'a mut sqlx::SqliteConnection),
    Postgres(&'a mut sqlx::PgConnection),
}

impl Db {
    async fn inner(&self) -> DbResult<DbRef<'_>> {
        Ok(match self {
            Db::Sqlite(p) => DbRef::Sqlite(p.conns.checkout().await?),
            Db::Postgres(p) => DbRef::Postgres(p),
        })
    }
    query_methods!(self; DbRef::Sqlite(mut c) => &mut *c, DbRef::Postgres(p) => p);

    /// The pool has no leading statement (see [`Tx`]).
    fn take_lead(&self, sql: Sql) -> (Sql, bool) {
        (sql, false)
    }
    fn lead_outcome<T>(&self, _led: bool, _outcome: &DbResult<T>) {}

    pub fn engine(&self) -> Engine {
        match self {
            Self::Sqlite(..) => Engine::Sqlite,
            Self::Postgres(_) => Engine::Postgres,
        }
    }

    /// Opens the database named by `url`: a path or `sqlite://path` for SQLite (created if missing),
    /// `postgres://…` for PostgreSQL. SQLite is opened with WAL, `synchronous=FULL` and foreign keys,
    /// and the settings are read back so a misconfigured file cannot go unnoticed.
    pub async fn connect(url: &str) -> DbResult<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            Self::connect_pg(opts).await
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            if path.is_empty() || url.contains("://") && !url.starts_with("sqlite://") {
                return Err(DbError::BadUrl(url.to_owned()));
            }
            if let Some(parent) = std::path::Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| DbError::Unsafe(format!("{}: {e}", parent.display())))?;
            }
            let opts = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // 64 MiB of page cache per connection: imports touch several indexes at random.
                .pragma("cache_size", "-65536")
                .pragma("temp_store", "memory");
            // Transactions queue for the one write turn, so sqlx's pool needs few connections.
            let pool = SqlitePoolOptions::new().max_connections(3).test_before_acquire(false).connect_with(opts.clone()).await?;
            let conns = std::sync::Arc::new(SqliteConns::new(opts, 8));
            let db = Db::Sqlite(SqliteDb { pool, conns, writer: Default::default(), group: Default::default(), group_stats: Default::default() });
            db.verify_sqlite().await?;
            Ok(db)
        }
    }

    /// PostgreSQL with explicit options (tests use it to pin a `search_path`).
    pub async fn connect_pg(opts: PgConnectOptions) -> DbResult<Db> {
        let pool = PgPoolOptions::new().max_connections(8).connect_with(opts).await?;
        Ok(Db::Postgres(pool))
    }

    async fn verify_sqlite(&self) -> DbResult<()> {
        let Db::Sqlite(SqliteDb { pool, .. }) = self else {
            return Ok(());
        };
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(pool).await?;
        let sync = self.scalar(sql!("PRAGMA synchronous")).await?;
        let fk = self.scalar(sql!("PRAGMA foreign_keys")).await?;
        if !mode.eq_ignore_ascii_case("wal") || sync != 2 || fk != 1 {
            return Err(DbError::Unsafe(format!("journal_mode={mode} synchronous={sync} foreign_keys={fk}; expected wal/2/1")));
        }
        Ok(())
    }

    /// Begins a write transaction. SQLite takes the write lock at once (`BEGIN IMMEDIATE`) so two
    /// writers never deadlock upgrading read locks.
    pub async fn begin(&self) -> DbResult<Tx> {
        Ok(match self {
            Db::Sqlite(p) => {
                let turn = p.writer.clone().lock_owned().await;
                Tx::on(TxConn::Sqlite { tx: p.pool.begin_with("BEGIN IMMEDIATE").await?, _turn: turn })
            }
            Db::Postgres(p) => Tx::on(TxConn::Postgres(p.begin().await?)),
        })
    }

    pub async fn migrate(&self) -> DbResult<()> {
        match self {
            Db::Sqlite(p) => SQLITE_MIGRATIONS.run(&p.pool).await?,
            Db::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// Versions of the migrations this binary carries for the engine.
    pub fn migration_versions(engine: Engine) -> Vec<(i64, String)> {
        let m = match engine {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        };
        m.iter().map(|m| (m.version, m.description.to_string())).collect()
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => {
                p.conns.close().await;
                p.pool.close().await
            }
            Db::Postgres(p) => p.close().await,
        }
    }

    /// Writes a consistent copy of a SQLite database to `dest` (`VACUUM INTO`, safe while serving).
    /// PostgreSQL backups are taken with `pg_dump`; see docs/OPERATIONS.md.
    pub async fn backup_sqlite(&self, dest: &str) -> DbResult<()> {
        self.execute(sql!("VACUUM INTO $1", dest)).await?;
        Ok(())
    }
}

impl Tx {
    /// A transaction just begun on `conn`: holding nothing yet, with no leading statement.
    fn on(conn: TxConn) -> Tx {
        Tx { conn, audit_head: None, held: Default::default(), lead: None, lead_state: LeadState::Pending }
    }

    async fn inner(&mut self) -> DbResult<TxRef<'_>> {
        Ok(match &mut self.conn {
            TxConn::Sqlite { tx, .. } => TxRef::Sqlite(tx),
            TxConn::SqliteGrouped(g) => TxRef::Sqlite(&mut g.conn),
            TxConn::Postgres(t) => TxRef::Postgres(t),
        })
    }
    query_methods!(self, mut; TxRef::Sqlite(c) => c, TxRef::Postgres(c) => c);

    /// `sql` with the leading statement in front of it, if one is waiting, and whether one was.
    fn take_lead(&mut self, sql: Sql) -> (Sql, bool) {
        match self.lead.take() {
            Some(lead) => (Sql::joined(vec![lead, sql]), true),
            None => (sql, false),
        }
    }

    fn lead_outcome<T>(&mut self, led: bool, outcome: &DbResult<T>) {
        if led {
            self.lead_state = match outcome {
                Ok(_) => LeadState::Ran,
                Err(DbError::Sqlx(sqlx::Error::Database(e))) if e.kind() != sqlx::error::ErrorKind::Other => LeadState::Ran,
                Err(_) => LeadState::Unknown,
            };
        }
    }

    /// Runs statements in order: on SQLite as one script, one round trip to the connection's
    /// worker thread instead of one each; on PostgreSQL one by one (its protocol takes one statement
    /// with parameters at a time). For the hot write paths.
    pub async fn execute_all(&mut self, stmts: Vec<Sql>) -> DbResult<()> {
        match (self.engine(), stmts.len()) {
            (_, 0) => {}
            (Engine::Sqlite, _) => {
                self.execute(Sql::joined(stmts)).await?;
            }
            (Engine::Postgres, _) => {
                for s in stmts {
                    self.execute(s).await?;
                }
            }
        }
        Ok(())
    }

    /// Runs `stmts` in order and returns the one row that statement `at` gives (an `INSERT …
    /// RETURNING`, say); the others must give none. On SQLite in one round trip (see
    /// [`Tx::execute_all`]), so writes that depend on the returned row's insert (foreign keys)
    /// can follow it in the same script.
    pub async fn fetch_one_in<T: Row>(&mut self, stmts: Vec<Sql>, at: usize) -> DbResult<T> {
        match self.engine() {
            Engine::Sqlite => {
                // The whole script runs: `fetch_one` would stop at the first row.
                let mut rows: Vec<T> = self.fetch_all(Sql::joined(stmts)).await?;
                match rows.len() {
                    1 => Ok(rows.remove(0)),
                    _ => Err(DbError::Sqlx(sqlx::Error::RowNotFound)),
                }
            }
            Engine::Postgres => {
                let mut row = None;
                for (i, s) in stmts.into_iter().enumerate() {
                    if i == at {
                        row = Some(self.fetch_one(s).await?);
                    } else {
                        self.execute(s).await?;
                    }
                }
                row.ok_or(DbError::Sqlx(sqlx::Error::RowNotFound))
            }
        }
    }

    /// Fetches the one row `a` gives and the one row `b` gives, rows of different shapes; on
    /// SQLite in one round trip (a script of the two, each row decoded on its own).
    pub async fn fetch_pair<A: Row, B: Row>(&mut self, a: Sql, b: Sql) -> DbResult<(A, B)> {
        if self.engine() == Engine::Postgres {
            let first = self.fetch_one(a).await?;
            return Ok((first, self.fetch_one(b).await?));
        }
        let (sql, led) = self.take_lead(Sql::joined(vec![a, b]));
        let rows: DbResult<Vec<SqliteRow>> = async {
            match self.inner().await? {
                TxRef::Sqlite(c) => {
                    let (t, ps) = sql.sqlite_text();
                    Ok(bind_all!(sqlx::query::<Sqlite>(AssertSqlSafe(t)), ps).fetch_all(c).await?)
                }
                TxRef::Postgres(_) => Err(DbError::Unsafe("fetch_pair: engine changed".into())),
            }
        }
        .await;
        self.lead_outcome(led, &rows);
        match rows?.as_slice() {
            [a, b] => Ok((A::from_row(a)?, B::from_row(b)?)),
            _ => Err(DbError::Sqlx(sqlx::Error::RowNotFound)),
        }
    }

    /// The value this transaction last gave the counter `key` (see [`Tx::hold`]), if it holds it.
    pub fn held(&self, key: &str) -> Option<i64> {
        self.held.get(key).copied()
    }

    /// Notes that this transaction has moved the counter row `key` to `value`. Having written the
    /// row, the transaction holds it locked (SQLite's write lock; PostgreSQL's row lock) until it
    /// ends, so it may keep counting in memory and write each new value in a script with the
    /// rows that use it, instead of reading the row back first. Under group commit, a job's
    /// rolled-back savepoint takes its counts with it.
    pub fn hold(&mut self, key: &str, value: i64) {
        self.held.insert(key.to_owned(), value);
    }

    pub fn engine(&self) -> Engine {
        match self.conn {
            TxConn::Sqlite { .. } | TxConn::SqliteGrouped(_) => Engine::Sqlite,
            TxConn::Postgres(_) => Engine::Postgres,
        }
    }

    pub async fn commit(mut self) -> DbResult<()> {
        let head = self.audit_head_update();
        if let TxConn::SqliteGrouped(_) = self.conn {
            // The head row and the COMMIT in one script.
            let mut script: Vec<Sql> = head.into_iter().collect();
            script.push(crate::sql!("COMMIT"));
            self.execute(Sql::joined(script)).await?;
            self.ended();
            return Ok(());
        }
        if let Some(q) = head {
            self.execute(q).await?;
        }
        match self.conn {
            TxConn::Sqlite { tx, .. } => tx.commit().await?,
            TxConn::Postgres(t) => t.commit().await?,
            TxConn::SqliteGrouped(_) => {}
        }
        Ok(())
    }

    /// A grouped transaction has ended (committed or rolled back): its connection may go back to the pool.
    fn ended(&mut self) {
        if let TxConn::SqliteGrouped(g) = &mut self.conn {
            g.open = false;
        }
    }

    /// The statement that brings the audit head row up to the records this transaction appended,
    /// if it has appended any since the row was last written.
    fn audit_head_update(&mut self) -> Option<Sql> {
        let h = self.audit_head.as_mut().filter(|h| h.unwritten)?;
        h.unwritten = false;
        Some(crate::sql!("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", h.seq, h.hash.as_str()))
    }
}

// ---------------------------------------------------------------------------------------------
// Group commit

/// What a grouped job hands back: called once the shared transaction has committed (`None`) or
/// failed (`Some(error)`), so that no caller hears "done" before its rows are durable.
type Deliver = Box<dyn FnOnce(Option<AppError>) + Send>;

struct GroupJob {
    /// Runs the job inside the shared transaction; says whether it succeeded (else its savepoint
    /// is rolled back) and how to answer its caller.
    run: Box<dyn for<'a> FnOnce(&'a mut Tx) -> crate::web::BoxFuture<'a, (bool, Deliver)> + Send>,
}

/// Jobs taken into one transaction at most.
const GROUP_MAX: usize = 64;

impl Db {
    /// Runs `job` in a write transaction and commits it durably, like `begin` + `commit`; on SQLite,
    /// jobs that arrive while a transaction is being written are committed together in the next
    /// one, each under its own savepoint (group commit). A job that fails rolls back only its own
    /// writes; every caller is answered after the commit that holds its rows, so an acknowledged
    /// write is on disk and a failed commit fails every job in it. SQLite has one writer and pays
    /// one `fsync` per commit; sharing it is what lets many small reports through per second.
    /// PostgreSQL runs each job in its own transaction (it commits concurrently already).
    pub async fn write_grouped<T, F>(&self, job: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Tx) -> crate::web::BoxFuture<'a, AppResult<T>> + Send + 'static,
    {
        let Db::Sqlite(s) = self else {
            let mut tx = self.begin().await?;
            let v = job(&mut tx).await?;
            tx.commit().await?;
            return Ok(v);
        };
        let (answer, answered) = tokio::sync::oneshot::channel::<AppResult<T>>();
        let run: Box<dyn for<'a> FnOnce(&'a mut Tx) -> crate::web::BoxFuture<'a, (bool, Deliver)> + Send> = Box::new(move |tx: &mut Tx| {
            Box::pin(async move {
                let outcome = job(tx).await;
                let ok = outcome.is_ok();
                let deliver: Deliver = Box::new(move |commit_error: Option<AppError>| {
                    let _ = answer.send(match (outcome, commit_error) {
                        (Ok(_), Some(e)) => Err(e),
                        (outcome, _) => outcome,
                    });
                });
                (ok, deliver)
            })
        });
        let queue = s.group.get_or_init(|| {
            let (send, recv) = tokio::sync::mpsc::unbounded_channel();
            // The writer holds the pool and the write lock, not the queue: it ends when the last
            // `Db` (and with it the sender) is dropped.
            let writer = Db::Sqlite(SqliteDb {
                pool: s.pool.clone(),
                conns: s.conns.clone(),
                writer: s.writer.clone(),
                group: Default::default(),
                group_stats: s.group_stats.clone(),
            });
            // The writer is every report's critical path: on a thread and runtime of its own, each
            // of its statements resumes it at once instead of queueing behind request tasks.
            let started = std::thread::Builder::new().name("jiceng-writer".into()).spawn(move || {
                match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt.block_on(group_writer(writer, recv)),
                    Err(e) => tracing::error!(error = %e, "group-commit writer could not start"),
                }
            });
            if let Err(e) = started {
                tracing::error!(error = %e, "group-commit writer thread could not start");
            }
            send
        });
        if queue.send(GroupJob { run }).is_err() {
            return Err(AppError::internal("group-commit writer stopped"));
        }
        answered.await.map_err(|_| AppError::internal("group-commit writer dropped a job"))?
    }

    /// Group commits written and the jobs they carried, since start (zero on PostgreSQL).
    pub fn group_commit_stats(&self) -> (u64, u64) {
        match self {
            Db::Sqlite(s) => (s.group_stats.commits.load(std::sync::atomic::Ordering::Relaxed), s.group_stats.jobs.load(std::sync::atomic::Ordering::Relaxed)),
            Db::Postgres(_) => (0, 0),
        }
    }
}

async fn group_writer(db: Db, mut queue: tokio::sync::mpsc::UnboundedReceiver<GroupJob>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < GROUP_MAX {
            match queue.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let mut delivers = Vec::with_capacity(batch.len());
        let jobs = batch.len() as u64;
        let outcome = write_batch(&db, batch, &mut delivers).await;
        if let (Db::Sqlite(s), true) = (&db, outcome.is_ok()) {
            s.group_stats.commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            s.group_stats.jobs.fetch_add(jobs, std::sync::atomic::Ordering::Relaxed);
        }
        let err = outcome.err().map(AppError::from);
        for d in delivers {
            d(err.clone());
        }
    }
}

async fn write_batch(db: &Db, batch: Vec<GroupJob>, delivers: &mut Vec<Deliver>) -> DbResult<()> {
    let Db::Sqlite(s) = db else { return Err(DbError::Unsafe("group commit runs on SQLite only".into())) };
    // If the connection cannot be had, the unrun jobs are dropped with their answer channels and
    // each caller gets an internal error; nothing was written.
    let turn = s.writer.clone().lock_owned().await;
    let conn = s.conns.checkout().await?;
    let mut tx = Tx::on(TxConn::SqliteGrouped(GroupedConn { conn, _turn: turn, open: true }));
    // `BEGIN` goes out in front of the first job's first statement, and each job's savepoint in
    // front of its own first statement: neither costs a round trip of its own. The savepoints
    // stay open, nested, until the commit; rolling back to the latest undoes only the job that
    // just failed. Alone in its transaction, a job needs no savepoint.
    let alone = batch.len() == 1;
    let mut begun = false;
    for job in batch {
        let head = tx.audit_head.clone();
        let held = tx.held.clone();
        let mut lead = Vec::with_capacity(2);
        if !begun {
            lead.push(sql!("BEGIN IMMEDIATE"));
        }
        if !alone {
            lead.push(sql!("SAVEPOINT grouped_job"));
        }
        tx.lead = Some(Sql::joined(lead));
        tx.lead_state = LeadState::Pending;
        let (ok, deliver) = (job.run)(&mut tx).await;
        delivers.push(deliver);
        begun |= tx.lead_state != LeadState::Pending;
        if !ok {
            match tx.lead_state {
                // Nothing of the job reached the database.
                LeadState::Pending => {}
                LeadState::Ran if alone => {
                    tx.lead = None;
                    tx.execute(sql!("ROLLBACK")).await?;
                    tx.ended();
                    return Ok(());
                }
                LeadState::Ran => {
                    tx.execute(sql!("ROLLBACK TO SAVEPOINT grouped_job")).await?;
                }
                // The job's savepoint (or the transaction) may not exist, and rolling back to the
                // one before would undo a job that succeeded. Give up the batch: the connection is
                // closed with the transaction, nothing is committed, every caller is told it failed.
                LeadState::Unknown => return Err(DbError::Unsafe("a grouped job failed before its savepoint was known to be open".into())),
            }
            tx.audit_head = head;
            tx.held = held;
        }
    }
    tx.lead = None;
    if !begun {
        // Every job failed before reaching the database: there is no transaction to commit.
        tx.ended();
        return Ok(());
    }
    tx.commit().await
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Application-generated identifiers: 16 random bytes as 32 hex characters, stored as text.
pub fn new_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern built from user input.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_statements_keep_their_own_values() {
        let a = sql!("UPDATE t SET x = $1 WHERE id = $2 AND note <> '$1'", 7i64, "a");
        let b = sql!("INSERT INTO t (id, x, y) VALUES ($1, $2, $2)", "b", 9i64);
        let j = Sql::joined(vec![a, b]);
        assert_eq!(j.text, "UPDATE t SET x = $1 WHERE id = $2 AND note <> '$1';\nINSERT INTO t (id, x, y) VALUES ($3, $4, $4)");
        assert_eq!(j.params.len(), 4);
        assert_eq!(shift_placeholders("$10 + $9", 3), "$13 + $12");
    }

    #[tokio::test]
    async fn a_script_runs_every_statement_with_its_values() {
        let db = crate::testing::fresh_db().await.expect("db");
        db.execute(sql!("CREATE TABLE script_probe (id TEXT PRIMARY KEY, x BIGINT NOT NULL)")).await.expect("table");
        let mut tx = db.begin().await.expect("tx");
        let insert = "INSERT INTO script_probe (id, x) VALUES ($1, $2)";
        tx.execute_all(vec![sql!(insert, "a", 1i64), sql!(insert, "b", 2i64)]).await.expect("script");
        let (id, x): (String, i64) = tx
            .fetch_one_in(
                vec![sql!("UPDATE script_probe SET x = x + $1 WHERE id = $2", 40i64, "b"), sql!("SELECT id, x FROM script_probe WHERE id = $1", "b")],
                1,
            )
            .await
            .expect("fetch");
        assert_eq!((id.as_str(), x), ("b", 42));
        assert_eq!(tx.scalar(sql!("SELECT CAST(SUM(x) AS BIGINT) FROM script_probe")).await.expect("sum"), 43);
    }
}
