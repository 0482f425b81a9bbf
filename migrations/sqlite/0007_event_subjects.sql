-- An event may concern a registered person (涉及人员), so the person's page lists it.
ALTER TABLE events ADD COLUMN person_id TEXT;
CREATE INDEX events_person ON events (person_id);
