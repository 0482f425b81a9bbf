//! Chain contraction of a two-way network. OSM footway graphs are split at every OSM node
//! (median edge about 7 m), so most nodes have exactly two neighbours. The search runs on the
//! *core* (nodes of any other degree), each chain of degree-2 nodes between two core nodes
//! being one arc; the chain's inner nodes then get their distances from the chain's two ends
//! without any heap operation. Results are the same as on the full graph.

use crate::network::{Csr, Edge};

pub(crate) const DIRECT: u32 = u32::MAX;

#[derive(Clone, Debug, Default)]
pub(crate) struct Chains {
    /// Core adjacency over all node ids (inner nodes have no arcs).
    pub csr: Csr,
    /// Per arc: `DIRECT`, or `chain * 2 + 0` when the arc leaves from the chain's first end and
    /// `chain * 2 + 1` when it leaves from its last end.
    pub arc_chain: Vec<u32>,
    /// Inner nodes of chain `c` are `nodes[start[c]..start[c + 1]]`, in order from `ends[c].0`.
    pub start: Vec<u32>,
    pub nodes: Vec<u32>,
    /// Distance from `ends[c].0` to each inner node, parallel to `nodes`.
    pub off: Vec<f32>,
    pub len: Vec<f32>,
    pub ends: Vec<(u32, u32)>,
    /// For an inner node: its chain and its index into `nodes`; `u32::MAX` for core nodes.
    pub chain_of: Vec<u32>,
    pub pos_of: Vec<u32>,
}

impl Chains {
    /// Builds the contraction; only for networks whose edges are all two-way.
    pub fn build(n: usize, edges: &[Edge]) -> Chains {
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
        let mut ch = Chains { chain_of: vec![u32::MAX; n], pos_of: vec![u32::MAX; n], start: vec![0], ..Chains::default() };
        // Arcs (from, to, length, tag).
        let mut arcs: Vec<(u32, u32, f32, u32)> = Vec::new();
        let walk = |ch: &mut Chains, core: &[bool], u: u32, e0: u32, arcs: &mut Vec<(u32, u32, f32, u32)>| {
            let first = other(e0, u);
            if !core[first as usize] && ch.chain_of[first as usize] != u32::MAX {
                return; // Found from its other end already.
            }
            if core[first as usize] {
                arcs.push((u, first, edges[e0 as usize].length_m, DIRECT));
                return;
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
            ch.start.push(ch.nodes.len() as u32);
            ch.len.push(total);
            ch.ends.push((u, x));
            arcs.push((u, x, total, c * 2));
            arcs.push((x, u, total, c * 2 + 1));
        };
        for u in 0..n as u32 {
            if core[u as usize] {
                for &e in incident(u) {
                    walk(&mut ch, &core, u, e, &mut arcs);
                }
            }
        }
        // Rings of degree-2 nodes with no core node: make the lowest node core.
        for x in 0..n as u32 {
            if !core[x as usize] && ch.chain_of[x as usize] == u32::MAX {
                core[x as usize] = true;
                let e0 = incident(x)[0];
                walk(&mut ch, &core, x, e0, &mut arcs);
            }
        }
        let mut offsets = vec![0u32; n + 1];
        for a in &arcs {
            offsets[a.0 as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let m = arcs.len();
        let (mut targets, mut weights, mut tags) = (vec![0u32; m], vec![0f32; m], vec![0u32; m]);
        for (u, v, w, t) in arcs {
            let s = fill[u as usize] as usize;
            targets[s] = v;
            weights[s] = w;
            tags[s] = t;
            fill[u as usize] += 1;
        }
        ch.csr = Csr { offsets, targets, weights };
        ch.arc_chain = tags;
        ch
    }

    /// Share of nodes left in the core.
    pub fn core_nodes(&self) -> usize {
        self.chain_of.iter().filter(|&&c| c == u32::MAX).count()
    }
}
