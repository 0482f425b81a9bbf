-- "The same report again" (a form resubmitted within ten minutes) is found by one index probe on
-- a hash of what was reported, instead of walking every recent report of the reporter: an account
-- that reports thousands of events (a device, an Open311 client) made the old check quadratic.
ALTER TABLE events ADD COLUMN content_hash TEXT;
CREATE INDEX events_same_report ON events (reporter, content_hash, created_ms);
