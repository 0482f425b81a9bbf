//! Governance units and their rules: kinds, where each kind may sit, how an imported row is checked,
//! and the community scale standards. Pure: no SQL, no HTTP.

use platform::scope::{Level, UnitCode};
use platform::{AppError, clock::Date};
use serde::Serialize;

/// 单位类型.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub enum UnitKind {
    Province,
    /// 市 (prefecture-level city)
    City,
    /// 区
    District,
    /// 县
    County,
    /// 县级市
    CountyCity,
    /// 街道
    Street,
    /// 镇
    Town,
    /// 乡
    Township,
    /// 社区
    Community,
    /// 村
    Village,
    /// 小区 (residential compound)
    Compound,
    /// 网格
    Grid,
}

impl UnitKind {
    pub const ALL: [UnitKind; 12] = [
        UnitKind::Province,
        UnitKind::City,
        UnitKind::District,
        UnitKind::County,
        UnitKind::CountyCity,
        UnitKind::Street,
        UnitKind::Town,
        UnitKind::Township,
        UnitKind::Community,
        UnitKind::Village,
        UnitKind::Compound,
        UnitKind::Grid,
    ];
    pub fn label(self) -> &'static str {
        match self {
            UnitKind::Province => "省",
            UnitKind::City => "市",
            UnitKind::District => "区",
            UnitKind::County => "县",
            UnitKind::CountyCity => "县级市",
            UnitKind::Street => "街道",
            UnitKind::Town => "镇",
            UnitKind::Township => "乡",
            UnitKind::Community => "社区",
            UnitKind::Village => "村",
            UnitKind::Compound => "小区",
            UnitKind::Grid => "网格",
        }
    }
    /// Stored form: the Chinese label, which is what exports and imports carry too.
    pub fn parse(s: &str) -> Option<UnitKind> {
        let s = s.trim();
        UnitKind::ALL.into_iter().find(|k| k.label() == s).or(match s {
            "province" => Some(UnitKind::Province),
            "city" => Some(UnitKind::City),
            "district" => Some(UnitKind::District),
            "county" => Some(UnitKind::County),
            "county_city" => Some(UnitKind::CountyCity),
            "street" | "subdistrict" => Some(UnitKind::Street),
            "town" => Some(UnitKind::Town),
            "township" => Some(UnitKind::Township),
            "community" => Some(UnitKind::Community),
            "village" => Some(UnitKind::Village),
            "compound" => Some(UnitKind::Compound),
            "grid" => Some(UnitKind::Grid),
            _ => None,
        })
    }
    pub fn level(self) -> Level {
        match self {
            UnitKind::Province => Level::Province,
            UnitKind::City => Level::City,
            UnitKind::District | UnitKind::County | UnitKind::CountyCity => Level::County,
            UnitKind::Street | UnitKind::Town | UnitKind::Township => Level::Township,
            UnitKind::Community | UnitKind::Village => Level::Village,
            UnitKind::Compound | UnitKind::Grid => Level::Cell,
        }
    }
    /// Derives the kind from an official division name and its level, as the statistics do:
    /// 居民委员会 are communities, 村民委员会 villages.
    pub fn from_division(name: &str, level: Level) -> Option<UnitKind> {
        Some(match level {
            Level::Province => UnitKind::Province,
            Level::City => UnitKind::City,
            Level::County if name.ends_with('区') => UnitKind::District,
            Level::County if name.ends_with('县') => UnitKind::County,
            Level::County if name.ends_with('市') => UnitKind::CountyCity,
            Level::Township if name.ends_with("街道") || name.ends_with("街道办事处") => UnitKind::Street,
            Level::Township if name.ends_with('镇') => UnitKind::Town,
            Level::Township if name.ends_with('乡') => UnitKind::Township,
            Level::Village if name.contains("居民委员会") || name.contains("居委会") || name.ends_with("社区") => UnitKind::Community,
            Level::Village if name.contains("村民委员会") || name.contains("村委会") || name.ends_with('村') => UnitKind::Village,
            _ => return None,
        })
    }
}

/// A governance unit as stored.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Unit {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub level: i64,
    pub parent_code: Option<String>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub synthetic: i64,
}

impl Unit {
    pub fn kind(&self) -> Option<UnitKind> {
        UnitKind::parse(&self.kind)
    }
    pub fn is_current(&self) -> bool {
        self.valid_to.is_none()
    }
    pub fn code(&self) -> Option<UnitCode> {
        UnitCode::parse(&self.code).ok()
    }
}

/// One unit to insert, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct NewUnit {
    pub code: UnitCode,
    pub name: String,
    pub kind: UnitKind,
    pub parent: Option<UnitCode>,
    pub valid_from: Option<Date>,
    pub synthetic: bool,
}

/// Checks that a unit fits under its parent: the code extends the parent's code by one level and
/// the kind belongs at the code's level.
pub fn check_placement(code: &UnitCode, kind: UnitKind, parent: Option<&UnitCode>) -> Result<(), AppError> {
    if kind.level() != code.level() {
        return Err(AppError::bad_request("unit.kind_level", format!("{}位代码不能是「{}」类型单位", code.as_str().len(), kind.label())).at_field("kind"));
    }
    match (parent, code.structural_parent()) {
        (Some(p), Some(sp)) if *p == sp => Ok(()),
        (Some(p), _) => Err(AppError::bad_request("unit.parent_mismatch", format!("代码 {code} 不以上级代码 {p} 开头，或层级不相邻")).at_field("parent_code")),
        (None, _) if matches!(kind, UnitKind::City | UnitKind::Province) => Ok(()),
        (None, _) => Err(AppError::bad_request("unit.parent_missing", "缺少上级单位代码").at_field("parent_code")),
    }
}

/// A row of a units CSV, as text, with its 1-based line number (the header is line 1).
#[derive(Clone, Debug, Default)]
pub struct RawRow {
    pub line: usize,
    pub code: String,
    pub name: String,
    pub parent_code: String,
    pub kind: String,
    pub level: String,
    pub valid_from: String,
}

/// Turns a raw row into a unit, or an error naming the line and field.
pub fn parse_row(r: &RawRow) -> Result<Option<NewUnit>, AppError> {
    let at = |e: AppError| e.at_row(r.line);
    let code = UnitCode::parse(&r.code).map_err(|e| at(AppError::bad_request("unit.bad_code", e.to_string()).at_field("code")))?;
    let name = r.name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(at(AppError::bad_request("unit.bad_name", "单位名称不能为空，且不超过 60 个字").at_field("name")));
    }
    let kind = if !r.kind.trim().is_empty() {
        UnitKind::parse(&r.kind).ok_or_else(|| at(AppError::bad_request("unit.bad_kind", format!("未知的单位类型「{}」", r.kind.trim())).at_field("kind")))?
    } else {
        let level = match r.level.trim() {
            "province" | "省" => Level::Province,
            "city" | "市" => Level::City,
            "county" | "县" => Level::County,
            "township" | "乡" => Level::Township,
            "village" | "村" => Level::Village,
            "" => code.level(),
            other => {
                return Err(at(AppError::bad_request("unit.bad_level", format!("未知的层级「{other}」")).at_field("level")));
            }
        };
        if level != code.level() {
            return Err(at(
                AppError::bad_request("unit.kind_level", format!("层级「{}」与 {} 位代码不符", r.level.trim(), code.as_str().len())).at_field("level")
            ));
        }
        UnitKind::from_division(name, level)
            .ok_or_else(|| at(AppError::bad_request("unit.bad_kind", format!("无法从名称「{name}」判断单位类型，请填写类型列")).at_field("kind")))?
    };
    // The province is the root above the city; the platform starts at the city.
    if kind == UnitKind::Province {
        return Ok(None);
    }
    let parent = match r.parent_code.trim() {
        "" => None,
        p if kind == UnitKind::City => {
            let _ = p;
            None
        }
        p => Some(UnitCode::parse(p).map_err(|e| at(AppError::bad_request("unit.bad_parent", e.to_string()).at_field("parent_code")))?),
    };
    check_placement(&code, kind, parent.as_ref()).map_err(at)?;
    let valid_from = match r.valid_from.trim() {
        "" => None,
        d => Some(Date::parse(d).ok_or_else(|| at(AppError::bad_request("unit.bad_date", format!("日期「{d}」格式应为 YYYY-MM-DD")).at_field("valid_from")))?),
    };
    Ok(Some(NewUnit { code, name: name.to_owned(), kind, parent, valid_from, synthetic: false }))
}

/// 社区规模标准 (plan chapter 8 §2): households and residents a community of a kind should have.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScaleStandard {
    pub kind: String,
    pub kind_zh: String,
    pub min_households: Option<i64>,
    pub max_households: Option<i64>,
    pub min_residents: Option<i64>,
    pub max_residents: Option<i64>,
    pub note: String,
}

pub const SCALE_STANDARDS_CSV: &str = include_str!("../../../data/community-scale-standards.csv");

pub fn scale_standards() -> Vec<ScaleStandard> {
    let mut rdr = csv::Reader::from_reader(SCALE_STANDARDS_CSV.as_bytes());
    let num = |s: Option<&str>| s.and_then(|v| v.trim().parse::<i64>().ok());
    rdr.records()
        .filter_map(Result::ok)
        .map(|r| ScaleStandard {
            kind: r.get(0).unwrap_or_default().to_owned(),
            kind_zh: r.get(1).unwrap_or_default().to_owned(),
            min_households: num(r.get(2)),
            max_households: num(r.get(3)),
            min_residents: num(r.get(4)),
            max_residents: num(r.get(5)),
            note: r.get(6).unwrap_or_default().to_owned(),
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ScaleVerdict {
    /// 达标
    Within,
    /// 偏小 (below the minimum on households or residents)
    Below,
    /// 偏大
    Above,
    /// The standard sets no numeric bounds for this kind.
    NoBounds,
}

impl ScaleVerdict {
    pub fn label(&self) -> &'static str {
        match self {
            ScaleVerdict::Within => "规模达标",
            ScaleVerdict::Below => "规模偏小",
            ScaleVerdict::Above => "规模偏大",
            ScaleVerdict::NoBounds => "标准未设数量",
        }
    }
}

pub fn check_scale(std: &ScaleStandard, households: i64, residents: i64) -> ScaleVerdict {
    let below = std.min_households.is_some_and(|m| households < m) || std.min_residents.is_some_and(|m| residents < m);
    let above = std.max_households.is_some_and(|m| households > m) || std.max_residents.is_some_and(|m| residents > m);
    let bounded = std.min_households.or(std.max_households).or(std.min_residents).or(std.max_residents).is_some();
    match (bounded, below, above) {
        (false, _, _) => ScaleVerdict::NoBounds,
        (_, true, _) => ScaleVerdict::Below,
        (_, _, true) => ScaleVerdict::Above,
        _ => ScaleVerdict::Within,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(code: &str, name: &str, parent: &str, level: &str) -> RawRow {
        RawRow { line: 7, code: code.into(), name: name.into(), parent_code: parent.into(), level: level.into(), ..Default::default() }
    }

    #[test]
    fn kinds_come_from_official_names() {
        assert_eq!(UnitKind::from_division("射洪市", Level::County), Some(UnitKind::CountyCity));
        assert_eq!(UnitKind::from_division("九莲街道", Level::Township), Some(UnitKind::Street));
        assert_eq!(UnitKind::from_division("荷叶乡", Level::Township), Some(UnitKind::Township));
        assert_eq!(UnitKind::from_division("七里桥社区居委会", Level::Village), Some(UnitKind::Community));
        assert_eq!(UnitKind::from_division("丁坪村村民委员会", Level::Village), Some(UnitKind::Village));
    }

    #[test]
    fn bad_rows_name_their_line_and_field() {
        let e = parse_row(&row("51090x", "x", "5109", "county")).expect_err("bad code");
        assert_eq!((e.code, e.row, e.field.as_deref()), ("unit.bad_code", Some(7), Some("code")));
        let e = parse_row(&row("510903001", "某镇", "510904", "township")).expect_err("wrong parent");
        assert_eq!((e.code, e.field.as_deref()), ("unit.parent_mismatch", Some("parent_code")));
        let e = parse_row(&row("510903001", "", "510903", "township")).expect_err("no name");
        assert_eq!(e.code, "unit.bad_name");
        let e = parse_row(&row("510903", "船山区", "5109", "township")).expect_err("level");
        assert_eq!(e.code, "unit.kind_level");
        assert!(parse_row(&row("51", "四川省", "", "province")).expect("province").is_none());
        let ok = parse_row(&row("510903001001", "七里桥社区居委会", "510903001", "village")).expect("ok").expect("unit");
        assert_eq!(ok.kind, UnitKind::Community);
    }

    #[test]
    fn scale_standards_load_and_judge() {
        let s = scale_standards();
        assert_eq!(s.len(), 4);
        let urban = &s[0];
        assert_eq!(urban.kind, "traditional_urban");
        assert_eq!(check_scale(urban, 2000, 6000), ScaleVerdict::Within);
        assert_eq!(check_scale(urban, 1000, 6000), ScaleVerdict::Below);
        assert_eq!(check_scale(urban, 5000, 13000), ScaleVerdict::Above);
        assert_eq!(check_scale(&s[3], 10, 10), ScaleVerdict::NoBounds);
    }
}
