//! Writes a k × k tiled copy of a real extract as an OSM PBF file, for the pipeline benchmark
//! (`bench/coverage.sh`): the walk graph of the input, tiled by `walknet::synthetic::tile`, one
//! two-node footway per edge. The extent of the output is synthetic; its local structure is real.
//!
//! With a fourth argument PAD, also writes PAD buildings (closed four-corner ways tagged
//! `building=yes`, 10 m squares at seeded random spots in the box) that no travel profile uses, so
//! the file grows the way a real extract does — most of a city's PBF is buildings, land use and
//! addresses — while the routable network stays the same: the streaming reader's memory should
//! follow the network, not the file.
//!
//! Usage: `tile_pbf IN.osm.pbf OUT.osm.pbf K [PAD]`; prints the output's bounding box, node and
//! edge counts of the network.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (input, output, k, pad) = match args.as_slice() {
        [_, i, o, k] => (i, o, k, 0usize),
        [_, i, o, k, pad] => (i, o, k, pad.parse()?),
        _ => return Err("usage: tile_pbf IN.osm.pbf OUT.osm.pbf K [PAD]".into()),
    };
    let k: usize = k.parse()?;
    let net = walknet::Network::from_pbf_path(input, walknet::Profile::Walk)?;
    let net = if k > 1 { walknet::synthetic::tile(&net, k, 60.0, 60.0)? } else { net };
    let (mut minx, mut miny, mut maxx, mut maxy) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    let nodes: Vec<(i64, f64, f64)> = (0..net.node_count() as u32)
        .map(|v| {
            let [lon, lat] = net.lonlat(v);
            minx = minx.min(lon);
            maxx = maxx.max(lon);
            miny = miny.min(lat);
            maxy = maxy.max(lat);
            (i64::from(v) + 1, lat, lon)
        })
        .collect();
    let ways: Vec<walknet::pbf::OwnedWay> = net
        .edges()
        .iter()
        .enumerate()
        .map(|(i, e)| walknet::pbf::OwnedWay {
            id: i as i64 + 1,
            refs: vec![i64::from(e.a) + 1, i64::from(e.b) + 1],
            // residential: usable by both profiles, so the bicycle run has a network too.
            tags: vec![("highway".into(), "residential".into())],
        })
        .collect();
    // SplitMix64, seeded: the same padding every run.
    let mut z: u64 = 42;
    let mut rnd = move || {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = z;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((x ^ (x >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let (dlat, dlon) = (10.0 / 111_195.0, 10.0 / 111_195.0 / ((miny + maxy) / 2.0).to_radians().cos());
    // The padding is written as it is made, a block at a time, so the file can be far larger than
    // memory: building b has the nodes first_node + 4b … + 3 and the way first_way + b.
    let first_node = nodes.len() as i64 + 1;
    let first_way = ways.len() as i64 + 1;
    const BATCH: usize = 100_000;
    let mut w = walknet::pbf::Writer::new(std::io::BufWriter::new(std::fs::File::create(output)?), true)?;
    w.nodes(&nodes)?;
    let mut batch = Vec::with_capacity(4 * BATCH);
    for b in 0..pad as i64 {
        let (lon, lat) = (minx + rnd() * (maxx - minx), miny + rnd() * (maxy - miny));
        let id = first_node + 4 * b;
        batch.extend([(id, lat, lon), (id + 1, lat, lon + dlon), (id + 2, lat + dlat, lon + dlon), (id + 3, lat + dlat, lon)]);
        if batch.len() >= 4 * BATCH {
            w.nodes(&batch)?;
            batch.clear();
        }
    }
    w.nodes(&batch)?;
    w.ways(&ways)?;
    let tags = vec![("building".to_owned(), "yes".to_owned())];
    let mut batch = Vec::with_capacity(BATCH);
    for b in 0..pad as i64 {
        let id = first_node + 4 * b;
        batch.push(walknet::pbf::OwnedWay { id: first_way + b, refs: vec![id, id + 1, id + 2, id + 3, id], tags: tags.clone() });
        if batch.len() >= BATCH {
            w.ways(&batch)?;
            batch.clear();
        }
    }
    w.ways(&batch)?;
    println!("{minx} {miny} {maxx} {maxy} {} {}", net.node_count(), net.edge_count());
    Ok(())
}
