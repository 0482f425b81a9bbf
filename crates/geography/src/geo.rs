//! Coordinates and the SVG map. Boundaries arrive in GCJ-02 (the offset system Chinese web maps use)
//! and are stored in WGS-84; the map is drawn by the server so it works on an intranet without tiles.

use std::f64::consts::PI;
use std::fmt::Write;

const A: f64 = 6_378_245.0;
const EE: f64 = 0.006_693_421_622_965_943;

fn out_of_china(lon: f64, lat: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn transform_lon(x: f64, y: f64) -> f64 {
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// WGS-84 → GCJ-02, the published forward transform.
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    let mut dlat = transform_lat(lon - 105.0, lat - 35.0);
    let mut dlon = transform_lon(lon - 105.0, lat - 35.0);
    let radlat = lat / 180.0 * PI;
    let magic = 1.0 - EE * radlat.sin() * radlat.sin();
    let sqrtmagic = magic.sqrt();
    dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrtmagic) * PI);
    dlon = (dlon * 180.0) / (A / sqrtmagic * radlat.cos() * PI);
    (lon + dlon, lat + dlat)
}

/// GCJ-02 → WGS-84 by fixed-point iteration on the forward transform (error well under 1 cm).
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    let (mut wlon, mut wlat) = (lon, lat);
    for _ in 0..10 {
        let (glon, glat) = wgs84_to_gcj02(wlon, wlat);
        let (dlon, dlat) = (glon - lon, glat - lat);
        wlon -= dlon;
        wlat -= dlat;
        if dlon.abs() < 1e-10 && dlat.abs() < 1e-10 {
            break;
        }
    }
    (wlon, wlat)
}

/// Polygons as rings of (lon, lat): `Vec<polygon>`, each polygon `Vec<ring>`.
pub type MultiPolygon = Vec<Vec<Vec<(f64, f64)>>>;

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("GeoJSON 无法解析：{0}")]
    Json(#[from] serde_json::Error),
    #[error("GeoJSON 几何类型须为 Polygon 或 MultiPolygon，实际为 {0}")]
    Kind(String),
    #[error("GeoJSON 坐标格式错误")]
    Coords,
}

fn ring(v: &serde_json::Value) -> Result<Vec<(f64, f64)>, GeoError> {
    v.as_array()
        .ok_or(GeoError::Coords)?
        .iter()
        .map(|p| {
            let a = p.as_array().ok_or(GeoError::Coords)?;
            match (a.first().and_then(|x| x.as_f64()), a.get(1).and_then(|x| x.as_f64())) {
                (Some(x), Some(y)) => Ok((x, y)),
                _ => Err(GeoError::Coords),
            }
        })
        .collect()
}

fn polygon(v: &serde_json::Value) -> Result<Vec<Vec<(f64, f64)>>, GeoError> {
    v.as_array().ok_or(GeoError::Coords)?.iter().map(ring).collect()
}

/// Reads a GeoJSON geometry object (Polygon or MultiPolygon).
pub fn parse_geometry(v: &serde_json::Value) -> Result<MultiPolygon, GeoError> {
    let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let coords = v.get("coordinates").ok_or(GeoError::Coords)?;
    match kind {
        "Polygon" => Ok(vec![polygon(coords)?]),
        "MultiPolygon" => coords.as_array().ok_or(GeoError::Coords)?.iter().map(polygon).collect(),
        other => Err(GeoError::Kind(other.to_owned())),
    }
}

pub fn map_coords(mp: &MultiPolygon, f: impl Fn(f64, f64) -> (f64, f64)) -> MultiPolygon {
    mp.iter().map(|poly| poly.iter().map(|r| r.iter().map(|&(x, y)| f(x, y)).collect()).collect()).collect()
}

/// GeoJSON text for a MultiPolygon, coordinates rounded to 1e-6° (about 0.1 m).
pub fn to_geojson(mp: &MultiPolygon) -> String {
    let round = |x: f64| (x * 1e6).round() / 1e6;
    let coords: Vec<Vec<Vec<[f64; 2]>>> = mp.iter().map(|p| p.iter().map(|r| r.iter().map(|&(x, y)| [round(x), round(y)]).collect()).collect()).collect();
    serde_json::json!({"type": "MultiPolygon", "coordinates": coords}).to_string()
}

/// A shape to draw, with where it links and whether it is the unit being shown.
pub struct MapShape {
    pub code: String,
    pub name: String,
    pub geometry: MultiPolygon,
    pub href: Option<String>,
    pub highlight: bool,
}

/// A marker on the map (an event, a facility), WGS-84.
pub struct MapPoint {
    pub lon: f64,
    pub lat: f64,
    /// CSS class, e.g. the event's light.
    pub class: String,
    pub title: String,
    pub href: Option<String>,
}

/// Draws shapes into an SVG `viewBox` 600 wide, equirectangular with the width scaled by cos(latitude),
/// dropping vertices closer than half a pixel so the page stays small on a poor connection.
pub fn render_svg(shapes: &[MapShape], title: &str) -> String {
    render_svg_with_points(shapes, &[], title)
}

/// The same map with markers on top.
pub fn render_svg_with_points(shapes: &[MapShape], points: &[MapPoint], title: &str) -> String {
    let pts = shapes.iter().flat_map(|s| s.geometry.iter().flatten().flatten());
    let (mut minx, mut miny, mut maxx, mut maxy) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &(x, y) in pts {
        minx = minx.min(x);
        maxx = maxx.max(x);
        miny = miny.min(y);
        maxy = maxy.max(y);
    }
    if minx > maxx {
        return String::new();
    }
    let kx = ((miny + maxy) / 2.0 / 180.0 * PI).cos();
    let width = 600.0;
    let scale = width / ((maxx - minx) * kx).max(1e-9);
    let height = ((maxy - miny) * scale).max(1.0);
    let (pad, w, h) = (8.0, width + 16.0, height + 16.0);
    let mut out = String::new();
    let _ = write!(out, r#"<svg class="map" viewBox="0 0 {w:.0} {h:.0}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#, escape(title));
    for s in shapes {
        let mut d = String::new();
        let (mut sx, mut sy, mut n, mut cx, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for poly in &s.geometry {
            for r in poly {
                let mut last: Option<(f64, f64)> = None;
                for (i, &(x, y)) in r.iter().enumerate() {
                    let px = pad + (x - minx) * kx * scale;
                    let py = pad + (maxy - y) * scale;
                    if let Some((lx, ly)) = last
                        && (px - lx).abs() < 0.5
                        && (py - ly).abs() < 0.5
                        && i + 1 != r.len()
                    {
                        continue;
                    }
                    let _ = write!(d, "{}{px:.1},{py:.1}", if last.is_none() { 'M' } else { 'L' });
                    last = Some((px, py));
                    sx += px;
                    sy += py;
                    n += 1.0;
                }
                d.push('Z');
            }
        }
        if n > 0.0 {
            cx = sx / n;
            cy = sy / n;
        }
        let class = if s.highlight { r#" class="here""# } else { "" };
        let path = format!(r#"<path{class} data-unit="{}" d="{d}"><title>{}</title></path>"#, escape(&s.code), escape(&s.name));
        match &s.href {
            Some(href) => {
                let _ = write!(out, r#"<a href="{}">{path}</a>"#, escape(href));
            }
            None => out.push_str(&path),
        }
        let _ = write!(out, r#"<text x="{cx:.0}" y="{cy:.0}">{}</text>"#, escape(&s.name));
    }
    for p in points {
        if !(minx..=maxx).contains(&p.lon) || !(miny..=maxy).contains(&p.lat) {
            continue;
        }
        let (px, py) = (pad + (p.lon - minx) * kx * scale, pad + (maxy - p.lat) * scale);
        let dot = format!(r#"<circle class="pt {}" cx="{px:.1}" cy="{py:.1}" r="6"><title>{}</title></circle>"#, escape(&p.class), escape(&p.title));
        match &p.href {
            Some(h) => {
                let _ = write!(out, r#"<a href="{}">{dot}</a>"#, escape(h));
            }
            None => out.push_str(&dot),
        }
    }
    out.push_str("</svg>");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcj_round_trip_is_exact_to_a_centimetre() {
        // 遂宁市政府 area; GCJ-02 offsets in Sichuan are a few hundred metres.
        let wgs = (105.5927, 30.5329);
        let gcj = wgs84_to_gcj02(wgs.0, wgs.1);
        assert!((gcj.0 - wgs.0).abs() > 1e-3, "offset applied");
        let back = gcj02_to_wgs84(gcj.0, gcj.1);
        assert!((back.0 - wgs.0).abs() < 1e-7 && (back.1 - wgs.1).abs() < 1e-7, "{back:?}");
        // Outside China nothing moves.
        assert_eq!(gcj02_to_wgs84(2.35, 48.85), (2.35, 48.85));
    }

    #[test]
    fn svg_draws_one_path_per_shape_and_links_only_when_allowed() {
        let sq = vec![vec![vec![(105.0, 30.0), (105.1, 30.0), (105.1, 30.1), (105.0, 30.1), (105.0, 30.0)]]];
        let shapes = vec![
            MapShape { code: "510903".into(), name: "船山区".into(), geometry: sq.clone(), href: Some("/units/510903".into()), highlight: true },
            MapShape { code: "510904".into(), name: "安居区".into(), geometry: map_coords(&sq, |x, y| (x + 0.1, y)), href: None, highlight: false },
        ];
        let svg = render_svg(&shapes, "遂宁市");
        assert_eq!(svg.matches("<path").count(), 2);
        assert_eq!(svg.matches("<a href=").count(), 1);
        assert!(svg.contains(r#"class="here" data-unit="510903""#));
    }
}
