//! The compact graph: nodes, undirected edge segments with allowed directions, CSR adjacency.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::OnceLock;

use rstar::RTree;
use rstar::primitives::{GeomWithData, Line};

use crate::WalknetError;
use crate::chains::Chains;
use crate::pbf::{self, Visitor, WayRef};
use crate::profile::{Direction, Profile};

/// Mean Earth radius (IUGG), metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two `[lon, lat]` points in degrees.
pub fn haversine_m(p: [f64; 2], q: [f64; 2]) -> f64 {
    let (la1, la2) = (p[1].to_radians(), q[1].to_radians());
    let dla = la2 - la1;
    let dlo = (q[0] - p[0]).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// An undirected road segment between two nodes, with the directions it may be travelled in
/// (`forward` = from `a` to `b`) and the OSM way it came from, so results can be explained.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edge {
    pub a: u32,
    pub b: u32,
    pub length_m: f32,
    pub dir: Direction,
    pub way: i64,
}

/// Compressed sparse rows: the out-arcs of node `n` are `offsets[n]..offsets[n + 1]`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Csr {
    pub offsets: Vec<u32>,
    pub targets: Vec<u32>,
    pub weights: Vec<f32>,
}

impl Csr {
    fn build(n: usize, arcs: impl Iterator<Item = (u32, u32, f32)> + Clone) -> Csr {
        let mut offsets = vec![0u32; n + 1];
        for (u, _, _) in arcs.clone() {
            offsets[u as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let m = offsets[n] as usize;
        let mut fill = offsets.clone();
        let mut targets = vec![0u32; m];
        let mut weights = vec![0f32; m];
        for (u, v, w) in arcs {
            let slot = fill[u as usize] as usize;
            targets[slot] = v;
            weights[slot] = w;
            fill[u as usize] += 1;
        }
        Csr { offsets, targets, weights }
    }
}

/// A local equirectangular projection to metres around the network's centre. Good to a few
/// parts per thousand across a city; used for snapping and isochrone geometry, while edge
/// lengths are great-circle distances.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Projection {
    pub lon0: f64,
    pub lat0: f64,
    kx: f64,
    ky: f64,
}

impl Projection {
    pub fn around(lon0: f64, lat0: f64) -> Projection {
        let ky = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        Projection { lon0, lat0, kx: ky * lat0.to_radians().cos(), ky }
    }
    /// `[lon, lat]` degrees → `[x, y]` metres.
    pub fn to_xy(&self, p: [f64; 2]) -> [f64; 2] {
        [(p[0] - self.lon0) * self.kx, (p[1] - self.lat0) * self.ky]
    }
    /// `[x, y]` metres → `[lon, lat]` degrees.
    pub fn to_lonlat(&self, p: [f64; 2]) -> [f64; 2] {
        [self.lon0 + p[0] / self.kx, self.lat0 + p[1] / self.ky]
    }
}

/// Something worth telling the user about a network that was nevertheless built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// Ways referenced nodes the file does not contain (a clipped extract); those segments
    /// were left out.
    MissingNodes { refs: u64, ways: u64 },
    /// Pieces of the network not connected to the largest one; points snapped there reach little.
    Disconnected { components: u64, nodes: u64 },
}

impl Warning {
    /// A stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Warning::MissingNodes { .. } => "walknet.missing_nodes",
            Warning::Disconnected { .. } => "walknet.disconnected",
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::MissingNodes { refs, ways } => {
                write!(f, "{ways} 条道路引用了文件中不存在的 {refs} 个节点（可能是裁剪的路网），相应路段已略去")
            }
            Warning::Disconnected { components, nodes } => {
                write!(f, "路网有 {components} 个与主路网不连通的部分，共 {nodes} 个节点")
            }
        }
    }
}

/// What building the network read and kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildReport {
    pub bytes_read: u64,
    pub osm_nodes: u64,
    pub osm_ways: u64,
    pub osm_relations: u64,
    pub routable_ways: u64,
    pub nodes: u64,
    pub edges: u64,
    pub components: u64,
    pub largest_component: u64,
    pub warnings: Vec<Warning>,
}

type SegmentTree = RTree<GeomWithData<Line<[f64; 2]>, u32>>;

/// A routable network for one [`Profile`].
pub struct Network {
    pub(crate) profile: Profile,
    pub(crate) lonlat: Vec<[f64; 2]>,
    pub(crate) xy: Vec<[f64; 2]>,
    pub(crate) osm_ids: Vec<i64>,
    pub(crate) edges: Vec<Edge>,
    pub(crate) fwd: Csr,
    /// Arcs reversed, present only when some edge is one-way (searches run towards a site).
    pub(crate) rev: Option<Csr>,
    /// Chain contraction, for two-way networks (see `chains.rs`).
    pub(crate) chains: Option<Chains>,
    pub(crate) component: Vec<u32>,
    pub(crate) component_size: Vec<u32>,
    pub(crate) proj: Projection,
    pub(crate) tree: OnceLock<SegmentTree>,
    pub(crate) report: BuildReport,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network").field("profile", &self.profile).field("nodes", &self.lonlat.len()).field("edges", &self.edges.len()).finish()
    }
}

impl Network {
    /// Builds a network from nodes (`[lon, lat]` degrees, with their OSM ids) and edges.
    pub fn new(profile: Profile, lonlat: Vec<[f64; 2]>, osm_ids: Vec<i64>, edges: Vec<Edge>) -> Result<Network, WalknetError> {
        let n = lonlat.len();
        if osm_ids.len() != n {
            return Err(WalknetError::InvalidGraph("osm_ids and lonlat differ in length".into()));
        }
        if u32::try_from(n).is_err() || u32::try_from(edges.len() * 2).is_err() {
            return Err(WalknetError::InvalidGraph("more than 2^32 nodes or arcs".into()));
        }
        if let Some(p) = lonlat.iter().find(|p| !(p[0].is_finite() && p[1].is_finite() && p[1].abs() <= 90.0)) {
            return Err(WalknetError::InvalidGraph(format!("node coordinate {p:?} is not a valid lon/lat")));
        }
        for e in &edges {
            if e.a as usize >= n || e.b as usize >= n {
                return Err(WalknetError::InvalidGraph(format!("edge {}–{} refers to a missing node", e.a, e.b)));
            }
            if !(e.length_m.is_finite() && e.length_m >= 0.0) {
                return Err(WalknetError::InvalidGraph(format!("edge {}–{} has length {}", e.a, e.b, e.length_m)));
            }
        }
        let proj = if n == 0 {
            Projection::around(0.0, 0.0)
        } else {
            let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
            for p in &lonlat {
                for k in 0..2 {
                    lo[k] = lo[k].min(p[k]);
                    hi[k] = hi[k].max(p[k]);
                }
            }
            Projection::around((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0)
        };
        let xy: Vec<[f64; 2]> = lonlat.iter().map(|p| proj.to_xy(*p)).collect();
        let arcs = edges.iter().flat_map(|e| {
            let f = e.dir.forward.then_some((e.a, e.b, e.length_m));
            let b = e.dir.backward.then_some((e.b, e.a, e.length_m));
            f.into_iter().chain(b)
        });
        let fwd = Csr::build(n, arcs.clone());
        let rev = edges.iter().any(|e| !(e.dir.forward && e.dir.backward)).then(|| Csr::build(n, arcs.map(|(u, v, w)| (v, u, w))));
        let chains = rev.is_none().then(|| Chains::build(n, &edges, &xy));
        let (component, component_size) = components(n, &edges);
        let largest = component_size.iter().copied().max().unwrap_or(0);
        let mut report = BuildReport {
            nodes: n as u64,
            edges: edges.len() as u64,
            components: component_size.len() as u64,
            largest_component: u64::from(largest),
            ..BuildReport::default()
        };
        if component_size.len() > 1 {
            report.warnings.push(Warning::Disconnected { components: component_size.len() as u64 - 1, nodes: n as u64 - u64::from(largest) });
        }
        Ok(Network { profile, lonlat, xy, osm_ids, edges, fwd, rev, chains, component, component_size, proj, tree: OnceLock::new(), report })
    }

    /// Reads an OSM PBF file and keeps the ways `profile` may use. The file is read twice
    /// (ways first, then only the nodes those ways need), so memory grows with the routable
    /// network, not with the file.
    pub fn from_pbf<R: Read + Seek>(mut input: R, profile: Profile) -> Result<Network, WalknetError> {
        let start = input.stream_position().map_err(WalknetError::Io)?;
        let mut ways = WayCollector { profile, ways: Vec::new(), refs: Vec::new(), ref_offsets: vec![0] };
        let counts = pbf::read(&mut input, &mut ways)?;
        if ways.ways.is_empty() {
            return Err(WalknetError::NoRoutableWays { ways: counts.ways, profile });
        }
        let mut needed = ways.refs.clone();
        needed.sort_unstable();
        needed.dedup();
        // Node references as indices into `needed`: 4 bytes a reference instead of 8.
        let refs: Vec<u32> = ways.refs.iter().map(|r| needed.binary_search(r).map_or(u32::MAX, |i| i as u32)).collect();
        ways.refs = Vec::new();
        if u32::try_from(needed.len()).is_err() {
            return Err(WalknetError::InvalidGraph("more than 2^32 nodes".into()));
        }
        input.seek(SeekFrom::Start(start)).map_err(WalknetError::Io)?;
        let mut nodes = NodeCollector { needed: &needed, coords: vec![[f64::NAN; 2]; needed.len()] };
        pbf::read(&mut input, &mut nodes)?;
        let coords = nodes.coords;

        // Nodes ordered by OSM id (deterministic and, in practice, spatially local).
        let mut index = vec![u32::MAX; needed.len()];
        let mut lonlat = Vec::new();
        let mut osm_ids = Vec::new();
        for (i, c) in coords.iter().enumerate() {
            if c[0].is_finite() {
                index[i] = lonlat.len() as u32;
                lonlat.push(*c);
                osm_ids.push(needed[i]);
            }
        }
        let mut edges = Vec::new();
        let (mut missing_refs, mut missing_ways) = (0u64, 0u64);
        for (w, &(way_id, dir)) in ways.ways.iter().enumerate() {
            let mut prev: Option<u32> = None;
            let mut missed = false;
            for &r in &refs[ways.ref_offsets[w]..ways.ref_offsets[w + 1]] {
                let k = index.get(r as usize).copied().unwrap_or(u32::MAX);
                if k == u32::MAX {
                    missing_refs += 1;
                    missed = true;
                    prev = None;
                    continue;
                }
                if let Some(p) = prev
                    && p != k
                {
                    let len = haversine_m(lonlat[p as usize], lonlat[k as usize]) as f32;
                    edges.push(Edge { a: p, b: k, length_m: len, dir, way: way_id });
                }
                prev = Some(k);
            }
            missing_ways += u64::from(missed);
        }
        if edges.is_empty() {
            return Err(WalknetError::NoRoutableWays { ways: counts.ways, profile });
        }
        let mut net = Network::new(profile, lonlat, osm_ids, edges)?;
        let r = &mut net.report;
        r.bytes_read = counts.bytes;
        r.osm_nodes = counts.nodes;
        r.osm_ways = counts.ways;
        r.osm_relations = counts.relations;
        r.routable_ways = ways.ways.len() as u64;
        if missing_refs > 0 {
            r.warnings.insert(0, Warning::MissingNodes { refs: missing_refs, ways: missing_ways });
        }
        Ok(net)
    }

    /// [`Network::from_pbf`] on a file path.
    pub fn from_pbf_path(path: impl AsRef<Path>, profile: Profile) -> Result<Network, WalknetError> {
        let file = std::fs::File::open(path).map_err(WalknetError::Io)?;
        Network::from_pbf(BufReader::with_capacity(1 << 20, file), profile)
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }
    pub fn node_count(&self) -> usize {
        self.lonlat.len()
    }
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }
    /// `[lon, lat]` of a node.
    pub fn lonlat(&self, node: u32) -> [f64; 2] {
        self.lonlat[node as usize]
    }
    /// Projected `[x, y]` metres of a node.
    pub fn xy(&self, node: u32) -> [f64; 2] {
        self.xy[node as usize]
    }
    pub fn osm_id(&self, node: u32) -> i64 {
        self.osm_ids[node as usize]
    }
    pub fn projection(&self) -> Projection {
        self.proj
    }
    pub fn report(&self) -> &BuildReport {
        &self.report
    }
    /// Number of nodes in the (weakly) connected piece this node belongs to.
    pub fn component_size(&self, node: u32) -> u32 {
        self.component_size[self.component[node as usize] as usize]
    }
    /// Nodes of the largest connected piece, ascending.
    pub fn largest_component(&self) -> Vec<u32> {
        let best = (0..self.component_size.len()).max_by_key(|&c| (self.component_size[c], std::cmp::Reverse(c)));
        match best {
            Some(c) => (0..self.lonlat.len() as u32).filter(|&v| self.component[v as usize] as usize == c).collect(),
            None => Vec::new(),
        }
    }
    /// Nodes left in the search core after chain contraction (all nodes if not contracted).
    pub fn core_node_count(&self) -> usize {
        self.chains.as_ref().map_or(self.node_count(), |c| c.core_nodes())
    }

    /// Out-arcs of the graph searched towards a site (the reverse graph).
    pub(crate) fn towards(&self) -> &Csr {
        self.rev.as_ref().unwrap_or(&self.fwd)
    }

    pub(crate) fn segment_tree(&self) -> &SegmentTree {
        self.tree.get_or_init(|| {
            let items =
                self.edges.iter().enumerate().map(|(i, e)| GeomWithData::new(Line::new(self.xy[e.a as usize], self.xy[e.b as usize]), i as u32)).collect();
            RTree::bulk_load(items)
        })
    }
}

fn components(n: usize, edges: &[Edge]) -> (Vec<u32>, Vec<u32>) {
    let mut parent: Vec<u32> = (0..n as u32).collect();
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            let p = parent[x as usize];
            parent[x as usize] = parent[p as usize];
            x = p;
        }
        x
    }
    for e in edges {
        let (ra, rb) = (find(&mut parent, e.a), find(&mut parent, e.b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            parent[hi as usize] = lo;
        }
    }
    let mut label = vec![u32::MAX; n];
    let mut comp = vec![0u32; n];
    let mut sizes = Vec::new();
    for (v, c) in comp.iter_mut().enumerate() {
        let r = find(&mut parent, v as u32) as usize;
        if label[r] == u32::MAX {
            label[r] = sizes.len() as u32;
            sizes.push(0);
        }
        *c = label[r];
        sizes[label[r] as usize] += 1;
    }
    (comp, sizes)
}

struct WayCollector {
    profile: Profile,
    ways: Vec<(i64, Direction)>,
    refs: Vec<i64>,
    ref_offsets: Vec<usize>,
}

impl Visitor for WayCollector {
    fn wants_nodes(&self) -> bool {
        false
    }
    fn wants_ways(&self) -> bool {
        true
    }
    fn node(&mut self, _: i64, _: f64, _: f64) {}
    fn way(&mut self, way: &WayRef<'_>) {
        if way.refs.len() < 2 {
            return;
        }
        if let Some(dir) = self.profile.access(way.tags) {
            self.ways.push((way.id, dir));
            self.refs.extend_from_slice(way.refs);
            self.ref_offsets.push(self.refs.len());
        }
    }
}

struct NodeCollector<'a> {
    needed: &'a [i64],
    coords: Vec<[f64; 2]>,
}

impl Visitor for NodeCollector<'_> {
    fn wants_nodes(&self) -> bool {
        true
    }
    fn wants_ways(&self) -> bool {
        false
    }
    fn node(&mut self, id: i64, lat: f64, lon: f64) {
        if let Ok(i) = self.needed.binary_search(&id)
            && lat.is_finite()
            && lon.is_finite()
            && lat.abs() <= 90.0
            && lon.abs() <= 180.0
        {
            self.coords[i] = [lon, lat];
        }
    }
    fn way(&mut self, _: &WayRef<'_>) {}
}
