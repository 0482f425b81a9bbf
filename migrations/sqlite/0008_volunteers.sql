-- Volunteers (志愿服务), the time bank (时间银行) and the points bank (积分银行).
-- Hours and points share one double-entry ledger: every transfer writes two movements that sum to
-- zero; balances are sums of movements, cached on the account and checked against them.

CREATE TABLE vol_volunteers (
    id TEXT PRIMARY KEY,
    volunteer_no TEXT NOT NULL UNIQUE,
    person_id TEXT NOT NULL UNIQUE,
    -- The register's blind index of the ID number: a second registration of a person fails here.
    id_index TEXT NOT NULL UNIQUE,
    user_id TEXT UNIQUE,
    unit_code TEXT NOT NULL,
    name TEXT NOT NULL,
    sex TEXT,
    birth_date TEXT,
    phone_masked TEXT,
    phone_enc TEXT,
    skills TEXT NOT NULL DEFAULT '',
    availability TEXT NOT NULL DEFAULT '',
    guardian_name TEXT,
    guardian_consent INTEGER NOT NULL DEFAULT 0,
    stars INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'active',
    registered_ms INTEGER NOT NULL,
    synthetic INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX vol_volunteers_unit ON vol_volunteers (unit_code);

CREATE TABLE vol_seq (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- Volunteer organisations, their teams, and volunteer service stations (志愿服务站).
CREATE TABLE vol_orgs (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    parent_id TEXT REFERENCES vol_orgs (id),
    contact TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    synthetic INTEGER NOT NULL DEFAULT 0,
    UNIQUE (unit_code, name)
);
CREATE INDEX vol_orgs_unit ON vol_orgs (unit_code);

CREATE TABLE vol_activities (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES vol_orgs (id),
    unit_code TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    place TEXT NOT NULL DEFAULT '',
    starts_ms INTEGER NOT NULL,
    ends_ms INTEGER NOT NULL,
    quota INTEGER NOT NULL,
    signed_up INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    synthetic INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX vol_activities_unit ON vol_activities (unit_code, starts_ms);

CREATE TABLE vol_signups (
    id TEXT PRIMARY KEY,
    activity_id TEXT NOT NULL REFERENCES vol_activities (id),
    volunteer_id TEXT NOT NULL REFERENCES vol_volunteers (id),
    signed_ms INTEGER NOT NULL,
    checkin_ms INTEGER,
    checkout_ms INTEGER,
    UNIQUE (activity_id, volunteer_id)
);
CREATE INDEX vol_signups_volunteer ON vol_signups (volunteer_id);

-- Service records (服务记录). Corrections are new records of kind 'correction' with signed minutes
-- pointing at the record they correct; no record is edited after it is final.
CREATE TABLE vol_records (
    id TEXT PRIMARY KEY,
    volunteer_id TEXT NOT NULL REFERENCES vol_volunteers (id),
    activity_id TEXT REFERENCES vol_activities (id),
    signup_id TEXT UNIQUE REFERENCES vol_signups (id),
    org_id TEXT NOT NULL REFERENCES vol_orgs (id),
    unit_code TEXT NOT NULL,
    content TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER NOT NULL,
    minutes INTEGER NOT NULL,
    kind TEXT NOT NULL,
    corrects_id TEXT REFERENCES vol_records (id),
    state TEXT NOT NULL,
    confirmed_by TEXT,
    confirmed_ms INTEGER,
    publish_until_ms INTEGER,
    objection TEXT,
    created_ms INTEGER NOT NULL,
    synthetic INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX vol_records_volunteer ON vol_records (volunteer_id, started_ms);
CREATE INDEX vol_records_unit ON vol_records (unit_code, state);

-- The other statutory blocks of the record: training, commendations, evaluations, complaints.
CREATE TABLE vol_notes (
    id TEXT PRIMARY KEY,
    volunteer_id TEXT NOT NULL REFERENCES vol_volunteers (id),
    block TEXT NOT NULL,
    content TEXT NOT NULL,
    on_date TEXT NOT NULL,
    issuer TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX vol_notes_volunteer ON vol_notes (volunteer_id);

CREATE TABLE vol_star_apps (
    id TEXT PRIMARY KEY,
    volunteer_id TEXT NOT NULL REFERENCES vol_volunteers (id),
    unit_code TEXT NOT NULL,
    level INTEGER NOT NULL,
    minutes_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    applied_ms INTEGER NOT NULL,
    decided_by TEXT,
    decided_ms INTEGER,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX vol_star_apps_unit ON vol_star_apps (unit_code, state);

-- Time-bank rules per city or county; the nearest configured ancestor applies.
CREATE TABLE tb_config (
    unit_code TEXT PRIMARY KEY,
    preset TEXT NOT NULL,
    storage_cap INTEGER,
    daily_cap INTEGER,
    unlock_age INTEGER,
    unlock_earned INTEGER,
    overdraft INTEGER NOT NULL,
    welcome INTEGER NOT NULL,
    expiry_days INTEGER,
    gifts INTEGER NOT NULL,
    stars TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE ledger_accounts (
    id TEXT PRIMARY KEY,
    currency TEXT NOT NULL,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    unit_code TEXT NOT NULL,
    -- Cache of SUM(movements); spending updates it with a guarded UPDATE, which is what
    -- serialises two concurrent spends of the same account on both engines.
    balance INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    UNIQUE (currency, kind, owner)
);
CREATE INDEX ledger_accounts_unit ON ledger_accounts (unit_code);

CREATE TABLE ledger_transfers (
    id TEXT PRIMARY KEY,
    currency TEXT NOT NULL,
    kind TEXT NOT NULL,
    from_account TEXT NOT NULL REFERENCES ledger_accounts (id),
    to_account TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount INTEGER NOT NULL CHECK (amount > 0),
    reason TEXT NOT NULL,
    ref_id TEXT,
    corrects_id TEXT REFERENCES ledger_transfers (id),
    service_day TEXT,
    idem_key TEXT UNIQUE,
    actor TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX ledger_transfers_from ON ledger_transfers (from_account, created_ms);
CREATE INDEX ledger_transfers_to ON ledger_transfers (to_account, created_ms);

CREATE TABLE ledger_movements (
    id TEXT PRIMARY KEY,
    transfer_id TEXT NOT NULL REFERENCES ledger_transfers (id),
    account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX ledger_movements_account ON ledger_movements (account_id);
CREATE INDEX ledger_movements_transfer ON ledger_movements (transfer_id);

-- 亲属: people a volunteer named to receive gifted hours.
CREATE TABLE tb_relatives (
    id TEXT PRIMARY KEY,
    volunteer_id TEXT NOT NULL REFERENCES vol_volunteers (id),
    person_id TEXT NOT NULL,
    name TEXT NOT NULL,
    relation TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    UNIQUE (volunteer_id, person_id)
);

-- The service catalogue hours are spent on (助餐、助洁、陪诊…), priced in minutes.
CREATE TABLE tb_services (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    name TEXT NOT NULL,
    minutes INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_ms INTEGER NOT NULL,
    UNIQUE (unit_code, name)
);

-- Points rules (积分细则), versioned per village; a version counts only once approved by a recorded
-- meeting or vote.
CREATE TABLE pb_rule_sets (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    meeting_ref TEXT,
    approved_by TEXT,
    approved_ms INTEGER,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    UNIQUE (unit_code, version)
);

CREATE TABLE pb_rules (
    id TEXT PRIMARY KEY,
    set_id TEXT NOT NULL REFERENCES pb_rule_sets (id),
    code TEXT NOT NULL,
    item TEXT NOT NULL,
    points INTEGER NOT NULL,
    evidence TEXT NOT NULL DEFAULT '',
    UNIQUE (set_id, code)
);

CREATE TABLE pb_awards (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    household_id TEXT NOT NULL,
    person_id TEXT,
    rule_id TEXT NOT NULL REFERENCES pb_rules (id),
    points INTEGER NOT NULL,
    source TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    reviewed_by TEXT,
    reviewed_ms INTEGER,
    checked_by TEXT,
    checked_ms INTEGER,
    transfer_id TEXT REFERENCES ledger_transfers (id),
    idem_key TEXT UNIQUE,
    occurred_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    synthetic INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX pb_awards_unit ON pb_awards (unit_code, state, checked_ms);
CREATE INDEX pb_awards_household ON pb_awards (household_id);

CREATE TABLE pb_objections (
    id TEXT PRIMARY KEY,
    award_id TEXT NOT NULL REFERENCES pb_awards (id),
    unit_code TEXT NOT NULL,
    text TEXT NOT NULL,
    by_user TEXT NOT NULL,
    state TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX pb_objections_unit ON pb_objections (unit_code, state);

CREATE TABLE pb_items (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    name TEXT NOT NULL,
    price INTEGER NOT NULL CHECK (price > 0),
    stock INTEGER NOT NULL CHECK (stock >= 0),
    active INTEGER NOT NULL DEFAULT 1,
    created_ms INTEGER NOT NULL,
    UNIQUE (unit_code, name)
);

CREATE TABLE pb_redemptions (
    id TEXT PRIMARY KEY,
    item_id TEXT NOT NULL REFERENCES pb_items (id),
    unit_code TEXT NOT NULL,
    household_id TEXT NOT NULL,
    transfer_id TEXT NOT NULL REFERENCES ledger_transfers (id),
    points INTEGER NOT NULL,
    by_user TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX pb_redemptions_unit ON pb_redemptions (unit_code, created_ms);

-- Proofs issued (志愿服务证明): the certificate number, what it certified, and when.
CREATE TABLE vol_proofs (
    certificate_no TEXT PRIMARY KEY,
    volunteer_id TEXT NOT NULL REFERENCES vol_volunteers (id),
    minutes INTEGER NOT NULL,
    records INTEGER NOT NULL,
    issued_ms INTEGER NOT NULL,
    issued_to TEXT NOT NULL
);
