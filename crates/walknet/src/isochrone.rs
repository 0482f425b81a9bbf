//! Isochrone polygons (等时圈): the area from which a site is reachable within a distance.
//!
//! The reached parts of edges (cut where the bound falls mid-edge) are buffered onto a raster,
//! and the raster's boundary is traced into rings. Following the network rather than taking a
//! hull of reached points keeps the shape from leaking across rivers and rail lines.

use std::collections::HashMap;

use crate::network::Network;
use crate::route::DistanceField;

/// Raster cell and buffer widths, metres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IsochroneOptions {
    pub cell_m: f64,
    pub buffer_m: f64,
}

impl Default for IsochroneOptions {
    fn default() -> Self {
        IsochroneOptions { cell_m: 20.0, buffer_m: 40.0 }
    }
}

/// A polygon in `[lon, lat]`: closed rings, exterior counter-clockwise, holes clockwise.
#[derive(Clone, Debug, PartialEq)]
pub struct Polygon {
    pub exterior: Vec<[f64; 2]>,
    pub holes: Vec<Vec<[f64; 2]>>,
}

/// The grid is capped at this many cells; larger areas get coarser cells.
const MAX_CELLS: f64 = 2.0e7;

/// Whether `[lon, lat]` (or a projected point) lies inside one ring, by the even-odd rule.
pub fn ring_contains(ring: &[[f64; 2]], p: [f64; 2]) -> bool {
    let mut inside = false;
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (ring[i], ring[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0] {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Whether `[lon, lat]` lies inside any of the polygons (and outside its holes).
pub fn contains(polys: &[Polygon], p: [f64; 2]) -> bool {
    polys.iter().any(|pg| ring_contains(&pg.exterior, p) && !pg.holes.iter().any(|h| ring_contains(h, p)))
}

fn seg_dist2(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let l2 = dx * dx + dy * dy;
    let t = if l2 > 0.0 { (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2).clamp(0.0, 1.0) } else { 0.0 };
    let (x, y) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
    x * x + y * y
}

impl Network {
    /// The parts of edges (projected metres) from which the field's nearest site is within
    /// `bound_m`, plus every reached node as a zero-length segment.
    pub fn reached_segments(&self, field: &DistanceField, bound_m: f32) -> Vec<[[f64; 2]; 2]> {
        let mut out = Vec::new();
        if field.dist.len() != self.node_count() {
            return out; // a field of another network
        }
        let within = |d: f32| d <= bound_m;
        for (v, &d) in field.dist.iter().enumerate() {
            if within(d) {
                out.push([self.xy[v], self.xy[v]]);
            }
        }
        for e in &self.edges {
            let (a, b) = (self.xy[e.a as usize], self.xy[e.b as usize]);
            let len = f64::from(e.length_m);
            let at = |s: f64| -> [f64; 2] {
                let t = if len > 0.0 { (s / len).clamp(0.0, 1.0) } else { 0.0 };
                [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
            };
            // Heading towards a (backward) from distance s: reach = s + D[a].
            let da = field.dist[e.a as usize];
            if e.dir.backward && within(da) {
                out.push([a, at(f64::from(bound_m - da))]);
            }
            let db = field.dist[e.b as usize];
            if e.dir.forward && within(db) {
                out.push([at(len - f64::from(bound_m - db)), b]);
            }
        }
        for &(edge, t, access, _) in &field.on_edge {
            let Some(&e) = self.edges.get(edge as usize) else { continue };
            let rest = f64::from(bound_m - access);
            if rest < 0.0 {
                continue;
            }
            let (a, b) = (self.xy[e.a as usize], self.xy[e.b as usize]);
            let len = f64::from(e.length_m);
            let at = |s: f64| -> [f64; 2] {
                let t = if len > 0.0 { (s / len).clamp(0.0, 1.0) } else { 0.0 };
                [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
            };
            let s0 = f64::from(t) * len;
            if e.dir.forward {
                out.push([at(s0 - rest), at(s0)]);
            }
            if e.dir.backward {
                out.push([at(s0), at(s0 + rest)]);
            }
        }
        out
    }

    /// The isochrone of a distance field at `bound_m` (which should not exceed the field's own
    /// bound): polygons in `[lon, lat]`. Empty when nothing is reached.
    pub fn isochrone(&self, field: &DistanceField, bound_m: f32, opts: &IsochroneOptions) -> Vec<Polygon> {
        let segs = self.reached_segments(field, bound_m);
        if segs.is_empty() {
            return Vec::new();
        }
        let buffer = opts.buffer_m.max(0.0);
        let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
        for s in &segs {
            for p in s {
                for k in 0..2 {
                    lo[k] = lo[k].min(p[k]);
                    hi[k] = hi[k].max(p[k]);
                }
            }
        }
        let mut cell = opts.cell_m.max(0.5);
        let span = |c: f64| ((hi[0] - lo[0] + 2.0 * buffer) / c + 3.0) * ((hi[1] - lo[1] + 2.0 * buffer) / c + 3.0);
        while span(cell) > MAX_CELLS {
            cell *= 1.5;
        }
        let x0 = lo[0] - buffer - cell;
        let y0 = lo[1] - buffer - cell;
        let nx = ((hi[0] - lo[0] + 2.0 * buffer) / cell).ceil() as usize + 3;
        let ny = ((hi[1] - lo[1] + 2.0 * buffer) / cell).ceil() as usize + 3;
        let mut grid = vec![false; nx * ny];
        let b2 = buffer * buffer;
        for [a, b] in &segs {
            let i0 = (((a[0].min(b[0]) - buffer - x0) / cell).floor().max(0.0)) as usize;
            let i1 = (((a[0].max(b[0]) + buffer - x0) / cell).ceil() as usize).min(nx - 1);
            let j0 = (((a[1].min(b[1]) - buffer - y0) / cell).floor().max(0.0)) as usize;
            let j1 = (((a[1].max(b[1]) + buffer - y0) / cell).ceil() as usize).min(ny - 1);
            for j in j0..=j1 {
                for i in i0..=i1 {
                    let c = [x0 + (i as f64 + 0.5) * cell, y0 + (j as f64 + 0.5) * cell];
                    if seg_dist2(c, *a, *b) <= b2 {
                        grid[j * nx + i] = true;
                    }
                }
            }
            // The cell holding each end is always filled, so that a zero buffer still shows a point.
            for p in [a, b] {
                let i = ((p[0] - x0) / cell).floor() as usize;
                let j = ((p[1] - y0) / cell).floor() as usize;
                if i < nx && j < ny {
                    grid[j * nx + i] = true;
                }
            }
        }
        let rings = trace(&grid, nx, ny);
        let to_lonlat =
            |r: &[(i64, i64)]| -> Vec<[f64; 2]> { r.iter().map(|&(i, j)| self.proj.to_lonlat([x0 + i as f64 * cell, y0 + j as f64 * cell])).collect() };
        assemble(rings, to_lonlat)
    }
}

/// Traces the boundary of the filled cells into closed rings of grid vertices, filled side on
/// the left (exteriors counter-clockwise, holes clockwise). At a vertex where two filled cells
/// touch only diagonally the trace turns left, so the two stay separate rings.
fn trace(grid: &[bool], nx: usize, ny: usize) -> Vec<(Vec<(i64, i64)>, u8)> {
    let filled = |i: i64, j: i64| i >= 0 && j >= 0 && (i as usize) < nx && (j as usize) < ny && grid[j as usize * nx + i as usize];
    // Directed unit edges: start vertex, direction (0 E, 1 N, 2 W, 3 S).
    let mut edges: Vec<((i64, i64), u8)> = Vec::new();
    for j in 0..ny as i64 {
        for i in 0..nx as i64 {
            if !filled(i, j) {
                continue;
            }
            if !filled(i, j - 1) {
                edges.push(((i, j), 0));
            }
            if !filled(i + 1, j) {
                edges.push(((i + 1, j), 1));
            }
            if !filled(i, j + 1) {
                edges.push(((i + 1, j + 1), 2));
            }
            if !filled(i - 1, j) {
                edges.push(((i, j + 1), 3));
            }
        }
    }
    let step = |(i, j): (i64, i64), d: u8| match d {
        0 => (i + 1, j),
        1 => (i, j + 1),
        2 => (i - 1, j),
        _ => (i, j - 1),
    };
    let mut out_of: HashMap<(i64, i64), [u32; 2]> = HashMap::with_capacity(edges.len());
    for (k, (v, _)) in edges.iter().enumerate() {
        let slot = out_of.entry(*v).or_insert([u32::MAX; 2]);
        if slot[0] == u32::MAX {
            slot[0] = k as u32;
        } else {
            slot[1] = k as u32;
        }
    }
    let mut used = vec![false; edges.len()];
    let mut rings = Vec::new();
    for start in 0..edges.len() {
        if used[start] {
            continue;
        }
        let mut ring: Vec<(i64, i64)> = Vec::new();
        let mut k = start;
        let mut prev_dir = u8::MAX;
        loop {
            used[k] = true;
            let (v, d) = edges[k];
            if d != prev_dir {
                ring.push(v);
            }
            prev_dir = d;
            let w = step(v, d);
            let Some(slot) = out_of.get(&w) else { break };
            let cands: Vec<u32> = slot.iter().copied().filter(|&c| c != u32::MAX && !used[c as usize]).collect();
            let next = match cands.as_slice() {
                [] => break,
                [c] => *c,
                many => many.iter().copied().find(|&c| edges[c as usize].1 == (d + 1) % 4).unwrap_or(many[0]),
            };
            k = next as usize;
        }
        // The last run of the ring continues the first; drop the duplicate corner.
        if ring.len() > 1 && edges[start].1 == prev_dir {
            ring.remove(0);
        }
        let first_dir = edges[start].1;
        rings.push((ring, first_dir));
    }
    rings
}

fn area2(r: &[(i64, i64)]) -> i64 {
    let n = r.len();
    (0..n).map(|i| r[i].0 * r[(i + 1) % n].1 - r[(i + 1) % n].0 * r[i].1).sum()
}

fn assemble(rings: Vec<(Vec<(i64, i64)>, u8)>, to_lonlat: impl Fn(&[(i64, i64)]) -> Vec<[f64; 2]>) -> Vec<Polygon> {
    let mut outers: Vec<(Vec<(i64, i64)>, i64)> = Vec::new();
    let mut holes: Vec<Vec<(i64, i64)>> = Vec::new();
    for (r, _) in rings {
        if r.len() < 4 {
            continue;
        }
        let a = area2(&r);
        if a > 0 {
            outers.push((r, a));
        } else if a < 0 {
            holes.push(r);
        }
    }
    let as_f = |r: &[(i64, i64)]| -> Vec<[f64; 2]> { r.iter().map(|&(i, j)| [i as f64, j as f64]).collect() };
    let outer_f: Vec<Vec<[f64; 2]>> = outers.iter().map(|(r, _)| as_f(r)).collect();
    let mut hole_of: Vec<Vec<usize>> = vec![Vec::new(); outers.len()];
    for (h, ring) in holes.iter().enumerate() {
        // A point in the empty cell to the right of the hole's first edge lies strictly inside
        // the hole and never on a grid line.
        let (a, b) = (ring[0], ring[1]);
        let (dx, dy) = ((b.0 - a.0).signum(), (b.1 - a.1).signum());
        let p = [a.0 as f64 + 0.5 * dx as f64 + 0.5 * dy as f64, a.1 as f64 + 0.5 * dy as f64 - 0.5 * dx as f64];
        let owner = (0..outers.len()).filter(|&o| ring_contains(&outer_f[o], p)).min_by_key(|&o| outers[o].1);
        if let Some(o) = owner {
            hole_of[o].push(h);
        }
    }
    let close = |mut v: Vec<[f64; 2]>| {
        if let Some(f) = v.first().copied() {
            v.push(f);
        }
        v
    };
    outers
        .iter()
        .enumerate()
        .map(|(o, (r, _))| Polygon { exterior: close(to_lonlat(r)), holes: hole_of[o].iter().map(|&h| close(to_lonlat(&holes[h]))).collect() })
        .collect()
}
