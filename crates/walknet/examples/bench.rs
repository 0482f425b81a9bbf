//! The Rust side of `bench/walknet_peers.py`: builds the walk network from a PBF (optionally
//! tiled k × k, synthetic extent), exports it and the chosen sites for the Python peers, times
//! the library's workloads and prints one JSON object.
//!
//! cargo run --release -p walknet --example bench -- --pbf Helsinki.osm.pbf --tile 4 --out DIR [--reps 5]

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use walknet::{Network, Profile, Site, SnapOptions, greedy_max_cover, synthetic};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// CPU time of the calling thread, ns (`/proc/thread-self/schedstat`): unlike wall time it
/// does not count time spent waiting for a core on a shared machine.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok().and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok())).unwrap_or(0)
}

/// Median wall milliseconds over `reps` calls, and thread-CPU milliseconds per call over a loop
/// of at least 300 ms (schedstat advances in scheduler ticks, so short calls are batched).
fn median_ms(reps: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut wall = Vec::new();
    for _ in 0..reps {
        let s = Instant::now();
        f();
        wall.push(s.elapsed().as_secs_f64() * 1000.0);
    }
    wall.sort_by(|a, b| a.total_cmp(b));
    let (s, c) = (Instant::now(), cpu_ns());
    let mut calls = 0u32;
    while calls == 0 || s.elapsed().as_millis() < 300 {
        f();
        calls += 1;
    }
    (wall[wall.len() / 2], (cpu_ns() - c) as f64 / 1e6 / f64::from(calls))
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn write_raw(path: PathBuf, bytes: impl Iterator<Item = u8>) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let buf: Vec<u8> = bytes.collect();
    f.write_all(&buf)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let pbf = arg(&args, "--pbf").ok_or("--pbf PATH required")?;
    let k: usize = arg(&args, "--tile").map(|s| s.parse()).transpose()?.unwrap_or(1);
    let reps: usize = arg(&args, "--reps").map(|s| s.parse()).transpose()?.unwrap_or(5);
    let out = PathBuf::from(arg(&args, "--out").ok_or("--out DIR required")?);
    std::fs::create_dir_all(&out)?;

    let t0 = Instant::now();
    let base = Network::from_pbf_path(&pbf, Profile::Walk)?;
    let pbf_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let net = if k > 1 { synthetic::tile(&base, k, 30.0, 60.0)? } else { base };
    let n = net.node_count();
    let comp = net.largest_component();
    let sources = synthetic::pick_nodes(&comp, 50, 42);
    let cands = synthetic::pick_nodes(&comp, 2000, 7);

    // Export for the peers: projected node coordinates, edges, sites.
    write_raw(out.join("xy.f64"), (0..n as u32).flat_map(|v| net.xy(v)).flat_map(f64::to_le_bytes))?;
    write_raw(out.join("edges.u32"), net.edges().iter().flat_map(|e| [e.a, e.b]).flat_map(u32::to_le_bytes))?;
    write_raw(out.join("weights.f32"), net.edges().iter().map(|e| e.length_m).flat_map(f32::to_le_bytes))?;
    write_raw(out.join("sources.u32"), sources.iter().copied().flat_map(u32::to_le_bytes))?;
    write_raw(out.join("cands.u32"), cands.iter().copied().flat_map(u32::to_le_bytes))?;

    let src: Vec<Site> = sources.iter().map(|&s| Site::Node(s)).collect();
    let cand: Vec<Site> = cands.iter().map(|&s| Site::Node(s)).collect();
    let (uncut, uncut_cpu) = median_ms(reps, || drop(std::hint::black_box(net.nearest_facility(&src, f32::INFINITY))));
    let (cut, cut_cpu) = median_ms(reps, || drop(std::hint::black_box(net.nearest_facility(&src, 1000.0))));
    let f_uncut = net.nearest_facility(&src, f32::INFINITY);
    let f_cut = net.nearest_facility(&src, 1000.0);
    write_raw(out.join("dist_uncut.f32"), f_uncut.dist.iter().flat_map(|d| d.to_le_bytes()))?;
    write_raw(out.join("dist_1000.f32"), f_cut.dist.iter().flat_map(|d| d.to_le_bytes()))?;
    let within_share = f_cut.reached() as f64 / n as f64;
    let rss_nearest = peak_rss_mb();

    let cov_reps = reps.clamp(1, 3);
    let (cover_ms, cover_cpu) = median_ms(cov_reps, || drop(std::hint::black_box(net.coverage(&cand, 1000.0))));
    let (cover2_ms, _) = median_ms(cov_reps, || drop(std::hint::black_box(net.coverage_threads(&cand, 1000.0, 2))));
    let sets = net.coverage(&cand, 1000.0);
    let weights = vec![1.0; n];
    let (greedy_ms, greedy_cpu) = median_ms(reps, || drop(std::hint::black_box(greedy_max_cover(&sets, &weights, 20, None))));
    let cover = greedy_max_cover(&sets, &weights, 20, None)?;

    // Snapping 20,000 points spread over the network's extent; the R-tree is built on first use.
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for v in 0..n as u32 {
        let p = net.lonlat(v);
        for d in 0..2 {
            lo[d] = lo[d].min(p[d]);
            hi[d] = hi[d].max(p[d]);
        }
    }
    let pts: Vec<[f64; 2]> = synthetic::pick_nodes(&(0..20_000u32).collect::<Vec<_>>(), 20_000, 11)
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let fx = (i as f64 * 0.618_033_988_75).fract();
            let fy = f64::from(r) / 20_000.0;
            [lo[0] + fx * (hi[0] - lo[0]), lo[1] + fy * (hi[1] - lo[1])]
        })
        .collect();
    let opts = SnapOptions { max_m: 100.0, min_component: 1 };
    let t1 = Instant::now();
    let first = net.snap(&pts[..1], &opts);
    let tree_ms = t1.elapsed().as_secs_f64() * 1000.0;
    drop(first);
    let (snap_ms, snap_cpu) = median_ms(reps, || drop(std::hint::black_box(net.snap(&pts, &opts))));

    // A library-level pipeline: PBF → graph → snap 20k "buildings" → 10 categories, each one
    // bounded search at its largest tier → per-building tier (300/500/1000 m) → per-cell rates.
    let t2 = Instant::now();
    let pnet = {
        let b = Network::from_pbf_path(&pbf, Profile::Walk)?;
        if k > 1 { synthetic::tile(&b, k, 30.0, 60.0)? } else { b }
    };
    let snaps: Vec<_> = pnet.snap(&pts, &opts).into_iter().filter_map(Result::ok).collect();
    let mut tier_counts = [0usize; 4];
    let mut cells = std::collections::HashMap::<(i64, i64), [usize; 2]>::new();
    for cat in 0..10u64 {
        let fac: Vec<Site> = synthetic::pick_nodes(&comp, 5 + 5 * cat as usize, 100 + cat).into_iter().map(Site::Node).collect();
        let field = pnet.nearest_facility(&fac, 1000.0);
        for s in &snaps {
            let tier = match field.at(&pnet, s) {
                Some((d, _)) if d <= 300.0 => 0,
                Some((d, _)) if d <= 500.0 => 1,
                Some(_) => 2,
                None => 3,
            };
            tier_counts[tier] += 1;
            let xy = pnet.projection().to_xy(s.point);
            let c = cells.entry(((xy[0] / 1000.0).floor() as i64, (xy[1] / 1000.0).floor() as i64)).or_default();
            c[0] += 1;
            c[1] += usize::from(tier <= 2);
        }
    }
    let pipeline_ms = t2.elapsed().as_secs_f64() * 1000.0;

    println!(
        "{{\"nodes\":{n},\"core_nodes\":{},\"edges\":{},\"tile\":{k},\"pbf_to_graph_ms\":{pbf_ms:.2},\"nearest_uncut_ms\":{uncut:.3},\"nearest_uncut_cpu_ms\":{uncut_cpu:.3},\"nearest_1000_ms\":{cut:.3},\"nearest_1000_cpu_ms\":{cut_cpu:.3},\
\"share_within_1000\":{within_share:.4},\"coverage_2000_ms\":{cover_ms:.1},\"coverage_2000_cpu_ms\":{cover_cpu:.1},\"coverage_2000_2threads_ms\":{cover2_ms:.1},\"coverage_pairs\":{},\"coverage_stored\":{},\"coverage_stored_bytes\":{},\"greedy20_ms\":{greedy_ms:.2},\"greedy20_cpu_ms\":{greedy_cpu:.2},\
\"greedy20_covered\":{},\"rtree_build_ms\":{tree_ms:.2},\"snap20k_ms\":{snap_ms:.2},\"snap20k_cpu_ms\":{snap_cpu:.2},\"pipeline_ms\":{pipeline_ms:.1},\
\"pipeline_snapped\":{},\"pipeline_cells\":{},\"pipeline_tiers\":{:?},\"peak_rss_nearest_mb\":{rss_nearest:.1},\"peak_rss_mb\":{:.1}}}",
        net.core_node_count(),
        net.edge_count(),
        sets.pairs(),
        sets.stored(),
        sets.stored_bytes(),
        cover.covered_weight,
        snaps.len(),
        cells.len(),
        tier_counts,
        peak_rss_mb()
    );
    Ok(())
}
