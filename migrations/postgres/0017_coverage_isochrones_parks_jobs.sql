-- 服务资源一幅地图, the gaps of issue #6: isochrone polygons per facility and tier, the service
-- radius per unit (T18), the industrial-park mark on units (T45), and persisted upload jobs.

-- The area from which a facility is reached within a tier's distance (walknet's isochrone,
-- simplified): GeoJSON MultiPolygon geometry in WGS-84. One set per travel profile, replaced by
-- each run of that profile.
CREATE TABLE coverage_isochrones (
    profile TEXT NOT NULL,
    facility_id TEXT NOT NULL,
    metres BIGINT NOT NULL,
    run_id TEXT NOT NULL,
    category TEXT NOT NULL,
    unit_code TEXT COLLATE "C" NOT NULL,
    vertices BIGINT NOT NULL,
    geometry TEXT NOT NULL,
    PRIMARY KEY (profile, facility_id, metres)
);
CREATE INDEX coverage_isochrones_unit ON coverage_isochrones (unit_code);

-- Per rule and unit: the largest network distance from a building to the rule's facilities,
-- metres (the service radius, T18); NULL when no building of the unit reaches one. And the
-- buildings on the network with none of the rule's facilities within the search distance.
ALTER TABLE coverage_rollups ADD COLUMN max_distance_m BIGINT;
ALTER TABLE coverage_rollups ADD COLUMN beyond BIGINT NOT NULL DEFAULT 0;

-- 产业园区社区: communities marked by an administrator (T45 counts only these).
CREATE TABLE unit_industrial_parks (
    code TEXT COLLATE "C" PRIMARY KEY REFERENCES units (code),
    actor TEXT NOT NULL,
    marked_ms BIGINT NOT NULL
);

-- Network uploads: state (running, done, failed), progress text, the report (JSON) or the error.
-- `boot` names the server process that runs the job: a job still running under another process
-- was cut off by a restart and is shown (and stored) as failed.
CREATE TABLE coverage_jobs (
    id TEXT PRIMARY KEY,
    boot TEXT NOT NULL,
    file_name TEXT NOT NULL,
    profile TEXT NOT NULL,
    state TEXT NOT NULL,
    progress TEXT NOT NULL,
    result TEXT,
    error TEXT,
    actor TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
