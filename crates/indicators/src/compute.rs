//! The roll-up, pure: given the measures of every village-level unit (and of records registered at
//! a township, county or the city itself), each indicator's numerator and denominator for every
//! unit of the tree. Ratios are recomputed from the summed parts at each level, never averaged.

use std::collections::{BTreeMap, HashMap};

use geography::model::UnitKind;
use platform::scope::Level;

use crate::model::{Filter, Formula, Fraction, Indicator, MEASURES, Measure};

#[derive(Clone, Debug)]
pub struct UnitInfo {
    pub code: String,
    pub name: String,
    pub kind: Option<UnitKind>,
    /// 社区类型 from the population figures (traditional_urban, township_seat …)
    pub community_kind: Option<String>,
    pub parent: Option<String>,
}

impl UnitInfo {
    pub fn level(&self) -> Level {
        level_of(&self.code)
    }
}

pub fn level_of(code: &str) -> Level {
    match code.len() {
        2 => Level::Province,
        4 => Level::City,
        6 => Level::County,
        9 => Level::Township,
        12 => Level::Village,
        _ => Level::Cell,
    }
}

/// Everything one computation needs, gathered once from the slices for a subtree.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// Current units from the root down to the village level, in code order.
    pub units: Vec<UnitInfo>,
    /// Measures keyed by the code they were registered at (folded to ≤ 12 digits).
    pub leaves: BTreeMap<String, [i64; MEASURES]>,
    /// Approved 填报 values of the period: indicator id → (unit code, fraction).
    pub reports: HashMap<String, Vec<(String, Fraction)>>,
}

impl Dataset {
    pub fn add(&mut self, code: &str, m: Measure, n: i64) {
        let code = if code.len() > 12 { &code[..12] } else { code };
        self.leaves.entry(code.to_owned()).or_insert([0; MEASURES])[m.index()] += n;
    }
    pub fn get(&self, code: &str, m: Measure) -> i64 {
        self.leaves.get(code).map(|a| a[m.index()]).unwrap_or(0)
    }
}

const PREFIX_LENS: [usize; 4] = [4, 6, 9, 12];

fn prefixes(code: &str) -> impl Iterator<Item = &str> {
    PREFIX_LENS.into_iter().filter(move |l| *l <= code.len()).map(move |l| &code[..l])
}

/// The dataset prepared for many indicators: units by code and the unfiltered sums per prefix.
pub struct Prepared<'a> {
    ds: &'a Dataset,
    units: HashMap<&'a str, &'a UnitInfo>,
    sums: HashMap<String, [i64; MEASURES]>,
}

impl<'a> Prepared<'a> {
    pub fn new(ds: &'a Dataset) -> Prepared<'a> {
        let units = ds.units.iter().map(|u| (u.code.as_str(), u)).collect();
        let mut sums: HashMap<String, [i64; MEASURES]> = HashMap::new();
        for (code, m) in &ds.leaves {
            for p in prefixes(code) {
                let s = sums.entry(p.to_owned()).or_insert([0; MEASURES]);
                for (a, b) in s.iter_mut().zip(m.iter()) {
                    *a += *b;
                }
            }
        }
        Prepared { ds, units, sums }
    }

    fn kind(&self, code: &str) -> Option<UnitKind> {
        self.units.get(code).and_then(|u| u.kind)
    }

    /// Whether a leaf's measures count under the filter (checked on its village-level unit, or
    /// its township for `Streets`).
    fn leaf_passes(&self, filter: Filter, code: &str) -> bool {
        match filter {
            Filter::All => true,
            Filter::Communities | Filter::Villages | Filter::OldCommunities if code.len() < 12 => false,
            Filter::Communities => self.kind(&code[..12]) == Some(UnitKind::Community),
            Filter::Villages => self.kind(&code[..12]) == Some(UnitKind::Village),
            Filter::OldCommunities => {
                self.kind(&code[..12]) == Some(UnitKind::Community)
                    && self.units.get(&code[..12]).and_then(|u| u.community_kind.as_deref()) == Some("traditional_urban")
            }
            Filter::Streets => code.len() >= 9 && self.kind(&code[..9]) == Some(UnitKind::Street),
        }
    }

    /// Numerator and denominator of one indicator for every unit that has a value.
    pub fn compute(&self, ind: &Indicator) -> HashMap<String, Fraction> {
        let mut out: HashMap<String, Fraction> = HashMap::new();
        let mut put = |code: &str, f: Fraction| {
            for p in prefixes(code) {
                out.entry(p.to_owned()).or_insert(Fraction { num: 0, den: f.den.map(|_| 0) }).add(f);
            }
        };
        match ind.formula {
            Formula::Ratio { num, den, filter, .. } => {
                // Every unit in the filter gets a value, even one with no records (0 ÷ n).
                for u in self.ds.units.iter().filter(|u| u.code.len() == 12 && self.leaf_passes(filter, &u.code)) {
                    if !self.ds.leaves.contains_key(&u.code) {
                        put(&u.code, Fraction { num: 0, den: Some(0) });
                    }
                }
                for (code, m) in &self.ds.leaves {
                    if self.leaf_passes(filter, code) {
                        put(code, Fraction { num: m[num.index()], den: Some(m[den.index()]) });
                    }
                }
            }
            Formula::Count { m, filter } => {
                for u in self.ds.units.iter().filter(|u| u.level() == Level::City) {
                    put(&u.code, Fraction { num: 0, den: None });
                }
                for (code, v) in &self.ds.leaves {
                    if self.leaf_passes(filter, code) {
                        put(code, Fraction { num: v[m.index()], den: None });
                    }
                }
            }
            Formula::UnitShare { level, filter, test } => {
                let zero = [0; MEASURES];
                for u in self.ds.units.iter().filter(|u| u.level() == level) {
                    let ok = match filter {
                        Filter::All => true,
                        Filter::Streets => u.kind == Some(UnitKind::Street),
                        _ => self.leaf_passes(filter, &u.code),
                    };
                    if ok {
                        let pass = test.passes(self.sums.get(&u.code).unwrap_or(&zero));
                        put(&u.code, Fraction { num: pass as i64, den: Some(1) });
                    }
                }
            }
            Formula::MinOver { level, filter, m, .. } => {
                let zero = [0; MEASURES];
                for u in self.ds.units.iter().filter(|u| u.level() == level && self.leaf_passes(filter, &u.code)) {
                    let v = self.sums.get(&u.code).unwrap_or(&zero)[m.index()];
                    for p in prefixes(&u.code) {
                        out.entry(p.to_owned()).and_modify(|f| f.num = f.num.min(v)).or_insert(Fraction { num: v, den: None });
                    }
                }
            }
            Formula::Reported { level, kind } => {
                let ratio_like = !matches!(kind, crate::model::ReportedKind::Count);
                if let Some(rs) = self.ds.reports.get(&ind.id) {
                    for (code, f) in rs.iter().filter(|(c, _)| level_of(c) == level) {
                        put(code, Fraction { num: f.num, den: if ratio_like { Some(f.den.unwrap_or(0)) } else { None } });
                    }
                }
            }
            Formula::ReportedUnits { item, min, inclusive, share } => {
                let passes = |v: i64| if inclusive { v >= min } else { v > min };
                if !share {
                    // Every county shows its count, 0 included.
                    for u in self.ds.units.iter().filter(|u| u.level() <= Level::County) {
                        put(&u.code, Fraction { num: 0, den: None });
                    }
                }
                if let Some(rs) = self.ds.reports.get(item) {
                    for (code, f) in rs.iter().filter(|(c, _)| c.len() == 12 && self.kind(c) == Some(UnitKind::Village)) {
                        let ok = passes(f.num) as i64;
                        put(code, if share { Fraction { num: ok, den: Some(1) } } else { Fraction { num: ok, den: None } });
                    }
                }
            }
            // Filled in by `service::compute_all` from the owning slice.
            Formula::External { .. } | Formula::NoSource(_) => {}
        }
        out.retain(|code, _| self.units.contains_key(code.as_str()));
        out
    }

    /// The sums of all measures over a unit's subtree (the portrait's raw counts).
    pub fn sums_of(&self, code: &str) -> [i64; MEASURES] {
        self.sums.get(code).copied().unwrap_or([0; MEASURES])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::find;

    fn unit(code: &str, kind: UnitKind) -> UnitInfo {
        UnitInfo { code: code.into(), name: code.into(), kind: Some(kind), community_kind: None, parent: None }
    }

    fn fixture() -> Dataset {
        let mut ds = Dataset {
            units: vec![
                unit("5109", UnitKind::City),
                unit("510903", UnitKind::District),
                unit("510903001", UnitKind::Street),
                unit("510903001001", UnitKind::Community),
                unit("510903001002", UnitKind::Community),
                unit("510903100", UnitKind::Town),
                unit("510903100201", UnitKind::Village),
            ],
            ..Default::default()
        };
        ds.add("510903001001", Measure::Residents, 1000);
        ds.add("510903001002", Measure::Residents, 9000);
        ds.add("510903100201", Measure::Residents, 2000);
        ds.add("510903001001", Measure::SocialWorkers, 2);
        ds.add("510903001", Measure::SocialWorkers, 1); // registered at the street itself
        ds.add("510903001", Measure::SocialWorkStations, 1);
        for c in ["510903001001", "510903001002", "510903100201"] {
            ds.add(c, Measure::Units, 1);
        }
        ds
    }

    #[test]
    fn ratio_rolls_up_from_parts_at_every_level() {
        let ds = fixture();
        let p = Prepared::new(&ds);
        let v = p.compute(&find("T04").expect("T04"));
        assert_eq!(v["510903001001"], Fraction { num: 2, den: Some(1000) });
        assert_eq!(v["510903001002"], Fraction { num: 0, den: Some(9000) });
        assert_eq!(v["510903001"], Fraction { num: 3, den: Some(10_000) });
        assert_eq!(v["5109"], Fraction { num: 3, den: Some(12_000) });
    }

    #[test]
    fn unit_share_counts_units_with_the_facility_anywhere_in_their_subtree() {
        let ds = fixture();
        let p = Prepared::new(&ds);
        let v = p.compute(&find("T13").expect("T13"));
        assert_eq!(v["510903001"], Fraction { num: 1, den: Some(1) });
        assert_eq!(v["510903100"], Fraction { num: 0, den: Some(1) });
        assert_eq!(v["510903"], Fraction { num: 1, den: Some(2) });
        assert!(!v.contains_key("510903001001"), "no township-level value at a community");
    }

    #[test]
    fn community_filter_leaves_villages_out() {
        let ds = fixture();
        let p = Prepared::new(&ds);
        let v = p.compute(&find("T20").expect("T20")); // social workers per urban community
        // The street's own social worker is not in a community; the village is filtered out.
        assert_eq!(v["510903"], Fraction { num: 2, den: Some(2) });
        assert!(!v.contains_key("510903100"));
    }

    #[test]
    fn village_income_reports_give_share_and_counts_per_county() {
        let mut ds = fixture();
        ds.units.push(unit("510903100202", UnitKind::Village));
        ds.units.push(unit("510903100203", UnitKind::Village));
        ds.reports.insert(
            "T36".into(),
            vec![
                ("510903100201".into(), Fraction { num: 50_000, den: None }),
                ("510903100202".into(), Fraction { num: 1_200_000, den: None }),
                ("510903001001".into(), Fraction { num: 9_000_000, den: None }), // a community: not a village
            ],
        );
        let p = Prepared::new(&ds);
        let share = p.compute(&find("T36").expect("T36"));
        assert_eq!(share["510903100"], Fraction { num: 2, den: Some(2) }, "50,000 is at least 50,000; the unreported village is left out");
        let over_half_million = p.compute(&find("T37").expect("T37"));
        assert_eq!(over_half_million["510903"], Fraction { num: 1, den: None });
        assert_eq!(over_half_million["5109"], Fraction { num: 1, den: None });
        let over_million = p.compute(&find("T38").expect("T38"));
        assert_eq!(over_million["510903"].num, 1);
    }

    #[test]
    fn minimum_rolls_up_as_the_smallest_unit() {
        let mut ds = fixture();
        ds.add("510903001001", Measure::CentreAreaDm2, 40_000);
        ds.add("510903001002", Measure::CentreAreaDm2, 25_000);
        let p = Prepared::new(&ds);
        let ind = find("T47").expect("T47");
        let v = p.compute(&ind);
        assert_eq!(v["510903001001"].num, 40_000);
        assert_eq!(v["5109"].num, 25_000);
        assert_eq!(crate::model::value_of(&ind.formula, v["5109"]), Some(250.0));
        assert!(!v.contains_key("510903100201"), "villages are not in the filter");
    }
}
