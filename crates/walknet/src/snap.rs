//! Snapping points (buildings, facilities, candidate sites) onto the nearest edge.

use rstar::PointDistance;

use crate::network::Network;

/// A point placed on an edge: `t` is the fraction of the way from the edge's `a` to its `b`,
/// and `access_m` the straight distance from the original point to the edge, which is added to
/// every distance reported for the point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snap {
    pub edge: u32,
    pub t: f32,
    pub access_m: f32,
    /// The snapped position, `[lon, lat]`.
    pub point: [f64; 2],
}

/// Why a point could not be snapped. Callers report these; nothing is dropped silently.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum SnapError {
    #[error("坐标无效")]
    InvalidPoint,
    #[error("距最近的可用道路 {nearest_m:.0} 米，超过上限 {max_m:.0} 米")]
    TooFar { nearest_m: f64, max_m: f64 },
    #[error("路网中没有可用的道路")]
    NoEdges,
}

impl SnapError {
    pub fn code(&self) -> &'static str {
        match self {
            SnapError::InvalidPoint => "walknet.snap_invalid_point",
            SnapError::TooFar { .. } => "walknet.snap_too_far",
            SnapError::NoEdges => "walknet.snap_no_edges",
        }
    }
}

/// Snapping limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SnapOptions {
    /// Points farther than this from every usable edge are refused.
    pub max_m: f64,
    /// Edges in connected pieces with fewer nodes than this are passed over, so that a
    /// building next to an isolated footway does not snap onto it and reach nothing.
    pub min_component: u32,
}

impl Default for SnapOptions {
    fn default() -> Self {
        SnapOptions { max_m: 100.0, min_component: 1 }
    }
}

impl Network {
    /// Snaps each `[lon, lat]` point to its nearest usable edge.
    pub fn snap(&self, points: &[[f64; 2]], opts: &SnapOptions) -> Vec<Result<Snap, SnapError>> {
        points.iter().map(|p| self.snap_one(*p, opts)).collect()
    }

    pub fn snap_one(&self, p: [f64; 2], opts: &SnapOptions) -> Result<Snap, SnapError> {
        if !(p[0].is_finite() && p[1].is_finite() && p[1].abs() <= 90.0 && p[0].abs() <= 360.0) {
            return Err(SnapError::InvalidPoint);
        }
        if self.edges.is_empty() {
            return Err(SnapError::NoEdges);
        }
        let q = self.proj.to_xy(p);
        let max2 = opts.max_m * opts.max_m;
        let mut nearest: Option<f64> = None;
        for (item, d2) in self.segment_tree().nearest_neighbor_iter_with_distance_2(q) {
            nearest.get_or_insert(d2.sqrt());
            if d2 > max2 {
                break;
            }
            let edge = item.data;
            let e = self.edges[edge as usize];
            if self.component_size(e.a) < opts.min_component {
                continue;
            }
            let (a, b) = (self.xy[e.a as usize], self.xy[e.b as usize]);
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let len2 = dx * dx + dy * dy;
            let t = if len2 > 0.0 { (((q[0] - a[0]) * dx + (q[1] - a[1]) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
            let on = [a[0] + t * dx, a[1] + t * dy];
            debug_assert!((item.geom().distance_2(&q) - d2).abs() < 1e-6 * (1.0 + d2));
            let access = ((q[0] - on[0]).powi(2) + (q[1] - on[1]).powi(2)).sqrt();
            return Ok(Snap { edge, t: t as f32, access_m: access as f32, point: self.proj.to_lonlat(on) });
        }
        Err(SnapError::TooFar { nearest_m: nearest.unwrap_or(f64::INFINITY), max_m: opts.max_m })
    }
}
