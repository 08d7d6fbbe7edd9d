//! The versioned schema of the state store: `PRAGMA user_version` is the number of steps
//! applied; [`upgrade`] applies the missing ones, each in its own transaction.

use std::path::Path;

use rusqlite::Connection;

use super::StateError;

/// The schema steps, in order; step `i` brings the database to version `i + 1`.
const STEPS: &[&str] = &[
    // 1: idempotency answers (every kept engine answer: enrolments, identifications,
    // verifications), keyed by scope and request_id. Answers are kept for as long as the
    // data directory lives: a retry of any acknowledged request gets its first answer.
    "CREATE TABLE answers (
        scope TEXT NOT NULL,
        request_id TEXT NOT NULL,
        operation TEXT NOT NULL,
        request_sha256 TEXT NOT NULL,
        status INTEGER NOT NULL,
        body TEXT NOT NULL,
        answered_at INTEGER NOT NULL,
        PRIMARY KEY (scope, request_id)
    ) WITHOUT ROWID;
    CREATE INDEX answers_by_time ON answers (answered_at);",
    // 2: the person registry. `meta` is the demographics without photo and signature,
    // which have their own columns and are read only with a whole entry; `outcome` and
    // `resolution` are JSON; `in_gallery` is derived from the status (indexed NIK lookups
    // find only enrolled persons).
    "CREATE TABLE persons (
        key INTEGER PRIMARY KEY,
        reference_id TEXT NOT NULL UNIQUE,
        nik TEXT NOT NULL,
        district TEXT NOT NULL,
        service_point TEXT NOT NULL,
        request_id TEXT NOT NULL,
        meta TEXT NOT NULL,
        photo TEXT,
        signature TEXT,
        outcome TEXT,
        case_id TEXT,
        resolution TEXT,
        deleted INTEGER NOT NULL DEFAULT 0,
        deleting INTEGER NOT NULL DEFAULT 0,
        lost TEXT,
        in_gallery INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX persons_by_request ON persons (district, service_point, request_id);
    CREATE INDEX persons_by_nik ON persons (nik) WHERE in_gallery = 1;
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;",
    // 3: the callback outbox; a row is deleted once its notice is delivered.
    "CREATE TABLE callbacks (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        body TEXT NOT NULL
    );",
    // 4: API keys, by the SHA-256 of the whole key (the key itself is never stored).
    "CREATE TABLE keys (
        sha256 TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        district TEXT,
        service_point TEXT,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX keys_by_id ON keys (key_id);",
    // 5: analyst cases (one row each: the columns the review queue filters and sorts on, the
    // workflow state, and the engine's hand-over as JSON in `new_case`; `final` is 1 for a
    // confirmed or cleared case; the district and service-point indexes cover every other
    // filter column, so a listing of one district counts and filters without reading rows)
    // and their trail (one row per action, oldest first by id;
    // `detail` is the whole entry as JSON). `seq` is the number in the case id `C#########`.
    "CREATE TABLE cases (
        seq INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        final INTEGER NOT NULL,
        district TEXT NOT NULL,
        service_point TEXT NOT NULL,
        applicant TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        opened_secs INTEGER NOT NULL,
        deadline_secs INTEGER NOT NULL,
        score REAL NOT NULL,
        lease_key_id TEXT,
        lease_name TEXT,
        lease_until INTEGER NOT NULL DEFAULT 0,
        decision TEXT,
        approval TEXT,
        outcome_delivered INTEGER NOT NULL DEFAULT 0,
        new_case TEXT NOT NULL
    );
    CREATE INDEX cases_by_final ON cases (final, seq);
    CREATE INDEX cases_by_score ON cases (final, score DESC, seq);
    CREATE INDEX cases_by_deadline ON cases (final, deadline_secs, seq);
    CREATE INDEX cases_by_status ON cases (status, seq);
    CREATE INDEX cases_by_district
        ON cases (district, final, score, opened_secs, deadline_secs, lease_until);
    CREATE INDEX cases_by_service_point
        ON cases (service_point, final, score, opened_secs, deadline_secs, lease_until);
    CREATE INDEX cases_by_opened ON cases (opened_secs);
    CREATE INDEX cases_by_applicant ON cases (applicant);
    CREATE TABLE case_trail (
        id INTEGER PRIMARY KEY,
        case_seq INTEGER NOT NULL REFERENCES cases (seq),
        at INTEGER NOT NULL,
        actor_key_id TEXT NOT NULL,
        actor_name TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX case_trail_by_case ON case_trail (case_seq, id);",
    // 6: bounded callback retries: attempts made, the last failure, when the next attempt
    // is due (milliseconds since the Unix epoch) and, once the attempts are used up or the
    // target is refused, when the notice became a dead letter (kept until an admin requeues
    // it; never retried on start).
    "ALTER TABLE callbacks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE callbacks ADD COLUMN last_error TEXT;
    ALTER TABLE callbacks ADD COLUMN next_attempt_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE callbacks ADD COLUMN dead_at INTEGER;",
    // 7: key governance: the person a key is issued to (keys of older releases: their
    // holder's name), expiry and revocation times, and the trail of every key change.
    "ALTER TABLE keys ADD COLUMN owner TEXT;
    UPDATE keys SET owner = name WHERE owner IS NULL;
    ALTER TABLE keys ADD COLUMN expires_at INTEGER;
    ALTER TABLE keys ADD COLUMN revoked_at INTEGER;
    CREATE TABLE key_events (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        key_id TEXT NOT NULL,
        action TEXT NOT NULL,
        by TEXT NOT NULL,
        detail TEXT NOT NULL
    );",
    // 8: the audit events of answered enrolments, written in the enrolment's outcome
    // transaction while their `audit.jsonl` line is appended without a sync of its own; a
    // row is deleted once the file was synced past its line, and on open a row whose line
    // the file lacks is appended again (`service/audit.rs`). AUTOINCREMENT: a sequence
    // number, which the line carries, is never given out twice.
    "CREATE TABLE audit_staged (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event TEXT NOT NULL
    );",
    // 9: the case queue at a million cases: the lease filters (taken, untaken) and the
    // opening-date filter of the active queue read an index range instead of every row, and
    // each sort order within one status walks its own index.
    "CREATE INDEX cases_by_lease ON cases (final, lease_until);
    CREATE INDEX cases_by_final_opened ON cases (final, opened_secs);
    CREATE INDEX cases_by_status_score ON cases (status, score DESC, seq);
    CREATE INDEX cases_by_status_deadline ON cases (status, deadline_secs, seq);",
    // 10: analysts and admins look an enrolment up by its request_id alone.
    "CREATE INDEX persons_by_request_id ON persons (request_id);",
    // 11: the queue's search box: every person of a case (applicant and candidates) as
    // terms `nik:<NIK>`, `req:<request_id>` and `name:<name, ASCII letters lower case>`,
    // one lookup an index range of the primary key (`cases/search.rs`); the terms of the
    // cases already stored are read from their hand-over JSON.
    "CREATE TABLE case_search (
        term TEXT NOT NULL,
        case_seq INTEGER NOT NULL,
        PRIMARY KEY (term, case_seq)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO case_search (term, case_seq)
        WITH people (seq, p) AS (
            SELECT seq, json_extract(new_case, '$.applicant') FROM cases
            UNION ALL
            SELECT c.seq, json_extract(j.value, '$.person')
                FROM cases c, json_each(c.new_case, '$.candidates') j
        )
        SELECT 'nik:' || json_extract(p, '$.nik'), seq FROM people
        UNION ALL SELECT 'req:' || json_extract(p, '$.request_id'), seq FROM people
        UNION ALL SELECT 'name:' || lower(trim(json_extract(p, '$.name'))), seq FROM people;",
    // 12: a case's strength (strong fingers and eyes of its best candidate,
    // `cases/strength.rs`), the score sort's tie-breaker among equal (capped) scores; cases
    // stored before it have 0. The score orders' indexes carry it.
    "ALTER TABLE cases ADD COLUMN strength INTEGER NOT NULL DEFAULT 0;
    DROP INDEX cases_by_score;
    DROP INDEX cases_by_status_score;
    CREATE INDEX cases_by_score ON cases (final, score DESC, strength DESC, seq);
    CREATE INDEX cases_by_status_score ON cases (status, score DESC, strength DESC, seq);",
    // 13: a case's history: every person a case is about (its applicant and candidates, by
    // reference id), so the cases about a person are one index range; existing cases are
    // indexed from their rows.
    "CREATE TABLE case_persons (
        reference_id TEXT NOT NULL,
        case_seq INTEGER NOT NULL REFERENCES cases (seq),
        PRIMARY KEY (reference_id, case_seq)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO case_persons (reference_id, case_seq)
        SELECT applicant, seq FROM cases;
    INSERT OR IGNORE INTO case_persons (reference_id, case_seq)
        SELECT json_extract(c.value, '$.person.reference_id'), cases.seq
        FROM cases, json_each(cases.new_case, '$.candidates') AS c;",
    // 14: the case queue at a million cases, continued. `case_tally` counts the cases per
    // finality and deadline day (`deadline_secs / 86400`), kept by triggers in the
    // transaction that changes a case, so the totals and the overdue count read a few
    // hundred tally rows and one day of the deadline index instead of every case. The
    // opening-date index of the active queue carries every column its filters and sort
    // orders read, so a dated page picks its rows from the index alone.
    "CREATE TABLE case_tally (
        final INTEGER NOT NULL,
        day INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (final, day)
    ) WITHOUT ROWID;
    INSERT INTO case_tally (final, day, n)
        SELECT final, deadline_secs / 86400, count(*) FROM cases GROUP BY 1, 2;
    CREATE TRIGGER case_tally_insert AFTER INSERT ON cases BEGIN
        INSERT INTO case_tally (final, day, n) VALUES (NEW.final, NEW.deadline_secs / 86400, 1)
            ON CONFLICT (final, day) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER case_tally_delete AFTER DELETE ON cases BEGIN
        UPDATE case_tally SET n = n - 1
            WHERE final = OLD.final AND day = OLD.deadline_secs / 86400;
    END;
    CREATE TRIGGER case_tally_update AFTER UPDATE OF final, deadline_secs ON cases
        WHEN OLD.final IS NOT NEW.final OR OLD.deadline_secs IS NOT NEW.deadline_secs
    BEGIN
        UPDATE case_tally SET n = n - 1
            WHERE final = OLD.final AND day = OLD.deadline_secs / 86400;
        INSERT INTO case_tally (final, day, n) VALUES (NEW.final, NEW.deadline_secs / 86400, 1)
            ON CONFLICT (final, day) DO UPDATE SET n = n + 1;
    END;
    CREATE INDEX cases_by_final_opened_cover
        ON cases (final, opened_secs, score, strength, deadline_secs, lease_until);
    DROP INDEX cases_by_final_opened;",
    // 15: deep pages of the queue. `case_rank` counts the cases per sort order, status and
    // bucket of the sort key (sort 0, newest: `seq / 4096`; 1, score: `floor(score × 32)`;
    // 2, time left: the deadline day), kept by triggers in the transaction that changes a
    // case, so a typed page number sums a few thousand bucket counts to find the bucket
    // holding its first row and skips rows within that bucket only (`cases/rank.rs`).
    "CREATE TABLE case_rank (
        sort INTEGER NOT NULL,
        status TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (sort, status, bucket)
    ) WITHOUT ROWID;
    INSERT INTO case_rank (sort, status, bucket, n)
        SELECT 0, status, seq / 4096, count(*) FROM cases GROUP BY 2, 3;
    INSERT INTO case_rank (sort, status, bucket, n)
        SELECT 1, status, CAST(score * 32 AS INTEGER) - (score * 32 < CAST(score * 32 AS INTEGER)),
            count(*) FROM cases GROUP BY 2, 3;
    INSERT INTO case_rank (sort, status, bucket, n)
        SELECT 2, status, deadline_secs / 86400, count(*) FROM cases GROUP BY 2, 3;
    CREATE TRIGGER case_rank_insert AFTER INSERT ON cases BEGIN
        INSERT INTO case_rank (sort, status, bucket, n) VALUES (0, NEW.status, NEW.seq / 4096, 1)
            ON CONFLICT (sort, status, bucket) DO UPDATE SET n = n + 1;
        INSERT INTO case_rank (sort, status, bucket, n) VALUES (1, NEW.status, CAST(NEW.score * 32 AS INTEGER) - (NEW.score * 32 < CAST(NEW.score * 32 AS INTEGER)), 1)
            ON CONFLICT (sort, status, bucket) DO UPDATE SET n = n + 1;
        INSERT INTO case_rank (sort, status, bucket, n) VALUES (2, NEW.status, NEW.deadline_secs / 86400, 1)
            ON CONFLICT (sort, status, bucket) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER case_rank_delete AFTER DELETE ON cases BEGIN
        UPDATE case_rank SET n = n - 1
            WHERE sort = 0 AND status = OLD.status AND bucket = OLD.seq / 4096;
        UPDATE case_rank SET n = n - 1
            WHERE sort = 1 AND status = OLD.status AND bucket = CAST(OLD.score * 32 AS INTEGER) - (OLD.score * 32 < CAST(OLD.score * 32 AS INTEGER));
        UPDATE case_rank SET n = n - 1
            WHERE sort = 2 AND status = OLD.status AND bucket = OLD.deadline_secs / 86400;
    END;
    CREATE TRIGGER case_rank_update AFTER UPDATE OF status, score, deadline_secs, seq ON cases
        WHEN OLD.status IS NOT NEW.status OR OLD.score IS NOT NEW.score
            OR OLD.deadline_secs IS NOT NEW.deadline_secs OR OLD.seq IS NOT NEW.seq
    BEGIN
        UPDATE case_rank SET n = n - 1
            WHERE sort = 0 AND status = OLD.status AND bucket = OLD.seq / 4096;
        UPDATE case_rank SET n = n - 1
            WHERE sort = 1 AND status = OLD.status AND bucket = CAST(OLD.score * 32 AS INTEGER) - (OLD.score * 32 < CAST(OLD.score * 32 AS INTEGER));
        UPDATE case_rank SET n = n - 1
            WHERE sort = 2 AND status = OLD.status AND bucket = OLD.deadline_secs / 86400;
        INSERT INTO case_rank (sort, status, bucket, n) VALUES (0, NEW.status, NEW.seq / 4096, 1)
            ON CONFLICT (sort, status, bucket) DO UPDATE SET n = n + 1;
        INSERT INTO case_rank (sort, status, bucket, n) VALUES (1, NEW.status, CAST(NEW.score * 32 AS INTEGER) - (NEW.score * 32 < CAST(NEW.score * 32 AS INTEGER)), 1)
            ON CONFLICT (sort, status, bucket) DO UPDATE SET n = n + 1;
        INSERT INTO case_rank (sort, status, bucket, n) VALUES (2, NEW.status, NEW.deadline_secs / 86400, 1)
            ON CONFLICT (sort, status, bucket) DO UPDATE SET n = n + 1;
    END;",
    // 16: opening at a million persons. The engine's open checks every person the registry
    // acknowledged as enrolled against the recovered gallery, and settles the few entries a
    // stop left mid-way; two partial indexes give both key sets without reading a row. The
    // second's condition is the registry's `UNSETTLED` (`engine/registry/rows/settle.rs`),
    // word for word.
    "CREATE INDEX persons_acknowledged ON persons (key) WHERE in_gallery = 1 AND deleting = 0;
    CREATE INDEX persons_unsettled ON persons (key) WHERE outcome IS NULL OR deleting = 1
        OR (substr(outcome, 1, 22) = '{\"verdict\":\"duplicate\"'
        AND (resolution IS NULL OR case_id IS NULL));",
    // 17: an open whose time does not grow with the number of persons. Each acknowledgement
    // (a person becoming enrolled: `in_gallery = 1 AND deleting = 0`) takes the next number
    // of the `ack_seq` counter in its own transaction, by the two triggers (a plain
    // `UPDATE` of the counter: an outer `INSERT OR IGNORE` would override an upsert); rows
    // acknowledged before this step keep 0. The engine's open checks against the gallery
    // only the persons acknowledged after the mark the gallery is proven to hold
    // (`counters` rows `ack_verified` and `ack_verified_lsn`, see
    // `engine/registry/rows/acked.rs`), read on the partial index `persons_by_ack`.
    "ALTER TABLE persons ADD COLUMN ack_seq INTEGER NOT NULL DEFAULT 0;
    INSERT OR IGNORE INTO counters (name, value) VALUES ('ack_seq', 0);
    CREATE TRIGGER persons_ack_insert AFTER INSERT ON persons
        WHEN NEW.in_gallery = 1 AND NEW.deleting = 0
    BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'ack_seq';
        UPDATE persons SET ack_seq = (SELECT value FROM counters WHERE name = 'ack_seq')
            WHERE key = NEW.key;
    END;
    CREATE TRIGGER persons_ack_update AFTER UPDATE OF in_gallery, deleting ON persons
        WHEN NEW.in_gallery = 1 AND NEW.deleting = 0
            AND NOT (OLD.in_gallery = 1 AND OLD.deleting = 0)
    BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'ack_seq';
        UPDATE persons SET ack_seq = (SELECT value FROM counters WHERE name = 'ack_seq')
            WHERE key = NEW.key;
    END;
    CREATE INDEX persons_by_ack ON persons (ack_seq) WHERE in_gallery = 1 AND deleting = 0;",
    // 18: the encounters of the OSIA ABIS interface (`state/encounters.rs`), which an older
    // release kept in a file of their own (`osia.sqlite3`, moved in at open). An encounter
    // is one engine person under the external reference `external_id` (a registry row of
    // the OSIA origin whose `request_id` it is); `document` is the encounter as received
    // without its images (JSON), `seq` the storing order. Its templates (one row each, in
    // `ord` order, JSON) are read only by the templates route; its galleries are one row per
    // gallery. `encounter_retired` lists the references the engine must drop unless an
    // encounter claims them: an insert's, written in its registry intent's transaction and
    // claimed in its outcome's.
    "CREATE TABLE encounters (
        person_id TEXT NOT NULL,
        encounter_id TEXT NOT NULL,
        external_id TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        document TEXT NOT NULL,
        seq INTEGER NOT NULL UNIQUE,
        PRIMARY KEY (person_id, encounter_id)
    ) WITHOUT ROWID;
    CREATE TABLE encounter_templates (
        external_id TEXT NOT NULL,
        ord INTEGER NOT NULL,
        template TEXT NOT NULL,
        PRIMARY KEY (external_id, ord)
    ) WITHOUT ROWID;
    CREATE TABLE encounter_galleries (
        gallery_id TEXT NOT NULL,
        external_id TEXT NOT NULL,
        PRIMARY KEY (gallery_id, external_id)
    ) WITHOUT ROWID;
    CREATE INDEX encounter_galleries_by_external ON encounter_galleries (external_id);
    CREATE TABLE encounter_retired (external_id TEXT PRIMARY KEY) WITHOUT ROWID;",
];

/// The version this release writes.
pub const VERSION: i64 = STEPS.len() as i64;

/// Brings the schema of `conn` (the database at `path`) up to [`VERSION`].
pub fn upgrade(conn: &Connection, path: &Path) -> Result<(), StateError> {
    let err = |source| super::classify(path, source);
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    if found > VERSION {
        return Err(StateError::NewerSchema {
            path: path.to_path_buf(),
            found,
            known: VERSION,
        });
    }
    for (i, step) in STEPS.iter().enumerate().skip(found.max(0) as usize) {
        let sql = format!(
            "BEGIN IMMEDIATE; {step}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        );
        if let Err(e) = conn.execute_batch(&sql) {
            // Leave no half-applied step behind (the transaction may still be open).
            let _ = conn.execute_batch("ROLLBACK");
            return Err(err(e));
        }
        super::syncs::record(super::syncs::Store::Sqlite);
    }
    Ok(())
}
