//! Imports for the registers other than people: compounds' attributes, vehicles, organisations,
//! facilities and workforce. Each register declares its columns once — header, aliases, whether
//! required, how to check the value — and gets the same dry run, row/field errors, atomic commit,
//! template and documentation as the resident roster.

use std::collections::{HashMap, HashSet};

use platform::audit::{self, Actor, Event, Outcome};
use platform::clock::Millis;
use platform::crypto::FieldCipher;
use platform::db::{Value, new_id};
use platform::scope::UnitCode;
use platform::{AppError, AppResult, Db};

use crate::import::Table;
use crate::model::{self, COMPOUND_MANAGEMENT, FACILITY_CATEGORIES, ORGANISATION_KINDS, SOCIAL_WORK_LEVELS, WORKFORCE_ROLES};

#[derive(Clone, Copy, Debug)]
pub enum Check {
    Text(usize),
    YesNo,
    Year,
    /// Square metres with up to two decimals, stored as square decimetres.
    Area,
    Count,
    Choice(&'static [&'static str]),
    Phone,
    Plate,
    /// 统一社会信用代码: 18 characters, digits and upper-case letters.
    CreditCode,
    /// An ID number looked up among the unit's residents (vehicle owners).
    OwnerId,
    /// The name of a compound (小区) under the unit.
    CompoundName,
}

#[derive(Clone, Copy, Debug)]
pub struct Col {
    pub header: &'static str,
    pub required: bool,
    pub check: Check,
    /// Database column (empty for columns that only locate the row, such as the compound name).
    pub db: &'static str,
    pub note: &'static str,
}

const fn col(header: &'static str, required: bool, check: Check, db: &'static str, note: &'static str) -> Col {
    Col { header, required, check, db, note }
}

pub struct Spec {
    pub key: &'static str,
    pub title: &'static str,
    pub table: &'static str,
    pub cols: &'static [Col],
}

const YES_NO: &str = "是/否";

pub const SPECS: [Spec; 5] = [
    Spec {
        key: "compounds",
        title: "小区信息",
        table: "compound_info",
        cols: &[
            col("小区", true, Check::CompoundName, "code", "须为本社区已登记的小区名称"),
            col("管理方式", true, Check::Choice(&COMPOUND_MANAGEMENT), "management", "物业管理/自治管理/三无小区"),
            col("业委会", false, Check::YesNo, "owners_committee", YES_NO),
            col("物业公司", false, Check::Text(60), "property_company", ""),
            col("建成年份", false, Check::Year, "built_year", "如 1998；2001 年前建成为老旧小区"),
            col("智能安防", false, Check::YesNo, "smart_security", YES_NO),
            col("党组织", false, Check::YesNo, "party_org", YES_NO),
        ],
    },
    Spec {
        key: "vehicles",
        title: "车辆",
        table: "vehicles",
        cols: &[
            col("号牌", true, Check::Plate, "plate", "如 川JA12345"),
            col("类型", false, Check::Text(20), "kind", "小型汽车、电动自行车……"),
            col("车主身份证号", false, Check::OwnerId, "owner_id", "须为本单位已登记居民"),
        ],
    },
    Spec {
        key: "organisations",
        title: "组织",
        table: "organisations",
        cols: &[
            col("名称", true, Check::Text(80), "name", ""),
            col("类型", true, Check::Choice(&ORGANISATION_KINDS), "kind", "企业/个体工商户/社会组织/社会企业/慈善基金/社区经济组织/其他"),
            col("统一社会信用代码", false, Check::CreditCode, "credit_code", "18 位"),
            col("认证社会企业", false, Check::YesNo, "certified_social_enterprise", YES_NO),
            col("两新组织", false, Check::YesNo, "two_new", YES_NO),
            col("党的工作覆盖", false, Check::YesNo, "party_work_covered", YES_NO),
        ],
    },
    Spec {
        key: "facilities",
        title: "设施",
        table: "facilities",
        cols: &[
            col("名称", true, Check::Text(80), "name", ""),
            col("类别", true, Check::Choice(&FACILITY_CATEGORIES), "category", "党群服务中心、综合服务站、养老服务、托育、幼儿园……"),
            col("面积（平方米）", false, Check::Area, "floor_area_dm2", "如 320.5"),
            col("容量", false, Check::Count, "capacity", "床位、托位、学位等"),
            col("适老化或儿童友好改造", false, Check::YesNo, "friendly_renovated", YES_NO),
        ],
    },
    Spec {
        key: "workforce",
        title: "工作力量",
        table: "workforce",
        cols: &[
            col("姓名", true, Check::Text(30), "name", ""),
            col("岗位", true, Check::Choice(&WORKFORCE_ROLES), "role", "社区工作者/社会工作者/网格员/村（社区）干部"),
            col("职业资格", false, Check::Choice(&SOCIAL_WORK_LEVELS), "qualification", "助理社会工作师/社会工作师/高级社会工作师"),
            col("联系电话", false, Check::Phone, "phone", "加密存储，脱敏显示"),
        ],
    },
];

pub fn spec(key: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.key == key)
}

/// Checked rows: (line, values in `cols` order with the extra stored columns appended by `commit`).
#[derive(Debug, Default)]
pub struct SimplePreview {
    pub total: usize,
    pub rows: Vec<(usize, Vec<Value>)>,
    /// Text of each good row for the preview table.
    pub display: Vec<(usize, Vec<String>)>,
    pub errors: Vec<AppError>,
}

fn yes_no(s: &str) -> Option<bool> {
    match s.trim() {
        "是" | "有" | "1" | "Y" | "y" | "yes" | "true" => Some(true),
        "否" | "无" | "0" | "N" | "n" | "no" | "false" | "" => Some(false),
        _ => None,
    }
}

fn plate_ok(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    (7..=8).contains(&chars.len())
        && !chars[0].is_ascii()
        && chars[1].is_ascii_uppercase()
        && chars[2..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Checks every row against the register's columns. Writes nothing.
pub async fn check(
    db: &Db,
    cipher: &FieldCipher,
    spec: &Spec,
    unit: &UnitCode,
    compounds: &HashMap<String, String>,
    table: &Table,
) -> AppResult<SimplePreview> {
    let idx: Vec<Option<usize>> = spec
        .cols
        .iter()
        .map(|c| {
            table.headers.iter().position(|h| {
                h.trim().trim_end_matches('*').trim() == c.header
                    || (c.header.contains('（') && h.trim().starts_with(c.header.split('（').next().unwrap_or("")))
            })
        })
        .collect();
    let missing: Vec<&str> = spec.cols.iter().zip(&idx).filter(|(c, i)| c.required && i.is_none()).map(|(c, _)| c.header).collect();
    if !missing.is_empty() {
        return Err(AppError::bad_request("import.missing_columns", format!("表头缺少必填列：{}。请下载模板对照", missing.join("、"))).at_field("file"));
    }
    let mut pv = SimplePreview { total: table.rows.len(), ..Default::default() };
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut owner_cache: HashMap<String, Option<String>> = HashMap::new();
    for (line, cells) in &table.rows {
        let line = *line;
        let mut values = Vec::new();
        let mut shown = Vec::new();
        let mut errs = Vec::new();
        for (c, i) in spec.cols.iter().zip(&idx) {
            let raw = i.and_then(|i| cells.get(i)).map(|x| x.text()).unwrap_or_default();
            let err = |code: &'static str, msg: String| AppError::bad_request(code, msg).at_row(line).at_field(c.header);
            if raw.is_empty() {
                if c.required {
                    errs.push(err("import.required", format!("「{}」不能为空", c.header)));
                }
                values.push(match c.check {
                    Check::YesNo => Value::from(false),
                    Check::Year | Check::Area | Check::Count => Value::Int(None),
                    Check::Text(_) if c.db == "kind" || c.db == "property_company" => Value::from(""),
                    _ => Value::Text(None),
                });
                shown.push(String::new());
                continue;
            }
            let v: Result<Value, AppError> = match c.check {
                Check::Text(max) if raw.chars().count() <= max => Ok(Value::from(raw.as_str())),
                Check::Text(max) => Err(err("import.too_long", format!("「{}」不超过 {max} 个字", c.header))),
                Check::YesNo => yes_no(&raw).map(Value::from).ok_or_else(|| err("import.bad_yes_no", format!("「{raw}」应填 是 或 否"))),
                Check::Year => raw
                    .parse::<i64>()
                    .ok()
                    .filter(|y| (1900..=2100).contains(y))
                    .map(Value::from)
                    .ok_or_else(|| err("import.bad_year", format!("年份「{raw}」应为 1900–2100 的四位数字"))),
                Check::Area => raw
                    .parse::<f64>()
                    .ok()
                    .filter(|a| *a >= 0.0 && *a < 1e7)
                    .map(|a| Value::from((a * 100.0).round() as i64))
                    .ok_or_else(|| err("import.bad_area", format!("面积「{raw}」应为平方米数，如 320.5"))),
                Check::Count => raw
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (0..=1_000_000).contains(n))
                    .map(Value::from)
                    .ok_or_else(|| err("import.bad_count", format!("「{raw}」应为非负整数"))),
                Check::Choice(options) => options
                    .iter()
                    .find(|o| **o == raw)
                    .map(|o| Value::from(*o))
                    .ok_or_else(|| err("import.bad_choice", format!("「{raw}」应为：{}", options.join("、")))),
                Check::Phone => model::Phone::parse(&raw).map(|p| Value::from(p.as_str())).map_err(|e| e.at_row(line).at_field(c.header)),
                Check::Plate => {
                    let p = raw.to_uppercase().replace([' ', '-', '·'], "");
                    if plate_ok(&p) { Ok(Value::from(p)) } else { Err(err("import.bad_plate", format!("号牌「{raw}」格式错误，如 川JA12345"))) }
                }
                Check::CreditCode => {
                    let s = raw.to_uppercase();
                    if s.len() == 18 && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) {
                        Ok(Value::from(s))
                    } else {
                        Err(err("import.bad_credit_code", "统一社会信用代码应为 18 位数字或大写字母".into()))
                    }
                }
                Check::OwnerId => {
                    let index = cipher.blind_index("id", &raw.to_ascii_uppercase());
                    let owner = match owner_cache.get(&index) {
                        Some(o) => o.clone(),
                        None => {
                            let mut q = platform::Sql::new("SELECT id FROM people WHERE id_index = ", []);
                            q.bind(index.as_str()).push(" AND ");
                            platform::Scope::new(vec![unit.clone()]).push_filter(&mut q, "unit_code");
                            let o: Option<(String,)> = db.fetch_optional(q).await?;
                            let o = o.map(|(x,)| x);
                            owner_cache.insert(index, o.clone());
                            o
                        }
                    };
                    owner.map(Value::from).ok_or_else(|| err("import.unknown_owner", "本单位没有登记该身份证号的居民".into()))
                }
                Check::CompoundName => compounds
                    .get(&raw)
                    .map(|c| Value::from(c.as_str()))
                    .ok_or_else(|| err("registry.unknown_compound", format!("本单位没有名为「{raw}」的小区"))),
            };
            match v {
                Ok(v) => {
                    shown.push(match c.check {
                        Check::Phone => model::mask_phone(&raw),
                        Check::OwnerId => model::mask_id(&raw),
                        _ => raw.clone(),
                    });
                    values.push(v);
                }
                Err(e) => {
                    errs.push(e);
                    values.push(Value::Text(None));
                    shown.push(String::new());
                }
            }
        }
        // The first required column identifies the row (plate, name, compound): duplicates inside the file are errors.
        let key = shown.first().cloned().unwrap_or_default();
        if spec.key != "organisations" && spec.key != "facilities" && spec.key != "workforce" && !key.is_empty() {
            if let Some(first) = seen.get(&key) {
                errs.push(AppError::bad_request("import.duplicate_in_file", format!("与第 {first} 行重复")).at_row(line).at_field(spec.cols[0].header));
            } else {
                seen.insert(key, line);
            }
        }
        if errs.is_empty() {
            pv.rows.push((line, values));
            pv.display.push((line, shown));
        } else {
            pv.errors.extend(errs);
        }
    }
    if spec.key == "vehicles" {
        let plates: Vec<String> = pv
            .rows
            .iter()
            .filter_map(|(_, v)| match v.first() {
                Some(Value::Text(Some(p))) => Some(p.clone()),
                _ => None,
            })
            .collect();
        let mut existing = HashSet::new();
        for chunk in plates.chunks(500) {
            let mut q = platform::Sql::new("SELECT plate FROM vehicles WHERE plate IN ", []);
            q.push_list(chunk.iter().map(|p| p.as_str()));
            let rows: Vec<(String,)> = db.fetch_all(q).await?;
            existing.extend(rows.into_iter().map(|(p,)| p));
        }
        let (keep, dup): (Vec<_>, Vec<_>) = pv.rows.drain(..).partition(|(_, v)| !matches!(v.first(), Some(Value::Text(Some(p))) if existing.contains(p)));
        for (line, _) in &dup {
            pv.errors.push(AppError::conflict("import.duplicate_in_db", "该号牌已登记").at_row(*line).at_field("号牌"));
            pv.display.retain(|(l, _)| l != line);
        }
        pv.rows = keep;
    }
    pv.errors.sort_by_key(|e| e.row);
    Ok(pv)
}

/// Writes checked rows in one transaction with one audit record. Compounds' attributes replace the
/// existing ones; the other registers append.
pub async fn commit(
    db: &Db,
    cipher: &FieldCipher,
    now: Millis,
    actor: &Actor,
    spec: &Spec,
    unit: &UnitCode,
    rows: Vec<(usize, Vec<Value>)>,
    source: &str,
) -> AppResult<usize> {
    let n = rows.len();
    let mut tx = db.begin().await?;
    if spec.key == "compounds" {
        for (_, v) in rows {
            let mut it = v.into_iter();
            let mut next = || it.next().unwrap_or(Value::Text(None));
            let (code, management, committee, company, year, smart, party) = (next(), next(), next(), next(), next(), next(), next());
            let company = match company {
                Value::Text(None) => Value::from(""),
                v => v,
            };
            tx.execute(platform::Sql::new(
                "INSERT INTO compound_info (code, management, owners_committee, property_company, built_year, smart_security, party_org, synthetic) VALUES ($1, $2, $3, $4, $5, $6, $7, 0) \
                 ON CONFLICT (code) DO UPDATE SET management = excluded.management, owners_committee = excluded.owners_committee, property_company = excluded.property_company, built_year = excluded.built_year, smart_security = excluded.smart_security, party_org = excluded.party_org, synthetic = 0",
                [code, management, committee, company, year, smart, party],
            ))
            .await?;
        }
    } else {
        let mut columns: Vec<&str> = vec!["id", "unit_code"];
        let mut out_rows = Vec::with_capacity(rows.len());
        for c in spec.cols {
            if c.check.is_phone() {
                columns.extend(["phone_enc", "phone_masked"]);
            } else {
                columns.push(c.db);
            }
        }
        columns.extend(["synthetic", "created_ms"]);
        for (_, v) in rows {
            let mut row = vec![Value::from(new_id()), Value::from(unit.as_str())];
            for (c, val) in spec.cols.iter().zip(v) {
                if c.check.is_phone() {
                    match val {
                        Value::Text(Some(p)) => row.extend([Value::from(cipher.encrypt(&p)), Value::from(model::mask_phone(&p))]),
                        _ => row.extend([Value::Text(None), Value::Text(None)]),
                    }
                } else {
                    row.push(val);
                }
            }
            row.extend([Value::from(false), Value::from(now)]);
            out_rows.push(row);
        }
        crate::store::bulk_insert(&mut tx, spec.table, &columns, out_rows).await.map_err(|e| {
            if e.is_unique_violation() {
                AppError::conflict("import.duplicate_in_db", "导入期间有重复记录被他人登记，整批未写入，请重新预览")
            } else {
                e.into()
            }
        })?;
    }
    let detail = format!("{n} {} from {source}", spec.key);
    audit::record(
        &mut tx,
        now,
        &Event { actor, unit: Some(unit.as_str()), action: "registry.import", target: spec.key, outcome: Outcome::Ok, detail: &detail },
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

impl Check {
    fn is_phone(self) -> bool {
        matches!(self, Check::Phone)
    }
}

/// Template CSV: the headers (required ones starred) and a note row explaining each column.
pub fn template_csv(spec: &Spec) -> String {
    let mut s = String::from("\u{feff}");
    s.push_str(&spec.cols.iter().map(|c| if c.required { format!("{}*", c.header) } else { c.header.to_owned() }).collect::<Vec<_>>().join(","));
    s.push_str("\r\n");
    s
}
