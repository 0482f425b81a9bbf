//! Indicator definitions and their rules, pure: the plan's targets (data/plan-targets.csv), the
//! formula of each over named measures, how a unit's value rolls up (numerators and denominators,
//! never averages), and the red/amber/green status against the target in force.

use platform::scope::Level;
use serde::Serialize;

pub const TARGETS_CSV: &str = include_str!("../../../data/plan-targets.csv");

/// 约束性 / 预期性 / not stated in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Attribute {
    Binding,
    Expected,
    Unstated,
}

impl Attribute {
    pub fn parse(s: &str) -> Attribute {
        match s.trim() {
            "binding" => Attribute::Binding,
            "expected" => Attribute::Expected,
            _ => Attribute::Unstated,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Attribute::Binding => "约束性",
            Attribute::Expected => "预期性",
            Attribute::Unstated => "—",
        }
    }
}

/// Whether meeting the target means reaching at least or at most its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Direction {
    AtLeast,
    AtMost,
}

/// The slice a measure comes from; a source that has not landed yet makes the indicator show
/// 暂无数据来源 instead of a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Source {
    Geography,
    Registry,
    /// 填报: entered per unit and period, reviewed by the level above.
    Reported,
    Volunteers,
    Walknet,
    /// No register in the platform holds it yet (named in the definition).
    Missing(&'static str),
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Geography => "治理单元人口数据",
            Source::Registry => "基础台账",
            Source::Reported => "填报",
            Source::Volunteers => "志愿服务",
            Source::Walknet => "路网覆盖分析（服务资源一幅地图）",
            Source::Missing(s) => s,
        }
    }
}

/// A quantity summed over the units of a subtree. Each comes from one slice's public function
/// (see `service::gather`); adding a slice's measure means one variant here and one arm there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Measure {
    /// 常住人口 (population figures of the unit tree)
    Residents,
    /// 户数 (population figures)
    Households,
    /// Households of communities divided into grids (网格化覆盖)
    GridHouseholds,
    /// One per village-level unit: the denominator of "per community" indicators
    Units,
    SocialWorkers,
    /// Community workforce other than grid workers (社区工作者、社会工作者、村（社区）干部)
    CommunityWorkforce,
    /// … of whom holding a social-work qualification
    QualifiedWorkforce,
    TwoNewOrgs,
    TwoNewOrgsCovered,
    CertifiedSocialEnterprises,
    CharityFunds,
    /// 社会组织 and 社会企业
    SocialOrgs,
    EconomicOrgs,
    /// Floor area of community public-service facilities, dm²
    ServiceAreaDm2,
    /// Floor area of the 党群服务中心 and 综合服务站, dm²
    CentreAreaDm2,
    PartyCentres,
    PartyCentresRenovated,
    SocialWorkStations,
    ElderlyCareFacilities,
    ChildcarePlaces,
    Compounds,
    /// Compounds eligible for an owners' committee (managed: not 三无)
    EligibleCompounds,
    EligibleWithCommittee,
    ManagedCompounds,
    ManagedWithParty,
    UnmanagedCompounds,
    UnmanagedWithParty,
    SmartCompounds,
    OldCompounds,
    OldSmart,
    NewCompounds,
    NewSmart,
}

impl Measure {
    pub const ALL: [Measure; 32] = [
        Measure::Residents,
        Measure::Households,
        Measure::GridHouseholds,
        Measure::Units,
        Measure::SocialWorkers,
        Measure::CommunityWorkforce,
        Measure::QualifiedWorkforce,
        Measure::TwoNewOrgs,
        Measure::TwoNewOrgsCovered,
        Measure::CertifiedSocialEnterprises,
        Measure::CharityFunds,
        Measure::SocialOrgs,
        Measure::EconomicOrgs,
        Measure::ServiceAreaDm2,
        Measure::CentreAreaDm2,
        Measure::PartyCentres,
        Measure::PartyCentresRenovated,
        Measure::SocialWorkStations,
        Measure::ElderlyCareFacilities,
        Measure::ChildcarePlaces,
        Measure::Compounds,
        Measure::EligibleCompounds,
        Measure::EligibleWithCommittee,
        Measure::ManagedCompounds,
        Measure::ManagedWithParty,
        Measure::UnmanagedCompounds,
        Measure::UnmanagedWithParty,
        Measure::SmartCompounds,
        Measure::OldCompounds,
        Measure::OldSmart,
        Measure::NewCompounds,
        Measure::NewSmart,
    ];
    pub fn index(self) -> usize {
        Measure::ALL.iter().position(|m| *m == self).unwrap_or(0)
    }
    pub fn source(self) -> Source {
        match self {
            Measure::Residents | Measure::Households | Measure::GridHouseholds | Measure::Units => Source::Geography,
            _ => Source::Registry,
        }
    }
}

pub const MEASURES: usize = Measure::ALL.len();

/// Which village-level (or township-level) units count for an indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Filter {
    All,
    /// 城市社区 (居民委员会)
    Communities,
    /// 村 (村民委员会)
    Villages,
    /// 老旧社区: communities of the traditional urban kind
    OldCommunities,
    /// 街道 (not 镇/乡)
    Streets,
}

impl Filter {
    pub fn label(self) -> &'static str {
        match self {
            Filter::All => "全部单元",
            Filter::Communities => "仅城市社区",
            Filter::Villages => "仅村",
            Filter::OldCommunities => "仅老旧社区",
            Filter::Streets => "仅街道",
        }
    }
}

/// A test a single unit passes or not, for "share of units that …" indicators.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Test {
    /// measure ≥ n
    AtLeast(Measure, i64),
    /// num × scale ÷ den ≥ min (a unit with den = 0 fails)
    RatioAtLeast { num: Measure, den: Measure, scale: f64, min: f64 },
}

impl Test {
    pub fn passes(&self, m: &[i64; MEASURES]) -> bool {
        match *self {
            Test::AtLeast(x, n) => m[x.index()] >= n,
            Test::RatioAtLeast { num, den, scale, min } => {
                let d = m[den.index()];
                d > 0 && m[num.index()] as f64 * scale / d as f64 >= min
            }
        }
    }
}

/// How a 填报 value becomes the indicator's value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum ReportedKind {
    /// numerator × scale ÷ denominator
    Ratio(f64),
    /// the numerator
    Count,
    /// (numerator − denominator) ÷ denominator × 100: growth against a base-year amount
    Growth,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Formula {
    /// Σ num × scale ÷ Σ den over the units passing the filter.
    Ratio { num: Measure, den: Measure, scale: f64, filter: Filter },
    /// Σ measure.
    Count { m: Measure, filter: Filter },
    /// Share (%) of the units at `level` passing the filter that pass the test.
    UnitShare { level: Level, filter: Filter, test: Test },
    /// The smallest `measure × scale` among the units at `level` passing the filter (a floor every
    /// unit must reach, e.g. the minimum service-centre area); rolls up as the minimum.
    MinOver { level: Level, filter: Filter, m: Measure, scale: f64 },
    /// 填报 at `level`, summed upwards.
    Reported { level: Level, kind: ReportedKind },
    /// Derived from the amounts villages report under indicator `item` (村集体经济收入): among the
    /// villages with an approved report, the share (`share`) or the number of those whose amount
    /// passes the threshold (≥ `min` when `inclusive`, else > `min`). Villages that have not
    /// reported are left out, not counted as failing.
    ReportedUnits { item: &'static str, min: i64, inclusive: bool, share: bool },
    /// A value another slice computes per unit through its own public function (numerator and
    /// denominator for one subtree), × scale.
    External { measure: External, scale: f64 },
    /// No slice measures it yet.
    NoSource(Source),
}

/// Per-unit rates other slices publish; each names its function in `service::external`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum External {
    /// `volunteers::service::registration_rate`: active registered volunteers ÷ residents
    VolunteerRegistration,
    /// `volunteers::service::station_coverage`: townships and streets with a volunteer service
    /// station anywhere in them ÷ all of them (below a township: the unit itself, 1 of 1 or 0 of 1)
    VolunteerStations,
    /// `coverage::service::indicator`: the life-circle rule feeding this target (by its id, e.g.
    /// "T10"), computed from the stored analysis: residents covered ÷ residents, or units whose
    /// residents' share reaches the rule's threshold ÷ units with residents; for T18 the largest
    /// service radius (metres ÷ 1000). No unit the rule applies to (T45 without a marked
    /// industrial-park community) comes back with no denominator and shows [`no_units_text`].
    Coverage(&'static str),
}

impl External {
    pub fn source(self) -> Source {
        match self {
            External::Coverage(_) => Source::Walknet,
            _ => Source::Volunteers,
        }
    }
}

impl Formula {
    pub fn source(&self) -> Source {
        match self {
            Formula::Ratio { num, den, .. } => {
                if num.source() == Source::Registry || den.source() == Source::Registry {
                    Source::Registry
                } else {
                    Source::Geography
                }
            }
            Formula::Count { m, .. } => m.source(),
            Formula::UnitShare { .. } | Formula::MinOver { .. } => Source::Registry,
            Formula::Reported { .. } | Formula::ReportedUnits { .. } => Source::Reported,
            Formula::External { measure, .. } => measure.source(),
            Formula::NoSource(s) => *s,
        }
    }
    /// The finest level at which a value exists.
    pub fn finest_level(&self) -> Level {
        match self {
            Formula::UnitShare { level, .. } | Formula::MinOver { level, .. } | Formula::Reported { level, .. } => *level,
            Formula::ReportedUnits { share: true, .. } => Level::Village,
            Formula::ReportedUnits { share: false, .. } => Level::County,
            _ => Level::Village,
        }
    }
    pub fn has_source(&self) -> bool {
        !matches!(self, Formula::NoSource(_))
    }
    /// A human description of the formula, shown beside the indicator.
    pub fn describe(&self) -> String {
        match self {
            Formula::Ratio { num, den, scale, filter } => format!("Σ{} ÷ Σ{} × {}（{}）", measure_label(*num), measure_label(*den), scale, filter.label()),
            Formula::Count { m, filter } => format!("Σ{}（{}）", measure_label(*m), filter.label()),
            Formula::UnitShare { level, filter, test } => {
                let t = match test {
                    Test::AtLeast(m, n) => format!("{} ≥ {}", measure_label(*m), n),
                    Test::RatioAtLeast { num, den, scale, min } => format!("{} ÷ {} × {} ≥ {}", measure_label(*num), measure_label(*den), scale, min),
                };
                format!("满足「{t}」的{}占比（{}）", level.label(), filter.label())
            }
            Formula::ReportedUnits { item, min, inclusive, share } => format!(
                "各村填报的集体经济收入（{item}）{}{} 元的村{}（仅计已审核填报的村）",
                if *inclusive { "≥ " } else { "> " },
                min,
                if *share { "占已填报村的比例" } else { "个数" }
            ),
            Formula::MinOver { level, filter, m, .. } => format!("各{}中{}的最小值（{}）", level.label(), measure_label(*m), filter.label()),
            Formula::Reported { level, kind } => format!(
                "{}填报，{}",
                level.label(),
                match kind {
                    ReportedKind::Ratio(s) => format!("Σ分子 ÷ Σ分母 × {s}"),
                    ReportedKind::Count => "Σ数值".to_owned(),
                    ReportedKind::Growth => "（本期 − 基期）÷ 基期 × 100".to_owned(),
                }
            ),
            Formula::External { measure, scale } => format!(
                "{}（{}计算，× {scale}）",
                match measure {
                    External::VolunteerRegistration => "在册志愿者 ÷ 常住人口",
                    External::VolunteerStations => "有志愿服务站的乡镇（街道）÷ 全部乡镇（街道）",
                    External::Coverage("T10" | "T27" | "T28") => "生活圈内居民达标的村（社区）÷ 有住宅楼数据的村（社区）（沿路网计算）",
                    External::Coverage("T18") =>
                        "各城市社区住宅楼到最近社区综合体（党群服务中心）的路网距离，取最大值，米 ÷ 1000；上级单位取下辖社区的最大值；不可达楼栋另计（见覆盖统计表）",
                    External::Coverage("T45") => "产业园区社区中托育或幼儿园 500 米内居民 ÷ 居民（沿路网计算；只计标记为产业园区社区的社区）",
                    External::Coverage(_) => "生活圈内居民 ÷ 居民（沿路网计算）",
                },
                measure.source().label()
            ),
            Formula::NoSource(s) => format!("暂无数据来源：{}", s.label()),
        }
    }
}

pub fn measure_label(m: Measure) -> &'static str {
    match m {
        Measure::Residents => "常住人口",
        Measure::Households => "户数",
        Measure::GridHouseholds => "网格化社区户数",
        Measure::Units => "村（社区）数",
        Measure::SocialWorkers => "专业社会工作者",
        Measure::CommunityWorkforce => "社区工作者（不含网格员）",
        Measure::QualifiedWorkforce => "持社工证社区工作者",
        Measure::TwoNewOrgs => "两新组织",
        Measure::TwoNewOrgsCovered => "党的工作覆盖的两新组织",
        Measure::CertifiedSocialEnterprises => "认证社会企业",
        Measure::CharityFunds => "社区慈善（治理）基金",
        Measure::SocialOrgs => "社会组织",
        Measure::EconomicOrgs => "社区经济组织",
        Measure::ServiceAreaDm2 => "公共服务设施面积（dm²）",
        Measure::CentreAreaDm2 => "党群服务中心及综合服务站面积（dm²）",
        Measure::PartyCentres => "党群服务中心",
        Measure::PartyCentresRenovated => "亲民化改造的党群服务中心",
        Measure::SocialWorkStations => "社工站",
        Measure::ElderlyCareFacilities => "养老服务设施",
        Measure::ChildcarePlaces => "托育托位",
        Measure::Compounds => "小区",
        Measure::EligibleCompounds => "符合条件（有管理）小区",
        Measure::EligibleWithCommittee => "已成立业委会小区",
        Measure::ManagedCompounds => "规范管理（物业）小区",
        Measure::ManagedWithParty => "有党组织的规范管理小区",
        Measure::UnmanagedCompounds => "无管理（三无）小区",
        Measure::UnmanagedWithParty => "有党组织的无管理小区",
        Measure::SmartCompounds => "智慧平安小区",
        Measure::OldCompounds => "老旧小区",
        Measure::OldSmart => "智能化改造老旧小区",
        Measure::NewCompounds => "新建小区（2021 年起）",
        Measure::NewSmart => "智能化新建小区",
    }
}

/// The static id of a coverage-fed target (the enum holds `&'static str`).
fn coverage_target(id: &str) -> &'static str {
    match id {
        "T17" => "T17",
        "T18" => "T18",
        "T27" => "T27",
        "T28" => "T28",
        "T45" => "T45",
        _ => "T52",
    }
}

/// The formula and direction of each target id. Kept beside the CSV (which holds the plan's own
/// words and numbers) so a definition change is one line here.
pub fn formula_of(id: &str) -> (Formula, Direction) {
    use Filter as F;
    use Formula::*;
    use Measure as M;
    let ratio = |num, den, scale, filter| Ratio { num, den, scale, filter };
    let pct = |num, den, filter| Ratio { num, den, scale: 100.0, filter };
    let share = |level, filter, test| UnitShare { level, filter, test };
    let reported = |level, kind| Reported { level, kind };
    let f = match id {
        "T01" => pct(M::TwoNewOrgsCovered, M::TwoNewOrgs, F::All),
        "T02" => share(Level::Village, F::Communities, Test::RatioAtLeast { num: M::ServiceAreaDm2, den: M::Households, scale: 1.0, min: 30.0 }),
        "T03" => pct(M::PartyCentresRenovated, M::PartyCentres, F::Communities),
        "T04" => ratio(M::SocialWorkers, M::Residents, 1000.0, F::All),
        "T05" => pct(M::QualifiedWorkforce, M::CommunityWorkforce, F::Communities),
        "T06" => Formula::External { measure: self::External::VolunteerRegistration, scale: 100.0 },
        "T07" => Count { m: M::CertifiedSocialEnterprises, filter: F::All },
        "T08" => Count { m: M::CharityFunds, filter: F::All },
        "T09" => reported(Level::City, ReportedKind::Growth),
        "T10" => Formula::External { measure: self::External::Coverage("T10"), scale: 100.0 },
        // dm² ÷ households × 100 ÷ 100 (dm² → m²): the scale is 1.
        "T11" => ratio(M::ServiceAreaDm2, M::Households, 1.0, F::Communities),
        "T12" => pct(M::EligibleWithCommittee, M::EligibleCompounds, F::All),
        "T13" | "T19" => share(Level::Township, F::All, Test::AtLeast(M::SocialWorkStations, 1)),
        "T14" => pct(M::GridHouseholds, M::Households, F::Communities),
        "T15" => pct(M::ManagedWithParty, M::ManagedCompounds, F::All),
        "T16" => pct(M::UnmanagedWithParty, M::UnmanagedCompounds, F::All),
        "T17" | "T27" | "T28" | "T45" | "T52" => Formula::External { measure: self::External::Coverage(coverage_target(id)), scale: 100.0 },
        // A service radius: the coverage slice gives (metres, 1000), so the scale is 1 (km).
        "T18" => Formula::External { measure: self::External::Coverage("T18"), scale: 1.0 },
        "T20" => ratio(M::SocialWorkers, M::Units, 1.0, F::Communities),
        "T21" | "T25" | "T34" | "T44" => reported(Level::City, ReportedKind::Count),
        "T22" => Formula::External { measure: self::External::VolunteerStations, scale: 100.0 },
        "T23" => share(Level::Township, F::Streets, Test::AtLeast(M::CharityFunds, 1)),
        "T24" => ratio(M::SocialOrgs, M::Units, 1.0, F::Communities),
        "T26" | "T30" | "T35" => reported(Level::County, ReportedKind::Ratio(100.0)),
        // Each village reports its collective income (yuan, per year) under T36; T37 and T38
        // count the same reports against higher thresholds.
        "T36" => ReportedUnits { item: "T36", min: 50_000, inclusive: true, share: true },
        "T29" => reported(Level::City, ReportedKind::Ratio(100.0)),
        "T31" => pct(M::SmartCompounds, M::Compounds, F::All),
        "T32" => pct(M::NewSmart, M::NewCompounds, F::All),
        "T33" => pct(M::OldSmart, M::OldCompounds, F::All),
        "T37" => ReportedUnits { item: "T36", min: 500_000, inclusive: false, share: false },
        "T38" => ReportedUnits { item: "T36", min: 1_000_000, inclusive: false, share: false },
        "T39" => share(Level::Village, F::Communities, Test::AtLeast(M::EconomicOrgs, 1)),
        "T40" => reported(Level::City, ReportedKind::Growth),
        "T41" => share(Level::Village, F::Communities, Test::AtLeast(M::ElderlyCareFacilities, 1)),
        "T42" => ratio(M::ChildcarePlaces, M::Residents, 1000.0, F::All),
        "T46" => share(Level::Village, F::OldCommunities, Test::AtLeast(M::CentreAreaDm2, 30_000)),
        // dm² → m²
        "T47" => MinOver { level: Level::Village, filter: F::Communities, m: M::CentreAreaDm2, scale: 0.01 },
        "T43" | "T48" | "T49" | "T50" => NoSource(Source::Missing("新建小区配建台账（设施尚未关联到小区）")),
        "T51" => NoSource(Source::Missing("安置社区属性（治理单元尚无此标记）")),
        _ => NoSource(Source::Missing("未定义公式")),
    };
    let dir = if id == "T18" { Direction::AtMost } else { Direction::AtLeast };
    (f, dir)
}

/// One indicator: the plan's words and numbers plus its formula.
#[derive(Clone, Debug, Serialize)]
pub struct Indicator {
    pub id: String,
    pub source: String,
    pub area: String,
    pub name: String,
    pub name_en: String,
    pub unit: String,
    pub target_2022: Option<f64>,
    pub target_2025: Option<f64>,
    pub attribute: Attribute,
    pub applies_to: String,
    pub computed_from: String,
    pub formula: Formula,
    pub direction: Direction,
}

impl Indicator {
    /// The target in force in `year`: the 2022 target until the end of 2022, then the 2025 target
    /// (or whichever the plan gives).
    pub fn target_for(&self, year: i64) -> Option<f64> {
        if year <= 2022 { self.target_2022.or(self.target_2025) } else { self.target_2025.or(self.target_2022) }
    }
    /// Counts are targets for the whole city (or per county); ratios hold at every level.
    pub fn status_applies_at(&self, level: Level) -> bool {
        match self.formula {
            Formula::Count { .. } => level == Level::City,
            Formula::Reported { kind: ReportedKind::Count | ReportedKind::Growth, level: l } => level == l,
            // Per-county counts have their target per county.
            Formula::ReportedUnits { share: false, .. } => level == Level::County,
            _ => true,
        }
    }
    /// The unit as shown (the CSV keeps the plan transcription's English shorthand).
    pub fn unit_label(&self) -> &str {
        match self.unit.as_str() {
            "persons" => "人",
            "count" => "个",
            "m2" => "平方米",
            "km" => "公里",
            "persons per community" => "人/社区",
            "count per community" => "个/社区",
            "count per county" => "个/县",
            "places per 1000" => "托位/千人",
            "m2 per person" => "平方米/人",
            "person-times" => "人次",
            other => other,
        }
    }
}

/// All indicators in file order. The CSV is compiled in; a malformed row is a build-time bug
/// caught by the unit tests, so rows that fail to parse are skipped rather than panicking.
pub fn indicators() -> Vec<Indicator> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(TARGETS_CSV.as_bytes());
    let num = |s: &str| s.trim().parse::<f64>().ok();
    r.records()
        .filter_map(|rec| rec.ok())
        .filter_map(|rec| {
            let g = |i: usize| rec.get(i).unwrap_or("").to_owned();
            let id = g(0);
            if id.is_empty() {
                return None;
            }
            let (formula, direction) = formula_of(&id);
            Some(Indicator {
                source: g(1),
                area: g(2),
                name: g(3),
                name_en: g(4),
                unit: g(5),
                target_2022: num(&g(6)),
                target_2025: num(&g(7)),
                attribute: Attribute::parse(&g(8)),
                applies_to: g(9),
                computed_from: g(10),
                formula,
                direction,
                id,
            })
        })
        .collect()
}

pub fn find(id: &str) -> Option<Indicator> {
    indicators().into_iter().find(|i| i.id == id)
}

/// A value as numerator and denominator; `den = None` for plain counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
pub struct Fraction {
    pub num: i64,
    pub den: Option<i64>,
}

impl Fraction {
    pub fn add(&mut self, o: Fraction) {
        self.num += o.num;
        self.den = match (self.den, o.den) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
    }
}

/// What a coverage target shows where no unit is one it applies to (the coverage slice answers
/// with no denominator): T45 counts only communities marked as industrial parks.
pub fn no_units_text(f: &Formula, x: Option<Fraction>) -> Option<&'static str> {
    match (f, x) {
        (Formula::External { measure: External::Coverage("T45"), .. }, Some(Fraction { den: None, .. })) => Some("暂无园区社区"),
        (Formula::External { measure: External::Coverage(_), .. }, Some(Fraction { den: None, .. })) => Some("无适用单位"),
        _ => None,
    }
}

/// The text of a value: [`no_units_text`] where it applies, else [`format_value`].
pub fn value_text(f: &Formula, x: Option<Fraction>, v: Option<f64>) -> String {
    no_units_text(f, x).map(str::to_owned).unwrap_or_else(|| format_value(v))
}

/// The number an indicator shows for a fraction; None when the denominator is zero.
pub fn value_of(f: &Formula, x: Fraction) -> Option<f64> {
    match f {
        Formula::Ratio { scale, .. } => ratio(x, *scale),
        Formula::UnitShare { .. } => ratio(x, 100.0),
        Formula::Count { .. } => Some(x.num as f64),
        Formula::MinOver { scale, .. } => Some(x.num as f64 * scale),
        Formula::ReportedUnits { share: true, .. } => ratio(x, 100.0),
        Formula::ReportedUnits { share: false, .. } => Some(x.num as f64),
        Formula::Reported { kind: ReportedKind::Ratio(s), .. } => ratio(x, *s),
        Formula::Reported { kind: ReportedKind::Count, .. } => Some(x.num as f64),
        Formula::External { scale, .. } => ratio(x, *scale),
        Formula::Reported { kind: ReportedKind::Growth, .. } => match x.den {
            Some(d) if d > 0 => Some((x.num - d) as f64 * 100.0 / d as f64),
            _ => None,
        },
        Formula::NoSource(_) => None,
    }
}

fn ratio(x: Fraction, scale: f64) -> Option<f64> {
    match x.den {
        Some(d) if d > 0 => Some(x.num as f64 * scale / d as f64),
        _ => None,
    }
}

/// 红/黄/绿 against the target in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Status {
    Green,
    Amber,
    Red,
    /// No target for this level, or no value yet.
    None,
    /// 暂无数据来源
    NoSource,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Green => "green",
            Status::Amber => "amber",
            Status::Red => "red",
            Status::None => "none",
            Status::NoSource => "nosource",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Status::Green => "达标",
            Status::Amber => "接近",
            Status::Red => "未达标",
            Status::None => "—",
            Status::NoSource => "暂无数据来源",
        }
    }
}

/// Green at or beyond the target; amber within 20 % of it (short of 80 % of an at-least target,
/// or more than 120 % of an at-most one, is red).
pub fn status(dir: Direction, target: Option<f64>, value: Option<f64>) -> Status {
    let (Some(t), Some(v)) = (target, value) else { return Status::None };
    const EPS: f64 = 1e-9;
    match dir {
        Direction::AtLeast if v + EPS >= t => Status::Green,
        Direction::AtLeast if v + EPS >= 0.8 * t => Status::Amber,
        Direction::AtMost if v <= t + EPS => Status::Green,
        Direction::AtMost if v <= 1.2 * t + EPS => Status::Amber,
        _ => Status::Red,
    }
}

/// Display: at most two decimals, trailing zeros dropped.
pub fn format_value(v: Option<f64>) -> String {
    match v {
        None => "—".to_owned(),
        Some(v) => {
            // Small rates (0.0021 social workers per 1000) keep three significant digits.
            let decimals = if v == 0.0 || v.abs() >= 1.0 { 2 } else { ((2.0 - v.abs().log10().floor()) as usize).clamp(2, 6) };
            let s = format!("{v:.decimals$}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s == "-0" { "0".to_owned() } else { s.to_owned() }
        }
    }
}

/// A month `YYYY-MM` (snapshots) or a year `YYYY` (填报 periods).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Period(String);

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        let s = s.trim();
        let ok_year = |y: &str| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) && ("2000".."2100").contains(&y);
        match s.len() {
            4 if ok_year(s) => Some(Period(s.to_owned())),
            7 if ok_year(&s[..4]) && &s[4..5] == "-" && s[5..].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m)) && s.as_bytes()[5].is_ascii_digit() => {
                Some(Period(s.to_owned()))
            }
            _ => None,
        }
    }
    pub fn month_of(date: platform::clock::Date) -> Period {
        Period(date.to_string()[..7].to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn year(&self) -> i64 {
        self.0[..4].parse().unwrap_or(2000)
    }
    /// The month before (for monthly periods).
    pub fn previous_month(&self) -> Period {
        let y = self.year();
        let m: i64 = self.0.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
        if m == 1 { Period(format!("{:04}-12", y - 1)) } else { Period(format!("{y:04}-{:02}", m - 1)) }
    }
}

/// A scoring scheme item: the indicator and its weight; a unit scores weight × min(value ÷
/// target, 1) for at-least targets, so a scheme's full marks are the sum of weights.
pub fn item_score(dir: Direction, weight: f64, target: Option<f64>, value: Option<f64>) -> f64 {
    match (target, value) {
        (Some(t), Some(v)) if t > 0.0 => {
            let r = match dir {
                Direction::AtLeast => v / t,
                Direction::AtMost if v > 0.0 => t / v,
                Direction::AtMost => 1.0,
            };
            weight * r.clamp(0.0, 1.0)
        }
        _ => 0.0,
    }
}

/// Parses a scheme `T02:30, T05:20` into (id, weight); unknown ids and bad weights are errors
/// naming the item.
pub fn parse_scheme(s: &str) -> Result<Vec<(String, f64)>, String> {
    let ids: Vec<String> = indicators().into_iter().map(|i| i.id).collect();
    let mut out = Vec::new();
    for part in s.split([',', '，', ';', '；', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
        let (id, w) = part.split_once([':', '：']).ok_or_else(|| format!("「{part}」应写作 指标编号:权重，如 T02:30"))?;
        let id = id.trim().to_uppercase();
        if !ids.contains(&id) {
            return Err(format!("没有编号为「{id}」的指标"));
        }
        let w: f64 = w.trim().parse().map_err(|_| format!("「{part}」的权重不是数字"))?;
        if !(w > 0.0 && w <= 1000.0) {
            return Err(format!("「{part}」的权重应在 0 到 1000 之间"));
        }
        if out.iter().any(|(x, _)| *x == id) {
            return Err(format!("指标「{id}」重复"));
        }
        out.push((id, w));
    }
    if out.is_empty() {
        return Err("方案至少需要一个指标".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_52_targets_load_with_ids_and_formulas() {
        let all = indicators();
        assert_eq!(all.len(), 52);
        assert_eq!(all[0].id, "T01");
        assert_eq!(all[51].id, "T52");
        assert!(all.iter().all(|i| !matches!(i.formula, Formula::NoSource(Source::Missing("未定义公式")))));
        let t04 = find("T04").expect("T04");
        assert_eq!(t04.target_2022, Some(1.0));
        assert_eq!(t04.target_2025, Some(1.4));
        assert_eq!(t04.attribute, Attribute::Binding);
        assert_eq!(find("T11").expect("T11").target_2022, None);
        assert_eq!(find("T18").expect("T18").direction, Direction::AtMost);
        // The 14 of 专栏1 are the first rows.
        assert_eq!(all.iter().filter(|i| i.source == "专栏1").count(), 14);
    }

    #[test]
    fn roll_up_adds_numerators_and_denominators_not_ratios() {
        let f = formula_of("T04").0;
        let mut a = Fraction { num: 1, den: Some(1000) };
        a.add(Fraction { num: 9, den: Some(9000) });
        assert_eq!(a, Fraction { num: 10, den: Some(10_000) });
        assert_eq!(value_of(&f, a), Some(1.0));
        // Averaging the two units' rates would also give 1.0 here; with unequal sizes it does not:
        let mut b = Fraction { num: 2, den: Some(1000) };
        b.add(Fraction { num: 0, den: Some(9000) });
        assert_eq!(value_of(&f, b), Some(0.2));
        assert_eq!(value_of(&f, Fraction { num: 3, den: Some(0) }), None);
    }

    #[test]
    fn statuses_follow_direction_and_band() {
        assert_eq!(status(Direction::AtLeast, Some(90.0), Some(90.0)), Status::Green);
        assert_eq!(status(Direction::AtLeast, Some(90.0), Some(72.0)), Status::Amber);
        assert_eq!(status(Direction::AtLeast, Some(90.0), Some(71.9)), Status::Red);
        assert_eq!(status(Direction::AtMost, Some(1.5), Some(1.8)), Status::Amber);
        assert_eq!(status(Direction::AtMost, Some(1.5), Some(1.81)), Status::Red);
        assert_eq!(status(Direction::AtLeast, None, Some(3.0)), Status::None);
        let t = find("T19").expect("T19");
        assert_eq!(t.target_for(2026), Some(100.0));
        assert_eq!(find("T02").expect("T02").target_for(2022), Some(70.0));
    }

    #[test]
    fn growth_and_tests() {
        let f = Formula::Reported { level: Level::City, kind: ReportedKind::Growth };
        assert_eq!(value_of(&f, Fraction { num: 130, den: Some(100) }), Some(30.0));
        let mut m = [0i64; MEASURES];
        m[Measure::ServiceAreaDm2.index()] = 30_000; // 300 m²
        m[Measure::Households.index()] = 1000;
        let t = Test::RatioAtLeast { num: Measure::ServiceAreaDm2, den: Measure::Households, scale: 1.0, min: 30.0 };
        assert!(t.passes(&m)); // 30 m² per 100 households
        m[Measure::Households.index()] = 1001;
        assert!(!t.passes(&m));
    }

    #[test]
    fn periods_and_schemes() {
        assert!(Period::parse("2026-05").is_some());
        assert!(Period::parse("2026").is_some());
        assert!(Period::parse("2026-13").is_none());
        assert!(Period::parse("26-01").is_none());
        assert_eq!(Period::parse("2026-01").expect("p").previous_month().as_str(), "2025-12");
        assert_eq!(parse_scheme("T02:30，t05：20").expect("ok"), vec![("T02".to_owned(), 30.0), ("T05".to_owned(), 20.0)]);
        assert!(parse_scheme("T99:1").expect_err("unknown id").contains("T99"));
        assert!(parse_scheme("T02:x").is_err());
        assert!(parse_scheme("T02:1,T02:2").is_err());
        assert_eq!(item_score(Direction::AtLeast, 30.0, Some(100.0), Some(50.0)), 15.0);
        assert_eq!(item_score(Direction::AtLeast, 30.0, Some(100.0), Some(150.0)), 30.0);
        assert_eq!(format_value(Some(12.345)), "12.35");
        assert_eq!(format_value(Some(100.0)), "100");
        assert_eq!(format_value(Some(0.002142)), "0.00214");
        assert_eq!(format_value(Some(0.5)), "0.5");
    }
}
