//! Maximal covering site selection (选址): which candidate sites, if built, would bring the
//! most uncovered demand within reach.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::WalknetError;

/// For each candidate site, the demand elements (nodes or buildings, `0..universe`) it covers,
/// each once. Stored flat: memory is one `u32` per (site, element) pair, except that sets known
/// to be equal (repeated sites) share their storage.
#[derive(Clone, Debug)]
pub struct CoverSets {
    universe: usize,
    /// Per set, its range of `items`.
    spans: Vec<(usize, usize)>,
    items: Vec<u32>,
    pairs: usize,
}

/// Equal when the universes and every set (in its stored order) are equal, however stored.
impl PartialEq for CoverSets {
    fn eq(&self, other: &Self) -> bool {
        self.universe == other.universe && self.len() == other.len() && (0..self.len()).all(|i| self.set(i) == other.set(i))
    }
}
impl Eq for CoverSets {}

impl CoverSets {
    /// Sets from ranges of `items`; ranges must lie within it.
    pub(crate) fn from_spans(universe: usize, spans: Vec<(usize, usize)>, items: Vec<u32>) -> CoverSets {
        debug_assert!(spans.iter().all(|&(a, b)| a <= b && b <= items.len()));
        let pairs = spans.iter().map(|&(a, b)| b - a).sum();
        CoverSets { universe, spans, items, pairs }
    }

    /// Sets from consecutive runs of `items` (`offsets` ascending, starting at 0).
    pub(crate) fn from_raw(universe: usize, offsets: Vec<usize>, items: Vec<u32>) -> CoverSets {
        CoverSets::from_spans(universe, offsets.windows(2).map(|w| (w[0], w[1])).collect(), items)
    }

    /// Builds sets from lists; elements must be below `universe`.
    pub fn new(universe: usize, lists: &[Vec<u32>]) -> Result<CoverSets, WalknetError> {
        let mut offsets = vec![0usize];
        let mut items = Vec::new();
        for l in lists {
            if let Some(bad) = l.iter().find(|&&x| x as usize >= universe) {
                return Err(WalknetError::InvalidCover(format!("元素 {bad} 超出需求点总数 {universe}")));
            }
            let start = items.len();
            items.extend_from_slice(l);
            items[start..].sort_unstable();
            let mut w = start;
            for r in start..items.len() {
                if r == start || items[r] != items[w - 1] {
                    items[w] = items[r];
                    w += 1;
                }
            }
            items.truncate(w);
            offsets.push(items.len());
        }
        Ok(CoverSets::from_raw(universe, offsets, items))
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn universe(&self) -> usize {
        self.universe
    }
    pub fn set(&self, i: usize) -> &[u32] {
        let (a, b) = self.spans[i];
        &self.items[a..b]
    }
    /// Total (site, element) pairs.
    pub fn pairs(&self) -> usize {
        self.pairs
    }
    /// Elements actually stored (below [`CoverSets::pairs`] when equal sets share storage).
    pub fn stored(&self) -> usize {
        self.items.len()
    }
}

/// One chosen site and the demand weight it newly covered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pick {
    pub set: u32,
    pub gain: f64,
}

/// The result of a selection.
#[derive(Clone, Debug, PartialEq)]
pub struct Cover {
    /// In the order chosen; gains never increase.
    pub picks: Vec<Pick>,
    /// Weight covered by the picks together with `already`.
    pub covered_weight: f64,
    pub covered: Vec<bool>,
}

fn check(sets: &CoverSets, weights: &[f64], already: Option<&[bool]>) -> Result<Vec<bool>, WalknetError> {
    if weights.len() != sets.universe {
        return Err(WalknetError::InvalidCover(format!("权重个数 {} 与需求点总数 {} 不符", weights.len(), sets.universe)));
    }
    if let Some(i) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(WalknetError::InvalidCover(format!("第 {i} 个需求点的权重 {} 无效", weights[i])));
    }
    match already {
        Some(a) if a.len() != sets.universe => Err(WalknetError::InvalidCover(format!("已覆盖标记个数 {} 与需求点总数 {} 不符", a.len(), sets.universe))),
        Some(a) => Ok(a.to_vec()),
        None => Ok(vec![false; sets.universe]),
    }
}

fn gain(set: &[u32], weights: &[f64], covered: &[bool]) -> f64 {
    set.iter().filter(|&&x| !covered[x as usize]).map(|&x| weights[x as usize]).sum()
}

fn finish(sets: &CoverSets, weights: &[f64], picks: Vec<Pick>, mut covered: Vec<bool>) -> Cover {
    for p in &picks {
        for &x in sets.set(p.set as usize) {
            covered[x as usize] = true;
        }
    }
    let covered_weight = covered.iter().zip(weights).filter(|(c, _)| **c).map(|(_, w)| w).sum();
    Cover { picks, covered_weight, covered }
}

/// A heap entry: the best (gain, lowest index) first.
#[derive(PartialEq)]
struct Entry(f64, u32);
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then_with(|| Reverse(self.1).cmp(&Reverse(other.1)))
    }
}

/// Greedy maximal covering with lazy evaluation: picks up to `k` sites, each time the one that
/// newly covers the most weight (ties to the lower index), skipping demand in `already` (covered
/// by existing facilities). Because a site's gain can only fall as others are picked, a stale
/// gain is an upper bound and most sites are never re-evaluated. The result is within
/// (1 − 1/e) of the optimum and equals [`naive_greedy_max_cover`]. Stops early when no site adds
/// anything.
pub fn greedy_max_cover(sets: &CoverSets, weights: &[f64], k: usize, already: Option<&[bool]>) -> Result<Cover, WalknetError> {
    let initial = check(sets, weights, already)?;
    let mut covered = initial.clone();
    let mut heap: BinaryHeap<Entry> = (0..sets.len()).map(|i| Entry(gain(sets.set(i), weights, &covered), i as u32)).collect();
    let mut picks = Vec::new();
    while picks.len() < k {
        let Some(Entry(_, i)) = heap.pop() else { break };
        let g = gain(sets.set(i as usize), weights, &covered);
        let fresh = Entry(g, i);
        if heap.peek().is_some_and(|top| *top > fresh) {
            heap.push(fresh);
            continue;
        }
        if g <= 0.0 {
            break;
        }
        for &x in sets.set(i as usize) {
            covered[x as usize] = true;
        }
        picks.push(Pick { set: i, gain: g });
    }
    Ok(finish(sets, weights, picks, initial))
}

/// The textbook greedy (every gain recomputed every round): the reference the lazy version is
/// tested against.
pub fn naive_greedy_max_cover(sets: &CoverSets, weights: &[f64], k: usize, already: Option<&[bool]>) -> Result<Cover, WalknetError> {
    let initial = check(sets, weights, already)?;
    let mut covered = initial.clone();
    let mut picks: Vec<Pick> = Vec::new();
    while picks.len() < k {
        let best = (0..sets.len()).filter(|i| !picks.iter().any(|p| p.set as usize == *i)).map(|i| Entry(gain(sets.set(i), weights, &covered), i as u32)).max();
        match best {
            Some(Entry(g, i)) if g > 0.0 => {
                for &x in sets.set(i as usize) {
                    covered[x as usize] = true;
                }
                picks.push(Pick { set: i, gain: g });
            }
            _ => break,
        }
    }
    Ok(finish(sets, weights, picks, initial))
}
