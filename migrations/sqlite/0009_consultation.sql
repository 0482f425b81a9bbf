-- Consultation: 议事协商, ballots (业主共同决定, 村民会议, 村民代表会议), 村务公开.

-- 产权登记 for owner rolls, kept by registry::roll: who owns each unit. A unit still held by the
-- developer names the developer instead of a person.
CREATE TABLE house_owners (
    house_id TEXT PRIMARY KEY REFERENCES houses (id),
    compound_code TEXT NOT NULL,
    person_id TEXT REFERENCES people (id),
    developer TEXT,
    synthetic INTEGER NOT NULL DEFAULT 0,
    updated_ms INTEGER NOT NULL,
    CHECK ((person_id IS NULL) <> (developer IS NULL))
);
CREATE INDEX house_owners_compound ON house_owners (compound_code);

-- 村民代表 (village representatives), kept by registry::roll for representatives' rolls.
CREATE TABLE village_representatives (
    unit_code TEXT NOT NULL,
    person_id TEXT NOT NULL REFERENCES people (id),
    synthetic INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (unit_code, person_id)
);

-- The rule is copied into the ballot when it is created, so a later change of presets cannot
-- change a ballot's outcome.
CREATE TABLE ballots (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    organiser TEXT NOT NULL,
    electorate TEXT NOT NULL,
    preset TEXT NOT NULL,
    quorum_cmp TEXT NOT NULL,
    quorum_num INTEGER NOT NULL,
    quorum_den INTEGER NOT NULL,
    by_area INTEGER NOT NULL,
    ordinary_cmp TEXT NOT NULL,
    ordinary_num INTEGER NOT NULL,
    ordinary_den INTEGER NOT NULL,
    special_cmp TEXT NOT NULL,
    special_num INTEGER NOT NULL,
    special_den INTEGER NOT NULL,
    herd INTEGER NOT NULL DEFAULT 0,
    local_rule TEXT NOT NULL DEFAULT '',
    secret INTEGER NOT NULL,
    state TEXT NOT NULL,
    roll_heads INTEGER NOT NULL DEFAULT 0,
    roll_area INTEGER NOT NULL DEFAULT 0,
    roll_hash TEXT,
    opened_ms INTEGER,
    closed_ms INTEGER,
    synthetic INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX ballots_unit ON ballots (unit_code, created_ms);

CREATE TABLE ballot_questions (
    id TEXT PRIMARY KEY,
    ballot_id TEXT NOT NULL REFERENCES ballots (id),
    seq INTEGER NOT NULL,
    text TEXT NOT NULL,
    category TEXT NOT NULL,
    matter INTEGER,
    UNIQUE (ballot_id, seq)
);

-- The frozen roll: written once when voting opens.
CREATE TABLE ballot_roll (
    ballot_id TEXT NOT NULL REFERENCES ballots (id),
    voter_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    person_id TEXT,
    id_index TEXT,
    area_dm2 INTEGER NOT NULL,
    units INTEGER NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (ballot_id, voter_key),
    UNIQUE (ballot_id, seq)
);
CREATE INDEX ballot_roll_index ON ballot_roll (ballot_id, id_index);

-- Who took part, by which channel. The primary key is the one-vote rule across all channels.
CREATE TABLE ballot_voters (
    ballot_id TEXT NOT NULL REFERENCES ballots (id),
    voter_key TEXT NOT NULL,
    channel TEXT NOT NULL,
    entered_by TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT '',
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (ballot_id, voter_key)
);

-- Secret ballots keep no per-voter choice: only running totals, and per receipt the choices
-- without weight or time. WITHOUT ROWID: rows are ordered by the random hash, not by arrival.
CREATE TABLE ballot_tallies (
    question_id TEXT NOT NULL REFERENCES ballot_questions (id),
    choice TEXT NOT NULL,
    heads INTEGER NOT NULL,
    area_dm2 INTEGER NOT NULL,
    PRIMARY KEY (question_id, choice)
);
CREATE TABLE ballot_receipts (
    receipt_hash TEXT PRIMARY KEY,
    ballot_id TEXT NOT NULL,
    choices TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX ballot_receipts_ballot ON ballot_receipts (ballot_id);

-- Named ballots only (where the law needs signatures): who chose what.
CREATE TABLE ballot_named_choices (
    ballot_id TEXT NOT NULL,
    voter_key TEXT NOT NULL,
    question_id TEXT NOT NULL,
    choice TEXT NOT NULL,
    PRIMARY KEY (ballot_id, voter_key, question_id)
);

-- Archived results: immutable once written.
CREATE TABLE ballot_results (
    ballot_id TEXT PRIMARY KEY REFERENCES ballots (id),
    document TEXT NOT NULL,
    hash TEXT NOT NULL,
    archived_ms INTEGER NOT NULL
);
CREATE TRIGGER ballot_results_no_update BEFORE UPDATE ON ballot_results
BEGIN SELECT RAISE(ABORT, 'ballot_results is immutable'); END;
CREATE TRIGGER ballot_results_no_delete BEFORE DELETE ON ballot_results
BEGIN SELECT RAISE(ABORT, 'ballot_results is immutable'); END;

CREATE TABLE consultations (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    source TEXT NOT NULL,
    raised_by TEXT NOT NULL,
    template TEXT NOT NULL,
    state TEXT NOT NULL,
    published_ms INTEGER,
    synthetic INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX consultations_unit ON consultations (unit_code, created_ms);

CREATE TABLE consultation_steps (
    consultation_id TEXT NOT NULL REFERENCES consultations (id),
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    done_ms INTEGER,
    done_by TEXT,
    note TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (consultation_id, seq)
);

CREATE TABLE consultation_posts (
    id TEXT PRIMARY KEY,
    consultation_id TEXT NOT NULL REFERENCES consultations (id),
    kind TEXT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX consultation_posts_c ON consultation_posts (consultation_id, created_ms);

CREATE TABLE meetings (
    id TEXT PRIMARY KEY,
    consultation_id TEXT NOT NULL REFERENCES consultations (id),
    title TEXT NOT NULL,
    held_on TEXT NOT NULL,
    due INTEGER NOT NULL,
    present INTEGER NOT NULL,
    quorum_cmp TEXT NOT NULL,
    quorum_num INTEGER NOT NULL,
    quorum_den INTEGER NOT NULL,
    minutes TEXT NOT NULL,
    decision TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX meetings_c ON meetings (consultation_id);

-- 村务公开: one row per publication owed; the deadline check escalates missed ones to the township.
CREATE TABLE affairs (
    id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    period_start TEXT NOT NULL,
    due_date TEXT NOT NULL,
    published_ms INTEGER,
    published_by TEXT,
    escalated_ms INTEGER,
    escalated_to TEXT,
    synthetic INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    UNIQUE (unit_code, kind, period_start, title)
);
CREATE INDEX affairs_unit ON affairs (unit_code, due_date);
CREATE INDEX affairs_pending ON affairs (published_ms, due_date);
