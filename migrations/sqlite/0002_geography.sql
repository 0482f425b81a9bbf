-- Geography: governance units from city to grid, their reform lineage, boundaries and scale figures.
CREATE TABLE units (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    level INTEGER NOT NULL,
    parent_code TEXT REFERENCES units (code),
    valid_from TEXT,
    valid_to TEXT,
    synthetic INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX units_parent ON units (parent_code);
CREATE INDEX units_level ON units (level, code);

-- 撤并/拆分: a reform links the units it retired to the units it created.
CREATE TABLE unit_lineage (
    id TEXT PRIMARY KEY,
    reform_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    from_code TEXT NOT NULL REFERENCES units (code),
    to_code TEXT NOT NULL REFERENCES units (code),
    effective TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX unit_lineage_from ON unit_lineage (from_code);
CREATE INDEX unit_lineage_to ON unit_lineage (to_code);

-- Boundaries as GeoJSON geometry text in WGS-84.
CREATE TABLE unit_boundaries (
    code TEXT PRIMARY KEY REFERENCES units (code),
    geometry TEXT NOT NULL,
    source TEXT NOT NULL
);

-- Household and resident counts per village-level unit, until the registers supply real ones.
CREATE TABLE unit_population (
    code TEXT PRIMARY KEY REFERENCES units (code),
    community_kind TEXT,
    households INTEGER NOT NULL,
    residents INTEGER NOT NULL,
    synthetic INTEGER NOT NULL DEFAULT 0
);
