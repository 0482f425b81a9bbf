//! The demo: a deterministic synthetic street network for the Suining urban area (labelled
//! 「合成路网（演示）」 wherever it is shown), synthetic buildings per demo community, positions for
//! the register's synthetic facilities of those communities, and one analysis per profile so the
//! map is not empty. Nothing here is real: no street, building or facility position is.

use std::path::Path;

use platform::audit::Actor;
use platform::scope::UnitCode;
use platform::{AppError, AppResult, Platform};
use walknet::pbf::{self, OwnedWay};

use crate::service;
use crate::store::{self, NewBuilding};

/// 船山区 centre (WGS-84), inside the county outline.
pub const CENTRE: (f64, f64) = (105.59, 30.53);
/// The square of streets, metres on a side, and the street spacing.
const SIDE_M: f64 = 4000.0;
const BLOCK_M: f64 = 200.0;
/// Lattice step along a street (a node every 100 m).
const STEP_M: f64 = 100.0;
/// Communities laid out on a GRID × GRID arrangement of cells.
const GRID: usize = 6;
const BUILDINGS_PER_COMMUNITY: usize = 12;

/// The demo marks communities DEMO_PARKS.0 .. DEMO_PARKS.0 + DEMO_PARKS.1 (of the analysed ones)
/// as industrial parks.
pub const DEMO_PARKS: (usize, usize) = (2, 2);

pub const NETWORK_FILE: &str = "demo-network-synthetic.osm.pbf";

/// SplitMix64: a tiny deterministic generator (no dependency, same output everywhere).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A value in [0, 1) from a seed.
fn unit(seed: u64) -> f64 {
    (mix(seed) >> 11) as f64 / (1u64 << 53) as f64
}

fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Metres east/north of the centre to WGS-84.
fn lonlat(x: f64, y: f64) -> (f64, f64) {
    (CENTRE.0 + x / 111_195.0 / CENTRE.1.to_radians().cos(), CENTRE.1 + y / 111_195.0)
}

/// The synthetic network as PBF bytes: a lattice of streets 200 m apart with a node every 100 m,
/// each node nudged up to 15 m so blocks are not perfect squares; every fifth street a
/// secondary road, a one-way pair for bicycles, and a diagonal footway through the middle.
pub fn network_pbf() -> std::io::Result<Vec<u8>> {
    let n = (SIDE_M / STEP_M) as i64 + 1; // lattice points per side
    let id = |i: i64, j: i64| i * n + j + 1;
    let half = SIDE_M / 2.0;
    let mut nodes = Vec::with_capacity((n * n) as usize);
    for i in 0..n {
        for j in 0..n {
            let seed = (i * n + j) as u64;
            let (dx, dy) = ((unit(seed * 2) - 0.5) * 30.0, (unit(seed * 2 + 1) - 0.5) * 30.0);
            let (lon, lat) = lonlat(j as f64 * STEP_M - half + dx, i as f64 * STEP_M - half + dy);
            nodes.push((id(i, j), lat, lon));
        }
    }
    let per_block = (BLOCK_M / STEP_M) as i64;
    let mut ways = Vec::new();
    let mut way_id = 1;
    let tags = |k: i64, oneway: bool| {
        let mut t =
            vec![("highway".to_owned(), if k % 5 == 0 { "secondary" } else { "residential" }.to_owned()), ("name".to_owned(), format!("合成路{k}（演示）"))];
        if oneway {
            t.push(("oneway".to_owned(), "yes".to_owned()));
        }
        t
    };
    for k in (0..n).step_by(per_block as usize) {
        // East–west street along lattice row k, north–south along column k.
        let oneway = k == per_block * 3 || k == per_block * 4;
        ways.push(OwnedWay { id: way_id, refs: (0..n).map(|j| id(k, j)).collect(), tags: tags(k, oneway) });
        way_id += 1;
        ways.push(OwnedWay { id: way_id, refs: (0..n).map(|i| id(i, k)).collect(), tags: tags(k + 1000, false) });
        way_id += 1;
    }
    ways.push(OwnedWay {
        id: way_id,
        refs: (0..n).map(|i| id(i, i)).collect(),
        tags: vec![("highway".into(), "footway".into()), ("name".into(), "合成绿道（演示）".into())],
    });
    let mut out = Vec::new();
    pbf::write(&mut out, &nodes, &ways, true)?;
    Ok(out)
}

/// Where the `k`-th demo community's cell lies (metres from the centre, south-west corner).
fn cell(k: usize) -> (f64, f64) {
    let size = SIDE_M / GRID as f64;
    ((k % GRID) as f64 * size - SIDE_M / 2.0, (k / GRID) as f64 * size - SIDE_M / 2.0)
}

/// Seeds the coverage demo: writes the network file into `data_dir`, buildings for the first
/// communities of 船山区, positions for their synthetic facilities, and runs the walk and bicycle
/// analyses. Returns false when the demo buildings already exist (nothing is redone).
pub async fn seed(p: &Platform, data_dir: &Path) -> AppResult<bool> {
    let have = p.db.scalar(platform::sql!("SELECT COUNT(*) FROM coverage_buildings WHERE source = 'demo'")).await?;
    if have > 0 {
        return Ok(false);
    }
    let county = UnitCode::parse("510903").map_err(AppError::internal)?;
    let communities: Vec<_> =
        geography::store::current_of_kind(&p.db, &county, &[geography::model::UnitKind::Community]).await?.into_iter().take(GRID * GRID).collect();
    let size = SIDE_M / GRID as f64;
    let mut rows = Vec::new();
    for (k, u) in communities.iter().enumerate() {
        let (x0, y0) = cell(k);
        let pop = geography::store::population(&p.db, &u.code).await?;
        let (hh, res) = pop.map(|p| (p.households, p.residents)).unwrap_or((600, 1800));
        let hs = crate::model::spread(hh, BUILDINGS_PER_COMMUNITY);
        let rs = crate::model::spread(res, BUILDINGS_PER_COMMUNITY);
        let short = u.name.trim_end_matches("居民委员会").trim_end_matches("居委会");
        for b in 0..BUILDINGS_PER_COMMUNITY {
            let seed = hash_str(&u.code).wrapping_add(b as u64 * 7);
            let (x, y) = (x0 + 40.0 + unit(seed) * (size - 80.0), y0 + 40.0 + unit(seed ^ 0xABCD) * (size - 80.0));
            let (lon, lat) = lonlat(x, y);
            rows.push(NewBuilding {
                unit_code: u.code.clone(),
                name: format!("{short}{}号楼（演示）", b + 1),
                lon_e6: (lon * 1e6).round() as i64,
                lat_e6: (lat * 1e6).round() as i64,
                households: hs[b],
                residents: rs[b],
                source: "demo",
            });
        }
    }
    // Two buildings far outside the streets, so the demo shows what "unreachable" looks like.
    if let Some(u) = communities.first() {
        for (i, (x, y)) in [(SIDE_M * 0.5 + 900.0, 0.0), (0.0, -SIDE_M * 0.5 - 900.0)].into_iter().enumerate() {
            let (lon, lat) = lonlat(x, y);
            rows.push(NewBuilding {
                unit_code: u.code.clone(),
                name: format!("远郊{}号楼（演示，距道路过远）", i + 1),
                lon_e6: (lon * 1e6).round() as i64,
                lat_e6: (lat * 1e6).round() as i64,
                households: 20,
                residents: 60,
                source: "demo",
            });
        }
    }
    let index: std::collections::HashMap<String, usize> = communities.iter().enumerate().map(|(k, u)| (u.code.clone(), k)).collect();
    let mut tx = p.db.begin().await?;
    store::insert_buildings(&mut tx, &rows, p.now()).await?;
    registry::coverage_inputs::place_synthetic_facilities(&mut tx, &county, |f| {
        let k = *index.get(&f.unit_code)?;
        let (x0, y0) = cell(k);
        // By name, not by the random id, so every demo run places the same facility at the same spot.
        let seed = hash_str(&format!("{}|{}|{}", f.unit_code, f.name, f.category));
        let (lon, lat) = lonlat(x0 + 20.0 + unit(seed) * (size - 40.0), y0 + 20.0 + unit(seed ^ 0x5555) * (size - 40.0));
        Some(((lon * 1e6).round() as i64, (lat * 1e6).round() as i64))
    })
    .await?;
    // Two demo communities are marked 产业园区社区, so T45 has units to count (an administrator
    // changes the mark on the unit page).
    for u in communities.iter().skip(DEMO_PARKS.0).take(DEMO_PARKS.1) {
        geography::store::set_industrial_park(&mut tx, p.now(), &Actor::system(), &u.code, true).await?;
    }
    tx.commit().await?;

    std::fs::create_dir_all(data_dir).map_err(AppError::internal)?;
    let path = data_dir.join(NETWORK_FILE);
    std::fs::write(&path, network_pbf().map_err(AppError::internal)?).map_err(AppError::internal)?;
    for mode in crate::model::Mode::ALL {
        // Through the real reader, as a city's own extract would be.
        let net = walknet::Network::from_pbf_path(&path, mode.profile()).map_err(|e| AppError::internal(format!("{e} ({})", e.code())))?;
        service::analyze(p, &Actor::system(), &net, NETWORK_FILE, true, service::Options::default()).await?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synthetic_network_is_deterministic_and_reads_back() {
        let a = network_pbf().expect("pbf");
        assert_eq!(a, network_pbf().expect("pbf"), "same bytes every time");
        let walk = walknet::Network::from_pbf(std::io::Cursor::new(&a), walknet::Profile::Walk).expect("walk");
        let bike = walknet::Network::from_pbf(std::io::Cursor::new(&a), walknet::Profile::Bicycle).expect("bicycle");
        assert_eq!(walk.report().components, 1, "one connected street network");
        assert!(walk.node_count() > 1000 && bike.node_count() > 1000);
        // The footway is closed to bicycles.
        assert!(bike.edge_count() < walk.edge_count());
        let [lon, lat] = walk.lonlat(0);
        assert!((lon - CENTRE.0).abs() < 0.03 && (lat - CENTRE.1).abs() < 0.03);
    }
}
