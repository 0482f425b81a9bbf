-- Events: 一网统管. Catalogue, departments and routing, events with their steps, attachments,
-- whistles (吹哨报到), and the outbox for notifications.
CREATE TABLE event_types (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    family TEXT NOT NULL,
    limit_amount BIGINT NOT NULL,
    limit_unit TEXT NOT NULL,
    department TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE departments (
    id TEXT PRIMARY KEY,
    unit_code TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (unit_code, name)
);

CREATE TABLE department_members (
    username TEXT NOT NULL,
    department_id TEXT NOT NULL REFERENCES departments (id),
    PRIMARY KEY (username, department_id)
);

-- 派单目录: type × area → department, most specific area wins; no match → the catalogue's department
-- in the event's county; none → the county itself (属地兜底).
CREATE TABLE routing_rules (
    id TEXT PRIMARY KEY,
    type_code TEXT NOT NULL REFERENCES event_types (code),
    area_code TEXT COLLATE "C" NOT NULL,
    department_id TEXT NOT NULL REFERENCES departments (id)
);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    event_no TEXT NOT NULL UNIQUE,
    type_code TEXT NOT NULL REFERENCES event_types (code),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    urgency TEXT NOT NULL,
    state TEXT NOT NULL,
    unit_code TEXT COLLATE "C" NOT NULL,
    handling_unit TEXT COLLATE "C" NOT NULL,
    department_id TEXT REFERENCES departments (id),
    lon_e6 BIGINT,
    lat_e6 BIGINT,
    address TEXT NOT NULL,
    source TEXT NOT NULL,
    reporter TEXT,
    anonymous BIGINT NOT NULL DEFAULT 0,
    idem_key TEXT UNIQUE,
    created_ms BIGINT NOT NULL,
    stage_started_ms BIGINT NOT NULL,
    stage_limit_amount BIGINT NOT NULL,
    stage_limit_unit TEXT NOT NULL,
    suspended_ms BIGINT,
    light TEXT NOT NULL,
    escalations BIGINT NOT NULL DEFAULT 0,
    reworks BIGINT NOT NULL DEFAULT 0,
    signed_ms BIGINT,
    closed_ms BIGINT,
    closed_reason TEXT,
    overdue BIGINT NOT NULL DEFAULT 0,
    satisfaction TEXT,
    merged_into TEXT,
    version BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX events_unit ON events (unit_code, state);
CREATE INDEX events_handling ON events (handling_unit, state);
CREATE INDEX events_open ON events (state, light);
CREATE INDEX events_created ON events (created_ms);

CREATE TABLE event_steps (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (id),
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    unit_code TEXT COLLATE "C",
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL,
    lon_e6 BIGINT,
    lat_e6 BIGINT
);
CREATE INDEX event_steps_event ON event_steps (event_id, at_ms);

CREATE TABLE event_attachments (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (id),
    step_id TEXT,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    data_b64 TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX event_attachments_event ON event_attachments (event_id);

CREATE TABLE whistles (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (id),
    kind TEXT NOT NULL,
    raised_by TEXT NOT NULL,
    unit_code TEXT COLLATE "C" NOT NULL,
    raised_ms BIGINT NOT NULL,
    deadline_ms BIGINT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX whistles_event ON whistles (event_id);

CREATE TABLE whistle_participants (
    whistle_id TEXT NOT NULL REFERENCES whistles (id),
    department_id TEXT NOT NULL REFERENCES departments (id),
    signed_ms BIGINT,
    signed_by TEXT,
    late BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (whistle_id, department_id)
);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    message TEXT NOT NULL,
    event_id TEXT,
    created_ms BIGINT NOT NULL,
    sent_ms BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox (sent_ms, created_ms);
