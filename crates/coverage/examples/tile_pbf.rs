//! Writes a k × k tiled copy of a real extract as an OSM PBF file, for the pipeline benchmark
//! (`bench/coverage.sh`): the walk graph of the input, tiled by `walknet::synthetic::tile`, one
//! two-node footway per edge. The extent of the output is synthetic; its local structure is real.
//!
//! Usage: `tile_pbf IN.osm.pbf OUT.osm.pbf K`; prints the output's bounding box.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output, k] = args.as_slice() else {
        return Err("usage: tile_pbf IN.osm.pbf OUT.osm.pbf K".into());
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
    walknet::pbf::write(std::io::BufWriter::new(std::fs::File::create(output)?), &nodes, &ways, true)?;
    println!("{minx} {miny} {maxx} {maxy} {} {}", net.node_count(), net.edge_count());
    Ok(())
}
