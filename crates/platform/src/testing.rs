//! Test support: a fresh database per test on either engine. With `JICENG_TEST_PG` set to a
//! PostgreSQL address, each call gets its own schema there; otherwise a SQLite file in a temporary
//! directory. Both are migrated.

use crate::db::{Db, DbResult};

pub async fn fresh_db() -> DbResult<Db> {
    let db = match std::env::var("JICENG_TEST_PG").ok().filter(|s| !s.is_empty()) {
        Some(url) => {
            use std::str::FromStr;
            let schema = format!("t_{}", crate::db::new_id());
            let admin = Db::connect(&url).await?;
            admin.clone().execute(crate::sql!("SELECT 1")).await.ok();
            if let Db::Postgres(pool) = &admin {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(pool).await?;
            }
            admin.close().await;
            let opts = sqlx::postgres::PgConnectOptions::from_str(&url)?.options([("search_path", schema.as_str())]);
            Db::connect_pg(opts).await?
        }
        None => {
            let dir = std::env::temp_dir().join("jiceng-tests");
            std::fs::create_dir_all(&dir).ok();
            let path = dir.join(format!("{}.db", crate::db::new_id()));
            Db::connect(&path.to_string_lossy()).await?
        }
    };
    db.migrate().await?;
    Ok(db)
}
