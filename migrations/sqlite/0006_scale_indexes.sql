-- Paged register lists: residents still living in a unit, in household order, without a sort.
CREATE INDEX people_listing ON people (unit_code, household_id, id) WHERE moved_out IS NULL AND deceased IS NULL;

-- Event intake and the sweep at city scale: the per-day event number counter, the "same report
-- again" check by reporter, and the sweep's walk through each state in id order.
CREATE TABLE event_counters (
    day TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE INDEX events_reporter ON events (reporter, created_ms);
CREATE INDEX events_sweep ON events (state, id);
INSERT INTO event_counters (day, seq) SELECT substr(event_no, 1, 8), COUNT(*) FROM events GROUP BY substr(event_no, 1, 8);
