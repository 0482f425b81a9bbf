//! Resident rosters from the files staff keep: CSV (UTF-8 or GBK, as Excel on Windows writes it) or
//! XLSX, with Chinese headers. Every row is checked first (a dry run that names each bad row and
//! field), duplicates are found by blind index inside the file and against the database, and the
//! good rows are then written in one transaction — all of them or none.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};

use platform::audit::{self, Actor, Event, Outcome};
use platform::clock::{Date, Millis};
use platform::crypto::FieldCipher;
use platform::db::{Value, new_id};
use platform::scope::UnitCode;
use platform::{AppError, AppResult, Db, sql};

use crate::model::{self, IdError, IdNumber, Phone, RELATIONS, RESIDENCE_KINDS};
use crate::store;

/// Largest upload accepted; a whole county's roster fits, a mistaken export of everything does not.
pub const MAX_FILE_BYTES: usize = 50 * 1024 * 1024;

/// A sheet: header names and the data rows with their line numbers as the user sees them.
#[derive(Debug, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<(usize, Vec<Cell>)>,
}

/// A cell as read; numbers are kept apart because Excel silently rounds long digit strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
}

impl Cell {
    pub fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.trim().to_owned(),
            Cell::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Cell::Number(n) => n.to_string(),
        }
    }
}

fn file_error(code: &'static str, msg: impl Into<String>) -> AppError {
    AppError::bad_request(code, msg).at_field("file")
}

/// Reads CSV or XLSX by content, not by name: a renamed file gets a clear error.
pub fn read_table(bytes: &[u8], filename: &str) -> AppResult<Table> {
    read_table_limited(bytes, filename, MAX_FILE_BYTES)
}

/// [`read_table`] with another size cap (the command line reads local files of any reasonable size).
pub fn read_table_limited(bytes: &[u8], filename: &str, max: usize) -> AppResult<Table> {
    if bytes.len() > max {
        return Err(file_error(
            "import.too_large",
            format!("文件过大（{} MB，上限 {} MB），请按村（社区）拆分后分别导入", bytes.len() / 1024 / 1024, max / 1024 / 1024),
        ));
    }
    if bytes.is_empty() {
        return Err(file_error("import.empty", "文件为空"));
    }
    let lower = filename.to_lowercase();
    if bytes.starts_with(b"PK\x03\x04") {
        return read_xlsx(bytes);
    }
    if lower.ends_with(".xlsx") || lower.ends_with(".xls") {
        return Err(file_error(
            "import.not_xlsx",
            "文件扩展名是 Excel，但内容不是 Excel 工作簿（可能是改了扩展名的 CSV 或旧版 .xls）。请在 Excel 中“另存为 .xlsx”，或直接以 .csv 上传",
        ));
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(file_error("import.bad_encoding", "文件是 UTF-16 编码（Excel“Unicode 文本”）。请另存为“CSV UTF-8（逗号分隔）”或 .xlsx"));
    }
    let text = decode(bytes);
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let headers: Vec<String> =
        rdr.headers().map_err(|e| file_error("import.bad_csv", format!("无法读取表头：{e}")))?.iter().map(|h| h.trim().to_owned()).collect();
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| AppError::bad_request("import.bad_csv", format!("CSV 格式错误：{e}")).at_row(i + 2))?;
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows.push((i + 2, rec.iter().map(|c| Cell::Text(c.to_owned())).collect()));
    }
    Ok(Table { headers, rows })
}

/// UTF-8 (with or without BOM), else GB18030 (a superset of GBK).
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => encoding_rs::GB18030.decode(bytes).0.into_owned(),
    }
}

fn read_xlsx(bytes: &[u8]) -> AppResult<Table> {
    use calamine::{Data, Reader, Xlsx};
    let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(bytes.to_vec())).map_err(|e| file_error("import.bad_xlsx", format!("Excel 文件无法打开：{e}")))?;
    let range = wb
        .worksheet_range_at(0)
        .ok_or_else(|| file_error("import.bad_xlsx", "Excel 文件中没有工作表"))?
        .map_err(|e| file_error("import.bad_xlsx", format!("工作表无法读取：{e}")))?;
    let mut iter = range.rows();
    let to_cell = |d: &Data| match d {
        Data::Empty => Cell::Text(String::new()),
        Data::String(s) => Cell::Text(s.clone()),
        Data::Float(f) => Cell::Number(*f),
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Bool(b) => Cell::Text(if *b { "是".into() } else { "否".into() }),
        // Excel dates are days since 1899-12-30.
        Data::DateTime(dt) => Cell::Text(Date::from_days(dt.as_f64().floor() as i64 - 25_569).to_string()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s.chars().take(10).collect()),
        _ => Cell::Text(String::new()),
    };
    let headers = iter.next().map(|r| r.iter().map(|c| to_cell(c).text()).collect()).unwrap_or_default();
    let mut rows = Vec::new();
    for (i, r) in iter.enumerate() {
        let cells: Vec<Cell> = r.iter().map(to_cell).collect();
        if cells.iter().all(|c| c.text().is_empty()) {
            continue;
        }
        rows.push((i + 2, cells));
    }
    Ok(Table { headers, rows })
}

/// The roster template's columns: (header, required, note). Aliases follow in [`column`].
pub const ROSTER_COLUMNS: [(&str, bool, &str); 15] = [
    ("姓名", true, "如：张三"),
    ("身份证号", true, "18 位，末位可为 X；Excel 中请设为文本格式"),
    ("性别", false, "男/女，可留空（由身份证号推出）"),
    ("出生日期", false, "YYYY-MM-DD，可留空"),
    ("联系电话", false, "手机 11 位或带区号固话"),
    ("人口类别", false, "户籍/常住/流动，默认户籍"),
    ("户号", false, "同一户填相同户号"),
    ("与户主关系", false, "户主/配偶/子女/父母/祖父母/孙子女/兄弟姐妹/其他"),
    ("小区", false, "须为本社区已登记的小区名称"),
    ("楼栋", false, ""),
    ("单元", false, ""),
    ("房号", false, ""),
    ("地址", false, "无小区时填写，如：和平东路 12 号"),
    ("标签", false, "多个用顿号分隔：独居老人、残疾人、低保…"),
    ("迁入日期", false, "YYYY-MM-DD"),
];

fn column(headers: &[String], names: &[&str]) -> Option<usize> {
    headers.iter().position(|h| {
        let h = h.trim().trim_end_matches('*').trim();
        names.contains(&h)
    })
}

/// A row that passed every check, ready to write.
#[derive(Debug, Clone)]
pub struct RosterRow {
    pub line: usize,
    pub name: String,
    pub id: IdNumber,
    pub phone: Option<Phone>,
    pub residence_kind: String,
    pub household_no: Option<String>,
    pub relation: Option<String>,
    pub compound_code: Option<String>,
    pub building: String,
    pub unit_no: String,
    pub room: String,
    pub address: String,
    pub tags: Vec<&'static str>,
    pub moved_in: Option<String>,
}

#[derive(Debug, Default)]
pub struct Preview {
    pub total: usize,
    pub rows: Vec<RosterRow>,
    pub errors: Vec<AppError>,
}

fn id_message(e: &IdError, cell: &Cell) -> String {
    if let Cell::Number(_) = cell {
        return "身份证号在 Excel 中被存成了数字，末几位已被 Excel 改写。请把该列设为“文本”格式后重新录入".to_owned();
    }
    e.to_string()
}

/// Checks every row of a roster for `unit` (a village or community). Needs the database for the
/// compounds of the unit and for duplicates already registered.
pub async fn check_roster(
    db: &Db,
    cipher: &FieldCipher,
    unit: &UnitCode,
    compounds: &HashMap<String, String>,
    table: &Table,
    today: Date,
) -> AppResult<Preview> {
    let h = &table.headers;
    let col = |names: &[&str]| column(h, names);
    let (Some(c_name), Some(c_id)) = (col(&["姓名", "name"]), col(&["身份证号", "公民身份号码", "身份证号码", "id_number"])) else {
        return Err(file_error("import.missing_columns", "表头须包含「姓名」和「身份证号」列。请下载模板对照；若表头是乱码，请确认文件为 UTF-8 或 GBK 编码"));
    };
    let c_sex = col(&["性别"]);
    let c_birth = col(&["出生日期"]);
    let c_phone = col(&["联系电话", "电话", "手机", "手机号"]);
    let c_kind = col(&["人口类别", "类别"]);
    let c_hh = col(&["户号"]);
    let c_rel = col(&["与户主关系", "关系"]);
    let c_compound = col(&["小区"]);
    let c_building = col(&["楼栋", "栋"]);
    let c_unit = col(&["单元"]);
    let c_room = col(&["房号", "门牌号"]);
    let c_addr = col(&["地址", "住址"]);
    let c_tags = col(&["标签", "特殊人群"]);
    let c_in = col(&["迁入日期"]);
    let _ = unit;

    let mut preview = Preview { total: table.rows.len(), ..Default::default() };
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut pending: Vec<(RosterRow, String)> = Vec::new();
    for (line, cells) in &table.rows {
        let line = *line;
        let get = |c: Option<usize>| c.and_then(|i| cells.get(i)).map(Cell::text).unwrap_or_default();
        let mut errs: Vec<AppError> = Vec::new();
        let err = |code: &'static str, field: &str, msg: String| AppError::bad_request(code, msg).at_row(line).at_field(field);
        let name = get(Some(c_name));
        if name.is_empty() || name.chars().count() > 30 {
            errs.push(err("registry.bad_name", "姓名", "姓名不能为空，且不超过 30 个字".into()));
        }
        let id_cell = cells.get(c_id).cloned().unwrap_or(Cell::Text(String::new()));
        let id = match IdNumber::parse(&id_cell.text(), today) {
            Ok(id) if matches!(id_cell, Cell::Number(_)) => {
                let _ = id;
                errs.push(err("registry.bad_id", "身份证号", id_message(&IdError::Characters, &id_cell)));
                None
            }
            Ok(id) => Some(id),
            Err(_) if id_cell.text().is_empty() => {
                errs.push(err("registry.bad_id", "身份证号", "身份证号不能为空".into()));
                None
            }
            Err(e) => {
                errs.push(err("registry.bad_id", "身份证号", id_message(&e, &id_cell)));
                None
            }
        };
        if let Some(id) = &id {
            let sex = get(c_sex);
            if !sex.is_empty() && model::Sex::parse(&sex) != Some(id.sex()) {
                errs.push(err("registry.sex_mismatch", "性别", format!("性别「{sex}」与身份证号（{}）不符", id.sex().label())));
            }
            let birth = get(c_birth);
            if !birth.is_empty() && Date::parse(&birth).map(|d| d.to_string()) != Some(id.birth_date()) {
                errs.push(err("registry.birth_mismatch", "出生日期", format!("出生日期「{birth}」与身份证号（{}）不符", id.birth_date())));
            }
        }
        let phone_text = get(c_phone);
        let phone = if phone_text.is_empty() {
            None
        } else {
            match Phone::parse(&phone_text) {
                Ok(p) => Some(p),
                Err(e) => {
                    errs.push(e.at_row(line).at_field("联系电话"));
                    None
                }
            }
        };
        let kind = get(c_kind);
        let kind = if kind.is_empty() { "户籍".to_owned() } else { kind };
        if !RESIDENCE_KINDS.contains(&kind.as_str()) {
            errs.push(err("registry.bad_kind", "人口类别", format!("人口类别「{kind}」应为 户籍、常住 或 流动")));
        }
        let relation = Some(get(c_rel)).filter(|s| !s.is_empty());
        if let Some(r) = &relation
            && !RELATIONS.contains(&r.as_str())
        {
            errs.push(err("registry.bad_relation", "与户主关系", format!("与户主关系「{r}」应为：{}", RELATIONS.join("、"))));
        }
        let compound_name = get(c_compound);
        let compound_code = if compound_name.is_empty() {
            None
        } else {
            match compounds.get(&compound_name) {
                Some(c) => Some(c.clone()),
                None => {
                    errs.push(err(
                        "registry.unknown_compound",
                        "小区",
                        format!("本单位没有名为「{compound_name}」的小区（请先在治理单元中登记小区，或检查名称）"),
                    ));
                    None
                }
            }
        };
        let mut tags = Vec::new();
        for t in get(c_tags).split(['、', ',', '，', ';', '；', '/', ' ']).filter(|s| !s.trim().is_empty()) {
            match model::check_tag(t) {
                Ok(t) => tags.push(t),
                Err(e) => errs.push(e.at_row(line).at_field("标签")),
            }
        }
        let moved_in = Some(get(c_in)).filter(|s| !s.is_empty());
        if let Some(d) = &moved_in
            && Date::parse(d).is_none()
        {
            errs.push(err("registry.bad_date", "迁入日期", format!("日期「{d}」格式应为 YYYY-MM-DD")));
        }
        if let Some(id) = &id {
            if let Some(first) = seen.get(id.as_str()) {
                errs.push(err("registry.duplicate_in_file", "身份证号", format!("身份证号与第 {first} 行重复")));
            } else {
                seen.insert(id.as_str().to_owned(), line);
            }
        }
        match (errs.is_empty(), id) {
            (true, Some(id)) => {
                let index = cipher.blind_index("id", id.as_str());
                pending.push((
                    RosterRow {
                        line,
                        name,
                        id,
                        phone,
                        residence_kind: kind,
                        household_no: Some(get(c_hh)).filter(|s| !s.is_empty()),
                        relation,
                        compound_code,
                        building: get(c_building),
                        unit_no: get(c_unit),
                        room: get(c_room),
                        address: get(c_addr),
                        tags,
                        moved_in,
                    },
                    index,
                ))
            }
            _ => preview.errors.extend(errs),
        }
    }
    let indexes: Vec<String> = pending.iter().map(|(_, i)| i.clone()).collect();
    let existing = store::existing_id_indexes(db, &indexes).await?;
    for (row, index) in pending {
        if existing.contains(&index) {
            preview.errors.push(
                AppError::conflict("registry.duplicate_in_db", "该身份证号已在系统中登记（如为迁入，请先由原单位办理迁出）")
                    .at_row(row.line)
                    .at_field("身份证号"),
            );
        } else {
            preview.rows.push(row);
        }
    }
    preview.errors.sort_by_key(|e| e.row);
    Ok(preview)
}

/// Writes checked rows in one transaction: houses and households are found or created by address
/// and 户号, people and tags inserted in bulk, one audit record names the counts (never the values).
/// `progress` counts rows written, for progress bars.
pub async fn commit_roster(
    db: &Db,
    cipher: &FieldCipher,
    now: Millis,
    actor: &Actor,
    unit: &UnitCode,
    rows: &[RosterRow],
    source: &str,
    progress: &AtomicUsize,
) -> AppResult<usize> {
    let mut tx = db.begin().await?;
    let u = unit.as_str();
    // Existing households and houses of the unit, to attach to rather than duplicate.
    let hh: Vec<(String, String)> = tx.fetch_all(sql!("SELECT household_no, id FROM households WHERE unit_code = $1", u)).await?;
    let mut households: HashMap<String, String> = hh.into_iter().collect();
    type HouseKey = (Option<String>, String, String, String, String);
    let hs: Vec<(Option<String>, String, String, String, String, String)> =
        tx.fetch_all(sql!("SELECT compound_code, address, building, unit_no, room, id FROM houses WHERE unit_code = $1", u)).await?;
    let mut houses: HashMap<HouseKey, String> = hs.into_iter().map(|(c, a, b, n, r, id)| ((c, a, b, n, r), id)).collect();
    let (mut new_houses, mut new_households, mut new_people, mut new_tags) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in rows {
        let house_id = if r.compound_code.is_some() || !r.address.is_empty() {
            let key = (r.compound_code.clone(), r.address.clone(), r.building.clone(), r.unit_no.clone(), r.room.clone());
            Some(
                houses
                    .entry(key)
                    .or_insert_with(|| {
                        let id = new_id();
                        new_houses.push(vec![
                            Value::from(id.as_str()),
                            u.into(),
                            r.compound_code.clone().into(),
                            r.address.as_str().into(),
                            r.building.as_str().into(),
                            r.unit_no.as_str().into(),
                            r.room.as_str().into(),
                            "住宅".into(),
                            Value::Int(None),
                            "自住".into(),
                            false.into(),
                            now.into(),
                        ]);
                        id
                    })
                    .clone(),
            )
        } else {
            None
        };
        let household_id = r.household_no.as_ref().map(|no| {
            households
                .entry(no.clone())
                .or_insert_with(|| {
                    let id = new_id();
                    new_households.push(vec![Value::from(id.as_str()), u.into(), house_id.clone().into(), no.as_str().into(), false.into(), now.into()]);
                    id
                })
                .clone()
        });
        let pid = new_id();
        new_people.push(vec![
            Value::from(pid.as_str()),
            u.into(),
            r.name.as_str().into(),
            cipher.encrypt(r.id.as_str()).into(),
            cipher.blind_index("id", r.id.as_str()).into(),
            r.id.masked().into(),
            r.id.sex().label().into(),
            r.id.birth_date().into(),
            r.phone.as_ref().map(|p| cipher.encrypt(p.as_str())).into(),
            r.phone.as_ref().map(|p| cipher.blind_index("phone", p.as_str())).into(),
            r.phone.as_ref().map(|p| p.masked()).into(),
            r.residence_kind.as_str().into(),
            household_id.into(),
            r.relation.clone().into(),
            house_id.into(),
            r.moved_in.clone().into(),
            false.into(),
            now.into(),
            now.into(),
        ]);
        for t in &r.tags {
            new_tags.push(vec![Value::from(pid.as_str()), (*t).into(), u.into()]);
        }
    }
    store::bulk_insert(&mut tx, "houses", &store::HOUSE_COLUMNS, new_houses).await?;
    store::bulk_insert(&mut tx, "households", &store::HOUSEHOLD_COLUMNS, new_households).await?;
    let total = new_people.len();
    let mut rest = new_people;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(5_000));
        let n = rest.len();
        let r = store::bulk_insert(&mut tx, "people", &store::PEOPLE_COLUMNS, rest).await;
        if let Err(e) = r {
            if e.is_unique_violation() {
                return Err(AppError::conflict("registry.duplicate_in_db", "导入期间有同一身份证号被他人登记，整批未写入，请重新预览"));
            }
            return Err(e.into());
        }
        progress.fetch_add(n, Ordering::Relaxed);
        rest = tail;
    }
    store::bulk_insert(&mut tx, "person_tags", &store::TAG_COLUMNS, new_tags).await?;
    let detail = format!("{total} people from {source}");
    audit::record(&mut tx, now, &Event { actor, unit: Some(u), action: "registry.import", target: "people", outcome: Outcome::Ok, detail: &detail }).await?;
    tx.commit().await?;
    Ok(total)
}

/// The roster template as CSV (UTF-8 with BOM, so Excel shows the Chinese headers), with one
/// example row of synthetic data.
pub fn roster_template_csv() -> String {
    let mut s = String::from("\u{feff}");
    s.push_str(&ROSTER_COLUMNS.iter().map(|(h, req, _)| if *req { format!("{h}*") } else { (*h).to_owned() }).collect::<Vec<_>>().join(","));
    let mut id = String::from("51090319800101001");
    id.push(model::check_char(id.as_bytes()));
    s.push_str(&format!("\r\n张三,{id},男,1980-01-01,13812345678,户籍,0001,户主,,,,,和平东路 12 号,党员,\r\n"));
    s
}
