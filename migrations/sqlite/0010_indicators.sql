-- Indicators: 填报 (reported values with evidence and approval), monthly snapshots of every
-- indicator for every unit, and assessment schemes. Values are kept as integer numerator and
-- denominator so roll-ups and snapshots stay exact; the value is derived by the definition.
CREATE TABLE indicator_reports (
    id TEXT PRIMARY KEY,
    indicator_id TEXT NOT NULL,
    unit_code TEXT NOT NULL,
    period TEXT NOT NULL,
    numerator INTEGER NOT NULL,
    denominator INTEGER,
    note TEXT NOT NULL DEFAULT '',
    evidence_name TEXT,
    evidence_type TEXT,
    evidence_data TEXT,
    state TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_ms INTEGER NOT NULL,
    reviewed_by TEXT,
    reviewed_ms INTEGER,
    review_note TEXT NOT NULL DEFAULT '',
    version INTEGER NOT NULL DEFAULT 1,
    synthetic INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX indicator_reports_unit ON indicator_reports (unit_code, indicator_id, period);
CREATE INDEX indicator_reports_state ON indicator_reports (state, unit_code);

CREATE TABLE indicator_snapshots (
    period TEXT NOT NULL,
    indicator_id TEXT NOT NULL,
    unit_code TEXT NOT NULL,
    status TEXT NOT NULL,
    numerator INTEGER,
    denominator INTEGER,
    computed_ms INTEGER NOT NULL,
    PRIMARY KEY (period, indicator_id, unit_code)
);
CREATE INDEX indicator_snapshots_unit ON indicator_snapshots (unit_code, indicator_id, period);

CREATE TABLE assessment_schemes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level INTEGER NOT NULL,
    items TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
