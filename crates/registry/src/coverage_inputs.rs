//! What the coverage slice (服务资源一幅地图) needs from the facilities register: where each
//! facility of a category stands (WGS-84), and, for the demo only, coordinates for the synthetic
//! facilities the register's own demo created without any.

use platform::db::{DbResult, Sql};
use platform::scope::{Scope, UnitCode};
use platform::{Db, Tx, sql};

/// A facility with its position; `lon_e6`/`lat_e6` are absent when the register has none.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct FacilityPoint {
    pub id: String,
    pub unit_code: String,
    pub name: String,
    pub category: String,
    pub lon_e6: Option<i64>,
    pub lat_e6: Option<i64>,
    pub floor_area_dm2: Option<i64>,
    pub capacity: Option<i64>,
}

/// Facilities in the subtree of `root`, ordered by id (stable, so analyses repeat exactly).
pub async fn facilities(db: &Db, root: &UnitCode) -> DbResult<Vec<FacilityPoint>> {
    let mut q = Sql::new("SELECT id, unit_code, name, category, lon_e6, lat_e6, floor_area_dm2, capacity FROM facilities WHERE ", []);
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    q.push(" ORDER BY id");
    db.fetch_all(q).await
}

/// Demo only: gives synthetic facilities without a position one (`place` decides where, from the
/// facility's unit and id). Real records are never touched. Returns how many were placed.
pub async fn place_synthetic_facilities(tx: &mut Tx, root: &UnitCode, place: impl Fn(&FacilityPoint) -> Option<(i64, i64)>) -> DbResult<u64> {
    let mut q = Sql::new(
        "SELECT id, unit_code, name, category, lon_e6, lat_e6, floor_area_dm2, capacity FROM facilities WHERE synthetic = 1 AND lon_e6 IS NULL AND ",
        [],
    );
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    let rows: Vec<FacilityPoint> = tx.fetch_all(q).await?;
    let mut n = 0;
    for f in &rows {
        if let Some((lon, lat)) = place(f) {
            n += tx.execute(sql!("UPDATE facilities SET lon_e6 = $1, lat_e6 = $2 WHERE id = $3 AND synthetic = 1", lon, lat, f.id.as_str())).await?;
        }
    }
    Ok(n)
}
