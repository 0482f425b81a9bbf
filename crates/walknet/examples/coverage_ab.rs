//! A/B timing of the coverage sets alone (the bench example also times everything else, which
//! takes long on the tiled graphs): best-of-N wall and thread-CPU time of `Network::coverage`
//! for the bench's 2,000 candidates, and a hash of every set's elements, so that two builds can
//! be compared for speed and for identical results.
//!
//! cargo run --release -p walknet --example coverage_ab -- --pbf Helsinki.osm.pbf --tile 4 [--reps 7]

use std::time::Instant;

use walknet::{Network, Profile, Site, synthetic};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// CPU time of the calling thread, ns: unlike wall time it does not count waiting for a core.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok().and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok())).unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let pbf = arg(&args, "--pbf").ok_or("--pbf PATH required")?;
    let k: usize = arg(&args, "--tile").map(|s| s.parse()).transpose()?.unwrap_or(1);
    let reps: usize = arg(&args, "--reps").map(|s| s.parse()).transpose()?.unwrap_or(7).max(1);
    let base = Network::from_pbf_path(&pbf, Profile::Walk)?;
    let net = if k > 1 { synthetic::tile(&base, k, 30.0, 60.0)? } else { base };
    let cands: Vec<Site> = synthetic::pick_nodes(&net.largest_component(), 2000, 7).into_iter().map(Site::Node).collect();
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let mut sets = net.coverage(&cands, 1000.0);
    for _ in 0..reps {
        let (t, c) = (Instant::now(), cpu_ns());
        sets = std::hint::black_box(net.coverage(&cands, 1000.0));
        cpu.push((cpu_ns() - c) as f64 / 1e6);
        wall.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // FNV-1a over every set's elements in ascending order.
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for i in 0..sets.len() {
        for x in sets.set(i) {
            hash = (hash ^ u64::from(x)).wrapping_mul(0x100_0000_01b3);
        }
        hash = (hash ^ u64::MAX).wrapping_mul(0x100_0000_01b3);
    }
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let mut sorted = cpu.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "tile {k}: coverage cpu best {:.1} ms median {:.1} ms, wall best {:.1} ms; pairs {}, stored {}, {} bytes, hash {hash:016x}",
        best(&cpu),
        sorted[sorted.len() / 2],
        best(&wall),
        sets.pairs(),
        sets.stored(),
        sets.stored_bytes()
    );
    Ok(())
}
