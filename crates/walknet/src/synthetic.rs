//! Synthetic networks for scale tests and benchmarks. Their local structure is real (copied
//! from a real extract); their extent is not, and results on them must be labelled synthetic.

use rstar::RTree;
use rstar::primitives::GeomWithData;

use crate::WalknetError;
use crate::network::{Edge, Network};
use crate::profile::Direction;

/// `k × k` copies of `net` laid side by side with a `gap_m` gap, each node within `link_m` of a
/// facing border joined to the nearest node across it (length = straight distance), as the
/// coverage research did to build its tiled-Helsinki graphs. Node `v` of copy `(r, c)` becomes
/// `(r * k + c) * n + v`. Link edges carry way id 0.
pub fn tile(net: &Network, k: usize, gap_m: f64, link_m: f64) -> Result<Network, WalknetError> {
    let n = net.node_count();
    if k == 0 || n == 0 {
        return Err(WalknetError::InvalidGraph("nothing to tile".into()));
    }
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for p in &net.xy {
        for d in 0..2 {
            lo[d] = lo[d].min(p[d]);
            hi[d] = hi[d].max(p[d]);
        }
    }
    let (w, h) = (hi[0] - lo[0] + gap_m, hi[1] - lo[1] + gap_m);
    let strip = |d: usize| -> RTree<GeomWithData<[f64; 2], u32>> {
        RTree::bulk_load((0..n as u32).filter(|&v| net.xy[v as usize][d] <= lo[d] + link_m).map(|v| GeomWithData::new(net.xy[v as usize], v)).collect())
    };
    let (left, bottom) = (strip(0), strip(1));
    // Links from the right (top) strip of a copy to the left (bottom) strip of the next one.
    let mut links: Vec<(u32, u32, f32, usize)> = Vec::new();
    for v in 0..n as u32 {
        let p = net.xy[v as usize];
        if p[0] >= hi[0] - link_m
            && let Some(t) = left.nearest_neighbor([p[0] - w, p[1]])
        {
            let d = ((t.geom()[0] + w - p[0]).powi(2) + (t.geom()[1] - p[1]).powi(2)).sqrt();
            if d <= link_m {
                links.push((v, t.data, d as f32, 0));
            }
        }
        if p[1] >= hi[1] - link_m
            && let Some(t) = bottom.nearest_neighbor([p[0], p[1] - h])
        {
            let d = ((t.geom()[0] - p[0]).powi(2) + (t.geom()[1] + h - p[1]).powi(2)).sqrt();
            if d <= link_m {
                links.push((v, t.data, d as f32, 1));
            }
        }
    }
    let mut lonlat = Vec::with_capacity(n * k * k);
    let mut osm = Vec::with_capacity(n * k * k);
    let mut edges = Vec::with_capacity((net.edge_count() + links.len()) * k * k);
    for r in 0..k {
        for c in 0..k {
            let base = ((r * k + c) * n) as u32;
            for v in 0..n {
                let p = net.xy[v];
                lonlat.push(net.proj.to_lonlat([p[0] + c as f64 * w, p[1] + r as f64 * h]));
                osm.push(net.osm_ids[v]);
            }
            for e in &net.edges {
                edges.push(Edge { a: e.a + base, b: e.b + base, ..*e });
            }
            for &(u, v, d, dir) in &links {
                let (r2, c2) = if dir == 0 { (r, c + 1) } else { (r + 1, c) };
                if r2 < k && c2 < k {
                    let other = ((r2 * k + c2) * n) as u32;
                    edges.push(Edge { a: u + base, b: v + other, length_m: d, dir: Direction::BOTH, way: 0 });
                }
            }
        }
    }
    Network::new(net.profile, lonlat, osm, edges)
}

/// `k` nodes drawn with replacement from `nodes` by a fixed LCG: the same seed gives the same
/// picks everywhere, so the tests, the benchmark examples and the peers' input files agree on
/// which nodes are the facilities and the candidate sites.
pub fn pick_nodes(nodes: &[u32], k: usize, mut seed: u64) -> Vec<u32> {
    (0..k)
        .map(|_| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            nodes[((seed >> 33) as usize) % nodes.len()]
        })
        .collect()
}
