-- An event may concern a registered house (涉及房屋): a device alarm from a device installed there,
-- or a report a grid worker files from the house's page. The house's page lists its events.
ALTER TABLE events ADD COLUMN house_id TEXT;
CREATE INDEX events_house ON events (house_id);
