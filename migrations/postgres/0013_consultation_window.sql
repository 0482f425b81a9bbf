-- Consultation, second part: voting windows, the editable 小微权力清单, representatives kept with
-- their 户 group and retired rather than deleted.

-- Optional voting window (UTC ms); the periodic job closes a ballot once closes_ms has passed.
ALTER TABLE ballots ADD COLUMN opens_ms BIGINT;
ALTER TABLE ballots ADD COLUMN closes_ms BIGINT;
CREATE INDEX ballots_closing ON ballots (state, closes_ms);

-- 村民代表: the 户 group each represents (联系户), and retirement instead of deletion.
ALTER TABLE village_representatives ADD COLUMN household_group TEXT NOT NULL DEFAULT '';
ALTER TABLE village_representatives ADD COLUMN retired_ms BIGINT;
ALTER TABLE village_representatives ADD COLUMN updated_by TEXT NOT NULL DEFAULT '';

-- 小微权力清单 per village: the current version of each item, copied from the template on the
-- village's first change.
CREATE TABLE power_items (
    id TEXT PRIMARY KEY,
    unit_code TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    version BIGINT NOT NULL,
    category TEXT NOT NULL,
    name TEXT NOT NULL,
    basis TEXT NOT NULL,
    steps TEXT NOT NULL,
    responsible TEXT NOT NULL,
    retired_ms BIGINT,
    updated_by TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX power_items_unit ON power_items (unit_code, seq);

-- Every version ever in force; never updated or deleted.
CREATE TABLE power_item_versions (
    item_id TEXT NOT NULL REFERENCES power_items (id),
    version BIGINT NOT NULL,
    category TEXT NOT NULL,
    name TEXT NOT NULL,
    basis TEXT NOT NULL,
    steps TEXT NOT NULL,
    responsible TEXT NOT NULL,
    retired BIGINT NOT NULL,
    changed_by TEXT NOT NULL,
    changed_ms BIGINT NOT NULL,
    PRIMARY KEY (item_id, version)
);
CREATE FUNCTION power_item_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'power_item_versions is append-only'; END;
$$;
CREATE TRIGGER power_item_versions_no_change BEFORE UPDATE OR DELETE ON power_item_versions
FOR EACH ROW EXECUTE FUNCTION power_item_versions_append_only();
