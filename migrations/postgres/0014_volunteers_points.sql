-- Points accounts of people beside households, staff-assisted redemptions, and star approval by
-- level (志愿者星级认定的审批层级).

-- A rule-catalogue setting, voted with the rules: who may spend the household's points in the
-- shop — 'head' (户主 only, the default) or 'members' (any registered member of the household).
ALTER TABLE pb_rule_sets ADD COLUMN household_spend TEXT NOT NULL DEFAULT 'head';

-- Which account paid ('household' or 'person'), the person who redeemed, and, when staff redeemed
-- on a resident's behalf, the staff member (the resident was confirmed present).
ALTER TABLE pb_redemptions ADD COLUMN account_kind TEXT NOT NULL DEFAULT 'household';
ALTER TABLE pb_redemptions ADD COLUMN person_id TEXT;
ALTER TABLE pb_redemptions ADD COLUMN assisted_by TEXT;

CREATE INDEX pb_awards_person ON pb_awards (person_id);

-- The level that approves each star, comma-separated per star (e.g. county,county,county,city,city);
-- NULL means that default.
ALTER TABLE tb_config ADD COLUMN star_approvers TEXT;
