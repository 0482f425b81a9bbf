//! Aggregates per unit for the indicators slice: one query for a whole subtree, grouped by the
//! village-level prefix, so indicators roll up from exact numerators and denominators.

use platform::Db;
use platform::db::{DbResult, Sql};
use platform::scope::{Scope, UnitCode};

use crate::store::Population;

/// The population figures (户数、常住人口) of every current village-level unit in a subtree.
pub async fn populations_in(db: &Db, root: &UnitCode) -> DbResult<Vec<Population>> {
    let mut q = Sql::new("SELECT p.* FROM unit_population p JOIN units u ON u.code = p.code WHERE u.valid_to IS NULL AND ", []);
    Scope::new(vec![root.clone()]).push_filter(&mut q, "p.code");
    q.push(" ORDER BY p.code");
    db.fetch_all(q).await
}

/// Current compounds (小区) and grids (网格) per village-level unit: (village code, kind label, count).
pub async fn cells_per_village(db: &Db, root: &UnitCode) -> DbResult<Vec<(String, String, i64)>> {
    let mut q = Sql::new("SELECT SUBSTR(code, 1, 12), kind, CAST(COUNT(*) AS BIGINT) FROM units WHERE valid_to IS NULL AND level = 6 AND ", []);
    Scope::new(vec![root.clone()]).push_filter(&mut q, "code");
    q.push(" GROUP BY SUBSTR(code, 1, 12), kind ORDER BY 1");
    db.fetch_all(q).await
}
