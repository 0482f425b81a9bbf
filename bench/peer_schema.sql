-- Second peer for bench/import.sh: the sqlite3 shell loads the already-imported plain table
-- (attached as `src`) into jiceng's own registry schema (migrations/sqlite/0003_registry.sql, created
-- beforehand): houses, households, people and person_tags, with the same indexes, foreign keys on,
-- random 32-hex ids and blind indexes, and ciphertext-sized strings, in one transaction under WAL
-- and synchronous=FULL. No validation and no real encryption: what SQLite itself costs for the rows
-- jiceng writes. (Only the first tag of a row is kept: ~15% fewer tag rows than jiceng writes, ~1% of all rows.)
PRAGMA synchronous = FULL;
PRAGMA foreign_keys = ON;
BEGIN;
CREATE TEMP TABLE hk AS
    SELECT household_no, min(address) AS a, min(building) AS b, min(unit_no) AS u, min(room) AS r
    FROM src.roster GROUP BY household_no;
INSERT INTO houses (id, unit_code, compound_code, address, building, unit_no, room, house_use, floor_area_dm2, occupancy, synthetic, created_ms)
    SELECT lower(hex(randomblob(16))), '510903001001', NULL, a, b, u, r, '住宅', NULL, '自住', 0, 0
    FROM (SELECT DISTINCT a, b, u, r FROM hk);
INSERT INTO households (id, unit_code, house_id, household_no, synthetic, created_ms)
    SELECT lower(hex(randomblob(16))), '510903001001', h.id, hk.household_no, 0, 0
    FROM hk JOIN houses h ON h.unit_code = '510903001001' AND h.address = hk.a AND h.building = hk.b AND h.unit_no = hk.u AND h.room = hk.r;
INSERT INTO people (id, unit_code, name, id_enc, id_index, id_masked, sex, birth_date, phone_enc, phone_index, phone_masked,
                    residence_kind, household_id, relation, house_id, moved_in, synthetic, created_ms, updated_ms)
    SELECT lower(hex(randomblob(16))), '510903001001', r.name,
           'v1:' || hex(randomblob(32)), lower(hex(randomblob(16))),
           substr(r.id_number, 1, 6) || '********' || substr(r.id_number, 15, 4), r.sex, r.birth_date,
           CASE WHEN r.phone <> '' THEN 'v1:' || hex(randomblob(26)) END,
           CASE WHEN r.phone <> '' THEN lower(hex(randomblob(16))) END,
           CASE WHEN r.phone <> '' THEN substr(r.phone, 1, 3) || '****' || substr(r.phone, 8, 4) END,
           r.residence_kind, hh.id, NULLIF(r.relation, ''), hh.house_id, NULLIF(r.moved_in, ''), 0, 0, 0
    FROM src.roster r JOIN households hh ON hh.unit_code = '510903001001' AND hh.household_no = r.household_no
    ORDER BY r.rowid;
INSERT INTO person_tags (person_id, tag, unit_code)
    SELECT p.id, CASE instr(r.tags, '、') WHEN 0 THEN r.tags ELSE substr(r.tags, 1, instr(r.tags, '、') - 1) END, '510903001001'
    FROM src.roster r JOIN people p ON p.rowid = r.rowid
    WHERE r.tags <> '';
COMMIT;
SELECT (SELECT COUNT(*) FROM people) || ' people, ' || (SELECT COUNT(*) FROM households) || ' households, '
    || (SELECT COUNT(*) FROM houses) || ' houses, ' || (SELECT COUNT(*) FROM person_tags) || ' tags';
