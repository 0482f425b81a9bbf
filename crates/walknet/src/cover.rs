//! Maximal covering site selection (选址): which candidate sites, if built, would bring the
//! most uncovered demand within reach.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::WalknetError;

/// A numbering of the elements `0..universe` into bit positions `0..universe`, chosen so that
/// elements near each other on the ground get nearby bits (for nodes: the core in Hilbert order,
/// then the chains' inner nodes in chain order). Shared by the sets of one network.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BitOrder {
    /// Element → bit.
    pub bit_of: Vec<u32>,
    /// Bit → element.
    pub elem_of: Vec<u32>,
}

/// For each candidate site, the demand elements (nodes or buildings, `0..universe`) it covers,
/// each once. Stored compactly as blocks of a bitset: a set is a list of (64-bit word index,
/// word) pairs, holding only its non-zero words, over a numbering of the elements in which
/// elements near each other on the ground are near each other (so a ball of thousands of nodes
/// is a few hundred words). Sets known to be equal (repeated sites) share their storage.
#[derive(Clone, Debug)]
pub struct CoverSets {
    universe: usize,
    /// `None`: bit `x` is element `x`.
    order: Option<Arc<BitOrder>>,
    /// Per set, its range of `words` / `masks`.
    spans: Vec<(usize, usize)>,
    words: Vec<u32>,
    masks: Vec<u64>,
    pairs: usize,
    stored: usize,
}

/// Equal when the universes and every set (as a set of elements) are equal, however stored.
impl PartialEq for CoverSets {
    fn eq(&self, other: &Self) -> bool {
        self.universe == other.universe && self.len() == other.len() && (0..self.len()).all(|i| self.set(i) == other.set(i))
    }
}
impl Eq for CoverSets {}

/// A bitset over `0..bits` that remembers its non-zero words, for building one set at a time.
#[derive(Debug, Default)]
pub(crate) struct SetBuilder {
    bits: Vec<u64>,
    touched: Vec<u32>,
}

impl SetBuilder {
    pub fn new(bits: usize) -> SetBuilder {
        SetBuilder { bits: vec![0; bits.div_ceil(64)], touched: Vec::new() }
    }

    #[inline(always)]
    pub fn insert(&mut self, x: u32) {
        let w = (x >> 6) as usize;
        let b = &mut self.bits[w];
        if *b == 0 {
            self.touched.push(w as u32);
        }
        *b |= 1u64 << (x & 63);
    }

    /// Inserts `a..b`.
    #[inline]
    pub fn insert_range(&mut self, a: u32, b: u32) {
        range_words(a as usize, b as usize, |w, m| self.or_word(w, m));
    }

    #[inline(always)]
    fn or_word(&mut self, w: usize, m: u64) {
        let b = &mut self.bits[w];
        if *b == 0 {
            self.touched.push(w as u32);
        }
        *b |= m;
    }

    /// Moves the set into `words` / `masks` (in the order its words were first touched) and
    /// clears the builder; returns the number of elements.
    pub fn drain_into(&mut self, words: &mut Vec<u32>, masks: &mut Vec<u64>) -> usize {
        let mut n = 0;
        words.extend_from_slice(&self.touched);
        masks.reserve(self.touched.len());
        for &w in &self.touched {
            let b = &mut self.bits[w as usize];
            n += b.count_ones() as usize;
            masks.push(*b);
            *b = 0;
        }
        self.touched.clear();
        n
    }
}

/// One part of a set of sets under construction: ranges of `words` / `masks`, and the count of
/// elements stored.
#[derive(Debug, Default)]
pub(crate) struct Blocks {
    pub spans: Vec<(usize, usize)>,
    pub words: Vec<u32>,
    pub masks: Vec<u64>,
    pub stored: usize,
}

impl CoverSets {
    /// Sets from blocks (`spans` index `words` / `masks`; equal spans share storage).
    pub(crate) fn from_blocks(universe: usize, order: Option<Arc<BitOrder>>, b: Blocks) -> CoverSets {
        debug_assert!(b.spans.iter().all(|&(a, e)| a <= e && e <= b.words.len()) && b.words.len() == b.masks.len());
        debug_assert!(order.as_ref().is_none_or(|o| o.bit_of.len() == universe));
        let count = |&(a, e): &(usize, usize)| -> usize { b.masks[a..e].iter().map(|m| m.count_ones() as usize).sum() };
        let pairs = b.spans.iter().map(count).sum();
        CoverSets { universe, order, spans: b.spans, words: b.words, masks: b.masks, pairs, stored: b.stored }
    }

    /// One set, from what `b` holds (which is cleared).
    #[cfg(test)]
    pub(crate) fn from_builder(universe: usize, order: Option<Arc<BitOrder>>, b: &mut SetBuilder) -> CoverSets {
        let mut out = Blocks::default();
        out.stored = b.drain_into(&mut out.words, &mut out.masks);
        out.spans.push((0, out.words.len()));
        CoverSets::from_blocks(universe, order, out)
    }

    /// Builds sets from lists; elements must be below `universe`.
    pub fn new(universe: usize, lists: &[Vec<u32>]) -> Result<CoverSets, WalknetError> {
        for l in lists {
            if let Some(bad) = l.iter().find(|&&x| x as usize >= universe) {
                return Err(WalknetError::InvalidCover(format!("元素 {bad} 超出需求点总数 {universe}")));
            }
        }
        Ok(CoverSets::from_lists(universe, None, lists.iter().map(|l| l.as_slice())))
    }

    /// Sets from lists of elements below `universe` (duplicates allowed), numbered by `order`.
    pub(crate) fn from_lists<'a>(universe: usize, order: Option<Arc<BitOrder>>, lists: impl Iterator<Item = &'a [u32]>) -> CoverSets {
        let mut b = SetBuilder::new(universe);
        let mut out = Blocks::default();
        for l in lists {
            let start = out.words.len();
            for &x in l {
                b.insert(order.as_ref().map_or(x, |o| o.bit_of[x as usize]));
            }
            out.stored += b.drain_into(&mut out.words, &mut out.masks);
            out.spans.push((start, out.words.len()));
        }
        CoverSets::from_blocks(universe, order, out)
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
    /// The elements of set `i`, ascending.
    pub fn set(&self, i: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let (a, b) = self.spans[i];
        for (&w, &m) in self.words[a..b].iter().zip(&self.masks[a..b]) {
            let mut m = m;
            while m != 0 {
                let bit = (w << 6) | m.trailing_zeros();
                out.push(self.order.as_ref().map_or(bit, |o| o.elem_of[bit as usize]));
                m &= m - 1;
            }
        }
        out.sort_unstable();
        out
    }
    /// Whether set `i` holds element `x`.
    pub fn contains(&self, i: usize, x: u32) -> bool {
        if x as usize >= self.universe {
            return false;
        }
        let bit = self.order.as_ref().map_or(x, |o| o.bit_of[x as usize]);
        let (a, b) = self.spans[i];
        self.words[a..b].iter().zip(&self.masks[a..b]).any(|(&w, &m)| w == bit >> 6 && m & (1 << (bit & 63)) != 0)
    }
    /// Total (site, element) pairs.
    pub fn pairs(&self) -> usize {
        self.pairs
    }
    /// Elements actually stored (below [`CoverSets::pairs`] when equal sets share storage).
    pub fn stored(&self) -> usize {
        self.stored
    }
    /// Bytes of the stored blocks (12 per non-zero 64-bit word of a stored set).
    pub fn stored_bytes(&self) -> usize {
        self.words.len() * 4 + self.masks.len() * 8
    }
    fn blocks(&self, i: usize) -> (&[u32], &[u64]) {
        let (a, b) = self.spans[i];
        (&self.words[a..b], &self.masks[a..b])
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

/// The greedy's working state, in bit numbering: the weights and the covered elements.
struct State<'a> {
    sets: &'a CoverSets,
    /// Weight by bit; empty when every weight is 1 (a gain is then a count of bits).
    weight: Vec<f64>,
    covered: Vec<u64>,
}

impl<'a> State<'a> {
    fn new(sets: &'a CoverSets, weights: &[f64], initial: &[bool]) -> State<'a> {
        let unit = weights.iter().all(|&w| w == 1.0);
        let weight = match (&sets.order, unit) {
            (_, true) => Vec::new(),
            (None, false) => weights.to_vec(),
            (Some(o), false) => o.elem_of.iter().map(|&x| weights[x as usize]).collect(),
        };
        let mut covered = vec![0u64; sets.universe.div_ceil(64)];
        for (x, _) in initial.iter().enumerate().filter(|(_, c)| **c) {
            let bit = sets.order.as_ref().map_or(x as u32, |o| o.bit_of[x]);
            covered[(bit >> 6) as usize] |= 1 << (bit & 63);
        }
        State { sets, weight, covered }
    }

    /// The weight set `i` would newly cover.
    fn gain(&self, i: usize) -> f64 {
        let (words, masks) = self.sets.blocks(i);
        if self.weight.is_empty() {
            let n: u64 = words.iter().zip(masks).map(|(&w, &m)| u64::from((m & !self.covered[w as usize]).count_ones())).sum();
            return n as f64;
        }
        let mut g = 0.0;
        for (&w, &m) in words.iter().zip(masks) {
            let mut m = m & !self.covered[w as usize];
            while m != 0 {
                g += self.weight[((w << 6) | m.trailing_zeros()) as usize];
                m &= m - 1;
            }
        }
        g
    }

    fn take(&mut self, i: usize) {
        let (words, masks) = self.sets.blocks(i);
        for (&w, &m) in words.iter().zip(masks) {
            self.covered[w as usize] |= m;
        }
    }
}

fn finish(sets: &CoverSets, weights: &[f64], picks: Vec<Pick>, mut covered: Vec<bool>) -> Cover {
    for p in &picks {
        for x in sets.set(p.set as usize) {
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
/// anything. Gains are computed a 64-bit word of the stored sets at a time (a population count
/// when every weight is 1).
pub fn greedy_max_cover(sets: &CoverSets, weights: &[f64], k: usize, already: Option<&[bool]>) -> Result<Cover, WalknetError> {
    let initial = check(sets, weights, already)?;
    let mut st = State::new(sets, weights, &initial);
    let mut heap: BinaryHeap<Entry> = (0..sets.len()).map(|i| Entry(st.gain(i), i as u32)).collect();
    let mut picks = Vec::new();
    while picks.len() < k {
        let Some(Entry(_, i)) = heap.pop() else { break };
        let g = st.gain(i as usize);
        let fresh = Entry(g, i);
        if heap.peek().is_some_and(|top| *top > fresh) {
            heap.push(fresh);
            continue;
        }
        if g <= 0.0 {
            break;
        }
        st.take(i as usize);
        picks.push(Pick { set: i, gain: g });
    }
    Ok(finish(sets, weights, picks, initial))
}

/// The textbook greedy (every gain recomputed every round): the reference the lazy version is
/// tested against.
pub fn naive_greedy_max_cover(sets: &CoverSets, weights: &[f64], k: usize, already: Option<&[bool]>) -> Result<Cover, WalknetError> {
    let initial = check(sets, weights, already)?;
    let mut st = State::new(sets, weights, &initial);
    let mut picks: Vec<Pick> = Vec::new();
    while picks.len() < k {
        let best = (0..sets.len()).filter(|i| !picks.iter().any(|p| p.set as usize == *i)).map(|i| Entry(st.gain(i), i as u32)).max();
        match best {
            Some(Entry(g, i)) if g > 0.0 => {
                st.take(i as usize);
                picks.push(Pick { set: i, gain: g });
            }
            _ => break,
        }
    }
    Ok(finish(sets, weights, picks, initial))
}

/// Calls `f(word, mask)` for each 64-bit word of a bitset that the bit range `a..b` touches, with
/// the mask of its bits in the range (nothing for an empty range).
#[inline(always)]
pub(crate) fn range_words(a: usize, b: usize, mut f: impl FnMut(usize, u64)) {
    if a >= b {
        return;
    }
    let (wa, wb) = (a >> 6, (b - 1) >> 6);
    let lo = !0u64 << (a & 63);
    let hi = !0u64 >> (63 - ((b - 1) & 63));
    if wa == wb {
        f(wa, lo & hi);
    } else {
        f(wa, lo);
        for w in wa + 1..wb {
            f(w, !0);
        }
        f(wb, hi);
    }
}
