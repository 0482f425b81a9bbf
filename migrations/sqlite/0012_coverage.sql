-- 服务资源一幅地图: life-circle rules, residential buildings with coordinates, analysis runs and
-- the current results per building (one set per travel profile; a new run of a profile replaces it).
CREATE TABLE coverage_rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    profile TEXT NOT NULL,
    metres INTEGER NOT NULL,
    categories TEXT NOT NULL,
    match_mode TEXT NOT NULL,
    applies_to TEXT NOT NULL,
    indicator TEXT NOT NULL,
    counts TEXT NOT NULL,
    unit_share_pct INTEGER NOT NULL,
    note TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE coverage_buildings (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    name TEXT NOT NULL,
    lon_e6 INTEGER NOT NULL,
    lat_e6 INTEGER NOT NULL,
    households INTEGER NOT NULL,
    residents INTEGER NOT NULL,
    source TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX coverage_buildings_unit ON coverage_buildings (unit_code);

CREATE TABLE coverage_runs (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    network_name TEXT NOT NULL,
    synthetic INTEGER NOT NULL,
    nodes INTEGER NOT NULL,
    edges INTEGER NOT NULL,
    buildings INTEGER NOT NULL,
    unreachable INTEGER NOT NULL,
    facilities INTEGER NOT NULL,
    facilities_outside INTEGER NOT NULL,
    warnings TEXT NOT NULL,
    actor TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    finished_ms INTEGER NOT NULL
);

CREATE TABLE coverage_building_results (
    run_id TEXT NOT NULL,
    profile TEXT NOT NULL,
    building_id TEXT NOT NULL,
    unit_code TEXT NOT NULL,
    snap_m INTEGER,
    reachable INTEGER NOT NULL,
    PRIMARY KEY (profile, building_id)
);
CREATE INDEX coverage_building_results_unit ON coverage_building_results (unit_code);

CREATE TABLE coverage_distances (
    profile TEXT NOT NULL,
    building_id TEXT NOT NULL,
    category TEXT NOT NULL,
    distance_m INTEGER,
    PRIMARY KEY (profile, building_id, category)
);

CREATE TABLE coverage_rollups (
    run_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    unit_code TEXT NOT NULL,
    buildings INTEGER NOT NULL,
    buildings_covered INTEGER NOT NULL,
    unreachable INTEGER NOT NULL,
    residents INTEGER NOT NULL,
    residents_covered INTEGER NOT NULL,
    PRIMARY KEY (rule_id, unit_code)
);
CREATE INDEX coverage_rollups_unit ON coverage_rollups (unit_code);

-- Where a new facility would close the most of a rule's gap (greedy maximal covering over network
-- nodes), with the residents each pick would add.
CREATE TABLE coverage_candidates (
    rule_id TEXT NOT NULL,
    rank INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    lon_e6 INTEGER NOT NULL,
    lat_e6 INTEGER NOT NULL,
    residents_gain INTEGER NOT NULL,
    PRIMARY KEY (rule_id, rank)
);

-- The analysed network, thinned, for drawing under the map: JSON [[lon1, lat1, lon2, lat2], …].
CREATE TABLE coverage_networks (
    profile TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    lines TEXT NOT NULL
);
