//! Bounded multi-source shortest paths towards sites, and the coverage sets built from them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::chains::{Arc, Chains, DIRECT};
use crate::cover::{Blocks, CoverSets, SetBuilder};
use crate::lanes::{LaneBits, LaneSearch};
use crate::network::{Csr, Network};
use crate::snap::Snap;

/// Where a search starts: a graph node, or a snapped point on an edge.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Site {
    Node(u32),
    Snap(Snap),
}

impl Site {
    fn filter_valid(&self, net: &Network) -> Option<Snap> {
        match self {
            Site::Snap(s) if (s.edge as usize) < net.edges.len() && valid(s) => Some(*s),
            _ => None,
        }
    }
}

impl From<Snap> for Site {
    fn from(s: Snap) -> Self {
        Site::Snap(s)
    }
}

impl From<u32> for Site {
    fn from(n: u32) -> Self {
        Site::Node(n)
    }
}

/// For every node, the distance (metres) to the nearest site and which site that is.
/// Nodes farther than the bound have `f32::INFINITY` and site `u32::MAX`.
#[derive(Clone, Debug)]
pub struct DistanceField {
    pub dist: Vec<f32>,
    pub nearest: Vec<u32>,
    pub bound: f32,
    /// Snapped sites by edge, for points on the same edge as a site.
    pub(crate) on_edge: Vec<(u32, f32, f32, u32)>,
}

impl DistanceField {
    /// Distance and site index for a node, if within the bound.
    pub fn node(&self, v: u32) -> Option<(f32, u32)> {
        let d = self.dist[v as usize];
        d.is_finite().then(|| (d, self.nearest[v as usize]))
    }

    /// Distance (including the point's own access distance) and site index for a snapped point,
    /// if within the bound.
    pub fn at(&self, net: &Network, p: &Snap) -> Option<(f32, u32)> {
        let lo = self.on_edge.partition_point(|s| s.0 < p.edge);
        let same = self.on_edge[lo..].iter().take_while(|s| s.0 == p.edge).map(|s| (s.1, s.2, s.3));
        let (d, site) = point_distance(net, &self.dist, &self.nearest, p, same);
        (d.is_finite() && d <= self.bound).then_some((d, site))
    }

    /// Share of nodes within the bound.
    pub fn reached(&self) -> usize {
        self.dist.iter().filter(|d| d.is_finite()).count()
    }
}

/// Distance from snapped point `p` to a site, given node distances and the sites on `p`'s edge.
fn point_distance(net: &Network, dist: &[f32], nearest: &[u32], p: &Snap, same_edge: impl Iterator<Item = (f32, f32, u32)>) -> (f32, u32) {
    let mut best = (f32::INFINITY, u32::MAX);
    // A snap from another network (or a stale one) finds nothing rather than panicking.
    let Some(&e) = net.edges.get(p.edge as usize).filter(|_| dist.len() == net.node_count() && valid(p)) else {
        return best;
    };
    let len = e.length_m;
    let mut offer = |d: f32, s: u32| {
        if d < best.0 || (d == best.0 && s < best.1) {
            best = (d, s);
        }
    };
    if e.dir.forward {
        let db = dist[e.b as usize];
        if db.is_finite() {
            offer((1.0 - p.t) * len + db, nearest[e.b as usize]);
        }
    }
    if e.dir.backward {
        let da = dist[e.a as usize];
        if da.is_finite() {
            offer(p.t * len + da, nearest[e.a as usize]);
        }
    }
    for (t, access, s) in same_edge {
        if t >= p.t && e.dir.forward {
            offer((t - p.t) * len + access, s);
        }
        if t <= p.t && e.dir.backward {
            offer((p.t - t) * len + access, s);
        }
    }
    (best.0 + p.access_m, best.1)
}

fn valid(s: &Snap) -> bool {
    (0.0..=1.0).contains(&s.t) && s.access_m.is_finite() && s.access_m >= 0.0
}

/// Start nodes and their initial distances for a search towards `site`.
pub(crate) fn seeds(net: &Network, site: &Site, out: &mut Vec<(u32, f32)>) {
    out.clear();
    match site {
        Site::Node(v) => out.push((*v, 0.0)),
        Site::Snap(s) => {
            let Some(&e) = net.edges.get(s.edge as usize).filter(|_| valid(s)) else { return };
            if e.dir.forward {
                out.push((e.a, s.access_m + s.t * e.length_m));
            }
            if e.dir.backward {
                out.push((e.b, s.access_m + (1.0 - s.t) * e.length_m));
            }
        }
    }
}

/// The key orders by distance, then node: non-negative f32 bit patterns sort like the floats.
#[inline]
fn key(d: f32, v: u32) -> u64 {
    (u64::from(d.to_bits()) << 32) | u64::from(v)
}

/// Dijkstra with lazy deletion. `dist` and `nearest` must be INFINITY / MAX on entry except
/// where already touched by this search; `touched` receives each node the first time it is
/// reached. Ties between sites go to the lower site index, so the output is deterministic.
fn dijkstra<const TRACK: bool>(g: &Csr, bound: f32, dist: &mut [f32], nearest: &mut [u32], touched: &mut Vec<u32>, heap: &mut BinaryHeap<Reverse<u64>>) {
    while let Some(Reverse(k)) = heap.pop() {
        let u = k as u32;
        let d = f32::from_bits((k >> 32) as u32);
        if d > dist[u as usize] {
            continue;
        }
        // Without TRACK (one site) the nearest-site labels are not kept: one array less to touch.
        let src = if TRACK { nearest[u as usize] } else { 0 };
        let (lo, hi) = (g.offsets[u as usize] as usize, g.offsets[u as usize + 1] as usize);
        for i in lo..hi {
            let v = g.targets[i];
            let nd = d + g.weights[i];
            if nd > bound {
                continue;
            }
            let dv = &mut dist[v as usize];
            if nd < *dv || (TRACK && nd == *dv && src < nearest[v as usize]) {
                if dv.is_infinite() {
                    touched.push(v);
                }
                *dv = nd;
                if TRACK {
                    nearest[v as usize] = src;
                }
                heap.push(Reverse(key(nd, v)));
            }
        }
    }
}

/// Sets a label if it improves on the current one; returns whether it did.
#[inline]
fn relax(v: u32, d: f32, src: u32, dist: &mut [f32], nearest: &mut [u32], touched: &mut Vec<u32>) -> bool {
    let dv = &mut dist[v as usize];
    if d < *dv || (d == *dv && src < nearest[v as usize]) {
        if dv.is_infinite() {
            touched.push(v);
        }
        *dv = d;
        nearest[v as usize] = src;
        true
    } else {
        false
    }
}

/// Searches of coverage sets before the width not in favour is tried again (see
/// [`WidthChoice`]): at first, and at most after repeated confirmations.
const PROBE_FIRST: u32 = 8;
const PROBE_MAX: u32 = 256;

/// Whether the next search of coverage sets takes eight sites or sixteen, by the time the
/// recent searches of each width took per (site, core node) pair they found. Which is cheaper
/// depends on the machine (with AVX2 a sixteen-lane label row is two instructions, without it
/// four; its 64 bytes are twice the memory traffic, which tells on a network larger than the
/// caches) and on the network (how far the balls of neighbouring candidates overlap), and
/// changes from one part of a network to another, so it is measured rather than modelled. Per
/// pair rather than per site, so that a part of the network where balls are larger does not
/// count against the width searched there. The first search takes eight sites, the second
/// sixteen, then the one faster; the other is tried again after `PROBE_FIRST` searches, and
/// after twice as many each time it is confirmed slower. The sets are the same whichever width
/// is used: only the speed depends on the clock.
#[derive(Debug)]
pub(crate) struct WidthChoice {
    /// Nanoseconds per pair, smoothed, for eight and for sixteen lanes.
    ns_per_pair: [Option<f64>; 2],
    wide: bool,
    /// Searches until the other width is tried, and the wait after the next confirmation.
    until_probe: u32,
    backoff: u32,
}

impl Default for WidthChoice {
    fn default() -> WidthChoice {
        WidthChoice { ns_per_pair: [None, None], wide: false, until_probe: PROBE_FIRST, backoff: PROBE_FIRST }
    }
}

impl WidthChoice {
    /// The width of the next search: `true` for sixteen sites.
    pub fn next(&mut self) -> bool {
        match self.ns_per_pair {
            [None, _] => false,
            [_, None] => true,
            [Some(narrow), Some(wide)] => {
                let best = wide < narrow;
                if best != self.wide {
                    self.wide = best; // a probe found the other faster, or the favourite slowed
                    self.backoff = PROBE_FIRST;
                    self.until_probe = PROBE_FIRST;
                }
                if self.until_probe == 0 {
                    // Probe the other width; should it be slower again, wait twice as long.
                    self.backoff = (2 * self.backoff).min(PROBE_MAX);
                    self.until_probe = self.backoff;
                    return !best;
                }
                self.until_probe -= 1;
                best
            }
        }
    }

    /// Records that a search of the given width took `took` for `pairs` (site, core node)
    /// pairs. One search moves the estimate by at most a factor of two (a thread preempted
    /// mid-search would otherwise count many times over); the favourite's is smoothed, while a
    /// probe's replaces the other's, which is older.
    pub fn record(&mut self, wide: bool, took: std::time::Duration, pairs: usize) {
        let x = took.as_nanos() as f64 / pairs.max(1) as f64;
        let probe = wide != self.wide;
        let e = &mut self.ns_per_pair[usize::from(wide)];
        *e = Some(match *e {
            None => x,
            Some(old) if probe => x.clamp(old / 2.0, 2.0 * old),
            Some(old) => 0.75 * old + 0.25 * x.clamp(old / 2.0, 2.0 * old),
        });
    }
}

/// Width (metres) of a bucket of the core search's queue.
pub(crate) const BUCKET_M: f32 = 4.0;

/// [`dijkstra`] on the contracted core, in core ids, with the seeds in `heap`. Uses a cyclic
/// bucket queue (Dial's algorithm with buckets `BUCKET_M` wide) when `buckets` is not empty
/// and the seeds fit into its window, else the heap. Within a bucket the order is arbitrary
/// and a node improved after its scan is scanned again (label-correcting inside the bucket), so
/// labels are exact whatever the bucket width: a node's shortest-path predecessor has a
/// smaller or equal label, so it lies in an earlier bucket (final) or in the same one, where it
/// is rescanned after its last improvement.
#[allow(clippy::too_many_arguments)]
fn core_dijkstra<const TRACK: bool>(
    ch: &Chains,
    bound: f32,
    dist: &mut [f32],
    nearest: &mut [u32],
    touched: &mut Vec<u32>,
    heap: &mut BinaryHeap<Reverse<u64>>,
    buckets: &mut [Vec<u32>],
    vis: &mut impl ArcVisit,
) {
    let inv = 1.0 / BUCKET_M;
    let at = |d: f32| (d * inv) as usize;
    let (mut lo, mut hi) = (usize::MAX, 0usize);
    for &Reverse(k) in heap.iter() {
        let b = at(f32::from_bits((k >> 32) as u32));
        lo = lo.min(b);
        hi = hi.max(b);
    }
    let slots = buckets.len();
    if !heap.is_empty() && slots > 0 && hi - lo + ch.arc_buckets < slots {
        let mask = slots - 1;
        let mut queued = heap.len();
        for Reverse(k) in heap.drain() {
            buckets[at(f32::from_bits((k >> 32) as u32)) & mask].push(k as u32);
        }
        let mut cur = lo;
        while queued > 0 {
            let slot = cur & mask;
            while let Some(u) = buckets[slot].pop() {
                queued -= 1;
                let d = dist[u as usize];
                if at(d) != cur {
                    continue; // improved into an earlier bucket since
                }
                relax_core::<TRACK>(ch, u, d, bound, dist, nearest, touched, vis, |nd, v| {
                    buckets[at(nd) & mask].push(v);
                    queued += 1;
                });
            }
            cur += 1;
        }
        return;
    }
    while let Some(Reverse(k)) = heap.pop() {
        let u = k as u32;
        let d = f32::from_bits((k >> 32) as u32);
        if d > dist[u as usize] {
            continue;
        }
        relax_core::<TRACK>(ch, u, d, bound, dist, nearest, touched, vis, |nd, v| heap.push(Reverse(key(nd, v))));
    }
}

/// Called by the core search for every arc of every scanned node, before the arc is relaxed.
pub(crate) trait ArcVisit {
    fn arc(&mut self, u: u32, d: f32, a: &Arc, tag: u32);
}

impl ArcVisit for () {
    #[inline(always)]
    fn arc(&mut self, _: u32, _: f32, _: &Arc, _: u32) {}
}

/// For a coverage set: a chain that lies within the bound from the scanned end (the end's label
/// plus the chain's length) goes into the set as a whole bit range at once, as the search scans
/// its end; any other chain leaving a scanned node is noted, to be decided from both ends' final
/// labels after the search. Bits are idempotent, so a chain seen from both ends or from a node
/// scanned twice costs only the repeat.
struct ChainVisit<'a> {
    ch: &'a Chains,
    bound: f32,
    nc: u32,
    out: &'a mut SetBuilder,
    partial: &'a mut Vec<(u32, u32)>,
}

impl ArcVisit for ChainVisit<'_> {
    #[inline(always)]
    fn arc(&mut self, u: u32, d: f32, a: &Arc, tag: u32) {
        if tag == DIRECT {
            return;
        }
        if d + a.w <= self.bound {
            let c = (tag / 2) as usize;
            self.out.insert_range(self.nc + self.ch.start[c], self.nc + self.ch.start[c + 1]);
        } else {
            self.partial.push((u, tag));
        }
    }
}

/// Relaxes the arcs of core node `u`, settled at `d`: improves its neighbours within `bound` and
/// hands each improved one that is not a dead end to `queue` (the bucket queue or the heap).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn relax_core<const TRACK: bool>(
    ch: &Chains,
    u: u32,
    d: f32,
    bound: f32,
    dist: &mut [f32],
    nearest: &mut [u32],
    touched: &mut Vec<u32>,
    vis: &mut impl ArcVisit,
    mut queue: impl FnMut(f32, u32),
) {
    let src = if TRACK { nearest[u as usize] } else { 0 };
    for (a, tag) in ch.tagged_arcs_of(u) {
        vis.arc(u, d, a, tag);
        let v = a.head();
        let nd = d + a.w;
        if nd > bound {
            continue;
        }
        let dv = &mut dist[v as usize];
        if nd < *dv || (TRACK && nd == *dv && src < nearest[v as usize]) {
            if dv.is_infinite() {
                touched.push(v);
            }
            *dv = nd;
            if TRACK {
                nearest[v as usize] = src;
            }
            if !a.head_is_leaf() {
                queue(nd, v);
            }
        }
    }
}

/// After a core search (`cdist`, `cnear`, `ctouched` in core ids): copies the core labels to
/// the node arrays and gives the inner nodes of every chain next to a reached core node (and of
/// the chains holding a seed) their distances, walking along the chain from each end until the
/// bound.
#[allow(clippy::too_many_arguments)]
fn expand(
    ch: &Chains,
    bound: f32,
    cdist: &[f32],
    cnear: &[u32],
    ctouched: &[u32],
    dist: &mut [f32],
    nearest: &mut [u32],
    touched: &mut Vec<u32>,
    inner: &[(u32, f32, u32)],
) {
    for &c in ctouched {
        let v = ch.core[c as usize];
        relax(v, cdist[c as usize], cnear[c as usize], dist, nearest, touched);
    }
    for &cu in ctouched {
        let (du, su) = (cdist[cu as usize], cnear[cu as usize]);
        for (_, tag) in ch.tagged_arcs_of(cu) {
            if tag == DIRECT {
                continue;
            }
            let c = (tag / 2) as usize;
            let (s, e) = (ch.start[c] as usize, ch.start[c + 1] as usize);
            let len = ch.len[c];
            let (first, last) = ch.ends[c];
            if tag & 1 == 0 {
                let (dw, sw) = (cdist[last as usize], cnear[last as usize]);
                if dw.is_finite() {
                    // Both ends reached: one pass, each inner node from its nearer end.
                    for p in s..e {
                        let (a, b) = (du + ch.off[p], dw + (len - ch.off[p]));
                        let (d, src) = if a < b || (a == b && su <= sw) { (a, su) } else { (b, sw) };
                        if d <= bound {
                            relax(ch.nodes[p], d, src, dist, nearest, touched);
                        }
                    }
                } else {
                    for p in s..e {
                        let d = du + ch.off[p];
                        if d > bound {
                            break;
                        }
                        relax(ch.nodes[p], d, su, dist, nearest, touched);
                    }
                }
            } else if cdist[first as usize].is_infinite() {
                // Only the last end reached (otherwise the first end's pass covered the chain).
                for p in (s..e).rev() {
                    let d = du + (len - ch.off[p]);
                    if d > bound {
                        break;
                    }
                    relax(ch.nodes[p], d, su, dist, nearest, touched);
                }
            }
        }
    }
    for &(x, d0, src) in inner {
        relax(x, d0, src, dist, nearest, touched);
        let c = ch.chain_of[x as usize] as usize;
        let (s, e) = (ch.start[c] as usize, ch.start[c + 1] as usize);
        let px = ch.pos_of[x as usize] as usize;
        let ox = ch.off[px];
        for p in px + 1..e {
            let d = d0 + (ch.off[p] - ox);
            if d > bound {
                break;
            }
            relax(ch.nodes[p], d, src, dist, nearest, touched);
        }
        for p in (s..px).rev() {
            let d = d0 + (ox - ch.off[p]);
            if d > bound {
                break;
            }
            relax(ch.nodes[p], d, src, dist, nearest, touched);
        }
    }
}

/// [`expand`] for a whole field (fresh `dist` and `nearest`, no `touched` list): sweeps the
/// core and then every chain in memory order, writing each node once, instead of following the
/// reached core nodes' arcs.
fn fill_field(ch: &Chains, bound: f32, cdist: &[f32], cnear: &[u32], dist: &mut [f32], nearest: &mut [u32], inner: &[(u32, f32, u32)]) {
    for (c, &v) in ch.core.iter().enumerate() {
        if cdist[c].is_finite() {
            dist[v as usize] = cdist[c];
            nearest[v as usize] = cnear[c];
        }
    }
    for (c, &(first, last)) in ch.ends.iter().enumerate() {
        let (du, su) = (cdist[first as usize], cnear[first as usize]);
        let (dw, sw) = (cdist[last as usize], cnear[last as usize]);
        let (s, e) = (ch.start[c] as usize, ch.start[c + 1] as usize);
        let len = ch.len[c];
        match (du.is_finite(), dw.is_finite()) {
            (true, true) => {
                for p in s..e {
                    let (a, b) = (du + ch.off[p], dw + (len - ch.off[p]));
                    let (d, src) = if a < b || (a == b && su <= sw) { (a, su) } else { (b, sw) };
                    if d <= bound {
                        dist[ch.nodes[p] as usize] = d;
                        nearest[ch.nodes[p] as usize] = src;
                    }
                }
            }
            (true, false) => {
                for p in s..e {
                    let d = du + ch.off[p];
                    if d > bound {
                        break;
                    }
                    dist[ch.nodes[p] as usize] = d;
                    nearest[ch.nodes[p] as usize] = su;
                }
            }
            (false, true) => {
                for p in (s..e).rev() {
                    let d = dw + (len - ch.off[p]);
                    if d > bound {
                        break;
                    }
                    dist[ch.nodes[p] as usize] = d;
                    nearest[ch.nodes[p] as usize] = sw;
                }
            }
            (false, false) => {}
        }
    }
    let mut scratch = Vec::new();
    expand(ch, bound, cdist, cnear, &[], dist, nearest, &mut scratch, inner);
}

impl Network {
    /// One multi-source Dijkstra: for every node, the distance to the nearest of `sites` and
    /// its index, up to `bound_m` (use `f32::INFINITY` for no bound). Node sites out of range
    /// are ignored.
    pub fn nearest_facility(&self, sites: &[Site], bound_m: f32) -> DistanceField {
        let mut s = self.searcher();
        let mut on_edge = Vec::new();
        for (i, site) in sites.iter().enumerate() {
            s.add_site(site, i as u32, bound_m);
            if let Some(sn) = site.filter_valid(self) {
                on_edge.push((sn.edge, sn.t, sn.access_m, i as u32));
            }
        }
        on_edge.sort_by(|x, y| x.0.cmp(&y.0).then(x.3.cmp(&y.3)));
        match &self.chains {
            Some(ch) => {
                core_dijkstra::<true>(ch, bound_m, &mut s.cdist, &mut s.cnear, &mut s.ctouched, &mut s.heap, &mut s.buckets, &mut ());
                fill_field(ch, bound_m, &s.cdist, &s.cnear, &mut s.dist, &mut s.nearest, &s.inner);
            }
            None => s.search(bound_m),
        }
        DistanceField { dist: s.dist, nearest: s.nearest, bound: bound_m, on_edge }
    }

    /// A reusable workspace for many single-site bounded searches; each search costs only the
    /// nodes it reaches.
    pub fn searcher(&self) -> Searcher<'_> {
        let n = self.node_count();
        let nc = self.chains.as_ref().map_or(0, |c| c.core_nodes());
        Searcher {
            net: self,
            dist: vec![f32::INFINITY; n],
            nearest: vec![u32::MAX; n],
            touched: Vec::new(),
            cdist: vec![f32::INFINITY; nc],
            cnear: vec![u32::MAX; nc],
            ctouched: Vec::new(),
            cnear_written: 0,
            heap: BinaryHeap::new(),
            buckets: vec![Vec::new(); self.chains.as_ref().map_or(0, |c| (c.arc_buckets + 64).next_power_of_two())],
            seeds: Vec::with_capacity(2),
            inner: Vec::new(),
            partial: Vec::new(),
            last_reached: 0,
            force_sweep: None,
        }
    }

    /// Nodes from which `site` is within `bound_m`, with their distances, ascending by node.
    pub fn within(&self, site: &Site, bound_m: f32) -> Vec<(u32, f32)> {
        let mut s = self.searcher();
        s.run(site, bound_m);
        let mut out: Vec<(u32, f32)> = s.touched.iter().map(|&v| (v, s.dist[v as usize])).collect();
        out.sort_unstable_by_key(|x| x.0);
        out
    }

    /// For each site, the nodes within `bound_m` of it: the coverage sets of a maximal-covering
    /// problem whose demand is the graph's nodes. The sites are searched in spatial (Hilbert)
    /// order, so that each search finds most of the graph it needs in cache from the previous
    /// ones; on a contracted network with a finite bound, eight or sixteen neighbours in that
    /// order share one search with a label per site (see `lanes.rs`); a repeated site is
    /// searched once and its set stored once.
    pub fn coverage(&self, sites: &[Site], bound_m: f32) -> CoverSets {
        self.coverage_threads(sites, bound_m, 1)
    }

    /// [`Network::coverage`] split over `threads` threads (each with its own workspace, so
    /// memory grows by one node-sized array per thread, and each taking one stretch of the
    /// spatial order); the sets are identical.
    pub fn coverage_threads(&self, sites: &[Site], bound_m: f32, threads: usize) -> CoverSets {
        let order = self.spatial_order(sites);
        let threads = threads.clamp(1, sites.len().max(1));
        let chunk = order.len().div_ceil(threads).max(1);
        let parts: Vec<Blocks> = if threads == 1 {
            vec![self.coverage_chunk(sites, &order, bound_m)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = order.chunks(chunk).map(|c| scope.spawn(move || self.coverage_chunk(sites, c, bound_m))).collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
            })
        };
        let mut all = Blocks { spans: vec![(0usize, 0usize); sites.len()], ..Blocks::default() };
        for (part, idx) in parts.into_iter().zip(order.chunks(chunk)) {
            let base = all.words.len();
            for (&(a, b), &i) in part.spans.iter().zip(idx) {
                all.spans[i as usize] = (a + base, b + base);
            }
            if base == 0 {
                (all.words, all.masks) = (part.words, part.masks); // the first part without a copy
            } else {
                all.words.extend_from_slice(&part.words);
                all.masks.extend_from_slice(&part.masks);
            }
            all.stored += part.stored;
        }
        CoverSets::from_blocks(self.node_count(), self.chains.as_ref().map(|c| c.bit_order.clone()), all)
    }

    /// Site indices in Hilbert order of the sites' positions, equal sites next to each other.
    fn spatial_order(&self, sites: &[Site]) -> Vec<u32> {
        let pos = |s: &Site| -> [f64; 2] {
            match s {
                Site::Node(v) => self.xy.get(*v as usize).copied().unwrap_or([f64::NAN; 2]),
                Site::Snap(sn) => match self.edges.get(sn.edge as usize) {
                    Some(e) => {
                        let (a, b) = (self.xy[e.a as usize], self.xy[e.b as usize]);
                        let t = f64::from(sn.t.clamp(0.0, 1.0));
                        [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
                    }
                    None => [f64::NAN; 2],
                },
            }
        };
        let keys = crate::chains::hilbert_keys(sites.iter().map(pos));
        let ident = |s: &Site| match s {
            Site::Node(v) => (0u8, *v, 0u32, 0u32),
            Site::Snap(sn) => (1u8, sn.edge, sn.t.to_bits(), sn.access_m.to_bits()),
        };
        let mut order: Vec<u32> = (0..sites.len() as u32).collect();
        order.sort_unstable_by_key(|&i| (keys[i as usize], ident(&sites[i as usize]), i));
        order
    }

    /// The sets of `sites[i]` for `i` in `order`, as ranges of one list of blocks.
    fn coverage_chunk(&self, sites: &[Site], order: &[u32], bound_m: f32) -> Blocks {
        if let Some(out) = self.chains.as_ref().and_then(|ch| self.coverage_chunk_lanes(ch, sites, order, bound_m)) {
            return out;
        }
        let mut s = self.searcher();
        let mut builder = SetBuilder::new(self.node_count());
        let mut out = Blocks { spans: Vec::with_capacity(order.len()), ..Blocks::default() };
        for (k, &i) in order.iter().enumerate() {
            let site = &sites[i as usize];
            if let Some(&last) = out.spans.last()
                && sites[order[k - 1] as usize] == *site
            {
                out.spans.push(last); // the same site again: the same set
                continue;
            }
            let start = out.words.len();
            s.members_bits(site, bound_m, &mut builder);
            out.stored += builder.drain_into(&mut out.words, &mut out.masks);
            out.spans.push((start, out.words.len()));
        }
        out
    }

    /// [`Network::coverage_chunk`] on a contracted network: consecutive distinct sites
    /// (neighbours in the spatial order) share a search, eight or sixteen at a time (see
    /// [`WidthChoice`]); a run of equal sites shares one set.
    fn coverage_chunk_lanes(&self, ch: &Chains, sites: &[Site], order: &[u32], bound_m: f32) -> Option<Blocks> {
        let mut narrow = LaneSearch::<8>::new(self, ch, bound_m)?;
        let mut narrow_bits = LaneBits::<8>::new(self.node_count());
        let mut wide: Option<(LaneSearch<'_, 16>, LaneBits<16>)> = None;
        let mut out = Blocks { spans: Vec::with_capacity(order.len()), ..Blocks::default() };
        // Runs of equal sites in `order`, as (first position, length).
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for k in 0..order.len() {
            match runs.last_mut() {
                Some(r) if sites[order[k - 1] as usize] == sites[order[k] as usize] => r.1 += 1,
                _ => runs.push((k, 1)),
            }
        }
        let mut rest = &runs[..];
        let mut width = WidthChoice::default();
        while !rest.is_empty() {
            let go_wide = width.next();
            let (batch, tail) = rest.split_at(rest.len().min(if go_wide { 16 } else { 8 }));
            rest = tail;
            let batch_sites: Vec<&Site> = batch.iter().map(|r| &sites[order[r.0] as usize]).collect();
            if go_wide && wide.is_none() {
                // Built before the clock starts: the first wide search is not to pay for it.
                wide = Some((LaneSearch::new(self, ch, bound_m).expect("same bound as the narrow one"), LaneBits::new(self.node_count())));
            }
            let start = std::time::Instant::now();
            let pairs = if let Some((search, bits)) = wide.as_mut().filter(|_| go_wide) {
                search_batch(search, bits, &batch_sites, batch, bound_m, &mut out)
            } else {
                search_batch(&mut narrow, &mut narrow_bits, &batch_sites, batch, bound_m, &mut out)
            };
            width.record(go_wide, start.elapsed(), pairs);
        }
        Some(out)
    }

    /// For each site, the indices of the `demand` points within `bound_m` of it (ascending),
    /// counting both access distances: the coverage sets over buildings.
    pub fn coverage_of_points(&self, sites: &[Site], demand: &[Snap], bound_m: f32) -> CoverSets {
        let n = self.node_count();
        // Demand points attached to both end nodes of their edge, as CSR.
        let ok = |p: &Snap| (p.edge as usize) < self.edges.len() && valid(p);
        let mut off = vec![0u32; n + 1];
        for p in demand.iter().filter(|p| ok(p)) {
            let e = self.edges[p.edge as usize];
            off[e.a as usize + 1] += 1;
            off[e.b as usize + 1] += 1;
        }
        for i in 0..n {
            off[i + 1] += off[i];
        }
        let mut fill = off.clone();
        let mut att = vec![0u32; off[n] as usize];
        for (i, p) in demand.iter().enumerate().filter(|(_, p)| ok(p)) {
            let e = self.edges[p.edge as usize];
            for v in [e.a, e.b] {
                att[fill[v as usize] as usize] = i as u32;
                fill[v as usize] += 1;
            }
        }
        let mut by_edge: Vec<(u32, u32)> = demand.iter().enumerate().filter(|(_, p)| ok(p)).map(|(i, p)| (p.edge, i as u32)).collect();
        by_edge.sort_unstable();
        let mut stamp = vec![u32::MAX; demand.len()];
        let mut s = self.searcher();
        let mut offsets = vec![0usize];
        let mut items: Vec<u32> = Vec::new();
        for (si, site) in sites.iter().enumerate() {
            s.run(site, bound_m);
            let own = match site {
                Site::Snap(sn) => Some(*sn),
                Site::Node(_) => None,
            };
            let mut consider = |d: u32, items: &mut Vec<u32>, s: &Searcher<'_>| {
                if stamp[d as usize] == si as u32 {
                    return;
                }
                stamp[d as usize] = si as u32;
                let p = &demand[d as usize];
                let same = own.filter(|o| o.edge == p.edge).map(|o| (o.t, o.access_m, 0u32));
                let (dd, _) = point_distance(self, &s.dist, &s.nearest, p, same.into_iter());
                if dd <= bound_m {
                    items.push(d);
                }
            };
            for &u in &s.touched {
                for &d in &att[off[u as usize] as usize..off[u as usize + 1] as usize] {
                    consider(d, &mut items, &s);
                }
            }
            if let Some(o) = own {
                let lo = by_edge.partition_point(|x| x.0 < o.edge);
                for &(_, d) in by_edge[lo..].iter().take_while(|x| x.0 == o.edge) {
                    consider(d, &mut items, &s);
                }
            }
            offsets.push(items.len());
        }
        // Bits in Hilbert order of the points, so that a set of nearby buildings is a few words.
        let keys = crate::chains::hilbert_keys(demand.iter().map(|p| p.point));
        let mut elem_of: Vec<u32> = (0..demand.len() as u32).collect();
        elem_of.sort_unstable_by_key(|&i| (keys[i as usize], i));
        let mut bit_of = vec![0u32; demand.len()];
        for (b, &i) in elem_of.iter().enumerate() {
            bit_of[i as usize] = b as u32;
        }
        let order = std::sync::Arc::new(crate::cover::BitOrder { bit_of, elem_of });
        CoverSets::from_lists(demand.len(), Some(order), offsets.windows(2).map(|w| &items[w[0]..w[1]]))
    }
}

/// One search of [`Network::coverage_chunk_lanes`]: the sets of `sites` (the first of each run
/// in `runs`) appended to `out`, each run's span repeated for its length; returns the
/// (site, core node) pairs found.
fn search_batch<const N: usize>(
    search: &mut LaneSearch<'_, N>,
    bits: &mut LaneBits<N>,
    sites: &[&Site],
    runs: &[(usize, usize)],
    bound_m: f32,
    out: &mut Blocks,
) -> usize {
    let pairs = search.members_bits(sites, bound_m, bits);
    for (j, r) in runs.iter().enumerate() {
        let start = out.words.len();
        out.stored += bits.drain_lane_into(j, &mut out.words, &mut out.masks);
        out.spans.extend(std::iter::repeat_n((start, out.words.len()), r.1));
    }
    bits.clear();
    pairs
}

/// Where [`Searcher::members_into`] puts a set's nodes.
pub(crate) trait Sink {
    /// A node of an uncontracted network.
    fn node(&mut self, v: u32);
    /// Core node `c` (core id).
    fn core(&mut self, ch: &Chains, c: u32);
    /// The inner nodes at chain positions `s..e` (one whole chain).
    fn chain(&mut self, ch: &Chains, s: usize, e: usize);
    /// The inner node at chain position `p`.
    fn inner(&mut self, ch: &Chains, p: usize);
}

struct NodeSink<'a>(&'a mut Vec<u32>);

impl Sink for NodeSink<'_> {
    fn node(&mut self, v: u32) {
        self.0.push(v);
    }
    fn core(&mut self, ch: &Chains, c: u32) {
        self.0.push(ch.core[c as usize]);
    }
    fn chain(&mut self, ch: &Chains, s: usize, e: usize) {
        self.0.extend_from_slice(&ch.nodes[s..e]);
    }
    fn inner(&mut self, ch: &Chains, p: usize) {
        self.0.push(ch.nodes[p]);
    }
}

/// Calls `emit` with each position on a chain holding a seed (`inner`: seed node, its distance,
/// its site) that lies within `bound`, counting the paths inside the chain from the seeds as well
/// as those through the chain's ends (`dist` holds the core labels).
fn seeded_chain_positions(ch: &Chains, inner: &[(u32, f32, u32)], dist: &[f32], bound: f32, mut emit: impl FnMut(usize)) {
    let mut seeded: Vec<u32> = inner.iter().map(|&(x, _, _)| ch.chain_of[x as usize]).collect();
    seeded.sort_unstable();
    seeded.dedup();
    for c in seeded {
        let c = c as usize;
        let (s, e) = (ch.start[c] as usize, ch.start[c + 1] as usize);
        let len = ch.len[c];
        let (first, last) = ch.ends[c];
        let (du, dw) = (dist[first as usize], dist[last as usize]);
        for p in s..e {
            let off = ch.off[p];
            let mut d = (du + off).min(dw + (len - off));
            for &(y, d0, _) in inner {
                if ch.chain_of[y as usize] as usize == c {
                    d = d.min(d0 + (off - ch.off[ch.pos_of[y as usize] as usize]).abs());
                }
            }
            if d <= bound {
                emit(p);
            }
        }
    }
}

/// See [`Network::searcher`].
pub struct Searcher<'a> {
    net: &'a Network,
    /// Labels by node id (all nodes of an uncontracted network; after [`Searcher::run`] also
    /// the chain nodes of a contracted one).
    dist: Vec<f32>,
    nearest: Vec<u32>,
    touched: Vec<u32>,
    /// Labels of the contracted core, by core id.
    cdist: Vec<f32>,
    cnear: Vec<u32>,
    ctouched: Vec<u32>,
    /// How many entries of `cnear` the last search wrote, from the start of `ctouched`: all of
    /// them after a search that keeps site labels, only the seeds after [`Searcher::members`]
    /// (so that its reset does not touch a cache line of `cnear` per reached node).
    cnear_written: usize,
    heap: BinaryHeap<Reverse<u64>>,
    /// The core search's cyclic bucket queue (empty without a core); see [`core_dijkstra`].
    buckets: Vec<Vec<u32>>,
    seeds: Vec<(u32, f32)>,
    /// Seeds on inner chain nodes: node, distance, site.
    inner: Vec<(u32, f32, u32)>,
    /// Chains left for after the search by [`Searcher::members_bits`]: scanned end, arc tag.
    partial: Vec<(u32, u32)>,
    /// Core nodes the last [`Searcher::members_bits`] reached.
    last_reached: usize,
    /// Tests: force (or forbid) the chain sweep of [`Searcher::members_bits`].
    pub(crate) force_sweep: Option<bool>,
}

impl Searcher<'_> {
    /// Runs one bounded search towards `site`; returns the reached nodes in the order they were
    /// first reached (their distances via [`Searcher::distance`]). Valid until the next run.
    pub fn run(&mut self, site: &Site, bound_m: f32) -> &[u32] {
        self.reset();
        self.add_site(site, 0, bound_m);
        self.search(bound_m);
        &self.touched
    }

    /// Appends the nodes within `bound_m` of `site` to `out`, each once, without computing the
    /// distances of chain nodes: a chain whose farthest point from the site is within the bound
    /// is copied whole. Used for coverage sets, where only membership matters.
    pub fn members(&mut self, site: &Site, bound_m: f32, out: &mut Vec<u32>) {
        self.members_into(site, bound_m, &mut NodeSink(out));
    }

    /// [`Searcher::members`] into any [`Sink`].
    pub(crate) fn members_into<S: Sink>(&mut self, site: &Site, bound_m: f32, out: &mut S) {
        let Some(ch) = &self.net.chains else {
            for &v in self.run(site, bound_m) {
                out.node(v);
            }
            return;
        };
        self.reset();
        self.add_site(site, 0, bound_m);
        // Only the seeds (the first entries of `ctouched`) get a site label in this search.
        self.cnear_written = self.ctouched.len();
        core_dijkstra::<false>(ch, bound_m, &mut self.cdist, &mut self.cnear, &mut self.ctouched, &mut self.heap, &mut self.buckets, &mut ());
        let bound = bound_m;
        let dist = &self.cdist;
        // Chains holding a seed are done separately (paths inside the chain count too).
        let special = |c: u32| self.inner.iter().any(|&(x, _, _)| ch.chain_of[x as usize] == c);
        let any_inner = !self.inner.is_empty();
        // A ball holding much of the network (a small town): sweep all chains in memory order
        // rather than following the reached nodes' arcs.
        if self.ctouched.len() * 2 > ch.len.len() {
            for &c in &self.ctouched {
                out.core(ch, c);
            }
            for (c, &(first, last)) in ch.ends.iter().enumerate() {
                let (du, dw) = (dist[first as usize], dist[last as usize]);
                if (du.is_infinite() && dw.is_infinite()) || (any_inner && special(c as u32)) {
                    continue;
                }
                let (s, e) = (ch.start[c] as usize, ch.start[c + 1] as usize);
                let len = ch.len[c];
                if (du + dw + len) / 2.0 <= bound {
                    out.chain(ch, s, e);
                } else if dw.is_infinite() {
                    for p in s..e {
                        if du + ch.off[p] > bound {
                            break;
                        }
                        out.inner(ch, p);
                    }
                } else if du.is_infinite() {
                    for p in (s..e).rev() {
                        if dw + (len - ch.off[p]) > bound {
                            break;
                        }
                        out.inner(ch, p);
                    }
                } else {
                    for p in s..e {
                        if (du + ch.off[p]).min(dw + (len - ch.off[p])) <= bound {
                            out.inner(ch, p);
                        }
                    }
                }
            }
        } else {
            for &cu in &self.ctouched {
                out.core(ch, cu);
                let du = dist[cu as usize];
                for (_, tag) in ch.tagged_arcs_of(cu) {
                    if tag == DIRECT || (any_inner && special(tag / 2)) {
                        continue;
                    }
                    let c = (tag / 2) as usize;
                    let (s, e) = (ch.start[c] as usize, ch.start[c + 1] as usize);
                    let len = ch.len[c];
                    let (first, last) = ch.ends[c];
                    if tag & 1 == 0 {
                        let dw = dist[last as usize];
                        if dw.is_finite() {
                            if (du + dw + len) / 2.0 <= bound {
                                out.chain(ch, s, e);
                            } else {
                                for p in s..e {
                                    if (du + ch.off[p]).min(dw + (len - ch.off[p])) <= bound {
                                        out.inner(ch, p);
                                    }
                                }
                            }
                        } else {
                            for p in s..e {
                                if du + ch.off[p] > bound {
                                    break;
                                }
                                out.inner(ch, p);
                            }
                        }
                    } else if dist[first as usize].is_infinite() {
                        for p in (s..e).rev() {
                            if du + (len - ch.off[p]) > bound {
                                break;
                            }
                            out.inner(ch, p);
                        }
                    }
                }
            }
        }
        if !any_inner {
            return;
        }
        seeded_chain_positions(ch, &self.inner, dist, bound, |p| out.inner(ch, p));
    }

    /// [`Searcher::members`] as bits of the network's [`crate::cover::BitOrder`] (core ids, then
    /// chain positions after the core): whole chains are decided during the search (see
    /// [`ChainVisit`]), so no pass over the reached nodes' arcs is needed afterwards.
    pub(crate) fn members_bits(&mut self, site: &Site, bound_m: f32, out: &mut SetBuilder) {
        let Some(ch) = &self.net.chains else {
            for &v in self.run(site, bound_m) {
                out.insert(v);
            }
            return;
        };
        self.reset();
        self.add_site(site, 0, bound_m);
        // Only the seeds (the first entries of `ctouched`) get a site label in this search.
        self.cnear_written = self.ctouched.len();
        let (bound, nc) = (bound_m, ch.core_nodes() as u32);
        // When the last ball held much of the network (a small town), this one likely does too:
        // then sweeping all chains in memory order after the search is cheaper than deciding
        // each chain as the search meets it (from both ends). Both give the same set.
        let sweep = self.force_sweep.unwrap_or(self.last_reached * 2 > ch.len.len());
        if sweep {
            core_dijkstra::<false>(ch, bound, &mut self.cdist, &mut self.cnear, &mut self.ctouched, &mut self.heap, &mut self.buckets, &mut ());
        } else {
            let mut vis = ChainVisit { ch, bound, nc, out: &mut *out, partial: &mut self.partial };
            core_dijkstra::<false>(ch, bound, &mut self.cdist, &mut self.cnear, &mut self.ctouched, &mut self.heap, &mut self.buckets, &mut vis);
        }
        self.last_reached = self.ctouched.len();
        let dist = &self.cdist;
        for &c in &self.ctouched {
            out.insert(c);
        }
        if sweep {
            for (c, &(first, last)) in ch.ends.iter().enumerate() {
                let (du, dw) = (dist[first as usize], dist[last as usize]);
                if du.is_infinite() && dw.is_infinite() {
                    continue;
                }
                let (s, e) = (ch.start[c] as usize, ch.start[c + 1] as usize);
                let len = ch.len[c];
                if (du + dw + len) / 2.0 <= bound {
                    out.insert_range(nc + s as u32, nc + e as u32);
                } else if dw.is_infinite() {
                    for p in s..e {
                        if du + ch.off[p] > bound {
                            break;
                        }
                        out.insert(nc + p as u32);
                    }
                } else if du.is_infinite() {
                    for p in (s..e).rev() {
                        if dw + (len - ch.off[p]) > bound {
                            break;
                        }
                        out.insert(nc + p as u32);
                    }
                } else {
                    for p in s..e {
                        if (du + ch.off[p]).min(dw + (len - ch.off[p])) <= bound {
                            out.insert(nc + p as u32);
                        }
                    }
                }
            }
        }
        for &(u, tag) in &self.partial {
            let c = (tag / 2) as usize;
            let (s, e) = (ch.start[c] as usize, ch.start[c + 1] as usize);
            let len = ch.len[c];
            let (first, last) = ch.ends[c];
            let (df, dl) = (dist[first as usize], dist[last as usize]);
            let du = dist[u as usize];
            if df.is_finite() && dl.is_finite() {
                if (df + dl + len) / 2.0 <= bound {
                    out.insert_range(nc + s as u32, nc + e as u32);
                } else {
                    for p in s..e {
                        if (df + ch.off[p]).min(dl + (len - ch.off[p])) <= bound {
                            out.insert(nc + p as u32);
                        }
                    }
                }
            } else if tag & 1 == 0 {
                for p in s..e {
                    if du + ch.off[p] > bound {
                        break;
                    }
                    out.insert(nc + p as u32);
                }
            } else {
                for p in (s..e).rev() {
                    if du + (len - ch.off[p]) > bound {
                        break;
                    }
                    out.insert(nc + p as u32);
                }
            }
        }
        if self.inner.is_empty() {
            return;
        }
        // Chains holding a seed: paths inside the chain count too.
        seeded_chain_positions(ch, &self.inner, dist, bound, |p| out.insert(nc + p as u32));
    }

    fn reset(&mut self) {
        for &v in &self.touched {
            self.dist[v as usize] = f32::INFINITY;
            self.nearest[v as usize] = u32::MAX;
        }
        for &c in &self.ctouched {
            self.cdist[c as usize] = f32::INFINITY;
        }
        for &c in &self.ctouched[..self.cnear_written.min(self.ctouched.len())] {
            self.cnear[c as usize] = u32::MAX;
        }
        self.cnear_written = 0;
        self.touched.clear();
        self.ctouched.clear();
        self.inner.clear();
        self.partial.clear();
        self.heap.clear();
    }

    fn add_site(&mut self, site: &Site, src: u32, bound: f32) {
        seeds(self.net, site, &mut self.seeds);
        for i in 0..self.seeds.len() {
            let (v, d) = self.seeds[i];
            self.seed(v, d, src, bound);
        }
    }

    fn seed(&mut self, v: u32, d: f32, src: u32, bound: f32) {
        if d.is_nan() || bound.is_nan() || d > bound || v as usize >= self.dist.len() {
            return;
        }
        match &self.net.chains {
            Some(ch) => {
                let start = |c: u32, d: f32, s: &mut Self| {
                    if d <= bound && relax(c, d, src, &mut s.cdist, &mut s.cnear, &mut s.ctouched) {
                        s.heap.push(Reverse(key(d, c)));
                    }
                };
                let cv = ch.core_id[v as usize];
                if cv != u32::MAX {
                    start(cv, d, self);
                } else {
                    // An inner chain node: start from both chain ends, and walk the chain itself later.
                    self.inner.push((v, d, src));
                    let c = ch.chain_of[v as usize] as usize;
                    let off = ch.off[ch.pos_of[v as usize] as usize];
                    let (a, b) = ch.ends[c];
                    start(a, d + off, self);
                    start(b, d + (ch.len[c] - off), self);
                }
            }
            None => {
                if relax(v, d, src, &mut self.dist, &mut self.nearest, &mut self.touched) {
                    self.heap.push(Reverse(key(d, v)));
                }
            }
        }
    }

    fn search(&mut self, bound: f32) {
        match &self.net.chains {
            Some(ch) => {
                core_dijkstra::<true>(ch, bound, &mut self.cdist, &mut self.cnear, &mut self.ctouched, &mut self.heap, &mut self.buckets, &mut ());
                self.cnear_written = self.ctouched.len();
                expand(ch, bound, &self.cdist, &self.cnear, &self.ctouched, &mut self.dist, &mut self.nearest, &mut self.touched, &self.inner);
            }
            None => dijkstra::<true>(self.net.towards(), bound, &mut self.dist, &mut self.nearest, &mut self.touched, &mut self.heap),
        }
    }

    /// Distance from `v` to the last run's site (`INFINITY` if beyond its bound).
    pub fn distance(&self, v: u32) -> f32 {
        self.dist[v as usize]
    }
}
