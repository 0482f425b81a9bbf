//! 生活圈路网计算: routing for the 15/10/5-minute life circles.
//!
//! A pure library (no database, no HTTP): read an OpenStreetMap PBF extract into a compact
//! walk or bicycle graph ([`Network::from_pbf`]), snap buildings and facilities onto the nearest
//! edge with the access distance counted ([`Network::snap`]), compute for every node the distance
//! to the nearest facility of a category in one bounded multi-source Dijkstra
//! ([`Network::nearest_facility`]), draw isochrone polygons ([`Network::isochrone`]), and pick new
//! sites by greedy maximal covering with lazy evaluation ([`greedy_max_cover`]).
//!
//! All distances are metres (f32); every search runs *towards* the sites, so on a bicycle
//! network with one-way streets a distance is the ride from the node to the facility.
//!
//! ```
//! use walknet::{pbf, greedy_max_cover, Network, Profile, Site, SnapOptions};
//!
//! // A 300 m footway along a parallel of latitude (four nodes, 100 m apart), written as PBF.
//! let step = 100.0 / 111_195.0 / 30.53f64.to_radians().cos();
//! let nodes: Vec<(i64, f64, f64)> = (0..4).map(|i| (i + 1, 30.53, 105.59 + i as f64 * step)).collect();
//! let way = pbf::OwnedWay { id: 7, refs: vec![1, 2, 3, 4], tags: vec![("highway".into(), "footway".into())] };
//! let mut file = Vec::new();
//! pbf::write(&mut file, &nodes, &[way], true)?;
//!
//! let net = Network::from_pbf(std::io::Cursor::new(file), Profile::Walk)?;
//! assert_eq!((net.node_count(), net.edge_count()), (4, 3));
//!
//! // A kindergarten 10 m off the west end, a building 20 m off the east end.
//! let opts = SnapOptions { max_m: 50.0, min_component: 1 };
//! let snaps = net.snap(&[[105.59, 30.53 + 10.0 / 111_195.0], [105.59 + 3.0 * step, 30.53 - 20.0 / 111_195.0]], &opts);
//! let (kindergarten, building) = (snaps[0]?, snaps[1]?);
//! let field = net.nearest_facility(&[Site::Snap(kindergarten)], 500.0);
//! let (metres, which) = field.at(&net, &building).expect("within 500 m");
//! assert!((metres - 330.0).abs() < 1.0 && which == 0); // 10 + 300 + 20 m
//!
//! // Where to build one more, among the four nodes, to cover the most nodes within 150 m.
//! let sets = net.coverage(&(0..4).map(Site::Node).collect::<Vec<_>>(), 150.0);
//! let pick = greedy_max_cover(&sets, &[1.0; 4], 1, None)?;
//! assert_eq!(pick.picks[0].set, 1); // node 1 reaches nodes 0, 1 and 2
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chains;
mod cover;
mod isochrone;
mod lanes;
mod network;
pub mod pbf;
mod profile;
mod route;
mod snap;
pub mod synthetic;

pub use cover::{Cover, CoverSets, Pick, greedy_max_cover, naive_greedy_max_cover};
pub use isochrone::{IsochroneOptions, Polygon, contains, ring_contains};
pub use network::{BuildReport, EARTH_RADIUS_M, Edge, Network, Projection, Warning, haversine_m};
pub use profile::{Direction, Profile};
pub use route::{DistanceField, Searcher, Site};
pub use snap::{Snap, SnapError, SnapOptions};

/// Errors of this library. Each has a stable machine code ([`WalknetError::code`]) and a
/// Chinese message for the user.
#[derive(Debug, thiserror::Error)]
pub enum WalknetError {
    #[error("读取路网文件失败：{0}")]
    Io(std::io::Error),
    #[error("不是有效的 OSM PBF 路网文件（第 {offset} 字节处）：{reason}")]
    Pbf { offset: u64, reason: String },
    #[error("PBF 文件要求本系统不支持的特性“{0}”")]
    UnsupportedFeature(String),
    #[error("路网文件中没有{}可用的道路（共读到 {ways} 条 way）", profile_name(*.profile))]
    NoRoutableWays { ways: u64, profile: Profile },
    #[error("路网数据不一致：{0}")]
    InvalidGraph(String),
    #[error("覆盖计算参数有误：{0}")]
    InvalidCover(String),
}

fn profile_name(p: Profile) -> &'static str {
    match p {
        Profile::Walk => "步行",
        Profile::Bicycle => "骑行",
    }
}

impl WalknetError {
    /// A stable machine code for logs, APIs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            WalknetError::Io(_) => "walknet.io",
            WalknetError::Pbf { .. } => "walknet.not_pbf",
            WalknetError::UnsupportedFeature(_) => "walknet.unsupported_feature",
            WalknetError::NoRoutableWays { .. } => "walknet.no_routable_ways",
            WalknetError::InvalidGraph(_) => "walknet.invalid_graph",
            WalknetError::InvalidCover(_) => "walknet.invalid_cover",
        }
    }
}

#[cfg(test)]
mod tests;
