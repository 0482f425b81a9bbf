-- 实名认证: a platform account bound to its person in the people register, verified by staff at
-- the counter with the ID card in hand. Revocation keeps the row (who, when, why); the partial
-- unique indexes allow one live binding per account and per person, and any number of past ones.

CREATE TABLE account_people (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    person_id TEXT NOT NULL REFERENCES people (id),
    -- How it was verified: only 'counter' (窗口核验); there is no self-declared binding.
    method TEXT NOT NULL,
    verified_by TEXT NOT NULL,
    verified_ms INTEGER NOT NULL,
    revoked_ms INTEGER,
    revoked_by TEXT,
    revoke_reason TEXT
);
CREATE UNIQUE INDEX account_people_live_user ON account_people (user_id) WHERE revoked_ms IS NULL;
CREATE UNIQUE INDEX account_people_live_person ON account_people (person_id) WHERE revoked_ms IS NULL;
CREATE INDEX account_people_person ON account_people (person_id);
