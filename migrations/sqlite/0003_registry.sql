-- Registry: 人房车商事物. Personal identifiers are stored encrypted (`*_enc`), findable by a keyed
-- hash (`*_index`), and displayable masked (`*_masked`) without decryption.
CREATE TABLE compound_info (
    code TEXT PRIMARY KEY,
    management TEXT NOT NULL,
    owners_committee INTEGER NOT NULL DEFAULT 0,
    property_company TEXT NOT NULL DEFAULT '',
    built_year INTEGER,
    smart_security INTEGER NOT NULL DEFAULT 0,
    party_org INTEGER NOT NULL DEFAULT 0,
    synthetic INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE houses (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    compound_code TEXT,
    address TEXT NOT NULL,
    building TEXT NOT NULL DEFAULT '',
    unit_no TEXT NOT NULL DEFAULT '',
    room TEXT NOT NULL DEFAULT '',
    house_use TEXT NOT NULL,
    floor_area_dm2 INTEGER,
    occupancy TEXT NOT NULL,
    synthetic INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE INDEX houses_unit ON houses (unit_code);
CREATE UNIQUE INDEX houses_address ON houses (unit_code, address, building, unit_no, room);

CREATE TABLE households (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    house_id TEXT REFERENCES houses (id),
    household_no TEXT NOT NULL,
    synthetic INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE INDEX households_unit ON households (unit_code);
CREATE UNIQUE INDEX households_no ON households (unit_code, household_no);

CREATE TABLE people (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    name TEXT NOT NULL,
    id_enc TEXT,
    id_index TEXT UNIQUE,
    id_masked TEXT,
    sex TEXT,
    birth_date TEXT,
    phone_enc TEXT,
    phone_index TEXT,
    phone_masked TEXT,
    residence_kind TEXT NOT NULL,
    household_id TEXT REFERENCES households (id),
    relation TEXT,
    house_id TEXT REFERENCES houses (id),
    moved_in TEXT,
    moved_out TEXT,
    deceased TEXT,
    synthetic INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX people_unit ON people (unit_code, name);
CREATE INDEX people_household ON people (household_id);
CREATE INDEX people_phone ON people (phone_index);
CREATE INDEX people_birth ON people (unit_code, birth_date);

CREATE TABLE person_tags (
    person_id TEXT NOT NULL REFERENCES people (id),
    tag TEXT NOT NULL,
    unit_code TEXT NOT NULL,
    PRIMARY KEY (person_id, tag)
);
CREATE INDEX person_tags_unit ON person_tags (unit_code, tag);

CREATE TABLE vehicles (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    plate TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    owner_id TEXT REFERENCES people (id),
    synthetic INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE INDEX vehicles_unit ON vehicles (unit_code);

CREATE TABLE organisations (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    credit_code TEXT,
    certified_social_enterprise INTEGER NOT NULL DEFAULT 0,
    two_new INTEGER NOT NULL DEFAULT 0,
    party_work_covered INTEGER NOT NULL DEFAULT 0,
    synthetic INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE INDEX organisations_unit ON organisations (unit_code);

CREATE TABLE facilities (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    lon_e6 INTEGER,
    lat_e6 INTEGER,
    floor_area_dm2 INTEGER,
    capacity INTEGER,
    friendly_renovated INTEGER NOT NULL DEFAULT 0,
    synthetic INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE INDEX facilities_unit ON facilities (unit_code, category);

CREATE TABLE workforce (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    qualification TEXT,
    phone_enc TEXT,
    phone_masked TEXT,
    synthetic INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE INDEX workforce_unit ON workforce (unit_code, role);

-- 共享正负面清单: what a consumer (an account used by a department or system) may read.
CREATE TABLE sharing_rules (
    id TEXT PRIMARY KEY,
    consumer TEXT NOT NULL,
    register TEXT NOT NULL,
    fields TEXT NOT NULL,
    unit_code TEXT NOT NULL,
    purpose TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX sharing_rules_consumer ON sharing_rules (consumer, register);
