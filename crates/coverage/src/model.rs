//! 生活圈规则 as data, and the pure arithmetic of coverage: which buildings a rule covers, how a
//! unit's share rolls up, and whether a unit counts as covered.

use std::collections::HashMap;

use serde::Serialize;

/// The shipped rules; an admin edits the copy in the database.
pub const RULES_CSV: &str = include_str!("../../../data/life-circles.csv");

/// Travel mode of a rule (walknet's profiles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Mode {
    Walk,
    Bicycle,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Walk, Mode::Bicycle];
    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim() {
            "walk" | "步行" => Some(Mode::Walk),
            "bicycle" | "骑行" => Some(Mode::Bicycle),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Walk => "walk",
            Mode::Bicycle => "bicycle",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Mode::Walk => "步行",
            Mode::Bicycle => "骑行",
        }
    }
    pub fn profile(self) -> walknet::Profile {
        match self {
            Mode::Walk => walknet::Profile::Walk,
            Mode::Bicycle => walknet::Profile::Bicycle,
        }
    }
    pub fn speed_m_per_min(self) -> f64 {
        self.profile().speed_m_per_min()
    }
}

/// Which units a rule measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AppliesTo {
    /// 城市社区
    Communities,
    /// 农村（村）
    Villages,
    /// 产业园区社区: communities an administrator marked on the unit page (geography).
    Industrial,
    /// 全部
    All,
}

impl AppliesTo {
    pub fn parse(s: &str) -> Option<AppliesTo> {
        match s.trim() {
            "communities" => Some(AppliesTo::Communities),
            "villages" => Some(AppliesTo::Villages),
            "industrial" => Some(AppliesTo::Industrial),
            "all" => Some(AppliesTo::All),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AppliesTo::Communities => "communities",
            AppliesTo::Villages => "villages",
            AppliesTo::Industrial => "industrial",
            AppliesTo::All => "all",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            AppliesTo::Communities => "城市社区",
            AppliesTo::Villages => "农村",
            AppliesTo::Industrial => "产业园区社区",
            AppliesTo::All => "全部",
        }
    }
    /// Whether a unit of this kind label (社区 / 村), marked as an industrial park or not, is
    /// measured.
    pub fn includes(self, unit_kind: &str, park: bool) -> bool {
        match self {
            AppliesTo::Communities => unit_kind == "社区",
            AppliesTo::Industrial => unit_kind == "社区" && park,
            AppliesTo::Villages => unit_kind == "村",
            AppliesTo::All => true,
        }
    }
}

/// What a rule's indicator counts: residents covered ÷ residents, units whose share of
/// residents covered reaches `unit_share_pct` ÷ units, or a service radius: the largest network
/// distance from a reachable building to its nearest facility (T18, km; the rule's distance is
/// the standard, the search goes [`RADIUS_SEARCH_FACTOR`] times as far).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Counts {
    Residents,
    Units,
    Radius,
}

/// A radius rule searches this many times its standard distance (at most 50 km), so a radius
/// beyond the standard is measured, not cut off; buildings with no facility even that far are
/// counted apart (「搜索范围内不可达」).
pub const RADIUS_SEARCH_FACTOR: u32 = 4;

impl Counts {
    pub fn parse(s: &str) -> Option<Counts> {
        match s.trim() {
            "residents" => Some(Counts::Residents),
            "units" => Some(Counts::Units),
            "radius" => Some(Counts::Radius),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Counts::Residents => "residents",
            Counts::Units => "units",
            Counts::Radius => "radius",
        }
    }
}

/// One life-circle rule. Distances are stored in metres; minutes are shown with the profile's
/// speed, never the other way round (the standard states walking distance).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub mode: Mode,
    pub metres: u32,
    pub categories: Vec<String>,
    /// `true`: every category within the distance (a complete circle); `false`: any of them.
    pub all: bool,
    pub applies_to: AppliesTo,
    /// Plan target id (T10 …) or empty.
    pub indicator: String,
    pub counts: Counts,
    pub unit_share_pct: u32,
    pub note: String,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("第 {row} 行：{field}“{value}”无效")]
    Field { row: usize, field: &'static str, value: String },
    #[error("第 {row} 行：距离（米）和时间（分钟）须填且只填一项")]
    Distance { row: usize },
    #[error("第 {row} 行：规则编号“{id}”重复")]
    Duplicate { row: usize, id: String },
    #[error("规则文件格式有误：{0}")]
    Csv(String),
}

impl RuleError {
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::Field { .. } => "coverage.rule_field",
            RuleError::Distance { .. } => "coverage.rule_distance",
            RuleError::Duplicate { .. } => "coverage.rule_duplicate",
            RuleError::Csv(_) => "coverage.rule_csv",
        }
    }
}

/// Raw fields of a rule as typed on the admin page or read from the CSV.
#[derive(Clone, Debug, Default)]
pub struct RuleInput {
    pub id: String,
    pub name: String,
    pub profile: String,
    pub metres: String,
    pub minutes: String,
    pub categories: String,
    pub match_mode: String,
    pub applies_to: String,
    pub indicator: String,
    pub counts: String,
    pub unit_share_pct: String,
    pub note: String,
}

impl Rule {
    pub fn parse(row: usize, r: &RuleInput) -> Result<Rule, RuleError> {
        let bad = |field: &'static str, value: &str| RuleError::Field { row, field, value: value.to_owned() };
        let id = r.id.trim();
        if id.is_empty() || id.len() > 20 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("规则编号", id));
        }
        let name = r.name.trim();
        if name.is_empty() || name.chars().count() > 40 {
            return Err(bad("名称", name));
        }
        let mode = Mode::parse(&r.profile).ok_or_else(|| bad("出行方式", &r.profile))?;
        let metres = match (r.metres.trim(), r.minutes.trim()) {
            (m, "") if !m.is_empty() => m.parse::<u32>().ok().filter(|m| (1..=50_000).contains(m)).ok_or_else(|| bad("距离（米）", m))?,
            ("", min) if !min.is_empty() => {
                let min = min.parse::<u32>().ok().filter(|m| (1..=240).contains(m)).ok_or_else(|| bad("时间（分钟）", min))?;
                (f64::from(min) * mode.speed_m_per_min()).round() as u32
            }
            _ => return Err(RuleError::Distance { row }),
        };
        let categories: Vec<String> = r.categories.split(['|', '、', ',', '，']).map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect();
        if categories.is_empty() {
            return Err(bad("设施类别", &r.categories));
        }
        for c in &categories {
            if !registry::model::FACILITY_CATEGORIES.contains(&c.as_str()) {
                return Err(bad("设施类别", c));
            }
        }
        let all = match r.match_mode.trim() {
            "all" | "全部" => true,
            "any" | "任一" => false,
            other => return Err(bad("判定方式", other)),
        };
        let applies_to = AppliesTo::parse(&r.applies_to).ok_or_else(|| bad("适用对象", &r.applies_to))?;
        let indicator = r.indicator.trim();
        if !(indicator.is_empty() || (indicator.len() == 3 && indicator.starts_with('T') && indicator[1..].chars().all(|c| c.is_ascii_digit()))) {
            return Err(bad("对应指标", indicator));
        }
        let counts = Counts::parse(&r.counts).ok_or_else(|| bad("计数方式", &r.counts))?;
        let unit_share_pct =
            r.unit_share_pct.trim().parse::<u32>().ok().filter(|p| (1..=100).contains(p)).ok_or_else(|| bad("单位覆盖阈值（%）", &r.unit_share_pct))?;
        Ok(Rule {
            id: id.to_owned(),
            name: name.to_owned(),
            mode,
            metres,
            categories,
            all,
            applies_to,
            indicator: indicator.to_owned(),
            counts,
            unit_share_pct,
            note: r.note.trim().to_owned(),
        })
    }

    /// How far the search for this rule's categories goes: the rule's distance, or for a radius
    /// rule [`RADIUS_SEARCH_FACTOR`] times it (at most 50 km).
    pub fn search_m(&self) -> u32 {
        match self.counts {
            Counts::Radius => self.metres.saturating_mul(RADIUS_SEARCH_FACTOR).clamp(self.metres, 50_000),
            _ => self.metres,
        }
    }

    /// The distance at which a building with these distances has this rule's facilities: the
    /// nearest of them (`any`) or the farthest needed one (`all`); None when not within the search.
    pub fn nearest(&self, distances: &HashMap<String, u32>) -> Option<u32> {
        let mut ds = self.categories.iter().map(|c| distances.get(c).copied());
        if self.all { ds.try_fold(0u32, |m, d| d.map(|d| m.max(d))) } else { ds.flatten().min() }
    }

    /// Minutes at the profile's speed, for display.
    pub fn minutes(&self) -> f64 {
        f64::from(self.metres) / self.mode.speed_m_per_min()
    }

    /// Whether a building with these distances (metres to the nearest facility per category,
    /// absent = none within the search bound) is inside this circle.
    pub fn covers(&self, distances: &HashMap<String, u32>) -> bool {
        let within = |c: &String| distances.get(c).is_some_and(|d| *d <= self.metres);
        if self.all { self.categories.iter().all(within) } else { self.categories.iter().any(within) }
    }

    pub fn categories_text(&self) -> String {
        self.categories.join("|")
    }
}

/// Parses the rule file (UTF-8, header row as in `data/life-circles.csv`).
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, RuleError> {
    let mut rd = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let mut out: Vec<Rule> = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| RuleError::Csv(e.to_string()))?;
        let f = |k: usize| rec.get(k).unwrap_or("").to_owned();
        let input = RuleInput {
            id: f(0),
            name: f(1),
            profile: f(2),
            metres: f(3),
            minutes: f(4),
            categories: f(5),
            match_mode: f(6),
            applies_to: f(7),
            indicator: f(8),
            counts: f(9),
            unit_share_pct: f(10),
            note: f(11),
        };
        let rule = Rule::parse(i + 2, &input)?;
        if out.iter().any(|r| r.id == rule.id) {
            return Err(RuleError::Duplicate { row: i + 2, id: rule.id });
        }
        out.push(rule);
    }
    Ok(out)
}

/// The search bound per category for one profile: the largest distance of any rule of that
/// profile naming the category (one bounded search per category answers every rule).
pub fn bounds(rules: &[Rule], mode: Mode) -> Vec<(String, u32)> {
    let mut m: Vec<(String, u32)> = Vec::new();
    for r in rules.iter().filter(|r| r.mode == mode) {
        for c in &r.categories {
            match m.iter_mut().find(|(k, _)| k == c) {
                Some((_, b)) => *b = (*b).max(r.search_m()),
                None => m.push((c.clone(), r.search_m())),
            }
        }
    }
    m
}

/// A unit's coverage under one rule. Buildings that could not be snapped to the network count in
/// the total and as not covered: a gap is never hidden by dropping it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub buildings: i64,
    pub buildings_covered: i64,
    /// Buildings that could not be snapped to the network.
    pub unreachable: i64,
    pub residents: i64,
    pub residents_covered: i64,
    /// Snapped buildings with none of the rule's facilities within the search distance.
    pub beyond: i64,
    /// The largest distance from a building that has the rule's facilities within the search
    /// distance to them (see [`Rule::nearest`]), metres: the service radius.
    pub max_distance_m: Option<i64>,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.buildings += o.buildings;
        self.buildings_covered += o.buildings_covered;
        self.unreachable += o.unreachable;
        self.residents += o.residents;
        self.residents_covered += o.residents_covered;
        self.beyond += o.beyond;
        self.max_distance_m = self.max_distance_m.max(o.max_distance_m);
    }
    /// Share of residents covered, percent, or `None` when nobody lives here.
    pub fn share_pct(&self) -> Option<f64> {
        (self.residents > 0).then(|| self.residents_covered as f64 * 100.0 / self.residents as f64)
    }
    /// Whether a unit counts as covered (its residents' share reaches the threshold).
    pub fn unit_covered(&self, threshold_pct: u32) -> bool {
        // Integer comparison: covered × 100 ≥ threshold × residents, no rounding at the edge.
        self.residents > 0 && self.residents_covered * 100 >= i64::from(threshold_pct) * self.residents
    }
}

/// Spreads a unit's households and residents over `n` buildings as evenly as integers allow
/// (the first buildings take the remainder), so the sums are exact.
pub fn spread(total: i64, n: usize) -> Vec<i64> {
    if n == 0 {
        return Vec::new();
    }
    let (q, r) = (total / n as i64, total % n as i64);
    (0..n as i64).map(|i| q + i64::from(i < r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(metres: &str, minutes: &str) -> RuleInput {
        RuleInput {
            id: "X1".into(),
            name: "测试".into(),
            profile: "bicycle".into(),
            metres: metres.into(),
            minutes: minutes.into(),
            categories: "托育|幼儿园".into(),
            match_mode: "any".into(),
            applies_to: "villages".into(),
            indicator: "T17".into(),
            counts: "residents".into(),
            unit_share_pct: "80".into(),
            note: String::new(),
        }
    }

    #[test]
    fn shipped_rules_parse_and_feed_the_plan_targets() {
        let rules = parse_rules(RULES_CSV).expect("shipped rules");
        let ids: Vec<&str> = rules.iter().map(|r| r.indicator.as_str()).filter(|i| !i.is_empty()).collect();
        assert_eq!(ids, ["T10", "T18", "T45", "T17", "T27", "T28", "T52"]);
        let complex = rules.iter().find(|r| r.indicator == "T18").expect("T18");
        assert_eq!((complex.metres, complex.search_m(), complex.counts), (1500, 6000, Counts::Radius));
        let rural = rules.iter().find(|r| r.id == "RURAL15").expect("rural");
        // 15 minutes by bicycle at 200 m/min.
        assert_eq!((rural.mode, rural.metres), (Mode::Bicycle, 3000));
        assert_eq!(rules.iter().find(|r| r.id == "LC5").map(|r| r.metres), Some(300));
        assert_eq!(rules.iter().find(|r| r.id == "TENLI").map(|r| r.metres), Some(5000));
    }

    #[test]
    fn minutes_become_metres_and_bad_fields_name_the_row() {
        assert_eq!(Rule::parse(2, &input("", "15")).map(|r| r.metres), Ok(3000));
        assert_eq!(Rule::parse(2, &input("1500", "")).map(|r| r.metres), Ok(1500));
        assert_eq!(Rule::parse(3, &input("1500", "15")), Err(RuleError::Distance { row: 3 }));
        assert_eq!(Rule::parse(3, &input("", "")), Err(RuleError::Distance { row: 3 }));
        let mut i = input("500", "");
        i.categories = "托育|网吧".into();
        let e = Rule::parse(4, &i).expect_err("unknown category");
        assert_eq!(e.code(), "coverage.rule_field");
        assert!(e.to_string().contains("第 4 行") && e.to_string().contains("网吧"), "{e}");
        let dup = format!("{}LC5,又一个,walk,300,,托育,any,all,,residents,90,\n", RULES_CSV);
        assert_eq!(parse_rules(&dup).map_err(|e| e.code()), Err("coverage.rule_duplicate"));
    }

    #[test]
    fn all_needs_every_category_any_needs_one() {
        let mut r = Rule::parse(2, &input("500", "")).expect("rule");
        let d: HashMap<String, u32> = [("托育".to_owned(), 400)].into_iter().collect();
        assert!(r.covers(&d));
        r.all = true;
        assert!(!r.covers(&d), "幼儿园 missing");
        let d2: HashMap<String, u32> = [("托育".to_owned(), 400), ("幼儿园".to_owned(), 501)].into_iter().collect();
        assert!(!r.covers(&d2), "501 m is outside 500 m");
        let d3: HashMap<String, u32> = [("托育".to_owned(), 400), ("幼儿园".to_owned(), 500)].into_iter().collect();
        assert!(r.covers(&d3), "500 m is inside");
        assert_eq!((r.nearest(&d), r.nearest(&d3)), (None, Some(500)), "all: the farthest needed");
        r.all = false;
        assert_eq!((r.nearest(&d), r.nearest(&d3), r.nearest(&HashMap::new())), (Some(400), Some(400), None), "any: the nearest");
    }

    #[test]
    fn bounds_take_the_largest_distance_per_category() {
        let rules = parse_rules(RULES_CSV).expect("rules");
        let walk = bounds(&rules, Mode::Walk);
        assert_eq!(walk.iter().find(|(c, _)| c == "文化活动").map(|x| x.1), Some(5000));
        assert_eq!(walk.iter().find(|(c, _)| c == "幼儿园").map(|x| x.1), Some(500));
        let bike = bounds(&rules, Mode::Bicycle);
        assert_eq!(bike.iter().find(|(c, _)| c == "法律服务").map(|x| x.1), Some(12000));
        assert!(bike.iter().all(|(c, _)| c != "幼儿园"));
    }

    #[test]
    fn unit_threshold_is_exact_and_spread_sums() {
        let t = Tally { buildings: 10, buildings_covered: 9, unreachable: 1, residents: 1000, residents_covered: 900, ..Tally::default() };
        assert!(t.unit_covered(90) && !t.unit_covered(91));
        assert!(!Tally::default().unit_covered(1), "an empty unit is not covered");
        let s = spread(1003, 4);
        assert_eq!((s.iter().sum::<i64>(), s), (1003, vec![251, 251, 251, 250]));
    }
}

// ---------------------------------------------------------------------------------------------
// 设施配置达标: facility standards per community, from the registers

/// Categories whose floor area counts as community public service facility area (T11). The same
/// list the indicators slice sums for T02/T11; an integration test holds the two together.
pub const SERVICE_CATEGORIES: [&str; 11] =
    ["党群服务中心", "综合服务站", "养老服务", "托育", "卫生服务站", "文化活动", "社工站", "志愿服务站", "法律服务", "体育健身", "便民服务"];

/// A village's or community's figures from the registers and the population table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FacilityInputs {
    pub households: i64,
    pub residents: i64,
    /// Σ floor area of service facilities, dm².
    pub service_area_dm2: i64,
    /// Σ floor area of the 党群服务中心 and 综合服务站, dm² (the service centre, T47).
    pub centre_area_dm2: i64,
    /// Σ 托育 places.
    pub childcare_places: i64,
    /// The scale standard's verdict and its text, when the unit has a community kind.
    pub scale: Option<(String, Option<bool>)>,
}

/// One check: pass (`Some(true)`), fail, or no data (`None`, with the reason as `value`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub target: &'static str,
    pub name: &'static str,
    pub standard: &'static str,
    pub value: String,
    pub pass: Option<bool>,
}

impl Check {
    pub fn verdict(&self) -> &'static str {
        match self.pass {
            Some(true) => "达标",
            Some(false) => "未达标",
            None => "无数据",
        }
    }
    pub fn class(&self) -> &'static str {
        match self.pass {
            Some(true) => "ok",
            Some(false) => "warn",
            None => "",
        }
    }
}

/// The plan's facility standards for one unit, each with the numbers behind it. Integer
/// comparisons, so a value exactly at the line passes.
pub fn facility_checks(i: &FacilityInputs) -> Vec<Check> {
    let m2 = |dm2: i64| dm2 as f64 / 100.0;
    let mut out = Vec::new();
    out.push(Check {
        target: "T11",
        name: "每百户公共服务设施面积",
        standard: "≥ 30 平方米/百户",
        value: if i.households > 0 {
            format!(
                "{:.1} 平方米/百户（{:.0} 平方米 ÷ {} 户 × 100）",
                m2(i.service_area_dm2) * 100.0 / i.households as f64,
                m2(i.service_area_dm2),
                i.households
            )
        } else {
            "无户数".into()
        },
        // area_m2 / (hh / 100) ≥ 30  ⇔  area_dm2 ≥ 30 × hh
        pass: (i.households > 0).then(|| i.service_area_dm2 >= 30 * i.households),
    });
    out.push(Check {
        target: "T47",
        name: "社区服务中心面积",
        standard: "≥ 300 平方米",
        value: format!("{:.0} 平方米（党群服务中心及综合服务站）", m2(i.centre_area_dm2)),
        pass: Some(i.centre_area_dm2 >= 30_000),
    });
    out.push(Check {
        target: "T42",
        name: "每千人普惠托育托位",
        standard: "≥ 3 个/千人",
        value: if i.residents > 0 {
            format!("{:.2} 个/千人（{} 个 ÷ {} 人 × 1000）", i.childcare_places as f64 * 1000.0 / i.residents as f64, i.childcare_places, i.residents)
        } else {
            "无人口".into()
        },
        pass: (i.residents > 0).then(|| i.childcare_places * 1000 >= 3 * i.residents),
    });
    out.push(Check {
        target: "T43",
        name: "新建小区养老服务设施人均用地",
        standard: "≥ 0.1 平方米/人",
        value: "台账未登记设施用地面积与所属小区".into(),
        pass: None,
    });
    out.push(Check {
        target: "T48", name: "新建小区配建（2000 户以下）", standard: "≥ 600 平方米", value: "设施尚未关联到小区".into(), pass: None
    });
    out.push(Check {
        target: "T49", name: "新建小区配建（2000 户及以上）", standard: "≥ 1000 平方米", value: "设施尚未关联到小区".into(), pass: None
    });
    out.push(match &i.scale {
        Some((text, pass)) => Check {
            target: "",
            name: "社区规模",
            standard: "按社区类型的户数与人口范围",
            value: format!("{} 户、{} 人；{text}", i.households, i.residents),
            pass: *pass,
        },
        None => {
            Check { target: "", name: "社区规模", standard: "按社区类型的户数与人口范围", value: "未标注社区类型".into(), pass: None }
        }
    });
    out
}

#[cfg(test)]
mod facility_tests {
    use super::*;

    #[test]
    fn checks_pass_exactly_at_the_line_and_say_when_data_is_missing() {
        let i = FacilityInputs { households: 1000, residents: 3000, service_area_dm2: 30_000, centre_area_dm2: 30_000, childcare_places: 9, scale: None };
        let c = facility_checks(&i);
        assert_eq!(c[0].pass, Some(true), "300 m² for 1000 households is exactly 30 m² per 100");
        assert!(c[0].value.starts_with("30.0 平方米/百户"), "{}", c[0].value);
        assert_eq!(c[1].pass, Some(true));
        assert_eq!(c[2].pass, Some(true), "9 places for 3000 residents is exactly 3 per 1000");
        let less = FacilityInputs { service_area_dm2: 29_999, centre_area_dm2: 29_999, childcare_places: 8, ..i.clone() };
        let c = facility_checks(&less);
        assert_eq!((c[0].pass, c[1].pass, c[2].pass), (Some(false), Some(false), Some(false)));
        assert_eq!(c[3].pass, None);
        assert_eq!(c[6].verdict(), "无数据");
        let empty = facility_checks(&FacilityInputs::default());
        assert_eq!((empty[0].pass, empty[2].pass), (None, None), "no households, no verdict");
    }
}

// ---------------------------------------------------------------------------------------------
// 住宅楼导入: residential buildings with coordinates (the house register has none)

/// Columns of the building import: (header, required, help).
pub const BUILDING_COLUMNS: [(&str, bool, &str); 7] = [
    ("村（社区）代码", true, "12 位区划代码"),
    ("名称或地址", true, "如 电江路 12 号 3 栋"),
    ("经度", true, "度，WGS-84（如 105.5927）"),
    ("纬度", true, "度，WGS-84（如 30.5329）"),
    ("户数", true, "整数"),
    ("人口", true, "整数"),
    ("坐标系", false, "wgs84（默认）或 gcj02（高德、腾讯地图取点）"),
];

/// One import row checked: (unit code, name, lon, lat, households, residents), WGS-84.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildingRow {
    pub unit_code: String,
    pub name: String,
    pub lon: f64,
    pub lat: f64,
    pub households: i64,
    pub residents: i64,
}

/// A row's problem, with the field as the user named it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowError {
    pub row: usize,
    pub field: String,
    pub message: String,
}

/// Checks the fields of one row (the unit's existence and scope are checked by the caller).
/// `cells` are in [`BUILDING_COLUMNS`] order.
pub fn parse_building(row: usize, cells: &[String]) -> Result<BuildingRow, Vec<RowError>> {
    let get = |i: usize| cells.get(i).map(|s| s.trim()).unwrap_or("");
    let mut errs = Vec::new();
    let mut err = |i: usize, m: &str| errs.push(RowError { row, field: BUILDING_COLUMNS[i].0.to_owned(), message: m.to_owned() });
    let unit = get(0);
    if unit.len() != 12 || !unit.chars().all(|c| c.is_ascii_digit()) {
        err(0, "应为 12 位村（社区）代码");
    }
    let name = get(1);
    if name.is_empty() || name.chars().count() > 60 {
        err(1, "不能为空，且不超过 60 字");
    }
    let lon = get(2).parse::<f64>().ok().filter(|v| (73.0..=136.0).contains(v));
    if lon.is_none() {
        err(2, "应为中国境内的经度（73–136）");
    }
    let lat = get(3).parse::<f64>().ok().filter(|v| (3.0..=54.0).contains(v));
    if lat.is_none() {
        err(3, "应为中国境内的纬度（3–54）");
    }
    let count = |s: &str| s.parse::<i64>().ok().filter(|v| (0..=100_000).contains(v));
    let households = count(get(4));
    if households.is_none() {
        err(4, "应为 0–100000 的整数");
    }
    let residents = count(get(5));
    if residents.is_none() {
        err(5, "应为 0–100000 的整数");
    }
    let gcj = match get(6).to_ascii_lowercase().as_str() {
        "" | "wgs84" | "wgs-84" => false,
        "gcj02" | "gcj-02" => true,
        _ => {
            err(6, "只能是 wgs84 或 gcj02");
            false
        }
    };
    match (lon, lat, households, residents) {
        (Some(lon), Some(lat), Some(households), Some(residents)) if errs.is_empty() => {
            let (lon, lat) = if gcj { geography::geo::gcj02_to_wgs84(lon, lat) } else { (lon, lat) };
            Ok(BuildingRow { unit_code: unit.to_owned(), name: name.to_owned(), lon, lat, households, residents })
        }
        _ => Err(errs),
    }
}

pub fn building_template_csv() -> String {
    let mut s = String::from("\u{feff}");
    s.push_str(&BUILDING_COLUMNS.iter().map(|c| c.0).collect::<Vec<_>>().join(","));
    s.push_str("\r\n510903001001,电江路12号3栋,105.5927,30.5329,48,136,wgs84\r\n");
    s
}

#[cfg(test)]
mod building_tests {
    use super::*;

    fn cells(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rows_are_checked_field_by_field_and_gcj02_is_converted() {
        let ok = parse_building(2, &cells(&["510903001001", "3 栋", "105.5927", "30.5329", "48", "136", ""])).expect("ok");
        assert_eq!((ok.households, ok.residents, ok.lon), (48, 136, 105.5927));
        let gcj = parse_building(2, &cells(&["510903001001", "3 栋", "105.5927", "30.5329", "48", "136", "gcj02"])).expect("ok");
        assert!((gcj.lon - 105.5927).abs() > 1e-4, "moved from GCJ-02 to WGS-84");
        let e = parse_building(7, &cells(&["5109", "", "200", "x", "-1", "12", "bd09"])).expect_err("bad");
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["村（社区）代码", "名称或地址", "经度", "纬度", "户数", "坐标系"]);
        assert!(e.iter().all(|e| e.row == 7));
    }
}

// ---------------------------------------------------------------------------------------------
// 等时圈: isochrone polygons kept small enough to store and draw

/// The most vertices one facility's isochrone at one tier keeps (all rings together).
pub const ISOCHRONE_MAX_VERTICES: usize = 400;

/// A polygon in `[lon, lat]`: the exterior ring first, then holes (walknet's order).
pub type Rings = Vec<Vec<[f64; 2]>>;

/// Holes smaller than this (m²) are filled: the inside of a street block is reached from the
/// streets around it, so a block is not a gap in the circle (a 200 m block leaves a hole of about
/// 1.5 ha between the 40 m buffers; a park or a river the streets go round stays a hole).
pub const ISOCHRONE_MIN_HOLE_M2: f64 = 50_000.0;

/// Area of a ring in m² (shoelace on an equirectangular projection at the ring's latitude).
pub fn ring_area_m2(ring: &[[f64; 2]]) -> f64 {
    if ring.len() < 3 {
        return 0.0;
    }
    let lat0 = ring.iter().map(|p| p[1]).sum::<f64>() / ring.len() as f64;
    let (kx, ky) = (111_320.0 * lat0.to_radians().cos(), 110_540.0);
    let mut a = 0.0;
    for i in 0..ring.len() {
        let (p, q) = (ring[i], ring[(i + 1) % ring.len()]);
        a += p[0] * kx * q[1] * ky - q[0] * kx * p[1] * ky;
    }
    (a / 2.0).abs()
}

/// Douglas–Peucker on one closed ring (first point = last point or not), tolerance in metres,
/// with x scaled by cos(latitude). Keeps at least 4 points (a triangle, closed) when it can.
pub fn simplify_ring(ring: &[[f64; 2]], tol_m: f64) -> Vec<[f64; 2]> {
    let mut pts: Vec<[f64; 2]> = ring.to_vec();
    if pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    if pts.len() < 4 {
        let mut out = pts;
        if let Some(f) = out.first().copied() {
            out.push(f);
        }
        return out;
    }
    let lat0 = pts.iter().map(|p| p[1]).sum::<f64>() / pts.len() as f64;
    let (kx, ky) = (111_320.0 * lat0.to_radians().cos(), 110_540.0);
    let xy: Vec<[f64; 2]> = pts.iter().map(|p| [p[0] * kx, p[1] * ky]).collect();
    // Split the closed ring at its first point and the point farthest from it.
    let far = (1..xy.len()).max_by(|&a, &b| d2(xy[0], xy[a]).total_cmp(&d2(xy[0], xy[b]))).unwrap_or(1);
    let mut keep = vec![false; xy.len()];
    keep[0] = true;
    keep[far] = true;
    dp(&xy, 0, far, tol_m * tol_m, &mut keep);
    let mut idx: Vec<usize> = (far..xy.len()).collect();
    idx.push(0);
    let tail: Vec<[f64; 2]> = idx.iter().map(|&i| xy[i]).collect();
    let mut keep_tail = vec![false; tail.len()];
    dp(&tail, 0, tail.len() - 1, tol_m * tol_m, &mut keep_tail);
    for (k, &i) in idx.iter().enumerate() {
        keep[i] |= keep_tail[k];
    }
    let mut out: Vec<[f64; 2]> = pts.iter().zip(&keep).filter(|(_, k)| **k).map(|(p, _)| *p).collect();
    if out.len() < 3 {
        // Degenerate after simplifying: keep the original ring's first three points.
        out = pts[..3].to_vec();
    }
    out.push(out[0]);
    out
}

fn d2(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

fn seg_d2(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let l2 = dx * dx + dy * dy;
    let t = if l2 > 0.0 { (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2).clamp(0.0, 1.0) } else { 0.0 };
    d2(p, [a[0] + t * dx, a[1] + t * dy])
}

fn dp(xy: &[[f64; 2]], i: usize, j: usize, tol2: f64, keep: &mut [bool]) {
    // Iterative, so a ring of many thousand points cannot overflow the stack.
    let mut stack = vec![(i, j)];
    while let Some((i, j)) = stack.pop() {
        if j <= i + 1 {
            continue;
        }
        let (mut best, mut at) = (0.0, i);
        for k in i + 1..j {
            let d = seg_d2(xy[k], xy[i], xy[j]);
            if d > best {
                best = d;
                at = k;
            }
        }
        if best > tol2 {
            keep[at] = true;
            stack.push((i, at));
            stack.push((at, j));
        }
    }
}

/// Simplifies polygons until all their rings together have at most `max_vertices` points: the
/// tolerance starts at `tol_m` and grows by half each round; holes and islands that shrink to
/// nothing are dropped (smallest first when the cap still is not met).
pub fn simplify_polygons(polys: &[Rings], tol_m: f64, max_vertices: usize) -> Vec<Rings> {
    let mut tol = tol_m.max(0.1);
    loop {
        let mut out: Vec<Rings> = polys
            .iter()
            .map(|p| {
                p.iter()
                    .enumerate()
                    .filter(|(i, r)| *i == 0 || ring_area_m2(r) >= ISOCHRONE_MIN_HOLE_M2)
                    .map(|(_, r)| simplify_ring(r, tol))
                    .filter(|r| r.len() >= 4)
                    .collect::<Rings>()
            })
            .filter(|p: &Rings| !p.is_empty())
            .collect();
        let count = |o: &[Rings]| o.iter().flatten().map(Vec::len).sum::<usize>();
        if count(&out) <= max_vertices {
            return out;
        }
        if tol > 2_000.0 {
            // Still too many rings: keep the biggest polygons' exteriors until the cap.
            out.sort_by_key(|p| std::cmp::Reverse(p[0].len()));
            let mut kept = Vec::new();
            let mut n = 0;
            for p in out {
                if n + p[0].len() > max_vertices {
                    break;
                }
                n += p[0].len();
                kept.push(vec![p[0].clone()]);
            }
            return kept;
        }
        tol *= 1.5;
    }
}

/// GeoJSON MultiPolygon geometry text, 5 decimals (about 1 m).
pub fn multipolygon_json(polys: &[Rings]) -> String {
    let r = |x: f64| (x * 1e5).round() / 1e5;
    let coords: Vec<Vec<Vec<[f64; 2]>>> = polys.iter().map(|p| p.iter().map(|ring| ring.iter().map(|q| [r(q[0]), r(q[1])]).collect()).collect()).collect();
    serde_json::json!({"type": "MultiPolygon", "coordinates": coords}).to_string()
}

/// Reads back [`multipolygon_json`]; None for anything else.
pub fn parse_multipolygon(text: &str) -> Option<Vec<Rings>> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if v.get("type")?.as_str()? != "MultiPolygon" {
        return None;
    }
    serde_json::from_value(v.get("coordinates")?.clone()).ok()
}

/// Whether `[lon, lat]` is inside the polygons (even-odd over each polygon's rings).
pub fn polygons_contain(polys: &[Rings], p: [f64; 2]) -> bool {
    polys.iter().any(|rings| rings.iter().filter(|r| walknet::ring_contains(r, p)).count() % 2 == 1)
}

/// The tiers a category is drawn at for one profile: the distinct distances of the rules naming
/// it, ascending (for 文化活动 on foot: 500, 1000, 5000 m).
pub fn tiers(rules: &[Rule], mode: Mode, category: &str) -> Vec<u32> {
    let mut t: Vec<u32> = rules.iter().filter(|r| r.mode == mode && r.categories.iter().any(|c| c == category)).map(|r| r.metres).collect();
    t.sort_unstable();
    t.dedup();
    t
}

#[cfg(test)]
mod isochrone_tests {
    use super::*;

    fn circle(n: usize, r_deg: f64) -> Vec<[f64; 2]> {
        let mut v: Vec<[f64; 2]> = (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                [105.6 + r_deg * a.cos(), 30.5 + r_deg * a.sin()]
            })
            .collect();
        v.push(v[0]);
        v
    }

    #[test]
    fn simplifying_caps_vertices_and_keeps_the_shape() {
        let ring = circle(2000, 0.01);
        let out = simplify_polygons(&[vec![ring.clone()]], 5.0, ISOCHRONE_MAX_VERTICES);
        let n: usize = out.iter().flatten().map(Vec::len).sum();
        assert!((8..=ISOCHRONE_MAX_VERTICES).contains(&n), "{n} vertices");
        assert!(polygons_contain(&out, [105.6, 30.5]), "the centre stays inside");
        assert!(!polygons_contain(&out, [105.62, 30.5]), "outside stays outside");
        let first = &out[0][0];
        assert_eq!(first.first(), first.last(), "rings stay closed");
        // A square with a square hole (about 400 m across): the hole is kept, the point in it is
        // outside; a block-sized hole (about 100 m) is filled.
        let sq = |c: f64, h: f64| vec![[c - h, 30.0 - h], [c + h, 30.0 - h], [c + h, 30.0 + h], [c - h, 30.0 + h], [c - h, 30.0 - h]];
        assert!((ring_area_m2(&sq(105.0, 0.002)) - 0.004 * 0.004 * 111_320.0 * 30f64.to_radians().cos() * 110_540.0).abs() < 1.0);
        let block = simplify_polygons(&[vec![sq(105.0, 0.01), sq(105.0, 0.0005)]], 5.0, 100);
        assert_eq!(block[0].len(), 1, "a block-sized hole is filled");
        assert!(polygons_contain(&block, [105.0, 30.0]));
        let holed = vec![vec![sq(105.0, 0.01), sq(105.0, 0.002)]];
        let s = simplify_polygons(&holed, 5.0, 100);
        assert!(!polygons_contain(&s, [105.0, 30.0]) && polygons_contain(&s, [105.007, 30.0]));
        let back = parse_multipolygon(&multipolygon_json(&s)).expect("geojson");
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].len(), 2);
    }

    #[test]
    fn tiers_are_the_rules_distances_per_category() {
        let rules = parse_rules(RULES_CSV).expect("rules");
        assert_eq!(tiers(&rules, Mode::Walk, "文化活动"), vec![500, 1000, 5000]);
        assert_eq!(tiers(&rules, Mode::Walk, "养老服务"), vec![300, 1000]);
        assert!(tiers(&rules, Mode::Bicycle, "幼儿园").is_empty());
    }
}
