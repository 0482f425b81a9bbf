//! Tests against brute-force references on small random graphs, property-tested.
#![allow(clippy::needless_range_loop)]

use proptest::prelude::*;

use crate::pbf::OwnedWay;
use crate::*;

/// splitmix64: a tiny deterministic generator so each proptest case is one seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const SUINING: [f64; 2] = [105.59, 30.53];

/// A random network in a box of about 1 km around Suining; `oneway` allows one-way edges.
fn random_net(rng: &mut Rng, oneway: bool) -> Network {
    let n = 2 + rng.below(22) as usize;
    let lonlat: Vec<[f64; 2]> = (0..n).map(|_| [SUINING[0] + rng.unit() * 0.01, SUINING[1] + rng.unit() * 0.01]).collect();
    let m = rng.below(3 * n as u64 + 1) as usize;
    let mut edges = Vec::new();
    // Half the graphs are long chains (a path or a ring through all nodes plus a few extra
    // edges), like OSM footways split at every node, so the chain contraction is exercised.
    let chainy = rng.below(2) == 0;
    let ring = rng.below(2) == 0;
    let pairs: Vec<(u32, u32)> = if chainy {
        let mut p: Vec<(u32, u32)> = (1..n as u32).map(|v| (v - 1, v)).collect();
        if ring {
            p.push((n as u32 - 1, 0));
        }
        for _ in 0..rng.below(3) {
            p.push((rng.below(n as u64) as u32, rng.below(n as u64) as u32));
        }
        p
    } else {
        (0..m).map(|_| (rng.below(n as u64) as u32, rng.below(n as u64) as u32)).collect()
    };
    for (a, b) in pairs {
        if a == b {
            continue;
        }
        let straight = haversine_m(lonlat[a as usize], lonlat[b as usize]);
        let dir = match (oneway, rng.below(4)) {
            (true, 0) => Direction::FORWARD,
            (true, 1) => Direction::BACKWARD,
            _ => Direction::BOTH,
        };
        edges.push(Edge { a, b, length_m: (straight * (1.0 + rng.unit() * 0.5)) as f32, dir, way: 1 });
    }
    let profile = if oneway { Profile::Bicycle } else { Profile::Walk };
    Network::new(profile, lonlat, (0..n as i64).collect(), edges).expect("valid random network")
}

/// All-pairs shortest paths over the directed arcs (Floyd–Warshall, f64).
fn floyd(net: &Network) -> Vec<Vec<f64>> {
    let n = net.node_count();
    let mut d = vec![vec![f64::INFINITY; n]; n];
    for (i, row) in d.iter_mut().enumerate() {
        row[i] = 0.0;
    }
    for e in net.edges() {
        let w = f64::from(e.length_m);
        if e.dir.forward {
            d[e.a as usize][e.b as usize] = d[e.a as usize][e.b as usize].min(w);
        }
        if e.dir.backward {
            d[e.b as usize][e.a as usize] = d[e.b as usize][e.a as usize].min(w);
        }
    }
    for k in 0..n {
        for i in 0..n {
            for j in 0..n {
                let via = d[i][k] + d[k][j];
                if via < d[i][j] {
                    d[i][j] = via;
                }
            }
        }
    }
    d
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-3 * (1.0 + a.abs().max(b.abs()))
}

/// Checks an optional distance against the exact one under a bound, skipping the knife edge.
fn check_bounded(got: Option<f32>, exact: f64, bound: f64) -> Result<(), TestCaseError> {
    if exact.is_infinite() {
        prop_assert!(got.is_none(), "got {got:?} for an unreachable point");
    } else if exact <= bound - 1e-2 * (1.0 + bound) {
        let g = got.ok_or_else(|| TestCaseError::fail(format!("missing distance, exact {exact}")))?;
        prop_assert!(close(f64::from(g), exact), "got {g}, exact {exact}");
    } else if exact > bound + 1e-2 * (1.0 + bound) {
        prop_assert!(got.is_none(), "got {got:?} beyond bound {bound} (exact {exact})");
    }
    Ok(())
}

/// A point on an edge for the expanded-graph reference.
#[derive(Clone, Copy)]
struct OnEdge {
    edge: u32,
    t: f64,
    access: f64,
}

/// Brute force for snapped points: every point becomes a node splitting its edge, then plain
/// O(V²) Dijkstra from each demand point. Returns the exact distance of each demand point to
/// its nearest site, access distances included.
fn expanded_reference(net: &Network, sites: &[OnEdge], demand: &[OnEdge]) -> Vec<f64> {
    let n = net.node_count();
    let all: Vec<OnEdge> = sites.iter().chain(demand.iter()).copied().collect();
    let total = n + all.len();
    let mut arcs: Vec<Vec<(usize, f64)>> = vec![Vec::new(); total];
    for (ei, e) in net.edges().iter().enumerate() {
        let mut chain: Vec<(f64, usize)> = vec![(0.0, e.a as usize)];
        for (k, p) in all.iter().enumerate() {
            if p.edge as usize == ei {
                chain.push((p.t, n + k));
            }
        }
        chain.push((1.0, e.b as usize));
        chain.sort_by(|x, y| x.0.total_cmp(&y.0));
        let len = f64::from(e.length_m);
        for w in chain.windows(2) {
            let d = (w[1].0 - w[0].0) * len;
            if e.dir.forward {
                arcs[w[0].1].push((w[1].1, d));
            }
            if e.dir.backward {
                arcs[w[1].1].push((w[0].1, d));
            }
        }
    }
    demand
        .iter()
        .enumerate()
        .map(|(di, p)| {
            let src = n + sites.len() + di;
            let mut dist = vec![f64::INFINITY; total];
            let mut done = vec![false; total];
            dist[src] = 0.0;
            loop {
                let u = (0..total).filter(|&v| !done[v] && dist[v].is_finite()).min_by(|&x, &y| dist[x].total_cmp(&dist[y]));
                let Some(u) = u else { break };
                done[u] = true;
                for &(v, w) in &arcs[u] {
                    if dist[u] + w < dist[v] {
                        dist[v] = dist[u] + w;
                    }
                }
            }
            let best = sites.iter().enumerate().map(|(si, s)| dist[n + si] + s.access).fold(f64::INFINITY, f64::min);
            best + p.access
        })
        .collect()
}

fn random_on_edge(rng: &mut Rng, net: &Network) -> OnEdge {
    OnEdge { edge: rng.below(net.edge_count() as u64) as u32, t: (rng.below(9) as f64) / 8.0 * 0.999 + rng.unit() * 0.001, access: rng.unit() * 30.0 }
}

fn as_snap(net: &Network, p: &OnEdge) -> Snap {
    let e = net.edges()[p.edge as usize];
    let (a, b) = (net.lonlat(e.a), net.lonlat(e.b));
    let t = p.t as f32;
    let point = [a[0] + p.t * (b[0] - a[0]), a[1] + p.t * (b[1] - a[1])];
    Snap { edge: p.edge, t, access_m: p.access as f32, point }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Multi-source bounded Dijkstra from node sites equals the minimum over Floyd–Warshall rows,
    /// on walk (symmetric) and bicycle (one-way) graphs, bounded and unbounded.
    #[test]
    fn nearest_facility_matches_floyd_warshall(seed in any::<u64>(), oneway in any::<bool>()) {
        let mut rng = Rng(seed);
        let net = random_net(&mut rng, oneway);
        let fw = floyd(&net);
        let n = net.node_count();
        let k = 1 + rng.below(3) as usize;
        let sites: Vec<u32> = (0..k).map(|_| rng.below(n as u64) as u32).collect();
        let site_list: Vec<Site> = sites.iter().map(|&s| Site::Node(s)).collect();
        for bound in [f32::INFINITY, 150.0, 400.0] {
            let field = net.nearest_facility(&site_list, bound);
            for v in 0..n {
                let exact = sites.iter().map(|&s| fw[v][s as usize]).fold(f64::INFINITY, f64::min);
                let got = field.node(v as u32);
                check_bounded(got.map(|g| g.0), exact, f64::from(bound))?;
                if let Some((d, s)) = got {
                    // The reported site really is at that distance.
                    prop_assert!(close(fw[v][sites[s as usize] as usize], f64::from(d)));
                }
            }
        }
    }

    /// Snapped sites and snapped demand points (mid-edge, with access distances, several on one
    /// edge, one-way edges) equal the brute force on a graph where every point is a node.
    #[test]
    fn snapped_points_match_expanded_graph(seed in any::<u64>(), oneway in any::<bool>()) {
        let mut rng = Rng(seed);
        let net = random_net(&mut rng, oneway);
        prop_assume!(net.edge_count() > 0);
        let sites: Vec<OnEdge> = (0..1 + rng.below(3)).map(|_| random_on_edge(&mut rng, &net)).collect();
        let demand: Vec<OnEdge> = (0..1 + rng.below(6)).map(|_| random_on_edge(&mut rng, &net)).collect();
        let exact = expanded_reference(&net, &sites, &demand);
        let site_list: Vec<Site> = sites.iter().map(|p| Site::Snap(as_snap(&net, p))).collect();
        let demand_snaps: Vec<Snap> = demand.iter().map(|p| as_snap(&net, p)).collect();
        for bound in [f32::INFINITY, 300.0] {
            let field = net.nearest_facility(&site_list, bound);
            for (i, d) in demand_snaps.iter().enumerate() {
                check_bounded(field.at(&net, d).map(|x| x.0), exact[i], f64::from(bound))?;
            }
        }
        // Node coverage sets from snapped sites (membership without distances) agree with
        // the distances of a single-site search.
        let node_sets = net.coverage(&site_list, 300.0);
        for (si, site) in site_list.iter().enumerate() {
            let f = net.nearest_facility(std::slice::from_ref(site), 300.0);
            let mut want: Vec<u32> = (0..net.node_count() as u32).filter(|&v| f.node(v).is_some()).collect();
            let mut got = node_sets.set(si).to_vec();
            got.sort_unstable();
            want.sort_unstable();
            prop_assert_eq!(got, want);
        }
        // Coverage sets over the demand points agree with the per-site brute force.
        let bound = 350.0f32;
        let sets = net.coverage_of_points(&site_list, &demand_snaps, bound);
        for (si, s) in sites.iter().enumerate() {
            let one = expanded_reference(&net, std::slice::from_ref(s), &demand);
            for (di, &ex) in one.iter().enumerate() {
                let inside = sets.set(si).contains(&(di as u32));
                if ex <= f64::from(bound) - 0.5 {
                    prop_assert!(inside, "site {si} should cover demand {di} at {ex}");
                } else if ex > f64::from(bound) + 0.5 {
                    prop_assert!(!inside, "site {si} should not cover demand {di} at {ex}");
                }
            }
        }
    }

    /// Node coverage sets are exactly the nodes within the bound (Floyd–Warshall).
    #[test]
    fn coverage_sets_match_floyd_warshall(seed in any::<u64>(), oneway in any::<bool>()) {
        let mut rng = Rng(seed);
        let net = random_net(&mut rng, oneway);
        let fw = floyd(&net);
        let n = net.node_count();
        let sites: Vec<Site> = (0..n as u32).map(Site::Node).collect();
        let bound = 300.0f32;
        let sets = net.coverage(&sites, bound);
        for s in 0..n {
            let expect: Vec<u32> = (0..n as u32).filter(|&v| fw[v as usize][s] <= f64::from(bound)).collect();
            let mut got = sets.set(s).to_vec();
            got.sort_unstable();
            for v in 0..n as u32 {
                let ex = fw[v as usize][s];
                if (ex - f64::from(bound)).abs() > 1e-2 {
                    prop_assert_eq!(got.contains(&v), expect.contains(&v), "site {} node {} exact {}", s, v, ex);
                }
            }
            let w = net.within(&Site::Node(s as u32), bound);
            let par = net.coverage_threads(&sites, bound, 3);
            prop_assert_eq!(par.set(s), sets.set(s));
            prop_assert_eq!(w.iter().map(|x| x.0).collect::<Vec<_>>(), got.clone());
        }
    }

    /// Lazy greedy picks exactly what the textbook greedy picks, and both reach at least
    /// (1 − 1/e) of the optimum found by exhaustive search.
    #[test]
    fn lazy_greedy_equals_naive_and_meets_the_bound(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let universe = 1 + rng.below(30) as usize;
        let nsets = 1 + rng.below(9) as usize;
        let lists: Vec<Vec<u32>> = (0..nsets)
            .map(|_| (0..rng.below(10)).map(|_| rng.below(universe as u64) as u32).collect())
            .collect();
        let sets = CoverSets::new(universe, &lists).expect("valid sets");
        let weights: Vec<f64> = (0..universe).map(|_| (rng.below(5)) as f64).collect();
        let already: Vec<bool> = (0..universe).map(|_| rng.below(4) == 0).collect();
        let k = 1 + rng.below(4) as usize;
        let lazy = greedy_max_cover(&sets, &weights, k, Some(&already)).expect("lazy");
        let naive = naive_greedy_max_cover(&sets, &weights, k, Some(&already)).expect("naive");
        prop_assert_eq!(&lazy, &naive);
        let base: f64 = (0..universe).filter(|&x| already[x]).map(|x| weights[x]).sum();
        let mut opt: f64 = 0.0;
        for mask in 0u32..(1 << nsets) {
            if mask.count_ones() as usize > k {
                continue;
            }
            let mut cov = already.clone();
            for s in 0..nsets {
                if mask & (1 << s) != 0 {
                    for x in sets.set(s) {
                        cov[x as usize] = true;
                    }
                }
            }
            let v: f64 = (0..universe).filter(|&x| cov[x] && !already[x]).map(|x| weights[x]).sum();
            opt = opt.max(v);
        }
        let got = lazy.covered_weight - base;
        prop_assert!(got + 1e-9 >= (1.0 - 1.0 / std::f64::consts::E) * opt, "greedy {} opt {}", got, opt);
        let sum: f64 = lazy.picks.iter().map(|p| p.gain).sum();
        prop_assert!((sum - got).abs() < 1e-9);
        prop_assert!(lazy.picks.windows(2).all(|w| w[0].gain >= w[1].gain));
    }

    /// Every node within the bound lies inside the isochrone; every node far from all reached
    /// road lies outside it.
    /// The compact sets (64-bit blocks over a numbering of the elements) expand to exactly the
    /// plain lists, deduplicated, whatever the numbering; and greedy on them (lazy and naive)
    /// picks what the textbook greedy over the plain lists picks.
    #[test]
    fn compact_sets_expand_to_the_lists_and_greedy_equals_the_textbook_one(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let universe = 1 + rng.below(300) as usize;
        let nsets = 1 + rng.below(12) as usize;
        let lists: Vec<Vec<u32>> = (0..nsets)
            .map(|_| {
                // Runs of consecutive elements (like whole chains) and scattered ones.
                let mut l = Vec::new();
                for _ in 0..rng.below(6) {
                    let a = rng.below(universe as u64) as u32;
                    let b = (a + rng.below(140) as u32).min(universe as u32);
                    l.extend(a..b);
                }
                l.extend((0..rng.below(20)).map(|_| rng.below(universe as u64) as u32));
                l
            })
            .collect();
        let mut perm: Vec<u32> = (0..universe as u32).collect();
        for i in (1..universe).rev() {
            perm.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut bit_of = vec![0u32; universe];
        for (b, &x) in perm.iter().enumerate() {
            bit_of[x as usize] = b as u32;
        }
        let order = std::sync::Arc::new(crate::cover::BitOrder { bit_of, elem_of: perm });
        let plain = CoverSets::new(universe, &lists).expect("valid sets");
        let shuffled = CoverSets::from_lists(universe, Some(order), lists.iter().map(|l| l.as_slice()));
        let mut pairs = 0;
        for (i, l) in lists.iter().enumerate() {
            let mut want = l.clone();
            want.sort_unstable();
            want.dedup();
            pairs += want.len();
            prop_assert_eq!(&plain.set(i), &want);
            prop_assert_eq!(&shuffled.set(i), &want);
            for x in 0..universe as u32 {
                prop_assert_eq!(shuffled.contains(i, x), want.binary_search(&x).is_ok());
            }
        }
        prop_assert_eq!(plain.pairs(), pairs);
        prop_assert_eq!(shuffled.pairs(), pairs);
        prop_assert_eq!(&plain, &shuffled);
        let unit = rng.below(2) == 0;
        let weights: Vec<f64> = (0..universe).map(|_| if unit { 1.0 } else { rng.below(5) as f64 }).collect();
        let already: Vec<bool> = (0..universe).map(|_| rng.below(4) == 0).collect();
        let k = 1 + rng.below(5) as usize;
        let want = textbook_greedy(&lists, &weights, k, &already);
        for sets in [&plain, &shuffled] {
            let lazy = greedy_max_cover(sets, &weights, k, Some(&already)).expect("lazy");
            let naive = naive_greedy_max_cover(sets, &weights, k, Some(&already)).expect("naive");
            prop_assert_eq!(&lazy, &naive);
            prop_assert_eq!(&lazy.picks, &want.0);
            prop_assert_eq!(&lazy.covered, &want.1);
        }
    }

    #[test]
    fn isochrone_contains_reached_and_excludes_far_nodes(seed in any::<u64>(), oneway in any::<bool>()) {
        let mut rng = Rng(seed);
        let net = random_net(&mut rng, oneway);
        let site = Site::Node(rng.below(net.node_count() as u64) as u32);
        let bound = 250.0f32;
        let field = net.nearest_facility(&[site], bound);
        let opts = IsochroneOptions { cell_m: 10.0, buffer_m: 25.0 };
        let polys = net.isochrone(&field, bound, &opts);
        let segs = net.reached_segments(&field, bound);
        // Points every few metres along every edge, with their exact distance (Floyd–Warshall):
        // those within the bound must be inside.
        let fw = floyd(&net);
        let Site::Node(s) = site else { unreachable!() };
        for e in net.edges() {
            let len = f64::from(e.length_m);
            for step in 0..=20 {
                let f = f64::from(step) / 20.0;
                let via_a = if e.dir.backward { f * len + fw[e.a as usize][s as usize] } else { f64::INFINITY };
                let via_b = if e.dir.forward { (1.0 - f) * len + fw[e.b as usize][s as usize] } else { f64::INFINITY };
                if via_a.min(via_b) <= f64::from(bound) - 1.0 {
                    let (a, b) = (net.lonlat(e.a), net.lonlat(e.b));
                    let p = [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])];
                    prop_assert!(contains(&polys, p), "reached point {} along edge {}-{} outside", f, e.a, e.b);
                }
            }
        }
        for v in 0..net.node_count() as u32 {
            let p = net.lonlat(v);
            if field.node(v).is_some() {
                prop_assert!(contains(&polys, p), "reached node {} outside the isochrone", v);
            } else {
                let q = net.xy(v);
                let near = segs.iter().map(|s| seg_dist(q, s[0], s[1])).fold(f64::INFINITY, f64::min);
                if near > opts.buffer_m + 2.0 * opts.cell_m {
                    prop_assert!(!contains(&polys, p), "far node {} ({} m from reach) inside", v, near);
                }
            }
        }
    }

    /// Snapping finds the nearest edge (brute force over all segments) and refuses far points.
    #[test]
    fn snap_finds_the_nearest_edge(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let net = random_net(&mut rng, false);
        prop_assume!(net.edge_count() > 0);
        let p = [SUINING[0] - 0.002 + rng.unit() * 0.014, SUINING[1] - 0.002 + rng.unit() * 0.014];
        let q = net.projection().to_xy(p);
        let exact = net.edges().iter().map(|e| seg_dist(q, net.xy(e.a), net.xy(e.b))).fold(f64::INFINITY, f64::min);
        let opts = SnapOptions { max_m: 150.0, min_component: 1 };
        match net.snap_one(p, &opts) {
            Ok(s) => {
                prop_assert!((f64::from(s.access_m) - exact).abs() < 1e-3);
                let e = net.edges()[s.edge as usize];
                prop_assert!((seg_dist(q, net.xy(e.a), net.xy(e.b)) - exact).abs() < 1e-3);
            }
            Err(SnapError::TooFar { nearest_m, .. }) => {
                prop_assert!(exact > 150.0);
                prop_assert!((nearest_m - exact).abs() < 1e-3);
            }
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }

    /// Arbitrary damage to a PBF file gives an error or a network, never a panic.
    #[test]
    fn damaged_pbf_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>()) {
        let mut bytes = sample_pbf(true);
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] ^= b;
        }
        let _ = Network::from_pbf(std::io::Cursor::new(&bytes), Profile::Walk);
        let end = cut.index(bytes.len());
        let _ = Network::from_pbf(std::io::Cursor::new(&bytes[..end]), Profile::Bicycle);
    }
}

/// The textbook greedy over plain lists (every gain recomputed every round, ties to the lower
/// index): the picks and the covered elements.
fn textbook_greedy(lists: &[Vec<u32>], weights: &[f64], k: usize, already: &[bool]) -> (Vec<Pick>, Vec<bool>) {
    let mut covered = already.to_vec();
    let mut picks: Vec<Pick> = Vec::new();
    while picks.len() < k {
        let mut best: Option<(f64, usize)> = None;
        for (i, l) in lists.iter().enumerate() {
            if picks.iter().any(|p| p.set as usize == i) {
                continue;
            }
            let mut seen = l.clone();
            seen.sort_unstable();
            seen.dedup();
            let g: f64 = seen.iter().filter(|&&x| !covered[x as usize]).map(|&x| weights[x as usize]).sum();
            if best.is_none_or(|(bg, _)| g > bg) {
                best = Some((g, i));
            }
        }
        match best {
            Some((g, i)) if g > 0.0 => {
                for &x in &lists[i] {
                    covered[x as usize] = true;
                }
                picks.push(Pick { set: i as u32, gain: g });
            }
            _ => break,
        }
    }
    (picks, covered)
}

fn seg_dist(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let l2 = dx * dx + dy * dy;
    let t = if l2 > 0.0 { (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2).clamp(0.0, 1.0) } else { 0.0 };
    ((a[0] + t * dx - p[0]).powi(2) + (a[1] + t * dy - p[1]).powi(2)).sqrt()
}

fn way(id: i64, refs: &[i64], tags: &[(&str, &str)]) -> OwnedWay {
    OwnedWay { id, refs: refs.to_vec(), tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
}

/// Five nodes 100 m apart on a line (1–2–3–4) plus node 5 north of 2:
/// 1–2 footway, 2–3 residential one-way, 3–4 steps, 2–5 motorway, and a building outline.
fn sample_pbf(compress: bool) -> Vec<u8> {
    let d = 100.0 / 111_195.0;
    let lon_step = d / SUINING[1].to_radians().cos();
    let nodes: Vec<(i64, f64, f64)> = (0..4)
        .map(|i| (i + 1, SUINING[1], SUINING[0] + i as f64 * lon_step))
        .chain([(5, SUINING[1] + d, SUINING[0] + lon_step), (6, SUINING[1] - d, SUINING[0])])
        .collect();
    let ways = vec![
        way(10, &[1, 2], &[("highway", "footway")]),
        way(11, &[2, 3], &[("highway", "residential"), ("oneway", "yes")]),
        way(12, &[3, 4], &[("highway", "steps")]),
        way(13, &[2, 5], &[("highway", "motorway")]),
        way(14, &[1, 6, 1], &[("building", "yes")]),
    ];
    let mut out = Vec::new();
    pbf::write(&mut out, &nodes, &ways, compress).expect("write to memory");
    out
}

#[test]
fn pbf_walk_network_keeps_footways_steps_and_streets_both_ways() {
    for compress in [true, false] {
        let net = Network::from_pbf(std::io::Cursor::new(sample_pbf(compress)), Profile::Walk).expect("walk network");
        assert_eq!(net.node_count(), 4, "nodes 1-4; motorway and building left out");
        assert_eq!(net.edge_count(), 3);
        let r = net.report();
        assert_eq!((r.osm_nodes, r.osm_ways, r.routable_ways), (6, 5, 3));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        for e in net.edges() {
            assert!((e.length_m - 100.0).abs() < 0.5, "edge length {}", e.length_m);
            assert_eq!(e.dir, Direction::BOTH);
        }
        assert_eq!(net.edges().iter().map(|e| e.way).collect::<Vec<_>>(), vec![10, 11, 12]);
        // From node 4 (OSM 4) to a facility at node 1 is 300 m over the steps and the one-way street.
        let field = net.nearest_facility(&[Site::Node(0)], f32::INFINITY);
        assert!((field.dist[3] - 300.0).abs() < 1.0);
        assert_eq!(net.osm_id(3), 4);
    }
}

#[test]
fn pbf_bicycle_network_drops_steps_and_footways_and_obeys_oneway() {
    let net = Network::from_pbf(std::io::Cursor::new(sample_pbf(true)), Profile::Bicycle).expect("bicycle network");
    assert_eq!(net.node_count(), 2, "only the one-way residential street");
    assert_eq!(net.edges()[0].dir, Direction::FORWARD);
    // A facility at OSM node 3: reachable from node 2 (with the one-way), not the other way round.
    let field = net.nearest_facility(&[Site::Node(1)], f32::INFINITY);
    assert!((field.dist[0] - 100.0).abs() < 1.0);
    let back = net.nearest_facility(&[Site::Node(0)], f32::INFINITY);
    assert!(back.node(1).is_none());
}

#[test]
fn pbf_missing_nodes_are_reported_with_counts() {
    let nodes = vec![(1, SUINING[1], SUINING[0]), (2, SUINING[1], SUINING[0] + 0.001)];
    let ways = vec![way(1, &[1, 2, 99, 98], &[("highway", "path")]), way(2, &[97, 96], &[("highway", "path")])];
    let mut bytes = Vec::new();
    pbf::write(&mut bytes, &nodes, &ways, true).expect("write");
    let net = Network::from_pbf(std::io::Cursor::new(bytes), Profile::Walk).expect("network");
    assert_eq!(net.edge_count(), 1);
    assert_eq!(net.report().warnings, vec![Warning::MissingNodes { refs: 4, ways: 2 }]);
    assert_eq!(net.report().warnings[0].code(), "walknet.missing_nodes");
    assert!(net.report().warnings[0].to_string().contains("4 个节点"));
}

#[test]
fn pbf_without_routable_ways_is_a_clear_error() {
    let nodes = vec![(1, SUINING[1], SUINING[0]), (2, SUINING[1], SUINING[0] + 0.001)];
    let ways = vec![way(1, &[1, 2], &[("building", "yes")]), way(2, &[1, 2], &[("highway", "motorway")])];
    let mut bytes = Vec::new();
    pbf::write(&mut bytes, &nodes, &ways, true).expect("write");
    let err = Network::from_pbf(std::io::Cursor::new(bytes), Profile::Walk).expect_err("no walkable ways");
    assert_eq!(err.code(), "walknet.no_routable_ways");
    assert_eq!(err.to_string(), "路网文件中没有步行可用的道路（共读到 2 条 way）");
}

#[test]
fn truncated_or_foreign_files_are_refused_at_every_length() {
    let bytes = sample_pbf(true);
    for end in 0..bytes.len() {
        let err = Network::from_pbf(std::io::Cursor::new(&bytes[..end]), Profile::Walk).expect_err("truncated");
        assert!(matches!(err.code(), "walknet.not_pbf" | "walknet.no_routable_ways"), "at {end}: {err}");
    }
    for junk in [&b"PK\x03\x04 this is a zip file"[..], b"<?xml version='1.0'?><osm/>", b"", &[0xff; 64]] {
        let err = Network::from_pbf(std::io::Cursor::new(junk), Profile::Walk).expect_err("junk");
        assert_eq!(err.code(), "walknet.not_pbf", "{err}");
        assert!(err.to_string().starts_with("不是有效的 OSM PBF 路网文件"));
    }
}

#[test]
fn snapping_reports_far_and_invalid_points_and_skips_small_pieces() {
    let net = Network::from_pbf(std::io::Cursor::new(sample_pbf(true)), Profile::Walk).expect("walk network");
    let on_line = [SUINING[0] + 0.0005, SUINING[1] + 20.0 / 111_195.0];
    let far = [SUINING[0], SUINING[1] + 0.01];
    let got = net.snap(&[on_line, far, [f64::NAN, 0.0]], &SnapOptions { max_m: 100.0, min_component: 1 });
    let s = got[0].expect("snaps");
    assert!((s.access_m - 20.0).abs() < 0.1, "access {}", s.access_m);
    assert!(matches!(got[1], Err(SnapError::TooFar { nearest_m, .. }) if (nearest_m - 1112.0).abs() < 5.0));
    assert_eq!(got[1].expect_err("far").code(), "walknet.snap_too_far");
    assert_eq!(got[2], Err(SnapError::InvalidPoint));
    // The only piece has 4 nodes; demanding 5 leaves nothing to snap to.
    let strict = net.snap_one(on_line, &SnapOptions { max_m: 100.0, min_component: 5 });
    assert!(matches!(strict, Err(SnapError::TooFar { .. })));
    // The facility distance of a snapped building includes its access distance.
    let field = net.nearest_facility(&[Site::Node(0)], f32::INFINITY);
    let (d, site) = field.at(&net, &s).expect("reachable");
    assert_eq!(site, 0);
    let e = net.edges()[s.edge as usize];
    let along = if e.a == 0 { s.t * e.length_m } else { (1.0 - s.t) * e.length_m + field.dist[e.a as usize] };
    assert!((d - (along + s.access_m)).abs() < 0.5, "{d} vs {}", along + s.access_m);
}

#[test]
fn greedy_rejects_inconsistent_weights() {
    let sets = CoverSets::new(3, &[vec![0, 1], vec![2]]).expect("sets");
    let err = greedy_max_cover(&sets, &[1.0, 2.0], 1, None).expect_err("short weights");
    assert_eq!(err.code(), "walknet.invalid_cover");
    let err = greedy_max_cover(&sets, &[1.0, f64::NAN, 1.0], 1, None).expect_err("nan");
    assert_eq!(err.code(), "walknet.invalid_cover");
    assert!(CoverSets::new(2, &[vec![5]]).is_err());
    let ok = greedy_max_cover(&sets, &[1.0, 1.0, 5.0], 5, None).expect("ok");
    assert_eq!(ok.picks.iter().map(|p| p.set).collect::<Vec<_>>(), vec![1, 0], "stops when nothing is left");
}

#[test]
fn tiling_copies_the_network_and_links_the_copies() {
    let mut rng = Rng(7);
    let base = random_net(&mut rng, false);
    let n = base.node_count();
    let t = synthetic::tile(&base, 3, 30.0, 2000.0).expect("tiled");
    assert_eq!(t.node_count(), 9 * n);
    assert!(t.edge_count() > 9 * base.edge_count(), "links added");
    assert!(t.edges().iter().any(|e| e.way == 0));
    for e in &t.edges()[..base.edge_count()] {
        assert!(e.a < n as u32 && e.b < n as u32);
    }
}

#[test]
fn foreign_or_corrupt_sites_and_snaps_are_ignored_not_panics() {
    let net = Network::from_pbf(std::io::Cursor::new(sample_pbf(true)), Profile::Walk).expect("walk network");
    let bad = [
        Snap { edge: 999, t: 0.5, access_m: 1.0, point: SUINING },
        Snap { edge: 0, t: f32::NAN, access_m: 1.0, point: SUINING },
        Snap { edge: 0, t: 0.5, access_m: -3.0, point: SUINING },
    ];
    let sites: Vec<Site> = bad.iter().copied().map(Site::Snap).chain([Site::Node(77)]).collect();
    let field = net.nearest_facility(&sites, f32::INFINITY);
    assert_eq!(field.reached(), 0);
    let good = net.nearest_facility(&[Site::Node(0)], f32::INFINITY);
    for s in &bad {
        assert!(good.at(&net, s).is_none());
    }
    let sets = net.coverage_of_points(&[Site::Node(0)], &bad, 1000.0);
    assert!(sets.set(0).is_empty());
    assert!(net.isochrone(&field, 100.0, &IsochroneOptions::default()).is_empty());
    // A NaN bound reaches nothing rather than everything.
    assert_eq!(net.nearest_facility(&[Site::Node(0)], f32::NAN).reached(), 0);
    assert!(net.coverage(&[Site::Node(0)], f32::NAN).set(0).is_empty());
}

#[test]
fn oversized_blocks_are_refused_before_allocating() {
    // A well-formed header announcing a 100 MB blob: refused by the 32 MiB rule of the format.
    let mut header = Vec::new();
    header.extend_from_slice(&[0x0a, 9]);
    header.extend_from_slice(b"OSMHeader");
    header.push(0x18);
    let mut v: u64 = 100_000_000;
    while v >= 0x80 {
        header.push((v as u8) | 0x80);
        v >>= 7;
    }
    header.push(v as u8);
    let mut file = (header.len() as u32).to_be_bytes().to_vec();
    file.extend_from_slice(&header);
    let err = Network::from_pbf(std::io::Cursor::new(file), Profile::Walk).expect_err("oversized");
    assert_eq!(err.code(), "walknet.not_pbf");
    assert!(err.to_string().contains("32 MiB"), "{err}");
}

/// The width of the coverage-set searches follows the measured time: eight sites first, then
/// sixteen, then the faster, with the slower tried again after 8, then 16, then 32 searches;
/// when a probe finds the other width faster it takes over at once, and a search slowed by
/// preemption does not change the choice.
#[test]
fn search_width_follows_the_faster_and_probes_the_slower_less_and_less() {
    use crate::route::WidthChoice;
    use std::time::Duration;
    let mut w = WidthChoice::default();
    let run = |w: &mut WidthChoice, n: usize, narrow_ms: u64, wide_ms: u64| -> Vec<bool> {
        (0..n)
            .map(|_| {
                let wide = w.next();
                w.record(wide, Duration::from_millis(if wide { wide_ms } else { narrow_ms }), 1000);
                wide
            })
            .collect()
    };
    let first = run(&mut w, 2 + 8 + 1 + 16 + 1, 10, 5);
    let probes: Vec<usize> = (2..first.len()).filter(|&i| !first[i]).collect();
    assert_eq!(&first[..2], &[false, true]);
    assert_eq!(probes, vec![10, 27], "{first:?}");
    // One search a hundred times slower (the thread preempted) moves nothing.
    assert!(w.next());
    w.record(true, Duration::from_millis(500), 1000);
    assert!(w.next());
    w.record(true, Duration::from_millis(5), 1000);
    // Eight got faster: the next probe finds it, and it is chosen from then on.
    let later = run(&mut w, 40, 2, 5);
    let switch = later.iter().position(|&x| !x).expect("a probe");
    assert!(later[switch..switch + 9].iter().all(|&x| !x), "{later:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Coverage sets of many sites, searched eight or sixteen neighbours at a time (one label per
    /// site and node), are exactly the member lists of one-site searches: node sites on core and
    /// chain nodes, snapped sites (two on one edge, one far off the network), repeated sites,
    /// more sites than one search takes; bounds of zero, short, long and none; one thread or
    /// three.
    #[test]
    fn sets_searched_together_equal_one_site_searches(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let net = shuffled_street_grid(&mut rng);
        let n = net.node_count();
        let mut sites: Vec<Site> = Vec::new();
        for _ in 0..1 + rng.below(40) {
            let site = match (rng.below(5), sites.last()) {
                (0, Some(&last)) => last,
                (1, _) => {
                    // Two snaps on one edge: their chain holds two seeds of different sites.
                    let p = random_on_edge(&mut rng, &net);
                    sites.push(Site::Snap(as_snap(&net, &p)));
                    Site::Snap(as_snap(&net, &OnEdge { t: rng.unit(), ..p }))
                }
                (2, _) => Site::Snap(as_snap(&net, &random_on_edge(&mut rng, &net))),
                _ => Site::Node(rng.below(n as u64) as u32),
            };
            sites.push(site);
        }
        if rng.below(3) == 0 {
            sites.push(Site::Snap(as_snap(&net, &OnEdge { access: 150.0 + rng.unit() * 200.0, ..random_on_edge(&mut rng, &net) })));
        }
        let mut one = net.searcher();
        for bound in [0.0f32, 90.0, 300.0, 2000.0, f32::INFINITY] {
            let sets = net.coverage(&sites, bound);
            prop_assert_eq!(sets.len(), sites.len());
            prop_assert_eq!(&sets, &net.coverage_threads(&sites, bound, 3));
            for (i, site) in sites.iter().enumerate() {
                let mut want = Vec::new();
                one.members(site, bound, &mut want);
                want.sort_unstable();
                want.dedup();
                prop_assert_eq!(&sets.set(i), &want, "site {} {:?} bound {}", i, site, bound);
            }
        }
    }
}

/// Random single elements and ranges (within a word, across words) sent to random lanes of a
/// [`crate::lanes::LaneBits`] and to one bitset per lane, twice with a clear in between: each
/// lane holds what its own bitset does.
fn check_lane_bits<const N: usize>(rng: &mut Rng) -> Result<(), TestCaseError> {
    use crate::cover::SetBuilder;
    use crate::lanes::LaneBits;
    let universe = 1 + rng.below(700) as usize;
    let mut together = LaneBits::<N>::new(universe);
    for round in 0..2 {
        let mut apart: Vec<SetBuilder> = (0..N).map(|_| SetBuilder::new(universe)).collect();
        for _ in 0..rng.below(40) {
            let lanes = rng.below(1 << N) as u32;
            let a = rng.below(universe as u64) as u32;
            let b = (a + rng.below(200) as u32).min(universe as u32);
            let range = rng.below(2) == 0;
            if range {
                together.insert_range(&crate::lanes::masks_of(lanes), a, b);
            } else {
                together.insert(lanes, a);
            }
            for j in (0..N).filter(|j| lanes & (1 << j) != 0) {
                if range {
                    apart[j].insert_range(a, b);
                } else {
                    apart[j].insert(a);
                }
            }
        }
        for j in 0..N {
            let (mut w, mut m) = (Vec::new(), Vec::new());
            let n = together.drain_lane_into(j, &mut w, &mut m);
            let (mut w2, mut m2) = (Vec::new(), Vec::new());
            prop_assert_eq!(n, apart[j].drain_into(&mut w2, &mut m2), "round {} lane {}", round, j);
            let mut got: Vec<(u32, u64)> = w.into_iter().zip(m).collect();
            let mut want: Vec<(u32, u64)> = w2.into_iter().zip(m2).collect();
            got.sort_unstable();
            want.sort_unstable();
            prop_assert_eq!(got, want, "round {} lane {}", round, j);
        }
        together.clear();
    }
    Ok(())
}

proptest! {
    /// The lanes of a [`crate::lanes::LaneBits`] of eight and of sixteen lanes hold what one
    /// bitset per lane would, and clearing leaves every lane empty.
    #[test]
    fn lane_bits_equal_one_bitset_per_lane(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        check_lane_bits::<8>(&mut rng)?;
        check_lane_bits::<16>(&mut rng)?;
    }
}

/// A grid of street corners (random gaps) whose blocks are split into chains of 0–3 nodes,
/// plus a free-standing ring, with node ids shuffled so that id order is not spatial order:
/// exercises the Hilbert renumbering of the core and the chain bookkeeping at a larger size.
fn shuffled_street_grid(rng: &mut Rng) -> Network {
    let side = 6 + rng.below(8) as usize;
    let step = 80.0 / 111_195.0;
    let mut pts: Vec<[f64; 2]> = Vec::new();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for i in 0..side * side {
        pts.push([SUINING[0] + (i % side) as f64 * step * (1.0 + 0.2 * rng.unit()), SUINING[1] + (i / side) as f64 * step]);
    }
    let link = |a: usize, b: usize, rng: &mut Rng, pts: &mut Vec<[f64; 2]>, pairs: &mut Vec<(usize, usize)>| {
        let mut prev = a;
        let k = rng.below(4) as usize;
        for j in 1..=k {
            let f = j as f64 / (k + 1) as f64;
            let (p, q) = (pts[a], pts[b]);
            pts.push([p[0] + f * (q[0] - p[0]) + rng.unit() * 1e-5, p[1] + f * (q[1] - p[1])]);
            pairs.push((prev, pts.len() - 1));
            prev = pts.len() - 1;
        }
        pairs.push((prev, b));
    };
    for i in 0..side * side {
        if i % side + 1 < side && rng.below(5) != 0 {
            link(i, i + 1, rng, &mut pts, &mut pairs);
        }
        if i / side + 1 < side && rng.below(5) != 0 {
            link(i, i + side, rng, &mut pts, &mut pairs);
        }
    }
    // A ring of degree-2 nodes only, away from the grid.
    let r0 = pts.len();
    for j in 0..5 {
        let a = j as f64 * std::f64::consts::TAU / 5.0;
        pts.push([SUINING[0] - 0.003 + 0.0005 * a.cos(), SUINING[1] + 0.0005 * a.sin()]);
        pairs.push((r0 + j, r0 + (j + 1) % 5));
    }
    // Shuffle the ids.
    let n = pts.len();
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        perm.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut lonlat = vec![[0.0; 2]; n];
    for (old, &new) in perm.iter().enumerate() {
        lonlat[new] = pts[old];
    }
    let edges = pairs
        .into_iter()
        .map(|(a, b)| {
            let (a, b) = (perm[a] as u32, perm[b] as u32);
            Edge { a, b, length_m: (haversine_m(lonlat[a as usize], lonlat[b as usize]) * (1.0 + rng.unit() * 0.3)) as f32, dir: Direction::BOTH, way: 1 }
        })
        .collect();
    Network::new(Profile::Walk, lonlat, (0..n as i64).collect(), edges).expect("valid grid")
}

/// Plain Dijkstra over the uncontracted edges, f64: distance from every node to `s`.
fn plain_dijkstra(net: &Network, s: u32) -> Vec<f64> {
    let n = net.node_count();
    let mut adj = vec![Vec::new(); n];
    for e in net.edges() {
        adj[e.a as usize].push((e.b, f64::from(e.length_m)));
        adj[e.b as usize].push((e.a, f64::from(e.length_m)));
    }
    let mut d = vec![f64::INFINITY; n];
    let mut done = vec![false; n];
    d[s as usize] = 0.0;
    while let Some(u) = (0..n).filter(|&v| !done[v] && d[v].is_finite()).min_by(|&a, &b| d[a].total_cmp(&d[b])) {
        done[u] = true;
        for &(v, w) in &adj[u] {
            d[v as usize] = d[v as usize].min(d[u] + w);
        }
    }
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The renumbered core is a permutation of the non-chain nodes, and searches on it equal
    /// plain Dijkstra on the whole graph: nearest facility (node and mid-chain sites, bounded
    /// and not), single-site runs and coverage sets.
    #[test]
    fn renumbered_core_matches_plain_dijkstra(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let net = shuffled_street_grid(&mut rng);
        let n = net.node_count();
        let ch = net.chains.as_ref().expect("two-way network is contracted");
        prop_assert_eq!(ch.core.len(), ch.core_nodes());
        for (c, &v) in ch.core.iter().enumerate() {
            prop_assert_eq!(ch.core_id[v as usize], c as u32);
            prop_assert_eq!(ch.chain_of[v as usize], u32::MAX);
        }
        prop_assert_eq!(ch.core.len() + ch.nodes.len(), n);
        let sites: Vec<u32> = (0..3).map(|_| rng.below(n as u64) as u32).collect();
        let cands: Vec<u32> = (0..40).map(|_| rng.below(n as u64) as u32).collect();
        let mut rows: Vec<Vec<f64>> = vec![Vec::new(); n];
        for &s in sites.iter().chain(&cands) {
            if rows[s as usize].is_empty() {
                rows[s as usize] = plain_dijkstra(&net, s);
            }
        }
        let site_list: Vec<Site> = sites.iter().map(|&s| Site::Node(s)).collect();
        for bound in [f32::INFINITY, 250.0] {
            let field = net.nearest_facility(&site_list, bound);
            for v in 0..n {
                let exact = sites.iter().map(|&s| rows[s as usize][v]).fold(f64::INFINITY, f64::min);
                check_bounded(field.node(v as u32).map(|g| g.0), exact, f64::from(bound))?;
                if let Some((d, s)) = field.node(v as u32) {
                    prop_assert!(close(rows[sites[s as usize] as usize][v], f64::from(d)));
                }
            }
        }
        // A snapped site far off the network (900 m of access) next to a node site: the seeds
        // span more than the bucket queue's window, so the search falls back to the heap.
        let far = OnEdge { edge: rng.below(net.edge_count() as u64) as u32, t: rng.unit(), access: 900.0 };
        let e = net.edges()[far.edge as usize];
        for s in [e.a, e.b] {
            if rows[s as usize].is_empty() {
                rows[s as usize] = plain_dijkstra(&net, s);
            }
        }
        let len = f64::from(e.length_m);
        let field = net.nearest_facility(&[Site::Node(sites[0]), Site::Snap(as_snap(&net, &far))], f32::INFINITY);
        for v in 0..n {
            let via = (far.t * len + rows[e.a as usize][v]).min((1.0 - far.t) * len + rows[e.b as usize][v]);
            let exact = rows[sites[0] as usize][v].min(far.access + via);
            check_bounded(field.node(v as u32).map(|g| g.0), exact, f64::INFINITY)?;
        }
        let cand_sites: Vec<Site> = cands.iter().map(|&s| Site::Node(s)).collect();
        let bound = 300.0f32;
        let sets = net.coverage(&cand_sites, bound);
        let par = net.coverage_threads(&cand_sites, bound, 2);
        prop_assert_eq!(&sets, &par);
        // Searched in spatial order, repeated sites once: each set is still the one of its own
        // site, in the order of a search of that site alone.
        prop_assert_eq!(sets.pairs(), (0..sets.len()).map(|i| sets.set(i).len()).sum::<usize>());
        prop_assert!(sets.stored() <= sets.pairs());
        let mut plain_searcher = net.searcher();
        for (i, site) in cand_sites.iter().enumerate() {
            let alone = net.coverage(std::slice::from_ref(site), bound);
            prop_assert_eq!(alone.set(0), sets.set(i));
            // The compact set holds exactly the nodes of the plain member list, whether its
            // chains are decided during the search or swept after it.
            let mut plain = Vec::new();
            plain_searcher.members(site, bound, &mut plain);
            plain.sort_unstable();
            prop_assert_eq!(&plain, &sets.set(i));
            for sweep in [false, true] {
                let mut b = crate::cover::SetBuilder::new(n);
                plain_searcher.force_sweep = Some(sweep);
                plain_searcher.members_bits(site, bound, &mut b);
                plain_searcher.force_sweep = None;
                let one = CoverSets::from_builder(n, net.chains.as_ref().map(|c| c.bit_order.clone()), &mut b);
                prop_assert_eq!(&plain, &one.set(0), "sweep {}", sweep);
            }
        }
        // One workspace used alternately for members and full runs gives what fresh ones give.
        let mut shared = net.searcher();
        for w in cands.windows(2).take(10) {
            let mut got = Vec::new();
            shared.members(&Site::Node(w[0]), bound, &mut got);
            let mut want = Vec::new();
            net.searcher().members(&Site::Node(w[0]), bound, &mut want);
            prop_assert_eq!(&got, &want);
            let reached = shared.run(&Site::Node(w[1]), bound).to_vec();
            let mut fresh = net.searcher();
            prop_assert_eq!(&reached, &fresh.run(&Site::Node(w[1]), bound).to_vec());
            for v in 0..n as u32 {
                prop_assert_eq!(shared.distance(v).to_bits(), fresh.distance(v).to_bits());
            }
        }
        let mut searcher = net.searcher();
        for (i, &c) in cands.iter().enumerate() {
            let mut got = sets.set(i).to_vec();
            got.sort_unstable();
            let mut dedup = got.clone();
            dedup.dedup();
            prop_assert_eq!(&got, &dedup, "each node once");
            let reached: Vec<u32> = searcher.run(&Site::Node(c), bound).to_vec();
            for v in 0..n as u32 {
                let ex = rows[c as usize][v as usize];
                let d = searcher.distance(v);
                check_bounded(d.is_finite().then_some(d), ex, f64::from(bound))?;
                if (ex - f64::from(bound)).abs() > 1e-2 {
                    prop_assert_eq!(got.binary_search(&v).is_ok(), ex <= f64::from(bound), "site {} node {} exact {}", c, v, ex);
                    prop_assert_eq!(reached.contains(&v), ex <= f64::from(bound));
                }
            }
        }
    }
}
