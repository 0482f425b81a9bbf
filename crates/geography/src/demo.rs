//! Synthetic demonstration data above the real division tree: compounds (小区) and grids (网格) for
//! urban communities, and household/resident counts for every village-level unit adding up to about
//! 2.8 million residents, the city's population. Everything here is flagged `synthetic` and shown
//! as 演示数据; it is deterministic so screenshots and tests are stable.

use platform::audit::{self, Actor, Event, Outcome};
use platform::clock::Millis;
use platform::scope::UnitCode;
use platform::{AppResult, Db, sql};

use crate::model::{NewUnit, Unit, UnitKind};
use crate::store;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Compounds and grids in one street per county: quick to load, for tests.
    Small,
    /// Compounds and grids in every urban community.
    City,
}

impl Scale {
    pub fn parse(s: &str) -> Option<Scale> {
        match s {
            "small" => Some(Scale::Small),
            "city" => Some(Scale::City),
            _ => None,
        }
    }
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn seeded(code: &str) -> Self {
        Self(code.bytes().fold(0x9E37_79B9_7F4A_7C15, |h, b| h.rotate_left(7) ^ b as u64))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const CITY_RESIDENTS: i64 = 2_800_000;
const NAME_HEADS: [&str; 24] = [
    "锦绣",
    "滨江",
    "金色",
    "观音湖",
    "阳光",
    "翠屏",
    "书香",
    "明月",
    "紫荆",
    "凯旋",
    "天宫",
    "圣莲",
    "南津",
    "龙凤",
    "绿洲",
    "富源",
    "银杏",
    "和谐",
    "幸福",
    "嘉禾",
    "梧桐",
    "涪江",
    "香樟",
    "御景",
];
const NAME_TAILS: [&str; 8] = ["花园", "小区", "家园", "苑", "新城", "公寓", "府", "名都"];

/// Adds the synthetic layer if it is not there yet. Returns false when it already was.
pub async fn seed(db: &Db, now: Millis, actor: &Actor, scale: Scale) -> AppResult<bool> {
    if db.scalar(sql!("SELECT COUNT(*) FROM unit_population")).await? > 0 {
        return Ok(false);
    }
    let villages: Vec<Unit> = db.fetch_all(sql!("SELECT * FROM units WHERE level = 5 AND valid_to IS NULL ORDER BY code")).await?;
    let townships: Vec<Unit> = db.fetch_all(sql!("SELECT * FROM units WHERE level = 4 AND valid_to IS NULL ORDER BY code")).await?;
    let street_of = |code: &str| townships.iter().find(|t| code.starts_with(&t.code)).is_some_and(|t| t.kind == UnitKind::Street.label());

    // Residents: communities first, villages share the rest, so the city adds up to 2.8 million.
    let mut figures: Vec<(String, Option<&'static str>, i64, f64)> = Vec::new();
    let mut community_total = 0;
    let mut village_weights = 0.0;
    for v in &villages {
        let mut rng = Rng::seeded(&v.code);
        if v.kind == UnitKind::Community.label() {
            let (kind, lo, hi) = if street_of(&v.code) { ("traditional_urban", 3_500, 14_000) } else { ("township_seat", 1_500, 6_000) };
            let r = rng.range(lo, hi);
            community_total += r;
            figures.push((v.code.clone(), Some(kind), r, 0.0));
        } else {
            let w = rng.range(60, 240) as f64;
            village_weights += w;
            figures.push((v.code.clone(), None, 0, w));
        }
    }
    let village_pool = (CITY_RESIDENTS - community_total).max(0) as f64;
    let mut tx = db.begin().await?;
    for (code, kind, residents, weight) in &figures {
        let residents = if kind.is_some() { *residents } else { (village_pool * weight / village_weights).round() as i64 };
        let mut rng = Rng::seeded(&format!("{code}h"));
        let per_household = rng.range(24, 30) as f64 / 10.0;
        let households = (residents as f64 / per_household).round() as i64;
        store::put_population(&mut tx, code, *kind, households, residents, true).await?;
    }

    // Compounds and grids under urban (street) communities.
    let mut chosen_streets: Vec<&Unit> = Vec::new();
    for t in townships.iter().filter(|t| t.kind == UnitKind::Street.label()) {
        let county = &t.code[..6];
        if scale == Scale::City || !chosen_streets.iter().any(|s| s.code.starts_with(county)) {
            chosen_streets.push(t);
        }
    }
    let mut cells: Vec<(usize, NewUnit)> = Vec::new();
    for v in villages.iter().filter(|v| v.kind == UnitKind::Community.label() && chosen_streets.iter().any(|s| v.code.starts_with(&s.code))) {
        let mut rng = Rng::seeded(&format!("{}c", v.code));
        let parent = UnitCode::parse(&v.code).map_err(platform::AppError::internal)?;
        // Compound names are unique within a community (addresses are written by name): a repeat
        // becomes the next phase of the estate, as real ones do.
        let mut names: Vec<String> = Vec::new();
        for i in 1..=rng.range(3, 10) {
            let base = format!("{}{}", rng.pick(&NAME_HEADS), rng.pick(&NAME_TAILS));
            let mut name = base.clone();
            let mut phase = 2;
            while names.contains(&name) {
                name = format!("{base}{}期", ["", "", "二", "三", "四", "五", "六", "七", "八", "九", "十"][phase.min(10)]);
                phase += 1;
            }
            names.push(name.clone());
            cells.push((0, cell(&parent, i, &name, UnitKind::Compound)?));
        }
        for i in 1..=rng.range(2, 6) {
            cells.push((0, cell(&parent, 500 + i, &format!("第{i}网格"), UnitKind::Grid)?));
        }
    }
    let n = store::insert_units(&mut tx, &cells).await?;
    let detail = format!("{} population figures, {n} compounds and grids ({scale:?})", figures.len());
    audit::record(&mut tx, now, &Event { actor, unit: None, action: "unit.demo_seed", target: "synthetic", outcome: Outcome::Ok, detail: &detail }).await?;
    tx.commit().await?;
    Ok(true)
}

fn cell(parent: &UnitCode, n: i64, name: &str, kind: UnitKind) -> AppResult<NewUnit> {
    let code = UnitCode::parse(&format!("{parent}{n:03}")).map_err(platform::AppError::internal)?;
    Ok(NewUnit { code, name: name.to_owned(), kind, parent: Some(parent.clone()), valid_from: None, synthetic: true })
}
