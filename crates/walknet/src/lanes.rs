//! Coverage sets of several sites from one search of the contracted core.
//!
//! The candidates of a siting problem are searched in spatial order, so a handful of consecutive
//! ones lie close together and their 1 km balls are mostly the same part of the core. One
//! search that carries a distance per site ("lane") for every core node scans a node a few
//! times for all of those sites together instead of once per site, and the per-lane arithmetic
//! of an arc is a few vector instructions (`N` lanes: eight float32 are two SSE registers).
//!
//! The search is label-correcting: a node is queued in the bucket of the smallest of its labels
//! that improved since its last scan and, when scanned, passes all its labels on. At the end no
//! arc improves any lane, so each lane holds, for every node within the bound, the least
//! float32 sum along a path from its site (rounding is monotone and lengths are not negative):
//! exactly what the one-site Dijkstra of [`crate::route`] computes, whatever the order of the
//! scans. The sets are then read from the final labels by the same rules as
//! [`crate::Searcher`]'s, so they are the same sets, bit for bit.

use crate::chains::{Chains, DIRECT};
use crate::network::Network;
use crate::route::{BUCKET_M, Site, seeds};

/// `pending` of a node no lane has reached, and of one whose labels have all been passed on;
/// both above every bucket.
const UNSEEN: u32 = u32::MAX;
const IDLE: u32 = u32::MAX - 1;

/// Buckets beyond which a bound is searched one site at a time (262 km at `BUCKET_M`).
const MAX_BUCKETS: usize = 1 << 16;

#[inline(always)]
fn bucket(d: f32) -> usize {
    (d * (1.0 / BUCKET_M)) as usize
}

/// A reusable workspace for [`LaneSearch::members_bits`].
pub(crate) struct LaneSearch<'a, const N: usize> {
    net: &'a Network,
    ch: &'a Chains,
    /// The core nodes some lane reached, in the order first reached.
    reached: Vec<u32>,
    /// By core id: the distance towards each lane's site (`INFINITY` beyond the bound or
    /// unreached), and the bucket holding the node's entry while some label of it has improved
    /// since its last scan (`IDLE` when all its labels have been passed on, `UNSEEN` while no
    /// lane has reached it). Indexed by core id rather than through a slot per reached node:
    /// an arc's head is then one load away from the arc, not two, and the core ids are in
    /// spatial order, so the labels of one ball still lie in a few stretches of the arrays.
    /// Only the reached nodes are reset after a search.
    labels: Vec<[f32; N]>,
    pending: Vec<u32>,
    /// Bucket queue of core ids, `BUCKET_M` wide, one bucket per step from 0 to the bound (not
    /// cyclic: the lanes of a node may lie up to the bound apart).
    buckets: Vec<Vec<u32>>,
    /// Seeds: (core id, distance, lane), and the seeds on inner chain nodes: (node, distance,
    /// lane).
    starts: Vec<(u32, f32, usize)>,
    inner: Vec<(u32, f32, usize)>,
    scratch: Vec<(u32, f32)>,
}

impl<'a, const N: usize> LaneSearch<'a, N> {
    /// A workspace for searches bounded by `bound` metres; `None` when the bound is not finite
    /// or needs more than `MAX_BUCKETS` buckets.
    pub fn new(net: &'a Network, ch: &'a Chains, bound: f32) -> Option<LaneSearch<'a, N>> {
        const { assert!(N.is_power_of_two() && N <= 32, "lanes are bits of a u32") };
        if !(bound.is_finite() && bound >= 0.0) || bucket(bound) >= MAX_BUCKETS {
            return None;
        }
        let nc = ch.core_nodes();
        Some(LaneSearch {
            net,
            ch,
            reached: Vec::new(),
            labels: vec![[f32::INFINITY; N]; nc],
            pending: vec![UNSEEN; nc],
            buckets: vec![Vec::new(); bucket(bound) + 2],
            starts: Vec::new(),
            inner: Vec::new(),
            scratch: Vec::with_capacity(2),
        })
    }

    /// Inserts into lane `j` of `out` the bits (in the network's [`crate::cover::BitOrder`]) of the nodes
    /// within `bound` of `sites[j]`, for at most `N` sites: the sets that
    /// [`crate::Searcher`] builds one site at a time. `bound` must be the workspace's. Returns
    /// how alike the sites' balls were: the mean share of the reached core nodes that each
    /// site reached (1 when all reached the same nodes).
    pub fn members_bits(&mut self, sites: &[&Site], bound: f32, out: &mut LaneBits<N>) -> f64 {
        assert!(sites.len() <= N, "at most {N} sites");
        debug_assert_eq!(bucket(bound) + 2, self.buckets.len());
        let (first, queued) = self.seed(sites, bound);
        self.search(first, queued, bound);
        let memberships = self.write_sets(sites.len(), bound, out);
        let alike = memberships as f64 / (sites.len().max(1) * self.reached.len().max(1)) as f64;
        for &c in &self.reached {
            self.labels[c as usize] = [f32::INFINITY; N];
            self.pending[c as usize] = UNSEEN;
        }
        self.reached.clear();
        self.inner.clear();
        alike
    }

    /// Labels and queues the seeds as the one-site search does (a site on an inner chain node
    /// starts from both chain ends and is remembered for the walk along its own chain); returns
    /// the first bucket to scan and the number of entries queued.
    fn seed(&mut self, sites: &[&Site], bound: f32) -> (usize, usize) {
        let ch = self.ch;
        self.starts.clear();
        for (lane, site) in sites.iter().enumerate() {
            seeds(self.net, site, &mut self.scratch);
            for &(v, d) in &self.scratch {
                if d.is_nan() || d > bound || v as usize >= ch.core_id.len() {
                    continue;
                }
                let cv = ch.core_id[v as usize];
                if cv != u32::MAX {
                    self.starts.push((cv, d, lane));
                } else {
                    self.inner.push((v, d, lane));
                    let c = ch.chain_of[v as usize] as usize;
                    let off = ch.off[ch.pos_of[v as usize] as usize];
                    let (a, b) = ch.ends[c];
                    for (end, de) in [(a, d + off), (b, d + (ch.len[c] - off))] {
                        if de <= bound {
                            self.starts.push((end, de, lane));
                        }
                    }
                }
            }
        }
        let (mut first, mut queued) = (usize::MAX, 0);
        for i in 0..self.starts.len() {
            let (c, d, lane) = self.starts[i];
            let sc = c as usize;
            self.mark_reached(sc);
            let l = &mut self.labels[sc];
            if d < l[lane] {
                l[lane] = d;
                // Seeds are queued even when they are dead ends: their one arc leads on.
                let b = bucket(d);
                let p = &mut self.pending[sc];
                if b < *p as usize {
                    self.buckets[b].push(sc as u32);
                    *p = b as u32;
                    queued += 1;
                }
                first = first.min(b);
            }
        }
        (first, queued)
    }

    /// Records core node `c` as reached (by some lane) if it is not yet.
    #[inline]
    fn mark_reached(&mut self, c: usize) {
        if self.pending[c] == UNSEEN {
            self.pending[c] = IDLE;
            self.reached.push(c as u32);
        }
    }

    /// The label-correcting search, bucket by bucket from `first`. A node improved while its
    /// labels are behind the current bucket (only a dead-end seed, whose later lanes are not
    /// queued, can be) goes into the current bucket.
    fn search(&mut self, first: usize, mut queued: usize, bound: f32) {
        let ch = self.ch;
        let above = bound.next_up();
        for cur in first..self.buckets.len() {
            if queued == 0 {
                break;
            }
            while let Some(su) = self.buckets[cur].pop() {
                queued -= 1;
                if self.pending[su as usize] != cur as u32 {
                    continue; // scanned since, in an earlier bucket or earlier in this one
                }
                self.pending[su as usize] = IDLE;
                let du = self.labels[su as usize];
                let u = su as usize;
                let (lo, hi) = (ch.first[u] as usize, ch.first[u + 1] as usize);
                for a in &ch.arcs[lo..hi] {
                    let v = a.head() as usize;
                    let (new, least) = relax_lanes(&du, a.w, above, &self.labels[v]);
                    if least.is_infinite() {
                        continue;
                    }
                    self.mark_reached(v);
                    self.labels[v] = new;
                    // A dead end is labelled but not scanned: its one arc leads back.
                    let b = bucket(least).max(cur);
                    let p = &mut self.pending[v];
                    if !a.head_is_leaf() && b < *p as usize {
                        self.buckets[b].push(v as u32);
                        queued += 1;
                        *p = b as u32;
                    }
                }
            }
        }
    }

    /// Reads the sets from the final labels, by the rules of `Searcher::members_bits`: a reached
    /// core node is in; a chain with both ends reached is in whole when the mean of its ends'
    /// labels plus its length is within the bound, else node by node from the nearer end; a
    /// chain with one end reached is walked from that end until the bound; a chain holding a
    /// seed of the lane is measured from the seed as well. Returns the number of (lane, reached
    /// core node) memberships.
    fn write_sets(&self, lanes: usize, bound: f32, out: &mut LaneBits<N>) -> usize {
        let ch = self.ch;
        let nc = ch.core_nodes() as u32;
        let in_batch = if lanes >= 32 { u32::MAX } else { (1u32 << lanes) - 1 };
        let mut memberships = 0;
        for &c in &self.reached {
            let lc = &self.labels[c as usize];
            let lanes_in = finite(lc) & in_batch;
            memberships += lanes_in.count_ones() as usize;
            out.insert(lanes_in, c);
            for (a, tag) in ch.tagged_arcs_of(c) {
                if tag == DIRECT {
                    continue;
                }
                let k = (tag / 2) as usize;
                // A chain's arc leads to its other end and is as long as the chain, so neither
                // `ends` nor `len` is read. Each chain once: from its first end if any lane
                // reached that, else from its last (its first end then unreached in all lanes).
                debug_assert_eq!(if tag & 1 == 0 { (c, a.head()) } else { (a.head(), c) }, ch.ends[k]);
                debug_assert_eq!(a.w, ch.len[k]);
                let (df, dl) = if tag & 1 == 0 {
                    (lc, &self.labels[a.head() as usize])
                } else if self.pending[a.head() as usize] != UNSEEN {
                    continue;
                } else {
                    (&[f32::INFINITY; N], lc)
                };
                let (s, e) = (ch.start[k] as usize, ch.start[k + 1] as usize);
                let len = a.w;
                let (f_in, l_in) = (finite(df) & in_batch, finite(dl) & in_batch);
                let mut mean = [0.0f32; N];
                for j in 0..N {
                    mean[j] = (df[j] + dl[j] + len) / 2.0;
                }
                let whole = f_in & l_in & within(&mean, bound);
                out.insert_range(whole, nc + s as u32, nc + e as u32);
                for j in lanes_of(f_in & l_in & !whole) {
                    let (du, dw) = (df[j], dl[j]);
                    for p in s..e {
                        if (du + ch.off[p]).min(dw + (len - ch.off[p])) <= bound {
                            out.insert(1 << j, nc + p as u32);
                        }
                    }
                }
                for j in lanes_of(f_in & !l_in) {
                    let du = df[j];
                    for p in s..e {
                        if du + ch.off[p] > bound {
                            break;
                        }
                        out.insert(1 << j, nc + p as u32);
                    }
                }
                for j in lanes_of(l_in & !f_in) {
                    let dw = dl[j];
                    for p in (s..e).rev() {
                        if dw + (len - ch.off[p]) > bound {
                            break;
                        }
                        out.insert(1 << j, nc + p as u32);
                    }
                }
            }
        }
        // Chains holding a seed: paths inside the chain count too.
        for (i, &(x, _, lane)) in self.inner.iter().enumerate() {
            let k = ch.chain_of[x as usize];
            if self.inner[..i].iter().any(|&(y, _, l)| l == lane && ch.chain_of[y as usize] == k) {
                continue; // this lane's chain done already
            }
            let k = k as usize;
            let (s, e) = (ch.start[k] as usize, ch.start[k + 1] as usize);
            let len = ch.len[k];
            let (first, last) = ch.ends[k];
            let (du, dw) = (self.labels[first as usize][lane], self.labels[last as usize][lane]);
            for p in s..e {
                let off = ch.off[p];
                let mut d = (du + off).min(dw + (len - off));
                for &(y, d0, l) in &self.inner {
                    if l == lane && ch.chain_of[y as usize] as usize == k {
                        d = d.min(d0 + (off - ch.off[ch.pos_of[y as usize] as usize]).abs());
                    }
                }
                if d <= bound {
                    out.insert(1 << lane, nc + p as u32);
                }
            }
        }
        memberships
    }
}

/// The sets of one search's lanes, built together: a bitset whose every 64-bit word holds that
/// word of each lane, so that an element in several lanes' sets (most are in all) is one
/// masked vector OR into one cache line, not one insertion per lane.
pub(crate) struct LaneBits<const N: usize> {
    words: Vec<[u64; N]>,
    /// Words with a bit in some lane, each once.
    touched: Vec<u32>,
}

impl<const N: usize> LaneBits<N> {
    pub fn new(bits: usize) -> LaneBits<N> {
        LaneBits { words: vec![[0; N]; bits.div_ceil(64)], touched: Vec::new() }
    }

    /// Sets bits `m` of word `w` in the lanes `lanes` (bits).
    #[inline(always)]
    fn or_word(&mut self, lanes: u32, w: usize, m: u64) {
        let cell = &mut self.words[w];
        if cell.iter().fold(0, |acc, &x| acc | x) == 0 {
            self.touched.push(w as u32);
        }
        for (j, x) in cell.iter_mut().enumerate() {
            *x |= m & 0u64.wrapping_sub(u64::from((lanes >> j) & 1));
        }
    }

    /// Inserts element `x` into the sets of `lanes` (bits).
    #[inline]
    pub fn insert(&mut self, lanes: u32, x: u32) {
        if lanes != 0 {
            self.or_word(lanes, (x >> 6) as usize, 1u64 << (x & 63));
        }
    }

    /// Inserts `a..b` into the sets of `lanes` (bits).
    #[inline]
    pub fn insert_range(&mut self, lanes: u32, a: u32, b: u32) {
        if a >= b || lanes == 0 {
            return;
        }
        let (wa, wb) = ((a >> 6) as usize, ((b - 1) >> 6) as usize);
        let lo = !0u64 << (a & 63);
        let hi = !0u64 >> (63 - ((b - 1) & 63));
        if wa == wb {
            self.or_word(lanes, wa, lo & hi);
        } else {
            self.or_word(lanes, wa, lo);
            for w in wa + 1..wb {
                self.or_word(lanes, w, !0);
            }
            self.or_word(lanes, wb, hi);
        }
    }

    /// Appends lane `j`'s set to `words` / `masks` (its non-zero words, in the order they were
    /// first touched in any lane); returns its number of elements.
    pub fn drain_lane_into(&self, j: usize, words: &mut Vec<u32>, masks: &mut Vec<u64>) -> usize {
        let mut n = 0;
        for &w in &self.touched {
            let m = self.words[w as usize][j];
            if m != 0 {
                words.push(w);
                masks.push(m);
                n += m.count_ones() as usize;
            }
        }
        n
    }

    /// Empties every lane.
    pub fn clear(&mut self) {
        for &w in &self.touched {
            self.words[w as usize] = [0; N];
        }
        self.touched.clear();
    }
}

/// The lanes with a finite label, as bits.
#[inline(always)]
fn finite<const N: usize>(l: &[f32; N]) -> u32 {
    let mut m = 0;
    for (j, &x) in l.iter().enumerate() {
        m |= u32::from(x < f32::INFINITY) << j;
    }
    m
}

/// The lanes whose value is within the bound, as bits.
#[inline(always)]
fn within<const N: usize>(l: &[f32; N], bound: f32) -> u32 {
    let mut m = 0;
    for (j, &x) in l.iter().enumerate() {
        m |= u32::from(x <= bound) << j;
    }
    m
}

/// The lanes whose bits are set, ascending.
#[inline(always)]
fn lanes_of(mut m: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (m != 0).then(|| {
            let j = m.trailing_zeros() as usize;
            m &= m - 1;
            j
        })
    })
}

/// One arc for all lanes: the head's new labels, and the least label that improved
/// (`INFINITY` if none did). `above` is the least float above the bound, so that "better than
/// the head and within the bound" is one compare against the smaller of the two; a lane
/// unreached at the tail improves nothing. Written as selects over fixed-size arrays and a
/// pairwise minimum, so that it compiles to vector compares, minima and shuffles, without a
/// branch per lane.
#[inline(always)]
fn relax_lanes<const N: usize>(tail: &[f32; N], w: f32, above: f32, head: &[f32; N]) -> ([f32; N], f32) {
    let mut new = *head;
    let mut offer = [f32::INFINITY; N];
    for j in 0..N {
        let x = tail[j] + w;
        let limit = if head[j] < above { head[j] } else { above };
        offer[j] = if x < limit { x } else { f32::INFINITY };
        new[j] = if offer[j] < head[j] { offer[j] } else { head[j] };
    }
    let mut width = N;
    while width > 1 {
        width /= 2;
        for j in 0..width {
            offer[j] = if offer[j + width] < offer[j] { offer[j + width] } else { offer[j] };
        }
    }
    (new, offer[0])
}
