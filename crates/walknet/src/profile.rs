//! Which OSM ways a walker or a cyclist may use, and in which direction.

/// A travel mode. Distances are always metres; minutes come from [`Profile::speed_m_per_min`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// 步行: footways, steps, paths and every street a pedestrian may use; one-way signs do not
    /// apply to pedestrians.
    Walk,
    /// 骑行 (rural 15 minutes by bicycle): no steps or footways unless bicycles are allowed there,
    /// and one-way rules apply unless the way exempts bicycles.
    Bicycle,
}

/// Directions a way may be travelled in, relative to its node order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Direction {
    pub forward: bool,
    pub backward: bool,
}

impl Direction {
    pub const BOTH: Direction = Direction { forward: true, backward: true };
    pub const FORWARD: Direction = Direction { forward: true, backward: false };
    pub const BACKWARD: Direction = Direction { forward: false, backward: true };
}

fn tag<'a>(tags: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn yes(v: Option<&str>) -> bool {
    matches!(v, Some("yes" | "designated" | "permissive" | "official" | "destination" | "dismount"))
}

fn no(v: Option<&str>) -> bool {
    matches!(v, Some("no" | "private" | "use_sidepath" | "discouraged"))
}

impl Profile {
    /// Default speed: walking 60 m/min (3.6 km/h, the r5 default and the figure most Chinese
    /// studies use), cycling 200 m/min (12 km/h).
    pub fn speed_m_per_min(self) -> f64 {
        match self {
            Profile::Walk => 60.0,
            Profile::Bicycle => 200.0,
        }
    }

    /// Whether a way with these tags is usable, and in which directions.
    pub fn access(self, tags: &[(&str, &str)]) -> Option<Direction> {
        let highway = tag(tags, "highway")?;
        if matches!(tag(tags, "area"), Some("yes")) && highway != "pedestrian" && highway != "footway" {
            return None;
        }
        let access = tag(tags, "access");
        match self {
            Profile::Walk => {
                let foot = tag(tags, "foot");
                if no(foot) {
                    return None;
                }
                let allowed = match highway {
                    "footway" | "path" | "pedestrian" | "steps" | "living_street" | "residential" | "service" | "unclassified" | "track" | "cycleway"
                    | "corridor" | "road" | "bridleway" | "tertiary" | "tertiary_link" | "secondary" | "secondary_link" | "primary" | "primary_link" => true,
                    // Fast roads only where a sidewalk or foot access is mapped.
                    "trunk" | "trunk_link" | "motorway" | "motorway_link" => {
                        yes(foot) || matches!(tag(tags, "sidewalk"), Some("both" | "left" | "right" | "yes"))
                    }
                    _ => false,
                };
                if !allowed || (no(access) && !yes(foot)) {
                    return None;
                }
                Some(Direction::BOTH)
            }
            Profile::Bicycle => {
                let bicycle = tag(tags, "bicycle");
                if no(bicycle) {
                    return None;
                }
                let allowed = match highway {
                    "cycleway" | "path" | "track" | "living_street" | "residential" | "service" | "unclassified" | "road" | "tertiary" | "tertiary_link"
                    | "secondary" | "secondary_link" | "primary" | "primary_link" => true,
                    "footway" | "pedestrian" | "steps" | "bridleway" | "corridor" | "trunk" | "trunk_link" => yes(bicycle),
                    _ => false,
                };
                if !allowed || (no(access) && !yes(bicycle)) {
                    return None;
                }
                Some(bicycle_direction(tags))
            }
        }
    }
}

fn bicycle_direction(tags: &[(&str, &str)]) -> Direction {
    match tag(tags, "oneway:bicycle") {
        Some("no") => return Direction::BOTH,
        Some("yes" | "true" | "1") => return Direction::FORWARD,
        Some("-1" | "reverse") => return Direction::BACKWARD,
        _ => {}
    }
    // Contraflow lanes exempt cyclists from the one-way sign.
    let contraflow = ["cycleway", "cycleway:left", "cycleway:right", "cycleway:both"].iter().any(|k| tag(tags, k).is_some_and(|v| v.starts_with("opposite")));
    if contraflow {
        return Direction::BOTH;
    }
    match tag(tags, "oneway") {
        Some("yes" | "true" | "1") => Direction::FORWARD,
        Some("-1" | "reverse") => Direction::BACKWARD,
        Some("no" | "false" | "0") => Direction::BOTH,
        _ if matches!(tag(tags, "junction"), Some("roundabout" | "circular")) => Direction::FORWARD,
        _ => Direction::BOTH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(t: &[(&str, &str)]) -> Option<Direction> {
        Profile::Walk.access(t)
    }
    fn bike(t: &[(&str, &str)]) -> Option<Direction> {
        Profile::Bicycle.access(t)
    }

    #[test]
    fn walk_uses_footways_steps_paths_and_ignores_oneway() {
        for h in ["footway", "steps", "path", "pedestrian", "residential", "living_street", "primary"] {
            assert_eq!(walk(&[("highway", h)]), Some(Direction::BOTH), "{h}");
        }
        assert_eq!(walk(&[("highway", "residential"), ("oneway", "yes")]), Some(Direction::BOTH));
    }

    #[test]
    fn walk_excludes_motorways_private_and_non_roads() {
        assert_eq!(walk(&[("highway", "motorway")]), None);
        assert_eq!(walk(&[("highway", "trunk")]), None);
        assert_eq!(walk(&[("highway", "trunk"), ("sidewalk", "both")]), Some(Direction::BOTH));
        assert_eq!(walk(&[("highway", "footway"), ("foot", "no")]), None);
        assert_eq!(walk(&[("highway", "service"), ("access", "private")]), None);
        assert_eq!(walk(&[("highway", "service"), ("access", "private"), ("foot", "yes")]), Some(Direction::BOTH));
        assert_eq!(walk(&[("highway", "construction")]), None);
        assert_eq!(walk(&[("building", "yes")]), None);
        assert_eq!(walk(&[("highway", "residential"), ("area", "yes")]), None);
    }

    #[test]
    fn bicycle_respects_oneway_and_its_exemptions() {
        assert_eq!(bike(&[("highway", "residential"), ("oneway", "yes")]), Some(Direction::FORWARD));
        assert_eq!(bike(&[("highway", "residential"), ("oneway", "-1")]), Some(Direction::BACKWARD));
        assert_eq!(bike(&[("highway", "residential"), ("oneway", "yes"), ("oneway:bicycle", "no")]), Some(Direction::BOTH));
        assert_eq!(bike(&[("highway", "residential"), ("oneway", "yes"), ("cycleway", "opposite_lane")]), Some(Direction::BOTH));
        assert_eq!(bike(&[("highway", "primary"), ("junction", "roundabout")]), Some(Direction::FORWARD));
        assert_eq!(bike(&[("highway", "cycleway")]), Some(Direction::BOTH));
    }

    #[test]
    fn bicycle_excludes_steps_and_footways_unless_allowed() {
        assert_eq!(bike(&[("highway", "steps")]), None);
        assert_eq!(bike(&[("highway", "footway")]), None);
        assert_eq!(bike(&[("highway", "footway"), ("bicycle", "yes")]), Some(Direction::BOTH));
        assert_eq!(bike(&[("highway", "path"), ("bicycle", "no")]), None);
        assert_eq!(bike(&[("highway", "motorway")]), None);
    }
}
