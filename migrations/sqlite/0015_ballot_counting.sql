-- When the periodic job counts a ballot with a closing time: the closing time plus a period for
-- entering the paper ballots collected until the close (UTC ms; NULL without a closing time).
ALTER TABLE ballots ADD COLUMN count_at_ms INTEGER;
UPDATE ballots SET count_at_ms = closes_ms WHERE closes_ms IS NOT NULL;
CREATE INDEX ballots_counting ON ballots (state, count_at_ms);
