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

use std::hint::select_unpredictable;

use crate::chains::Chains;
use crate::network::Network;
use crate::route::{BUCKET_M, Site, seeds};

/// A node's `state` while no lane has reached it, and when all its labels have been passed on;
/// else it is the bucket holding its entry. Both are above every bucket.
const UNSEEN: u32 = u32::MAX;
const IDLE: u32 = UNSEEN - 1;

/// Buckets beyond which a bound is searched one site at a time (262 km at `BUCKET_M`).
const MAX_BUCKETS: usize = 1 << 16;

#[inline(always)]
fn bucket(d: f32) -> usize {
    // Through i32, whose conversion from f32 is one instruction and a saturation fix-up
    // (usize's is several): labels are not negative, and a bound beyond i32 saturates far
    // above `MAX_BUCKETS`.
    (d * (1.0 / BUCKET_M)) as i32 as usize
}

/// The bucket of an improved label (finite, not negative, within the bound, so below 2^22
/// buckets), rounded to the nearest instead of down: the low bits of the float after adding
/// 2^23, one add and no conversion fix-ups. Which bucket a node waits in changes only the
/// order of the scans, not the labels at the end (label-correcting), and at most by one.
#[inline(always)]
fn bucket_near(d: f32) -> usize {
    ((d * (1.0 / BUCKET_M) + 8_388_608.0).to_bits() - 0x4B00_0000) as usize
}

/// A reusable workspace for [`LaneSearch::members_bits`].
pub(crate) struct LaneSearch<'a, const N: usize> {
    net: &'a Network,
    ch: &'a Chains,
    /// The core nodes some lane reached, as a bitset by core id, and its non-zero words each
    /// once: the sets are read and the labels reset 64 core ids at a time, in id order (their
    /// labels one stretch of memory, their bits one word of the sets).
    reached: Vec<u64>,
    reached_words: Pile,
    /// By core id: the distance towards each lane's site (`INFINITY` beyond the bound or
    /// unreached), and the node's state: the bucket holding its entry while some label of it
    /// has improved since its last scan (`IDLE` when all its labels have been passed on,
    /// `UNSEEN` while no lane has reached it). Indexed by core id rather than through a slot
    /// per reached node: an arc's head is then one load away from the arc, not two, and the
    /// core ids are in spatial order, so the labels of one ball still lie in a few stretches
    /// of the arrays. Only the reached nodes are reset after a search.
    /// A scan passes on all lanes, the ones that did not improve since the last scan too: they
    /// were passed on at their present labels and their heads' labels have only fallen since,
    /// so they improve nothing, and in vector arithmetic they cost nothing more. (Tracking
    /// which half of the lanes improved to scan only that half, in a loop compiled for it,
    /// took a branch per scan that was mispredicted one time in three.)
    labels: Labels<N>,
    state: Vec<u32>,
    /// Bucket queue of core ids, `BUCKET_M` wide, one bucket per step from 0 to the bound (not
    /// cyclic: the lanes of a node may lie up to the bound apart), and a spare last one that
    /// the arcs which queue nothing write into.
    buckets: Vec<Pile>,
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
            reached: vec![0; nc.div_ceil(64)],
            reached_words: Pile::default(),
            labels: Labels::new(nc),
            state: vec![UNSEEN; nc],
            // One more than the search scans: where an arc that queues nothing writes.
            buckets: (0..bucket(bound) + 3).map(|_| Pile::default()).collect(),
            starts: Vec::new(),
            inner: Vec::new(),
            scratch: Vec::with_capacity(2),
        })
    }

    /// Inserts into lane `j` of `out` the bits (in the network's [`crate::cover::BitOrder`]) of the nodes
    /// within `bound` of `sites[j]`, for at most `N` sites: the sets that
    /// [`crate::Searcher`] builds one site at a time. `bound` must be the workspace's. Returns
    /// the number of (site, core node) pairs within the bound: the size of the result, as
    /// against the work of the search.
    pub fn members_bits(&mut self, sites: &[&Site], bound: f32, out: &mut LaneBits<N>) -> usize {
        members_bits_simd(self, sites, bound, out)
    }

    /// [`LaneSearch::members_bits`], inlined (with all it calls) into each copy of
    /// [`members_bits_simd`].
    #[inline(always)]
    fn members_bits_inline(&mut self, sites: &[&Site], bound: f32, out: &mut LaneBits<N>) -> usize {
        assert!(sites.len() <= N, "at most {N} sites");
        debug_assert_eq!(bucket(bound) + 3, self.buckets.len());
        let (first, queued) = self.seed(sites, bound);
        self.search(first, queued, bound);
        let memberships = self.write_sets(bound, out);
        for &w in self.reached_words.as_slice() {
            let mut m = std::mem::take(&mut self.reached[w as usize]);
            while m != 0 {
                let c = (w as usize) << 6 | m.trailing_zeros() as usize;
                m &= m - 1;
                self.labels[c] = [f32::INFINITY; N];
                self.state[c] = UNSEEN;
            }
        }
        self.reached_words.clear();
        self.inner.clear();
        memberships
    }

    /// Labels and queues the seeds as the one-site search does (a site on an inner chain node
    /// starts from both chain ends and is remembered for the walk along its own chain); returns
    /// the first bucket to scan and the number of entries queued.
    #[inline(always)]
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
                let st = &mut self.state[sc];
                // Seeds are queued even when they are dead ends: their one arc leads on.
                let b = bucket(d);
                if b < *st as usize {
                    self.buckets[b].push_if(sc as u32, true);
                    *st = b as u32;
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
        if self.state[c] == UNSEEN {
            self.state[c] = IDLE;
            add_reached(&mut self.reached, &mut self.reached_words, c);
        }
    }

    /// The label-correcting search, bucket by bucket from `first`. A node improved while its
    /// labels are behind the current bucket (only a dead-end seed, whose later lanes are not
    /// queued, can be) goes into the current bucket.
    #[inline(always)]
    fn search(&mut self, first: usize, queued: usize, bound: f32) {
        let ch = self.ch;
        let above = bound.next_up();
        // The fields as locals, whose pointers and lengths then stay in registers (read through
        // `self`, they are read again after every store).
        let LaneSearch { labels, state, buckets, reached, reached_words, .. } = self;
        let mut q = Queue { labels: labels.rows(), state, buckets, reached, reached_words, queued };
        for cur in first..q.buckets.len() - 1 {
            if q.queued == 0 {
                break;
            }
            while let Some(su) = q.buckets[cur].pop() {
                let u = su as usize;
                q.queued -= 1;
                let st = q.state[u];
                if st != cur as u32 {
                    continue; // scanned since, in an earlier bucket or earlier in this one
                }
                q.state[u] = IDLE;
                add_reached(q.reached, q.reached_words, u); // again when rescanned: the same bit
                let arcs = &ch.arcs[ch.first[u] as usize..ch.first[u + 1] as usize];
                q.scan(u, arcs, above, cur);
            }
        }
    }

    /// Reads the sets from the final labels, by the rules of `Searcher::members_bits`: a reached
    /// core node is in; a chain with both ends reached is in whole when the mean of its ends'
    /// labels plus its length is within the bound, else node by node from the nearer end; a
    /// chain with one end reached is walked from that end until the bound; a chain holding a
    /// seed of the lane is measured from the seed as well. Returns the number of (lane, reached
    /// core node) memberships.
    #[inline(always)]
    fn write_sets(&self, bound: f32, out: &mut LaneBits<N>) -> usize {
        // Lane sets are masks (a lane's word all ones or all zeros) rather than bits, which
        // the compiler keeps in vector registers from the compares to the bitset's words. Lanes
        // beyond the batch are never labelled, so they are in no set.
        let mut memberships = 0;
        let mut chains = WordAcc::new(out);
        for &w in self.reached_words.as_slice() {
            // The core ids are the first bits of the sets: word `w` of the reached nodes is
            // word `w` of the sets, gathered here for all lanes and written once.
            // In two halves of 32 bits, so that a lane's bit is as wide as its label and one
            // compare gives four lanes' bits without widening.
            let m = self.reached[w as usize];
            let mut core = [0u64; N];
            for half in 0..2 {
                let mut bits = [0u32; N];
                let mut m = (m >> (32 * half)) as u32;
                while m != 0 {
                    let bit = m & m.wrapping_neg();
                    m &= m - 1;
                    let c = (w << 6) | (32 * half + bit.trailing_zeros());
                    self.chain_sets(c, bound, &mut chains);
                    let lc = &self.labels[c as usize];
                    for j in 0..N {
                        bits[j] |= if lc[j] < f32::INFINITY { bit } else { 0 };
                    }
                }
                for j in 0..N {
                    core[j] |= u64::from(bits[j]) << (32 * half);
                }
            }
            memberships += core.iter().map(|x| x.count_ones() as usize).sum::<usize>();
            chains.out.or_lanes(w as usize, &core);
        }
        chains.flush();
        self.seeded_chain_sets(bound, out);
        memberships
    }

    /// The chains at core node `c` (reached), into the lanes' sets: each chain once, from its
    /// first end if any lane reached that, else from its last.
    #[inline(always)]
    fn chain_sets(&self, c: u32, bound: f32, out: &mut WordAcc<'_, N>) {
        let ch = self.ch;
        let nc = ch.core_nodes();
        let lc = &self.labels[c as usize];
        let (a, b) = (ch.first_end_of[c as usize] as usize, ch.first_end_of[c as usize + 1] as usize);
        for k in a..b {
            let len = ch.len[k];
            if lc.iter().fold(true, |all, &x| all & (x + len <= bound)) {
                // Every node of the chain is within the bound from this end in every lane (the
                // offsets along it are at most its length), so it is in whole whatever the
                // other end's labels: no need to read them.
                out.range_all(nc + ch.start[k] as usize, nc + ch.start[k + 1] as usize);
            } else {
                self.chain_set(k, lc, &self.labels[ch.ends[k].1 as usize], bound, out);
            }
        }
        let longest = ch.last_end_len_max[c as usize];
        if lc.iter().fold(false, |any, &x| any | (x + longest <= bound)) {
            return; // the first ends of the chains ending here are all reached
        }
        let (a, b) = (ch.last_end_first[c as usize] as usize, ch.last_end_first[c as usize + 1] as usize);
        for &k in &ch.last_end_of[a..b] {
            // Its first end unreached in all lanes: all infinite there.
            if self.state[ch.ends[k as usize].0 as usize] == UNSEEN {
                self.chain_set(k as usize, &[f32::INFINITY; N], lc, bound, out);
            }
        }
    }

    /// Chain `k`, whose ends have labels `df` (first) and `dl` (last), into the lanes' sets: in
    /// whole where the mean of its ends' labels plus its length is within the bound, else node
    /// by node.
    #[inline(always)]
    fn chain_set(&self, k: usize, df: &[f32; N], dl: &[f32; N], bound: f32, out: &mut WordAcc<'_, N>) {
        let ch = self.ch;
        let nc = ch.core_nodes();
        let (s, e) = (ch.start[k] as usize, ch.start[k + 1] as usize);
        let len = ch.len[k];
        let mut whole = [0u64; N];
        let mut partial = false;
        for j in 0..N {
            let (f_in, l_in) = (df[j] < f32::INFINITY, dl[j] < f32::INFINITY);
            let w = f_in & l_in & ((df[j] + dl[j] + len) / 2.0 <= bound);
            whole[j] = if w { !0 } else { 0 };
            partial |= (f_in | l_in) & !w;
        }
        out.range(&whole, nc + s, nc + e);
        if !partial {
            return;
        }
        // The other lanes node by node, all at once: a node is in when it is within the bound
        // from the nearer end. A lane unreached at one end is infinite there, so this is the
        // walk from its reached end, stopped at the bound (the distance from an end only grows
        // along the chain).
        for p in s..e {
            let (off, rest) = (ch.off[p], len - ch.off[p]);
            let mut near = [0u64; N];
            for j in 0..N {
                let (a, b) = (df[j] + off, dl[j] + rest);
                near[j] = if (if b < a { b } else { a }) <= bound { !whole[j] } else { 0 };
            }
            out.put((nc + p) >> 6, 1 << ((nc + p) & 63), &near);
        }
    }

    /// The chains holding a seed, into that lane's set: paths inside the chain count too.
    #[inline(always)]
    fn seeded_chain_sets(&self, bound: f32, out: &mut LaneBits<N>) {
        let ch = self.ch;
        let nc = ch.core_nodes() as u32;
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
                    out.insert_lane(lane, nc + p as u32);
                }
            }
        }
    }
}

/// One search of [`LaneSearch::members_bits`], compiled for AVX2 as well and dispatched at run
/// time: eight lanes are then one vector register, not two.
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn members_bits_simd<const N: usize>(search: &mut LaneSearch<'_, N>, sites: &[&Site], bound: f32, out: &mut LaneBits<N>) -> usize {
    search.members_bits_inline(sites, bound, out)
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

    /// Sets bits `m` of word `w` in the lanes where `lanes` is all ones (each lane's mask is
    /// all ones or all zeros).
    #[inline(always)]
    pub fn or_word(&mut self, w: usize, m: u64, lanes: &[u64; N]) {
        let cell = &mut self.words[w];
        let was_empty = cell.iter().fold(0, |acc, &x| acc | x) == 0;
        for (x, &l) in cell.iter_mut().zip(lanes) {
            *x |= m & l;
        }
        // Touched once, when it first holds a bit (the lanes may be none).
        if was_empty && cell.iter().fold(0, |acc, &x| acc | x) != 0 {
            self.touched.push(w as u32);
        }
    }

    /// Sets bits `m[j]` of word `w` in lane `j`, for all lanes.
    #[inline(always)]
    pub fn or_lanes(&mut self, w: usize, m: &[u64; N]) {
        let cell = &mut self.words[w];
        let was_empty = cell.iter().fold(0, |acc, &x| acc | x) == 0;
        for (x, &b) in cell.iter_mut().zip(m) {
            *x |= b;
        }
        if was_empty && cell.iter().fold(0, |acc, &x| acc | x) != 0 {
            self.touched.push(w as u32);
        }
    }

    /// Inserts element `x` into the set of lane `j`.
    #[inline]
    pub fn insert_lane(&mut self, j: usize, x: u32) {
        let mut lanes = [0; N];
        lanes[j] = !0;
        self.or_word((x >> 6) as usize, 1u64 << (x & 63), &lanes);
    }

    /// Inserts element `x` into the sets of `lanes` (bits).
    #[cfg(test)]
    pub fn insert(&mut self, lanes: u32, x: u32) {
        self.or_word((x >> 6) as usize, 1u64 << (x & 63), &masks_of(lanes));
    }

    /// Inserts `a..b` into the sets of the lanes where `lanes` is all ones (through a
    /// [`WordAcc`], as the set pass does).
    #[cfg(test)]
    pub fn insert_range(&mut self, lanes: &[u64; N], a: u32, b: u32) {
        let mut acc = WordAcc::new(self);
        acc.range(lanes, a as usize, b as usize);
        acc.flush();
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

/// Bits for a [`LaneBits`], gathered a word at a time: consecutive chains (numbered in the
/// order of their first ends' core ids, which the set pass visits in order within a word of
/// them) mostly fall into the same word of the sets, which is then written once for many
/// chains rather than once for each.
struct WordAcc<'o, const N: usize> {
    out: &'o mut LaneBits<N>,
    /// The word gathered (`usize::MAX`: none), its bits in each lane and its bits in all lanes.
    w: usize,
    bits: [u64; N],
    all: u64,
}

impl<'o, const N: usize> WordAcc<'o, N> {
    fn new(out: &'o mut LaneBits<N>) -> WordAcc<'o, N> {
        WordAcc { out, w: usize::MAX, bits: [0; N], all: 0 }
    }

    /// Sets bits `m` of word `w` in the lanes where `lanes` is all ones.
    #[inline(always)]
    fn put(&mut self, w: usize, m: u64, lanes: &[u64; N]) {
        if w != self.w {
            self.flush();
            self.w = w;
        }
        for (x, &l) in self.bits.iter_mut().zip(lanes) {
            *x |= m & l;
        }
    }

    /// Inserts `a..b` into the sets of the lanes where `lanes` is all ones.
    #[inline(always)]
    fn range(&mut self, lanes: &[u64; N], a: usize, b: usize) {
        if lanes.iter().fold(0, |acc, &x| acc | x) == 0 {
            return;
        }
        crate::cover::range_words(a, b, |w, m| self.put(w, m, lanes));
    }

    /// Inserts `a..b` into the sets of all lanes.
    #[inline(always)]
    fn range_all(&mut self, a: usize, b: usize) {
        crate::cover::range_words(a, b, |w, m| self.put_all(w, m));
    }

    /// Sets bits `m` of word `w` in all lanes.
    #[inline(always)]
    fn put_all(&mut self, w: usize, m: u64) {
        if w != self.w {
            self.flush();
            self.w = w;
        }
        self.all |= m;
    }

    /// Writes the word gathered, if any.
    #[inline]
    fn flush(&mut self) {
        if self.w != usize::MAX {
            let all = std::mem::take(&mut self.all);
            for x in &mut self.bits {
                *x |= all;
            }
            self.out.or_lanes(self.w, &self.bits);
            self.bits = [0; N];
            self.w = usize::MAX;
        }
    }
}

/// The search's working state, borrowed from a [`LaneSearch`].
struct Queue<'s, const N: usize> {
    labels: RowsMut<'s, N>,
    state: &'s mut [u32],
    buckets: &'s mut [Pile],
    reached: &'s mut [u64],
    reached_words: &'s mut Pile,
    queued: usize,
}

impl<const N: usize> Queue<'_, N> {
    /// Scans core node `u` (arcs `arcs`) at bucket `cur`. Without a branch on what an arc did
    /// (see [`Pile`]): the head's labels and state are written back whether or not they
    /// changed, and an arc that queues nothing pushes into the spare last bucket, which is
    /// never scanned.
    #[inline(always)]
    fn scan(&mut self, u: usize, arcs: &[crate::chains::Arc], above: f32, cur: usize) {
        let du = self.labels[u];
        let spare = self.buckets.len() - 1;
        for a in arcs {
            let v = a.head() as usize;
            let (new, least, improved) = relax_lanes(&du, a.w, above, &self.labels[v]);
            self.labels[v] = new;
            let p = self.state[v];
            let fresh = improved & (p == UNSEEN);
            // Every other node labelled is queued, so it is marked reached when scanned; a dead
            // end never is. A branch, not a select: dead ends are a few arcs in a hundred, so
            // it is rarely mispredicted, and the marking then costs nothing on the others.
            if a.head_is_leaf() {
                let word = &mut self.reached[v >> 6];
                self.reached_words.push_if((v >> 6) as u32, fresh & (*word == 0));
                *word |= u64::from(fresh) << (v & 63);
            }
            // A dead end is labelled but not scanned: its one arc leads back.
            let b = bucket_near(least).max(cur);
            let queue = improved & !a.head_is_leaf() & (b < p as usize);
            // Unpredictable selects (conditional moves): as plain `if`s the compiler branches
            // on `queue` again. Unqueued, a fresh node goes from `UNSEEN` to `IDLE`, one below.
            self.state[v] = select_unpredictable(queue, b as u32, p - u32::from(fresh));
            self.buckets[select_unpredictable(queue, b, spare)].push_if(v as u32, queue);
            self.queued += usize::from(queue);
        }
    }
}

/// Labels by core id, `N` a node, in one stretch whose first row starts at a 64-byte
/// boundary: a node's labels then lie in one cache line (its half in one of eight lanes), not
/// across two as where the allocation happens to start 16 bytes past one.
struct Labels<const N: usize> {
    buf: Vec<f32>,
    base: usize,
}

impl<const N: usize> Labels<N> {
    fn new(rows: usize) -> Labels<N> {
        let buf = vec![f32::INFINITY; rows * N + 16];
        let base = (64 - buf.as_ptr() as usize % 64) % 64 / 4;
        Labels { buf, base }
    }

    fn rows(&mut self) -> RowsMut<'_, N> {
        let len = self.buf.len() - 16;
        RowsMut(&mut self.buf[self.base..self.base + len])
    }
}

impl<const N: usize> std::ops::Index<usize> for Labels<N> {
    type Output = [f32; N];
    #[inline(always)]
    fn index(&self, c: usize) -> &[f32; N] {
        let i = self.base + c * N;
        self.buf[i..i + N].try_into().expect("N labels")
    }
}

impl<const N: usize> std::ops::IndexMut<usize> for Labels<N> {
    #[inline(always)]
    fn index_mut(&mut self, c: usize) -> &mut [f32; N] {
        let i = self.base + c * N;
        (&mut self.buf[i..i + N]).try_into().expect("N labels")
    }
}

/// The rows of a [`Labels`], borrowed for a search.
struct RowsMut<'s, const N: usize>(&'s mut [f32]);

impl<const N: usize> std::ops::Index<usize> for RowsMut<'_, N> {
    type Output = [f32; N];
    #[inline(always)]
    fn index(&self, c: usize) -> &[f32; N] {
        self.0[c * N..c * N + N].try_into().expect("N labels")
    }
}

impl<const N: usize> std::ops::IndexMut<usize> for RowsMut<'_, N> {
    #[inline(always)]
    fn index_mut(&mut self, c: usize) -> &mut [f32; N] {
        (&mut self.0[c * N..c * N + N]).try_into().expect("N labels")
    }
}

/// Adds core node `c` to the bitset of reached nodes (`words`: its non-zero words).
#[inline(always)]
fn add_reached(bits: &mut [u64], words: &mut Pile, c: usize) {
    let w = &mut bits[c >> 6];
    words.push_if((c >> 6) as u32, *w == 0);
    *w |= 1 << (c & 63);
}

/// A list of ids that an item is pushed to without a branch on whether to keep it: it is
/// written past the end either way and the length moves on only when it is kept. In the arc
/// loop whether an arc improves its head, and then whether that queues it, are about as likely
/// as not, so a branch on them is mispredicted on every other arc.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pile {
    items: Vec<u32>,
    len: usize,
}

impl Pile {
    #[inline(always)]
    fn push_if(&mut self, x: u32, keep: bool) {
        if self.len == self.items.len() {
            self.items.resize(2 * self.len + 64, 0);
        }
        self.items[self.len] = x;
        self.len += usize::from(keep);
    }

    #[inline(always)]
    fn pop(&mut self) -> Option<u32> {
        self.len = self.len.checked_sub(1)?;
        Some(self.items[self.len])
    }

    fn as_slice(&self) -> &[u32] {
        &self.items[..self.len]
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

/// Lanes given as bits, as masks.
#[cfg(test)]
pub(crate) fn masks_of<const N: usize>(bits: u32) -> [u64; N] {
    std::array::from_fn(|j| if bits >> j & 1 != 0 { !0 } else { 0 })
}

/// One arc, all lanes: the head's new labels, the least label that improved (infinite if
/// none) and whether any improved. `above` is the least float above the bound, so that "better
/// than the head and within the bound" is one compare against the smaller of the two; a lane
/// unreached at the tail improves nothing. Written as selects over fixed-size arrays and a
/// pairwise minimum, so that it compiles to vector adds, compares, minima and shuffles, without
/// a branch.
#[inline(always)]
fn relax_lanes<const N: usize>(tail: &[f32; N], w: f32, above: f32, head: &[f32; N]) -> ([f32; N], f32, bool) {
    let mut x = [0.0f32; N];
    let mut limit = [0.0f32; N];
    for j in 0..N {
        x[j] = tail[j] + w;
        limit[j] = if head[j] < above { head[j] } else { above };
    }
    let mut new = *head;
    let mut offer = [f32::INFINITY; N];
    for j in 0..N {
        offer[j] = if x[j] < limit[j] { x[j] } else { f32::INFINITY };
        // A minimum of offer and head (one instruction per four lanes), not a second select.
        new[j] = if offer[j] < head[j] { offer[j] } else { head[j] };
    }
    let mut width = N;
    while width > 1 {
        width /= 2;
        for j in 0..width {
            offer[j] = if offer[j + width] < offer[j] { offer[j + width] } else { offer[j] };
        }
    }
    // Some lane improved exactly when the least offer is finite (an improved label is within
    // the bound): one compare, where a test of the lanes' compares is a tree of shuffles.
    (new, offer[0], offer[0] < f32::INFINITY)
}
