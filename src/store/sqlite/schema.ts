import { countedRollups } from '../rollups.js';

/**
 * SQLite schema, as numbered migrations applied in order on open (PRAGMA user_version holds the number
 * applied). Every sealed table is keyed by ledger first and is append-only: triggers abort any UPDATE or
 * DELETE, so that only someone who drops the triggers (an attacker with the file, whom `sealtrail verify`
 * catches) can change sealed rows.
 */
export const MIGRATIONS: string[] = [
  // 1: ledgers, entries, tree hashes, checkpoints, idempotency keys, API keys.
  `
  CREATE TABLE ledgers (
    ledger_id   INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    origin      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
  );

  -- One row per sealed event. leaf: the exact leaf bytes; leaf_hash: RFC 6962 leaf hash (level-0 tree
  -- hashes, read by proofs); disclosures: JSON {path: [salt, value]}. received_at: microseconds.
  CREATE TABLE entries (
    ledger_id   INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    leaf        BLOB NOT NULL,
    leaf_hash   BLOB NOT NULL,
    disclosures TEXT NOT NULL,
    PRIMARY KEY (ledger_id, idx)
  );

  -- Hashes of complete subtrees of height 8·level (level ≥ 1): the upper tiles of the tree.
  CREATE TABLE tree_hashes (
    ledger_id INTEGER NOT NULL,
    level     INTEGER NOT NULL,
    idx       INTEGER NOT NULL,
    hash      BLOB NOT NULL,
    PRIMARY KEY (ledger_id, level, idx)
  ) WITHOUT ROWID;

  -- One signed checkpoint per committed batch. frontier: the compact range at that size, so a restart
  -- resumes appending without reading the tree.
  CREATE TABLE checkpoints (
    ledger_id  INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,
    frontier   BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (ledger_id, size)
  ) WITHOUT ROWID;

  CREATE TABLE idempotency_keys (
    ledger_id    INTEGER NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    idx          INTEGER NOT NULL,
    PRIMARY KEY (ledger_id, key)
  ) WITHOUT ROWID;

  CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    secret_hash BLOB NOT NULL,
    role        TEXT NOT NULL,
    ledgers     TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
  ) WITHOUT ROWID;

  ${appendOnly('ledgers')}
  ${appendOnly('entries')}
  ${appendOnly('tree_hashes')}
  ${appendOnly('checkpoints')}
  ${appendOnly('idempotency_keys')}

  -- API keys may only be revoked: every other column is fixed once written, and rows are never deleted.
  CREATE TRIGGER api_keys_no_delete BEFORE DELETE ON api_keys
    BEGIN SELECT RAISE(ABORT, 'sealtrail: api_keys rows are never deleted'); END;
  CREATE TRIGGER api_keys_revoke_only BEFORE UPDATE OF id, secret_hash, role, ledgers, description, created_at, expires_at ON api_keys
    BEGIN SELECT RAISE(ABORT, 'sealtrail: api_keys can only be revoked'); END;
  CREATE TRIGGER api_keys_revoke_once BEFORE UPDATE OF revoked_at ON api_keys WHEN OLD.revoked_at IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'sealtrail: api key already revoked'); END;
  `,
  // 2: API keys scoped to tenants within their ledgers (["*"]: every tenant).
  `
  ALTER TABLE api_keys ADD COLUMN tenants TEXT NOT NULL DEFAULT '["*"]';
  DROP TRIGGER api_keys_revoke_only;
  CREATE TRIGGER api_keys_revoke_only BEFORE UPDATE OF id, secret_hash, role, ledgers, tenants, description, created_at, expires_at ON api_keys
    BEGIN SELECT RAISE(ABORT, 'sealtrail: api_keys can only be revoked'); END;
  `,
  // 3: the search index, derived from entries and written in the same transaction as they are, so a
  // search is exact the moment an append is acknowledged. Not sealed: it can be rebuilt from entries.
  `
  CREATE TABLE search_events (
    id          INTEGER PRIMARY KEY,
    ledger_id   INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    occurred_at INTEGER,
    actor_type  TEXT,
    actor_id    TEXT,
    actor_name  TEXT,
    action      TEXT,
    category    TEXT,
    tenant      TEXT,
    outcome     TEXT,
    ip          BLOB,
    country     TEXT,
    writer      TEXT NOT NULL,
    UNIQUE (ledger_id, idx)
  );
  CREATE INDEX search_events_received ON search_events (ledger_id, received_at);
  CREATE INDEX search_events_actor ON search_events (ledger_id, actor_id, idx);
  CREATE INDEX search_events_actor_name ON search_events (ledger_id, actor_name, idx);
  CREATE INDEX search_events_action ON search_events (ledger_id, action, idx);
  -- received_at rides along so that stats by hour for a tenant are answered from the index alone.
  CREATE INDEX search_events_tenant ON search_events (ledger_id, tenant, idx, received_at);
  CREATE INDEX search_events_ip ON search_events (ledger_id, ip, idx);
  CREATE INDEX search_events_country ON search_events (ledger_id, country, idx);
  CREATE TABLE search_targets (
    ledger_id   INTEGER NOT NULL,
    target_id   TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    target_type TEXT NOT NULL,
    target_name TEXT,
    PRIMARY KEY (ledger_id, target_id, idx, target_type)
  ) WITHOUT ROWID;
  CREATE TABLE search_metadata (
    ledger_id INTEGER NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    idx       INTEGER NOT NULL,
    PRIMARY KEY (ledger_id, key, value, idx)
  ) WITHOUT ROWID;
  -- Free text, matched as case-insensitive substrings (trigram tokenizer); rowid = search_events.id.
  -- Contentless: it stores the index, not the text.
  CREATE VIRTUAL TABLE search_text USING fts5 (body, content = '', contentless_delete = 1, tokenize = 'trigram');
  `,
  // 4: retention, legal holds and erasure. Entries may now lose disclosures, and only that: the sealed
  // columns stay frozen, a disclosure can be removed but never changed or added, each removal is
  // recorded in redactions, and a redaction is never withdrawn. Policies keep their history; holds can
  // only be released, once.
  `
  ALTER TABLE entries ADD COLUMN redactions TEXT;
  DROP TRIGGER entries_no_update;
  CREATE TRIGGER entries_sealed BEFORE UPDATE OF ledger_id, idx, received_at, leaf, leaf_hash ON entries
    BEGIN SELECT RAISE(ABORT, 'sealtrail: entries is append-only'); END;
  CREATE TRIGGER entries_forget_only BEFORE UPDATE OF disclosures, redactions ON entries
    WHEN EXISTS (SELECT 1 FROM json_each(NEW.disclosures) n
                  WHERE NOT EXISTS (SELECT 1 FROM json_each(OLD.disclosures) o WHERE o.key = n.key AND o.value = n.value))
      OR EXISTS (SELECT 1 FROM json_each(OLD.disclosures) o
                  WHERE NOT EXISTS (SELECT 1 FROM json_each(NEW.disclosures) n WHERE n.key = o.key)
                    AND NOT EXISTS (SELECT 1 FROM json_each(NEW.redactions) r WHERE r.key = o.key))
      OR EXISTS (SELECT 1 FROM json_each(OLD.redactions) o
                  WHERE NOT EXISTS (SELECT 1 FROM json_each(NEW.redactions) n WHERE n.key = o.key AND n.value = o.value))
    BEGIN SELECT RAISE(ABORT, 'sealtrail: entries may only forget disclosed values'); END;

  CREATE TABLE retention_policies (
    version    INTEGER PRIMARY KEY,
    policy     TEXT NOT NULL,
    changed_at INTEGER NOT NULL,
    changed_by TEXT NOT NULL
  );
  ${appendOnly('retention_policies')}

  CREATE TABLE legal_holds (
    id             TEXT PRIMARY KEY,
    ledgers        TEXT NOT NULL,
    query          TEXT NOT NULL,
    reason         TEXT NOT NULL,
    owner          TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    created_by     TEXT NOT NULL,
    released_at    INTEGER,
    released_by    TEXT,
    release_reason TEXT
  ) WITHOUT ROWID;
  CREATE TRIGGER legal_holds_no_delete BEFORE DELETE ON legal_holds
    BEGIN SELECT RAISE(ABORT, 'sealtrail: legal holds are released, never deleted'); END;
  CREATE TRIGGER legal_holds_release_only BEFORE UPDATE OF id, ledgers, query, reason, owner, created_at, created_by ON legal_holds
    BEGIN SELECT RAISE(ABORT, 'sealtrail: legal holds can only be released'); END;
  CREATE TRIGGER legal_holds_release_once BEFORE UPDATE OF released_at, released_by, release_reason ON legal_holds WHEN OLD.released_at IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'sealtrail: legal hold already released'); END;
  `,
  // 5: where an origin IP is, beside its country: region, city and coordinates (for reading and for
  // rules that measure travel between events), or the special-purpose range it belongs to. Not indexed:
  // they are read with the results, never searched by alone. Rows indexed before stay NULL.
  `
  ALTER TABLE search_events ADD COLUMN region TEXT;
  ALTER TABLE search_events ADD COLUMN city TEXT;
  ALTER TABLE search_events ADD COLUMN latitude REAL;
  ALTER TABLE search_events ADD COLUMN longitude REAL;
  ALTER TABLE search_events ADD COLUMN ip_reserved TEXT;
  `,
  // 6: free text is now read in rowid order, which must be index order within a ledger. Before, a
  // forget rewrote an event's search row under a new id; the index is checked once on open
  // (SqliteStore.repairSearchIndex) and rebuilt if an id is out of order.
  `
  CREATE TABLE search_repairs (name TEXT PRIMARY KEY);
  INSERT INTO search_repairs (name) VALUES ('id-order');
  `,
  // 7: every redaction bound to a sealed forgetting record (src/core/forgetting.ts). An update that
  // adds a redaction must cite, in forgotten_by, a server-written retention.forget entry of the system
  // ledger, covered by a stored checkpoint, whose grant names this ledger, entry, field and reason;
  // forgetting records themselves are never forgotten. (The database cannot check signatures: a row
  // planted with a checkpoint row is caught by verify and the running server, which do.) Redactions
  // made before this migration are listed once in legacy_redactions, for the server to attest in a
  // sealed record at its next start (RetentionService.attestLegacyRedactions); nothing can be added
  // to that list afterwards.
  `
  ALTER TABLE entries ADD COLUMN forgotten_by INTEGER;
  CREATE TABLE legacy_redactions (
    ledger_id  INTEGER NOT NULL,
    idx        INTEGER NOT NULL,
    redactions TEXT NOT NULL,
    PRIMARY KEY (ledger_id, idx)
  ) WITHOUT ROWID;
  INSERT INTO legacy_redactions (ledger_id, idx, redactions) SELECT ledger_id, idx, redactions FROM entries WHERE redactions IS NOT NULL;
  CREATE TRIGGER legacy_redactions_closed BEFORE INSERT ON legacy_redactions
    BEGIN SELECT RAISE(ABORT, 'sealtrail: legacy redactions were listed once, at the upgrade'); END;
  CREATE TRIGGER legacy_redactions_no_update BEFORE UPDATE ON legacy_redactions
    BEGIN SELECT RAISE(ABORT, 'sealtrail: legacy redactions were listed once, at the upgrade'); END;
  CREATE TRIGGER entries_forget_authorised BEFORE UPDATE OF disclosures, redactions ON entries
    WHEN EXISTS (
      SELECT 1 FROM json_each(NEW.redactions) n
       WHERE NOT EXISTS (SELECT 1 FROM json_each(OLD.redactions) o WHERE o.key = n.key)
         AND NOT EXISTS (
           SELECT 1 FROM ledgers sl
             JOIN entries g ON g.ledger_id = sl.ledger_id AND g.idx = NEW.forgotten_by
             JOIN ledgers tl ON tl.ledger_id = NEW.ledger_id,
             json_each(json_extract(g.disclosures, '$."metadata.forget"[1].ranges')) r
            WHERE sl.name = 'sealtrail-system'
              AND NEW.forgotten_by < (SELECT max(c.size) FROM checkpoints c WHERE c.ledger_id = sl.ledger_id)
              AND json_extract(CAST(g.leaf AS TEXT), '$.writer') = 'sealtrail'
              AND json_extract(g.disclosures, '$.action[1]') = 'retention.forget'
              AND json_extract(g.disclosures, '$."metadata.forget"[1].ledger') = tl.name
              AND json_extract(g.disclosures, '$."metadata.forget"[1].reason') = n.value
              AND NEW.idx BETWEEN json_extract(r.value, '$[0]') AND json_extract(r.value, '$[1]')
              AND (json_extract(r.value, '$[2]') = '*' OR EXISTS (SELECT 1 FROM json_each(r.value, '$[2]') p WHERE p.value = n.key))))
    BEGIN SELECT RAISE(ABORT, 'sealtrail: a redaction needs a sealed forgetting record that names it'); END;
  CREATE TRIGGER entries_forget_records_kept BEFORE UPDATE OF disclosures, redactions ON entries
    WHEN NEW.ledger_id = (SELECT ledger_id FROM ledgers WHERE name = 'sealtrail-system')
     AND json_extract(CAST(OLD.leaf AS TEXT), '$.writer') = 'sealtrail'
     AND json_extract(CAST(OLD.leaf AS TEXT), '$.commitments."metadata.forget"') IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'sealtrail: forgetting records are never forgotten'); END;
  `,
  // 8: idempotency keys stored as keyed hashes scoped by writer (src/store/idempotency.ts): 'v2:' and an
  // HMAC. Rows written before hold the raw client key (an event id may be an email address); a store
  // that opens the file with the signing key converts them (SqliteStore.convertLegacyKeys) and may
  // delete exactly those rows, never a hashed one. Verification reads the keys in index order.
  `
  DROP TRIGGER idempotency_keys_no_delete;
  CREATE TRIGGER idempotency_keys_no_delete BEFORE DELETE ON idempotency_keys WHEN OLD.key GLOB 'v2:*'
    BEGIN SELECT RAISE(ABORT, 'sealtrail: idempotency_keys is append-only'); END;
  CREATE INDEX idempotency_keys_by_index ON idempotency_keys (ledger_id, idx);
  -- Empty once converted, so that every open finds the rows left to convert without a scan.
  CREATE INDEX idempotency_keys_legacy ON idempotency_keys (ledger_id, key) WHERE key NOT GLOB 'v2:*';
  `,
  // 9: what the running server has verified of each ledger (src/store/integrity.ts): the size and root
  // up to which every entry was checked, with a MAC under a key derived from the signing key so that a
  // database edit cannot move it past tampered rows; the broken state every process must respect; and
  // the lease that lets one process at a time run the background verification of a ledger.
  `
  CREATE TABLE integrity_state (
    ledger_id     INTEGER PRIMARY KEY,
    verified_size INTEGER NOT NULL DEFAULT 0,
    verified_root BLOB,
    verified_mac  BLOB,
    broken_reason TEXT,
    broken_at     INTEGER,
    lease_holder  TEXT,
    lease_until   INTEGER
  );
  `,
  // 10: leases of background work (src/store/lease.ts): one process at a time runs each named piece
  // (detection of a ledger, delivery of a sink), and another takes over once the holder stops renewing.
  `
  CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  INTEGER NOT NULL
  );
  `,
  // 11: reserved for detection (issue 14).
  // The detection engine's state (src/store/detection-state.ts): per ledger the cursor and each
  // detector's state at it, alerts and the finding keys they hold, the outbox of system-ledger records,
  // rules added through the API, rule settings and the HR feed of departures. Not sealed: alerts and
  // their changes are sealed in the system ledger through the outbox.
  `
  CREATE TABLE detection_cursors (
    ledger     TEXT PRIMARY KEY,
    evaluated  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE detection_states (
    ledger   TEXT NOT NULL,
    detector TEXT NOT NULL,
    state    TEXT NOT NULL,
    PRIMARY KEY (ledger, detector)
  );
  CREATE TABLE alerts (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    group_key    TEXT NOT NULL,
    tenant       TEXT,
    rule         TEXT NOT NULL,
    title        TEXT NOT NULL,
    severity     TEXT NOT NULL,
    ledger       TEXT NOT NULL,
    actor_type   TEXT,
    actor_id     TEXT,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    events       TEXT NOT NULL,
    summary      TEXT NOT NULL,
    finding_keys TEXT NOT NULL,
    status       TEXT NOT NULL,
    close_reason TEXT,
    opened_at    INTEGER NOT NULL,
    changed_at   INTEGER,
    changed_by   TEXT
  );
  CREATE INDEX alerts_group ON alerts (group_key, tenant, seq);
  CREATE INDEX alerts_ledger ON alerts (ledger, seq);
  CREATE INDEX alerts_status ON alerts (status, seq);
  CREATE TABLE alert_findings (
    finding_key TEXT PRIMARY KEY,
    alert_id    TEXT NOT NULL
  );
  CREATE TABLE detection_outbox (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    key   TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL
  );
  CREATE TABLE detection_rules (
    id       TEXT PRIMARY KEY,
    yaml     TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    added_by TEXT NOT NULL
  );
  CREATE TABLE detection_rule_settings (
    id         TEXT PRIMARY KEY,
    enabled    INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    changed_by TEXT NOT NULL
  );
  CREATE TABLE detection_departures (
    actor_id TEXT PRIMARY KEY,
    ends_at  INTEGER NOT NULL
  );
  `,
  // 12: streams (issue 20, src/store/sink-state.ts): sink definitions (secrets sealed under a key derived
  // from the signing key), each sink's durable per-ledger cursor with the generation a replay bumps, and
  // its dead-letter list. Not sealed: the system ledger records every change to a sink.
  `
  CREATE TABLE sinks (
    name            TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    definition      TEXT NOT NULL,
    sealed_secrets  BLOB,
    paused          INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    last_success_at INTEGER,
    last_error_at   INTEGER,
    last_error      TEXT,
    failing         INTEGER NOT NULL DEFAULT 0,
    lagging         INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE sink_cursors (
    sink       TEXT NOT NULL,
    ledger     TEXT NOT NULL,
    next_index INTEGER NOT NULL,
    last_sent  INTEGER,
    generation INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sink, ledger)
  );
  CREATE TABLE sink_dead_letters (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    sink       TEXT NOT NULL,
    ledger     TEXT NOT NULL,
    from_index INTEGER NOT NULL,
    to_index   INTEGER NOT NULL,
    indexes    TEXT NOT NULL,
    previous   INTEGER,
    attempts   INTEGER NOT NULL,
    error      TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX sink_dead_letters_sink ON sink_dead_letters (sink, id);
  `,
  // 13: issue 16 (timelines and search): the actor's session and the origin's device as search columns
  // (session:, device:), each indexed like actor and ip so a session's events are one range scan in
  // index order. Rows indexed before are filled from the entries' disclosures ({path: [salt, value]}).
  // Targets by event, so that counting one actor's events by target (stats by=target, a timeline's
  // history) joins the actor's few rows to their targets instead of reading every target of the ledger.
  `
  ALTER TABLE search_events ADD COLUMN session_id TEXT;
  ALTER TABLE search_events ADD COLUMN device_id TEXT;
  UPDATE search_events AS s
     SET session_id = json_extract(en.disclosures, '$."actor.session_id"[1]'),
         device_id = json_extract(en.disclosures, '$."origin.device_id"[1]')
    FROM entries en
   WHERE en.ledger_id = s.ledger_id AND en.idx = s.idx
     AND (instr(en.disclosures, '"actor.session_id"') > 0 OR instr(en.disclosures, '"origin.device_id"') > 0);
  CREATE INDEX search_events_session ON search_events (ledger_id, session_id, idx);
  CREATE INDEX search_events_device ON search_events (ledger_id, device_id, idx);
  CREATE INDEX search_targets_event ON search_targets (ledger_id, idx);
  `,
  // 14: console sign-in sessions (issue 15, src/store/session-state.ts): only the token's hash is kept.
  // Not sealed: each sign-in and sign-out is recorded in the system ledger.
  `
  CREATE TABLE console_sessions (
    token_hash     BLOB PRIMARY KEY,
    key_id         TEXT NOT NULL,
    operator_check BLOB,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
  );
  CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
  `,
  // 15: the interior nodes of full tiles (issue 17, docs/FORMAT.md), so that an inclusion proof on a
  // large ledger reads one row per tile instead of hashing 256 stored hashes. Derived from leaf and
  // tree hashes like tree_hashes, and, like them, never changed: written as appends complete a tile, or
  // when a proof first computes a tile appended before this migration.
  `
  CREATE TABLE tile_nodes (
    ledger_id INTEGER NOT NULL,
    level     INTEGER NOT NULL,
    tile      INTEGER NOT NULL,
    nodes     BLOB NOT NULL,
    PRIMARY KEY (ledger_id, level, tile)
  );
  ${appendOnly('tile_nodes')}
  `,
  // 16: hourly count rollups of the search index (issue 17, src/store/rollups.ts, which explains the
  // layout): events per hour of the whole ledger, of each tenant and of each actor id, kept in the same
  // transaction as the search rows they count, so that stats by hour or day over a month read at most
  // 720 rows. Derived, not sealed; filled here from the search rows already indexed.
  `
  CREATE TABLE search_hourly (
    ledger_id INTEGER NOT NULL,
    dimension TEXT NOT NULL,
    value     TEXT NOT NULL,
    hour      INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (ledger_id, dimension, value, hour)
  ) WITHOUT ROWID;
  INSERT INTO search_hourly (ledger_id, dimension, value, hour, count)
    ${countedRollups(() => 'TRUE')};
  `,
];

function appendOnly(table: string): string {
  return `
  CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table}
    BEGIN SELECT RAISE(ABORT, 'sealtrail: ${table} is append-only'); END;
  CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table}
    BEGIN SELECT RAISE(ABORT, 'sealtrail: ${table} is append-only'); END;`;
}
