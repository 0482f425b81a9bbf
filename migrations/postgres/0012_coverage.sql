-- 服务资源一幅地图: life-circle rules, residential buildings with coordinates, analysis runs and
-- the current results per building (one set per travel profile; a new run of a profile replaces it).
CREATE TABLE coverage_rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    profile TEXT NOT NULL,
    metres BIGINT NOT NULL,
    categories TEXT NOT NULL,
    match_mode TEXT NOT NULL,
    applies_to TEXT NOT NULL,
    indicator TEXT NOT NULL,
    counts TEXT NOT NULL,
    unit_share_pct BIGINT NOT NULL,
    note TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE coverage_buildings (
    id TEXT PRIMARY KEY,
    unit_code TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    lon_e6 BIGINT NOT NULL,
    lat_e6 BIGINT NOT NULL,
    households BIGINT NOT NULL,
    residents BIGINT NOT NULL,
    source TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX coverage_buildings_unit ON coverage_buildings (unit_code);

CREATE TABLE coverage_runs (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    network_name TEXT NOT NULL,
    synthetic BIGINT NOT NULL,
    nodes BIGINT NOT NULL,
    edges BIGINT NOT NULL,
    buildings BIGINT NOT NULL,
    unreachable BIGINT NOT NULL,
    facilities BIGINT NOT NULL,
    facilities_outside BIGINT NOT NULL,
    warnings TEXT NOT NULL,
    actor TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT NOT NULL
);

CREATE TABLE coverage_building_results (
    run_id TEXT NOT NULL,
    profile TEXT NOT NULL,
    building_id TEXT NOT NULL,
    unit_code TEXT COLLATE "C" NOT NULL,
    snap_m BIGINT,
    reachable BIGINT NOT NULL,
    PRIMARY KEY (profile, building_id)
);
CREATE INDEX coverage_building_results_unit ON coverage_building_results (unit_code);

CREATE TABLE coverage_distances (
    profile TEXT NOT NULL,
    building_id TEXT NOT NULL,
    category TEXT NOT NULL,
    distance_m BIGINT,
    PRIMARY KEY (profile, building_id, category)
);

CREATE TABLE coverage_rollups (
    run_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    unit_code TEXT COLLATE "C" NOT NULL,
    buildings BIGINT NOT NULL,
    buildings_covered BIGINT NOT NULL,
    unreachable BIGINT NOT NULL,
    residents BIGINT NOT NULL,
    residents_covered BIGINT NOT NULL,
    PRIMARY KEY (rule_id, unit_code)
);
CREATE INDEX coverage_rollups_unit ON coverage_rollups (unit_code);

-- Where a new facility would close the most of a rule's gap (greedy maximal covering over network
-- nodes), with the residents each pick would add.
CREATE TABLE coverage_candidates (
    rule_id TEXT NOT NULL,
    rank BIGINT NOT NULL,
    run_id TEXT NOT NULL,
    lon_e6 BIGINT NOT NULL,
    lat_e6 BIGINT NOT NULL,
    residents_gain BIGINT NOT NULL,
    PRIMARY KEY (rule_id, rank)
);

-- The analysed network, thinned, for drawing under the map: JSON [[lon1, lat1, lon2, lat2], …].
CREATE TABLE coverage_networks (
    profile TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    lines TEXT NOT NULL
);
