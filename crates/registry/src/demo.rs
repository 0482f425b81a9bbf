//! Synthetic registers for demonstration and benchmarks: people with valid (checksummed, invented)
//! ID numbers, households, houses, compounds' attributes, organisations, facilities and workforce,
//! in proportions taken from the plan. Deterministic: the same scale gives the same data.
//! Everything is flagged `synthetic`.

use std::collections::HashMap;

use platform::audit::{self, Actor, Event, Outcome};
use platform::clock::{Date, Millis};
use platform::crypto::FieldCipher;
use platform::db::{Value, new_id};
use platform::scope::UnitCode;
use platform::{AppError, AppResult, Db, sql};

use geography::model::UnitKind;

use crate::model::{self, COMPOUND_MANAGEMENT, FACILITY_CATEGORIES};
use crate::store::{self, CompoundInfo};

const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤";
const GIVEN: &str = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红娥建国志文斌宇浩然子涵梓萱欣怡一诺思远嘉懿俊熙雨桐佳琪晨曦明轩天佑";

/// SplitMix64, seeded per unit so units can be generated in any order.
struct Rng(u64);

impl Rng {
    fn new(seed: &str) -> Self {
        Self(seed.bytes().fold(0x2545_F491_4F6C_DD1D, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01B3)))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    fn char_of(&mut self, s: &str) -> char {
        let n = s.chars().count() as u64;
        s.chars().nth(self.below(n) as usize).unwrap_or('某')
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// The residents of one demo community (电江路社区) and the services of its street.
    Small,
    /// About 2.8 million residents in every village and community of the city.
    City,
}

/// Hands out unique synthetic ID numbers: the sequence number counts per (region, birth date).
#[derive(Default)]
struct IdMint {
    next_seq: HashMap<(String, i64), u32>,
}

impl IdMint {
    fn mint(&mut self, region: &str, birth: Date, male: bool) -> Option<String> {
        let slot = self.next_seq.entry((region.to_owned(), birth.days())).or_insert(0);
        // Keep the parity rule: odd sequence for men, even for women.
        let mut seq = *slot * 2 + if male { 1 } else { 0 };
        if seq > 999 {
            return None;
        }
        *slot += 1;
        if seq == 0 {
            seq = 2;
            *slot += 1;
        }
        let (y, m, d) = platform::clock::civil_from_days(birth.days());
        let mut s = format!("{region}{y:04}{m:02}{d:02}{seq:03}");
        s.push(model::check_char(s.as_bytes()));
        Some(s)
    }
}

struct Batch {
    houses: Vec<Vec<Value>>,
    households: Vec<Vec<Value>>,
    people: Vec<Vec<Value>>,
    tags: Vec<Vec<Value>>,
    others: Vec<(&'static str, &'static [&'static str], Vec<Value>)>,
}

const ORG_COLS: &[&str] =
    &["id", "unit_code", "name", "kind", "credit_code", "certified_social_enterprise", "two_new", "party_work_covered", "synthetic", "created_ms"];
const FACILITY_COLS: &[&str] =
    &["id", "unit_code", "name", "category", "lon_e6", "lat_e6", "floor_area_dm2", "capacity", "friendly_renovated", "synthetic", "created_ms"];
const WORKFORCE_COLS: &[&str] = &["id", "unit_code", "name", "role", "qualification", "phone_enc", "phone_masked", "synthetic", "created_ms"];
const VEHICLE_COLS: &[&str] = &["id", "unit_code", "plate", "kind", "owner_id", "synthetic", "created_ms"];

/// What one village-level unit holds.
struct UnitPlan {
    code: String,
    name: String,
    community: bool,
    households: i64,
    residents: i64,
    compounds: Vec<(String, String)>,
    grids: usize,
    with_people: bool,
}

fn region_of(code: &str, rng: &mut Rng) -> String {
    let county = &code[..6];
    // 射洪 became a county-level city in 2019 (510922 → 510981); most residents still carry 510922.
    if county == "510981" && rng.chance(800) { "510922".to_owned() } else { county.to_owned() }
}

fn person_name(rng: &mut Rng) -> String {
    let mut s = String::new();
    s.push(rng.char_of(SURNAMES));
    s.push(rng.char_of(GIVEN));
    if rng.chance(650) {
        s.push(rng.char_of(GIVEN));
    }
    s
}

#[allow(clippy::too_many_arguments)]
fn generate(plan: &UnitPlan, today: Date, now: Millis, cipher: &FieldCipher, mint: &mut IdMint, plate_seq: &mut u64, phone_seq: &mut u64) -> Batch {
    let mut rng = Rng::new(&plan.code);
    let u = plan.code.as_str();
    let mut b = Batch { houses: Vec::new(), households: Vec::new(), people: Vec::new(), tags: Vec::new(), others: Vec::new() };
    if plan.with_people && plan.households > 0 {
        let per_household = plan.residents as f64 / plan.households as f64;
        let mut remaining = plan.residents;
        for h in 0..plan.households {
            let house_id = new_id();
            let (compound, address) = match plan.compounds.get(h as usize % plan.compounds.len().max(1)) {
                Some((c, n)) if plan.community => (Some(c.clone()), n.clone()),
                _ => (None, format!("{}{}组{}号", plan.name.trim_end_matches("村民委员会").trim_end_matches("居民委员会"), h % 12 + 1, h + 1)),
            };
            let k = h / plan.compounds.len().max(1) as i64;
            let (building, unit_no, room) = if compound.is_some() {
                ((k / 24 + 1).to_string(), ((k / 8) % 3 + 1).to_string(), format!("{}0{}", (k % 8) / 2 + 1, k % 2 + 1))
            } else {
                (String::new(), String::new(), String::new())
            };
            let occupancy = if rng.chance(120) { "出租" } else { "自住" };
            b.houses.push(vec![
                Value::from(house_id.as_str()),
                u.into(),
                compound.into(),
                address.into(),
                building.into(),
                unit_no.into(),
                room.into(),
                "住宅".into(),
                Value::from((rng.below(100) as i64 + 50) * 100),
                occupancy.into(),
                true.into(),
                now.into(),
            ]);
            let hid = new_id();
            b.households.push(vec![
                Value::from(hid.as_str()),
                u.into(),
                Value::from(house_id.as_str()),
                format!("{:05}", h + 1).into(),
                true.into(),
                now.into(),
            ]);
            let left = plan.households - h;
            let size = if left == 1 {
                remaining.max(1)
            } else {
                ((per_household + (rng.below(100) as f64 / 50.0 - 1.0)).round() as i64).clamp(1, 6).min(remaining - (left - 1)).max(1)
            };
            remaining -= size;
            let head_age = 25 + rng.below(60) as i64;
            let head_male = rng.chance(600);
            let surname = rng.char_of(SURNAMES);
            for m in 0..size {
                let (relation, age) = match m {
                    0 => ("户主", head_age),
                    1 => ("配偶", (head_age - 3 + rng.below(7) as i64).max(18)),
                    2 | 3 if head_age > 22 => ("子女", (head_age - 22 - rng.below(12) as i64).max(0)),
                    4 => ("父母", (head_age + 22 + rng.below(10) as i64).min(100)),
                    _ => ("其他", rng.below(90) as i64),
                };
                let male = match m {
                    0 => head_male,
                    1 => !head_male,
                    _ => rng.chance(510),
                };
                let birth = Date::from_days(today.days() - age * 365 - rng.below(365) as i64);
                let region = region_of(u, &mut rng);
                let Some(idn) = mint.mint(&region, birth, male) else { continue };
                let mut name = person_name(&mut rng);
                if m != 1 {
                    name.replace_range(..name.chars().next().map(char::len_utf8).unwrap_or(0), &surname.to_string());
                }
                let phone = (age >= 16 && rng.chance(850)).then(|| {
                    *phone_seq += 7_919;
                    format!("1{}{:09}", [3, 5, 7, 8, 9][(*phone_seq % 5) as usize], *phone_seq % 1_000_000_000)
                });
                let pid = new_id();
                let kind = if rng.chance(90) {
                    "流动"
                } else if rng.chance(150) {
                    "常住"
                } else {
                    "户籍"
                };
                b.people.push(vec![
                    Value::from(pid.as_str()),
                    u.into(),
                    name.into(),
                    cipher.encrypt(&idn).into(),
                    cipher.blind_index("id", &idn).into(),
                    model::mask_id(&idn).into(),
                    if male { "男" } else { "女" }.into(),
                    birth.to_string().into(),
                    phone.as_ref().map(|p| cipher.encrypt(p)).into(),
                    phone.as_ref().map(|p| cipher.blind_index("phone", p)).into(),
                    phone.as_ref().map(|p| model::mask_phone(p)).into(),
                    kind.into(),
                    Value::from(hid.as_str()),
                    relation.into(),
                    Value::from(house_id.as_str()),
                    Value::Text(None),
                    true.into(),
                    now.into(),
                    now.into(),
                ]);
                let mut tag = |t: &'static str| b.tags.push(vec![Value::from(pid.as_str()), t.into(), u.into()]);
                if age >= 70 && size == 1 {
                    tag("独居老人");
                }
                if age >= 80 {
                    tag("高龄老人");
                }
                if rng.chance(20) {
                    tag("残疾人");
                }
                if age < 16 && !plan.community && rng.chance(120) {
                    tag("留守儿童");
                }
                if rng.chance(25) {
                    tag("低保");
                }
                if male && age >= 35 && rng.chance(40) {
                    tag("退役军人");
                }
                if age >= 18 && rng.chance(60) {
                    tag("党员");
                }
                if m == 0 && rng.chance(250) {
                    *plate_seq += 1;
                    let plate = format!("川J{}{:05}", ["A", "B", "C", "D", "E", "F", "G", "H"][(*plate_seq / 100_000 % 8) as usize], *plate_seq % 100_000);
                    b.others.push((
                        "vehicles",
                        VEHICLE_COLS,
                        vec![Value::from(new_id()), u.into(), plate.into(), "小型汽车".into(), Value::from(pid.as_str()), true.into(), now.into()],
                    ));
                }
            }
        }
    }
    // Services and organisations: every unit has a 党群服务中心; communities have more.
    let short = plan.name.trim_end_matches("村民委员会").trim_end_matches("居民委员会").trim_end_matches("村委会").trim_end_matches("居委会").to_owned();
    let mut facility = |cat: &str, rng: &mut Rng| {
        let area = 200 + rng.below(800) as i64;
        let capacity = if cat == "托育" || cat == "幼儿园" { Value::from(20 + rng.below(100) as i64) } else { Value::Int(None) };
        b.others.push((
            "facilities",
            FACILITY_COLS,
            vec![
                Value::from(new_id()),
                u.into(),
                format!("{short}{cat}").into(),
                cat.into(),
                Value::Int(None),
                Value::Int(None),
                Value::from(area * 100),
                capacity,
                rng.chance(400).into(),
                true.into(),
                now.into(),
            ],
        ));
    };
    facility("党群服务中心", &mut rng);
    if plan.community {
        for cat in FACILITY_CATEGORIES.iter().skip(1) {
            if rng.chance(350) {
                facility(cat, &mut rng);
            }
        }
    } else if rng.chance(300) {
        facility("养老服务", &mut rng);
    }
    // 3,926 social organisations over 1,445 units ≈ 2.7 each.
    for i in 0..(1 + rng.below(4)) {
        let kind = if rng.chance(700) {
            "社会组织"
        } else if rng.chance(300) {
            "社会企业"
        } else {
            "企业"
        };
        let name = format!(
            "遂宁市{short}{}{}",
            ["志愿服务协会", "老年协会", "文体协会", "邻里互助会", "物业服务有限公司", "农业专业合作社"][(rng.below(6)) as usize],
            if i > 0 { format!("（{}）", i + 1) } else { String::new() }
        );
        b.others.push((
            "organisations",
            ORG_COLS,
            vec![
                Value::from(new_id()),
                u.into(),
                name.into(),
                kind.into(),
                Value::Text(None),
                (kind == "社会企业" && rng.chance(400)).into(),
                (kind != "社会组织").into(),
                rng.chance(880).into(),
                true.into(),
                now.into(),
            ],
        ));
    }
    // 4,796 community workers ≈ 3.3 per unit; one grid worker per grid.
    let mut worker = |role: &str, qual: Option<&str>, rng: &mut Rng| {
        *phone_seq += 7_919;
        let phone = format!("139{:08}", *phone_seq % 100_000_000);
        b.others.push((
            "workforce",
            WORKFORCE_COLS,
            vec![
                Value::from(new_id()),
                u.into(),
                person_name(rng).into(),
                role.into(),
                qual.map(str::to_owned).into(),
                cipher.encrypt(&phone).into(),
                model::mask_phone(&phone).into(),
                true.into(),
                now.into(),
            ],
        ));
    };
    for _ in 0..(2 + rng.below(3)) {
        let qual = if rng.chance(300) { Some(model::SOCIAL_WORK_LEVELS[rng.below(2) as usize]) } else { None };
        worker(if qual.is_some() { "社会工作者" } else { "社区工作者" }, qual, &mut rng);
    }
    for _ in 0..plan.grids.max(if plan.community { 0 } else { 1 }) {
        worker("网格员", None, &mut rng);
    }
    b
}

/// Adds the synthetic registers if there are none yet. `progress` is called with (units done, total).
pub async fn seed(db: &Db, cipher: &FieldCipher, now: Millis, actor: &Actor, scale: Scale, mut progress: impl FnMut(usize, usize)) -> AppResult<bool> {
    if db.scalar(sql!("SELECT COUNT(*) FROM people WHERE synthetic = 1")).await? > 0 {
        return Ok(false);
    }
    let city = UnitCode::parse("5109").map_err(AppError::internal)?;
    let villages = geography::store::current_of_kind(db, &city, &[UnitKind::Community, UnitKind::Village]).await?;
    let cells = geography::store::current_of_kind(db, &city, &[UnitKind::Compound, UnitKind::Grid]).await?;
    let demo_street = "510903001";
    let demo_community = "510903001001";
    let chosen: Vec<_> = villages.iter().filter(|v| scale == Scale::City || v.code.starts_with(demo_street)).collect();
    let today = Date::of_instant(now);
    let mut mint = IdMint::default();
    let (mut plate_seq, mut phone_seq) = (0u64, 0u64);
    let (mut people, mut households) = (0usize, 0usize);
    let total = chosen.len();
    let mut tx = db.begin().await?;
    for (i, v) in chosen.iter().enumerate() {
        let pop = geography::store::population(db, &v.code).await?;
        let compounds: Vec<(String, String)> = cells
            .iter()
            .filter(|c| c.parent_code.as_deref() == Some(v.code.as_str()) && c.kind == UnitKind::Compound.label())
            .map(|c| (c.code.clone(), c.name.clone()))
            .collect();
        let grids = cells.iter().filter(|c| c.parent_code.as_deref() == Some(v.code.as_str()) && c.kind == UnitKind::Grid.label()).count();
        let plan = UnitPlan {
            code: v.code.clone(),
            name: v.name.clone(),
            community: v.kind == UnitKind::Community.label(),
            households: pop.as_ref().map(|p| p.households).unwrap_or(0),
            residents: pop.as_ref().map(|p| p.residents).unwrap_or(0),
            with_people: scale == Scale::City || v.code == demo_community,
            compounds,
            grids,
        };
        for (code, _) in &plan.compounds {
            let mut rng = Rng::new(code);
            let management = COMPOUND_MANAGEMENT[rng.below(3) as usize].to_owned();
            let info = CompoundInfo {
                code: code.clone(),
                owners_committee: (management == "物业管理" && rng.chance(700)) as i64,
                property_company: if management == "物业管理" {
                    format!("遂宁{}物业服务有限公司", ["安居", "锦华", "宏达", "川中"][rng.below(4) as usize])
                } else {
                    String::new()
                },
                management,
                built_year: Some(1985 + rng.below(38) as i64),
                smart_security: rng.chance(450) as i64,
                party_org: rng.chance(550) as i64,
                synthetic: 1,
            };
            store::put_compound_info(&mut tx, &info).await?;
        }
        let batch = generate(&plan, today, now, cipher, &mut mint, &mut plate_seq, &mut phone_seq);
        people += batch.people.len();
        households += batch.households.len();
        store::bulk_insert(&mut tx, "houses", &store::HOUSE_COLUMNS, batch.houses).await?;
        store::bulk_insert(&mut tx, "households", &store::HOUSEHOLD_COLUMNS, batch.households).await?;
        store::bulk_insert(&mut tx, "people", &store::PEOPLE_COLUMNS, batch.people).await?;
        store::bulk_insert(&mut tx, "person_tags", &store::TAG_COLUMNS, batch.tags).await?;
        let mut by_table: HashMap<&'static str, (&'static [&'static str], Vec<Vec<Value>>)> = HashMap::new();
        for (table, cols, row) in batch.others {
            by_table.entry(table).or_insert((cols, Vec::new())).1.push(row);
        }
        for (table, (cols, rows)) in by_table {
            store::bulk_insert(&mut tx, table, cols, rows).await?;
        }
        progress(i + 1, total);
        // Commit per county-sized chunk so a city-scale load does not hold one huge transaction.
        if (i + 1) % 200 == 0 {
            tx.commit().await?;
            tx = db.begin().await?;
        }
    }
    let detail = format!("{people} people, {households} households in {total} units ({scale:?})");
    audit::record(&mut tx, now, &Event { actor, unit: None, action: "registry.demo_seed", target: "synthetic", outcome: Outcome::Ok, detail: &detail }).await?;
    tx.commit().await?;
    Ok(true)
}
