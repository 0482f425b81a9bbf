//! Chain contraction of a two-way network. OSM footway graphs are split at every OSM node
//! (median edge about 7 m), so most nodes have exactly two neighbours. The search runs on the
//! *core* (nodes of any other degree), each chain of degree-2 nodes between two core nodes
//! being one arc; the chain's inner nodes then get their distances from the chain's two ends
//! without any heap operation. Results are the same as on the full graph.
//!
//! The core has its own dense numbering (`0..core.len()`), in Hilbert-curve order of the
//! nodes' projected coordinates, so that nodes near each other on the ground are near each
//! other in memory: a bounded search touches a few compact stretches of the arrays instead of
//! cache lines scattered over the whole node range. Chains are numbered in the order they are
//! met from the core nodes in that order. The public API stays in the network's node ids; the
//! translation happens at the boundary (`core`, `core_id`).

use std::sync::Arc as Shared;

use crate::cover::BitOrder;
use crate::network::Edge;

pub(crate) const DIRECT: u32 = u32::MAX;
pub(crate) const LEAF: u32 = 1 << 31;

impl Arc {
    #[inline]
    pub fn head(&self) -> u32 {
        self.to & !LEAF
    }
    #[inline]
    pub fn head_is_leaf(&self) -> bool {
        self.to & LEAF != 0
    }
}

/// One arc of the core graph, packed in 8 bytes for the search (its chain is in `Chains::tags`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Arc {
    /// Core id of the head, with `LEAF` set when the head has no other arc (a dead end, which
    /// a search labels but need not scan: its one arc leads back).
    pub to: u32,
    pub w: f32,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Chains {
    /// Core adjacency in core ids: arcs of core node `c` are `arcs[first[c]..first[c + 1]]`.
    pub first: Vec<u32>,
    pub arcs: Vec<Arc>,
    /// Parallel to `arcs`: `DIRECT`, or `chain * 2 + 0` when the arc leaves from the chain's
    /// first end and `chain * 2 + 1` when it leaves from its last end.
    pub tags: Vec<u32>,
    /// Core id → node id, and node id → core id (`u32::MAX` for inner nodes).
    pub core: Vec<u32>,
    pub core_id: Vec<u32>,
    /// Inner nodes (node ids) of chain `c` are `nodes[start[c]..start[c + 1]]`, in order from
    /// `ends[c].0`.
    pub start: Vec<u32>,
    pub nodes: Vec<u32>,
    /// Distance from `ends[c].0` to each inner node, parallel to `nodes`.
    pub off: Vec<f32>,
    pub len: Vec<f32>,
    /// The chain's two end nodes, as core ids.
    pub ends: Vec<(u32, u32)>,
    /// For an inner node: its chain and its index into `nodes`; `u32::MAX` for core nodes.
    pub chain_of: Vec<u32>,
    pub pos_of: Vec<u32>,
    /// How many buckets of the search queue the longest arc spans, plus two.
    pub arc_buckets: usize,
    /// By core id: the chains whose first end it is, `first_end_of[c]..first_end_of[c + 1]`
    /// (chains are numbered by their first end), and, as CSR, those whose last end alone it
    /// is (`last_end_first[c]..last_end_first[c + 1]` of `last_end_of`). For reading a set's
    /// chains from its core nodes without going through their arcs.
    pub first_end_of: Vec<u32>,
    pub last_end_first: Vec<u32>,
    pub last_end_of: Vec<u32>,
    /// By core id: the greatest length of the chains whose last end alone it is (0 where none).
    /// A reached node whose least label plus this is within the bound has passed that label on
    /// along each of those chains, so their first ends are reached and a set pass need not look
    /// at them from this end.
    pub last_end_len_max: Vec<f32>,
    /// The numbering of nodes in coverage sets: core ids `0..core.len()`, then inner node at
    /// chain position `p` as `core.len() + p`.
    pub bit_order: Shared<BitOrder>,
}

/// Position along a Hilbert curve over a 2^16 × 2^16 grid.
fn hilbert(mut x: u32, mut y: u32) -> u64 {
    const N: u32 = 1 << 16;
    let mut d = 0u64;
    let mut s = N / 2;
    while s > 0 {
        let rx = u32::from(x & s > 0);
        let ry = u32::from(y & s > 0);
        d += u64::from(s) * u64::from(s) * u64::from((3 * rx) ^ ry);
        if ry == 0 {
            if rx == 1 {
                x = N - 1 - x;
                y = N - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    d
}

/// Hilbert keys of points, on a grid over their own bounding box (non-finite points get 0).
pub(crate) fn hilbert_keys(points: impl Iterator<Item = [f64; 2]> + Clone) -> Vec<u64> {
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for p in points.clone().filter(|p| p[0].is_finite() && p[1].is_finite()) {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let scale = [0, 1].map(|k| if hi[k] > lo[k] { 65_535.0 / (hi[k] - lo[k]) } else { 0.0 });
    let cell = |p: [f64; 2], k: usize| -> u32 {
        let c = (p[k] - lo[k]) * scale[k];
        if c.is_finite() { c.clamp(0.0, 65_535.0) as u32 } else { 0 }
    };
    points.map(|p| hilbert(cell(p, 0), cell(p, 1))).collect()
}

/// Nodes `0..n` where `core` is set, in Hilbert order of `xy` (ties by node id).
fn spatial_order(core: &[bool], xy: &[[f64; 2]]) -> Vec<u32> {
    let nodes: Vec<u32> = (0..core.len() as u32).filter(|&v| core[v as usize]).collect();
    let keys = hilbert_keys(nodes.iter().map(|&v| xy[v as usize]));
    let mut keyed: Vec<(u64, u32)> = keys.into_iter().zip(nodes).collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, v)| v).collect()
}

impl Chains {
    /// Builds the contraction; only for networks whose edges are all two-way. `xy` (projected
    /// coordinates, one per node) only decides the memory order of the core.
    pub fn build(n: usize, edges: &[Edge], xy: &[[f64; 2]]) -> Chains {
        // Incident edges per node.
        let mut inc_off = vec![0u32; n + 1];
        for e in edges {
            inc_off[e.a as usize + 1] += 1;
            inc_off[e.b as usize + 1] += 1;
        }
        for i in 0..n {
            inc_off[i + 1] += inc_off[i];
        }
        let mut fill = inc_off.clone();
        let mut inc = vec![0u32; inc_off[n] as usize];
        for (i, e) in edges.iter().enumerate() {
            for v in [e.a, e.b] {
                inc[fill[v as usize] as usize] = i as u32;
                fill[v as usize] += 1;
            }
        }
        let incident = |v: u32| &inc[inc_off[v as usize] as usize..inc_off[v as usize + 1] as usize];
        let mut core: Vec<bool> = (0..n as u32)
            .map(|v| {
                let i = incident(v);
                i.len() != 2 || i.iter().any(|&e| edges[e as usize].a == edges[e as usize].b)
            })
            .collect();
        let other = |e: u32, v: u32| {
            let ed = &edges[e as usize];
            if ed.a == v { ed.b } else { ed.a }
        };
        // Rings of degree-2 nodes with no core node: make their lowest node core. A ring is
        // what a walk along the chains from every core node does not reach.
        let mut seen = core.clone();
        let mark = |seen: &mut [bool], core: &[bool], u: u32, e0: u32| {
            let (mut prev_edge, mut x) = (e0, other(e0, u));
            while !core[x as usize] && !seen[x as usize] {
                seen[x as usize] = true;
                let i = incident(x);
                prev_edge = if i[0] == prev_edge { i[1] } else { i[0] };
                x = other(prev_edge, x);
            }
        };
        for u in 0..n as u32 {
            if core[u as usize] {
                for &e in incident(u) {
                    mark(&mut seen, &core, u, e);
                }
            }
        }
        for x in 0..n as u32 {
            if !seen[x as usize] {
                core[x as usize] = true;
                seen[x as usize] = true;
                mark(&mut seen, &core, x, incident(x)[0]);
            }
        }
        drop(seen);

        let order = spatial_order(&core, xy);
        let mut core_id = vec![u32::MAX; n];
        for (c, &v) in order.iter().enumerate() {
            core_id[v as usize] = c as u32;
        }
        let mut ch = Chains { chain_of: vec![u32::MAX; n], pos_of: vec![u32::MAX; n], start: vec![0], ..Chains::default() };
        // Arcs (from, to, length, tag) in core ids.
        let mut arcs: Vec<(u32, u32, f32, u32)> = Vec::new();
        for (cu, &u) in order.iter().enumerate() {
            let cu = cu as u32;
            for &e0 in incident(u) {
                let first = other(e0, u);
                if !core[first as usize] && ch.chain_of[first as usize] != u32::MAX {
                    continue; // Found from its other end already.
                }
                if core[first as usize] {
                    arcs.push((cu, core_id[first as usize], edges[e0 as usize].length_m, DIRECT));
                    continue;
                }
                let c = ch.len.len() as u32;
                let mut total = edges[e0 as usize].length_m;
                let (mut prev_edge, mut x) = (e0, first);
                while !core[x as usize] {
                    ch.chain_of[x as usize] = c;
                    ch.pos_of[x as usize] = ch.nodes.len() as u32;
                    ch.nodes.push(x);
                    ch.off.push(total);
                    let i = incident(x);
                    let next = if i[0] == prev_edge { i[1] } else { i[0] };
                    total += edges[next as usize].length_m;
                    prev_edge = next;
                    x = other(next, x);
                }
                let cx = core_id[x as usize];
                ch.start.push(ch.nodes.len() as u32);
                ch.len.push(total);
                ch.ends.push((cu, cx));
                arcs.push((cu, cx, total, c * 2));
                arcs.push((cx, cu, total, c * 2 + 1));
            }
        }
        let nc = order.len();
        let mut first = vec![0u32; nc + 1];
        for a in &arcs {
            first[a.0 as usize + 1] += 1;
        }
        for i in 0..nc {
            first[i + 1] += first[i];
        }
        let mut fill = first.clone();
        let mut packed = vec![Arc::default(); arcs.len()];
        let mut tags = vec![DIRECT; arcs.len()];
        // Core ids must leave the top bit free for the leaf flag; beyond that, no flags.
        let flags = nc < LEAF as usize;
        for (u, v, w, t) in arcs {
            let leaf = flags && first[v as usize + 1] - first[v as usize] == 1;
            packed[fill[u as usize] as usize] = Arc { to: if leaf { v | LEAF } else { v }, w };
            tags[fill[u as usize] as usize] = t;
            fill[u as usize] += 1;
        }
        let longest = packed.iter().map(|a| a.w).fold(0.0f32, f32::max);
        ch.arc_buckets = if longest.is_finite() { (longest / crate::route::BUCKET_M) as usize + 2 } else { usize::MAX / 2 };
        ch.first = first;
        let chains = ch.ends.len();
        ch.first_end_of = vec![0; nc + 1];
        ch.last_end_first = vec![0; nc + 1];
        for &(a, b) in &ch.ends {
            ch.first_end_of[a as usize + 1] += 1;
            if a != b {
                ch.last_end_first[b as usize + 1] += 1;
            }
        }
        for i in 0..nc {
            ch.first_end_of[i + 1] += ch.first_end_of[i];
            ch.last_end_first[i + 1] += ch.last_end_first[i];
        }
        debug_assert!(ch.ends.iter().enumerate().all(|(k, &(a, _))| (ch.first_end_of[a as usize]..ch.first_end_of[a as usize + 1]).contains(&(k as u32))));
        let mut fill = ch.last_end_first.clone();
        ch.last_end_of = vec![0; ch.last_end_first[nc] as usize];
        ch.last_end_len_max = vec![0.0; nc];
        for (k, &(a, b)) in ch.ends.iter().enumerate().take(chains) {
            if a != b {
                ch.last_end_of[fill[b as usize] as usize] = k as u32;
                fill[b as usize] += 1;
                ch.last_end_len_max[b as usize] = ch.last_end_len_max[b as usize].max(ch.len[k]);
            }
        }
        ch.arcs = packed;
        ch.tags = tags;
        let mut elem_of = order.clone();
        elem_of.extend_from_slice(&ch.nodes);
        let mut bit_of = vec![0u32; n];
        for (b, &v) in elem_of.iter().enumerate() {
            bit_of[v as usize] = b as u32;
        }
        ch.bit_order = Shared::new(BitOrder { bit_of, elem_of });
        ch.core = order;
        ch.core_id = core_id;
        ch
    }

    /// Nodes left in the core.
    pub fn core_nodes(&self) -> usize {
        self.core.len()
    }

    /// Arcs of core node `c` with their tags.
    #[inline]
    pub fn tagged_arcs_of(&self, c: u32) -> impl Iterator<Item = (&Arc, u32)> {
        let r = self.first[c as usize] as usize..self.first[c as usize + 1] as usize;
        self.arcs[r.clone()].iter().zip(self.tags[r].iter().copied())
    }
}
