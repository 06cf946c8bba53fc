/**
 * PostgreSQL schema: numbered migrations, applied in order by the owner role. Every table's key starts
 * with ledger_id, so the schema can later be distributed by ledger (Citus: distribution column
 * ledger_id). Sealed tables are append-only twice over: the service role is granted only INSERT and
 * SELECT on them, and triggers reject UPDATE, DELETE and TRUNCATE from anyone, owner included.
 */

import { countedRollups } from '../rollups.js';

/** Each migration runs in one transaction with search_path set to the sealtrail schema. */
/**
 * serviceGrants runs only at `db setup`: a migration that adds what the service role uses grants it
 * to the roles already granted the matching right, found in the catalogue (never the owner running it).
 */
const APPENDING_ROLES = `SELECT DISTINCT grantee FROM information_schema.role_table_grants
  WHERE table_schema = current_schema() AND table_name = 'entries' AND privilege_type = 'INSERT' AND grantee <> current_user`;
const FORGETTING_ROLES = `SELECT DISTINCT grantee FROM information_schema.column_privileges
  WHERE table_schema = current_schema() AND table_name = 'entries' AND column_name = 'disclosures'
    AND privilege_type = 'UPDATE' AND grantee <> current_user`;

/** A DO block running each grant (a format() template, %I the role) for every role `roles` selects. */
function grantToRoles(roles: string, grants: string[]): string {
  return `DO $$
  DECLARE grantee_role TEXT;
  BEGIN
    FOR grantee_role IN ${roles}
    LOOP
      ${grants.map((grant) => `EXECUTE format('${grant}', grantee_role);`).join('\n      ')}
    END LOOP;
  END $$;`;
}

/** The detection engine's tables (migration 12), which the service role reads and writes whole. */
const DETECTION_TABLES = 'detection_cursors, detection_states, alerts, alert_findings, detection_outbox, detection_rules, detection_rule_settings, detection_departures';

export const PG_MIGRATIONS: string[] = [
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  CREATE TABLE ledgers (
    ledger_id  INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    origin     TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );

  CREATE TABLE entries (
    ledger_id   INTEGER NOT NULL,
    idx         BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    leaf        BYTEA NOT NULL,
    leaf_hash   BYTEA NOT NULL,
    disclosures TEXT NOT NULL,
    PRIMARY KEY (ledger_id, idx)
  );

  CREATE TABLE tree_hashes (
    ledger_id INTEGER NOT NULL,
    level     SMALLINT NOT NULL,
    idx       BIGINT NOT NULL,
    hash      BYTEA NOT NULL,
    PRIMARY KEY (ledger_id, level, idx)
  );

  CREATE TABLE checkpoints (
    ledger_id  INTEGER NOT NULL,
    size       BIGINT NOT NULL,
    root       BYTEA NOT NULL,
    note       TEXT NOT NULL,
    frontier   BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (ledger_id, size)
  );

  CREATE TABLE idempotency_keys (
    ledger_id    INTEGER NOT NULL,
    key          TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    idx          BIGINT NOT NULL,
    PRIMARY KEY (ledger_id, key)
  );

  CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    secret_hash BYTEA NOT NULL,
    role        TEXT NOT NULL,
    ledgers     TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
  );

  CREATE FUNCTION reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    RAISE EXCEPTION 'sealtrail: % is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
  END $$;

  CREATE FUNCTION allow_revoke_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF OLD.revoked_at IS NOT NULL OR ROW(NEW.id, NEW.secret_hash, NEW.role, NEW.ledgers, NEW.description, NEW.created_at, NEW.expires_at)
       IS DISTINCT FROM ROW(OLD.id, OLD.secret_hash, OLD.role, OLD.ledgers, OLD.description, OLD.created_at, OLD.expires_at) THEN
      RAISE EXCEPTION 'sealtrail: api_keys can only be revoked, once' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END $$;

  ${appendOnly('ledgers')}
  ${appendOnly('entries')}
  ${appendOnly('tree_hashes')}
  ${appendOnly('checkpoints')}
  ${appendOnly('idempotency_keys')}
  CREATE TRIGGER api_keys_revoke_only BEFORE UPDATE ON api_keys FOR EACH ROW EXECUTE FUNCTION allow_revoke_only();
  CREATE TRIGGER api_keys_no_delete BEFORE DELETE ON api_keys FOR EACH ROW EXECUTE FUNCTION reject_change();
  CREATE TRIGGER api_keys_no_truncate BEFORE TRUNCATE ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION reject_change();
  `,
  // 2: API keys scoped to tenants within their ledgers (["*"]: every tenant).
  `
  ALTER TABLE api_keys ADD COLUMN tenants TEXT NOT NULL DEFAULT '["*"]';
  CREATE OR REPLACE FUNCTION allow_revoke_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF OLD.revoked_at IS NOT NULL OR ROW(NEW.id, NEW.secret_hash, NEW.role, NEW.ledgers, NEW.tenants, NEW.description, NEW.created_at, NEW.expires_at)
       IS DISTINCT FROM ROW(OLD.id, OLD.secret_hash, OLD.role, OLD.ledgers, OLD.tenants, OLD.description, OLD.created_at, OLD.expires_at) THEN
      RAISE EXCEPTION 'sealtrail: api_keys can only be revoked, once' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END $$;
  `,
  // 3: the search index, written in the append's own transaction. Not sealed: rebuildable from entries.
  // Text columns use the "C" collation: prefix searches are ranges in code point order.
  `
  CREATE TABLE search_events (
    ledger_id   INTEGER NOT NULL,
    idx         BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    occurred_at BIGINT,
    actor_type  TEXT COLLATE "C",
    actor_id    TEXT COLLATE "C",
    actor_name  TEXT COLLATE "C",
    action      TEXT COLLATE "C",
    category    TEXT COLLATE "C",
    tenant      TEXT COLLATE "C",
    outcome     TEXT COLLATE "C",
    ip          BYTEA,
    country     TEXT COLLATE "C",
    writer      TEXT COLLATE "C" NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (ledger_id, idx)
  );
  CREATE INDEX search_events_received ON search_events (ledger_id, received_at);
  CREATE INDEX search_events_actor ON search_events (ledger_id, actor_id, idx);
  CREATE INDEX search_events_actor_name ON search_events (ledger_id, actor_name, idx);
  CREATE INDEX search_events_action ON search_events (ledger_id, action, idx);
  CREATE INDEX search_events_tenant ON search_events (ledger_id, tenant, idx, received_at);
  CREATE INDEX search_events_ip ON search_events (ledger_id, ip, idx);
  CREATE INDEX search_events_country ON search_events (ledger_id, country, idx);
  CREATE TABLE search_targets (
    ledger_id   INTEGER NOT NULL,
    target_id   TEXT COLLATE "C" NOT NULL,
    idx         BIGINT NOT NULL,
    target_type TEXT COLLATE "C" NOT NULL,
    target_name TEXT COLLATE "C",
    PRIMARY KEY (ledger_id, target_id, idx, target_type)
  );
  CREATE TABLE search_metadata (
    ledger_id INTEGER NOT NULL,
    key       TEXT COLLATE "C" NOT NULL,
    value     TEXT COLLATE "C" NOT NULL,
    idx       BIGINT NOT NULL,
    PRIMARY KEY (ledger_id, key, value, idx)
  );
  `,
  // 4: keep entry rows (~2.2 KB: incompressible leaf and disclosures) in the heap page instead of trying
  // to compress them and moving them to TOAST; measured 21 → 8 ms per 1,000-row INSERT and two WAL
  // records fewer per row.
  `
  ALTER TABLE entries SET (toast_tuple_target = 4080);
  `,
  // 5: retention, legal holds and erasure. Entries may now lose disclosures, and only that: the sealed
  // columns stay frozen, a disclosure can be removed but never changed or added, each removal is
  // recorded in redactions, and a redaction is never withdrawn. The service role gets UPDATE on those
  // two columns only. Policies keep their history; holds can only be released, once.
  `
  ALTER TABLE entries ADD COLUMN redactions TEXT;
  DROP TRIGGER entries_no_change ON entries;
  CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries FOR EACH ROW EXECUTE FUNCTION reject_change();
  CREATE FUNCTION allow_forget_only() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    old_d jsonb := OLD.disclosures::jsonb;
    new_d jsonb := NEW.disclosures::jsonb;
    old_r jsonb := COALESCE(OLD.redactions::jsonb, '{}');
    new_r jsonb := COALESCE(NEW.redactions::jsonb, '{}');
  BEGIN
    IF ROW(NEW.ledger_id, NEW.idx, NEW.received_at, NEW.leaf, NEW.leaf_hash) IS DISTINCT FROM ROW(OLD.ledger_id, OLD.idx, OLD.received_at, OLD.leaf, OLD.leaf_hash) THEN
      RAISE EXCEPTION 'sealtrail: entries is append-only (its sealed columns never change)' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_each(new_d) n WHERE (old_d -> n.key) IS DISTINCT FROM n.value)
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(old_d) k WHERE NOT (new_d ? k) AND NOT (new_r ? k))
       OR EXISTS (SELECT 1 FROM jsonb_each(old_r) o WHERE (new_r -> o.key) IS DISTINCT FROM o.value) THEN
      RAISE EXCEPTION 'sealtrail: entries may only forget disclosed values' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER entries_forget_only BEFORE UPDATE ON entries FOR EACH ROW EXECUTE FUNCTION allow_forget_only();

  CREATE TABLE retention_policies (
    version    INTEGER PRIMARY KEY,
    policy     TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    changed_by TEXT NOT NULL
  );
  ${appendOnly('retention_policies')}

  CREATE TABLE legal_holds (
    id             TEXT PRIMARY KEY,
    ledgers        TEXT NOT NULL,
    query          TEXT NOT NULL,
    reason         TEXT NOT NULL,
    owner          TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    created_by     TEXT NOT NULL,
    released_at    BIGINT,
    released_by    TEXT,
    release_reason TEXT
  );
  CREATE FUNCTION allow_release_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF OLD.released_at IS NOT NULL OR ROW(NEW.id, NEW.ledgers, NEW.query, NEW.reason, NEW.owner, NEW.created_at, NEW.created_by)
       IS DISTINCT FROM ROW(OLD.id, OLD.ledgers, OLD.query, OLD.reason, OLD.owner, OLD.created_at, OLD.created_by) THEN
      RAISE EXCEPTION 'sealtrail: legal holds can only be released, once' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER legal_holds_release_only BEFORE UPDATE ON legal_holds FOR EACH ROW EXECUTE FUNCTION allow_release_only();
  CREATE TRIGGER legal_holds_no_delete BEFORE DELETE ON legal_holds FOR EACH ROW EXECUTE FUNCTION reject_change();
  CREATE TRIGGER legal_holds_no_truncate BEFORE TRUNCATE ON legal_holds FOR EACH STATEMENT EXECUTE FUNCTION reject_change();
  `,
  // 6: where an origin IP is, beside its country: region, city and coordinates, or the special-purpose
  // range it belongs to. Not indexed: read with the results, never searched by alone.
  `
  ALTER TABLE search_events
    ADD COLUMN region TEXT,
    ADD COLUMN city TEXT,
    ADD COLUMN latitude DOUBLE PRECISION,
    ADD COLUMN longitude DOUBLE PRECISION,
    ADD COLUMN ip_reserved TEXT;
  `,
  // 7: free text through a trigram index (pg_trgm, a trusted extension), so that ILIKE '%phrase%' is an
  // index lookup instead of a walk of the ledger. The extension is used wherever it is installed. If it
  // is not, it is created in public (where `sealtrail db setup` puts it, and where dropping a sealtrail
  // schema cannot take it away from another), else in this schema; either needs CREATE on the database.
  `
  DO $$
  DECLARE
    trgm_schema TEXT := (SELECT n.nspname FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace WHERE x.extname = 'pg_trgm');
  BEGIN
    IF trgm_schema IS NULL THEN
      BEGIN
        CREATE EXTENSION pg_trgm SCHEMA public;
        trgm_schema := 'public';
      EXCEPTION WHEN insufficient_privilege OR invalid_schema_name THEN
        BEGIN
          EXECUTE format('CREATE EXTENSION pg_trgm SCHEMA %I', current_schema());
          trgm_schema := current_schema();
        EXCEPTION WHEN insufficient_privilege THEN
          RAISE EXCEPTION 'sealtrail needs the pg_trgm extension for free-text search: run sealtrail db setup, or CREATE EXTENSION pg_trgm as an administrator'
            USING ERRCODE = 'insufficient_privilege';
        END;
      END;
    END IF;
    EXECUTE format('CREATE INDEX search_events_body_trgm ON search_events USING gin (body %I.gin_trgm_ops)', trgm_schema);
  END $$;
  -- The planner judges '%phrase%' from the column's histogram: with the default 100 entries a phrase
  -- in 190 of 200,000 events was taken for 2,000, and the ledger was walked newest first instead of
  -- using the index (670 ms). A finer histogram tells rare from common.
  ALTER TABLE search_events ALTER COLUMN body SET STATISTICS 1000;
  `,
  // 8: every redaction bound to a sealed forgetting record (src/core/forgetting.ts). An update that
  // adds a redaction must cite, in forgotten_by, a server-written retention.forget entry of the system
  // ledger whose grant names this ledger, entry, field and reason; forgetting records themselves are
  // never forgotten. Redactions made before this migration are listed once in legacy_redactions, for
  // the server to attest in a sealed record at its next start; the service role may read and clear
  // that list, never add to it.
  `
  ALTER TABLE entries ADD COLUMN forgotten_by BIGINT;
  CREATE TABLE legacy_redactions (
    ledger_id  INTEGER NOT NULL,
    idx        BIGINT NOT NULL,
    redactions TEXT NOT NULL,
    PRIMARY KEY (ledger_id, idx)
  );
  INSERT INTO legacy_redactions (ledger_id, idx, redactions) SELECT ledger_id, idx, redactions FROM entries WHERE redactions IS NOT NULL;
  CREATE FUNCTION forget_authorised() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    system_id INTEGER := (SELECT ledger_id FROM ledgers WHERE name = 'sealtrail-system');
    old_leaf jsonb := convert_from(OLD.leaf, 'UTF8')::jsonb;
    added RECORD;
    rec_leaf jsonb;
    rec_d jsonb;
    grant_v jsonb;
  BEGIN
    IF NEW.ledger_id = system_id AND old_leaf->>'writer' = 'sealtrail' AND (old_leaf->'commitments') ? 'metadata.forget'
       AND (NEW.disclosures IS DISTINCT FROM OLD.disclosures OR NEW.redactions IS DISTINCT FROM OLD.redactions) THEN
      RAISE EXCEPTION 'sealtrail: forgetting records are never forgotten' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.redactions IS NOT DISTINCT FROM OLD.redactions THEN
      RETURN NEW;
    END IF;
    SELECT convert_from(g.leaf, 'UTF8')::jsonb, g.disclosures::jsonb INTO rec_leaf, rec_d
      FROM entries g WHERE g.ledger_id = system_id AND g.idx = NEW.forgotten_by;
    grant_v := rec_d -> 'metadata.forget' -> 1;
    FOR added IN SELECT n.key, n.value #>> '{}' AS reason FROM jsonb_each(COALESCE(NEW.redactions::jsonb, '{}')) n
                  WHERE NOT (COALESCE(OLD.redactions::jsonb, '{}') ? n.key) LOOP
      IF rec_leaf IS NULL OR rec_leaf->>'writer' IS DISTINCT FROM 'sealtrail'
         OR NEW.forgotten_by >= COALESCE((SELECT max(c.size) FROM checkpoints c WHERE c.ledger_id = system_id), 0)
         OR rec_d->'action'->>1 IS DISTINCT FROM 'retention.forget'
         OR grant_v->>'ledger' IS DISTINCT FROM (SELECT name FROM ledgers WHERE ledger_id = NEW.ledger_id)
         OR grant_v->>'reason' IS DISTINCT FROM added.reason
         OR jsonb_typeof(grant_v->'ranges') IS DISTINCT FROM 'array'
         OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements(grant_v->'ranges') r
                         WHERE jsonb_typeof(r) = 'array'
                           AND NEW.idx BETWEEN (r->>0)::bigint AND (r->>1)::bigint
                           AND (r->2 = '"*"'::jsonb OR (jsonb_typeof(r->2) = 'array' AND (r->2) ? added.key))) THEN
        RAISE EXCEPTION 'sealtrail: the redaction of % in entry % needs a sealed forgetting record that names it', added.key, NEW.idx
          USING ERRCODE = 'insufficient_privilege';
      END IF;
    END LOOP;
    RETURN NEW;
  END $$;
  CREATE TRIGGER entries_forget_authorised BEFORE UPDATE ON entries FOR EACH ROW EXECUTE FUNCTION forget_authorised();
  CREATE TRIGGER legacy_redactions_no_update BEFORE UPDATE ON legacy_redactions FOR EACH ROW EXECUTE FUNCTION reject_change();
  -- The roles that may forget (the service role of \`db setup\`) may now cite a record, and settle the list.
  ${grantToRoles(FORGETTING_ROLES, ['GRANT UPDATE (forgotten_by) ON entries TO %I', 'GRANT SELECT, DELETE ON legacy_redactions TO %I'])}
  `,
  // 9: idempotency keys stored as keyed hashes scoped by writer (src/store/idempotency.ts): 'v2:' and an
  // HMAC. Rows written before hold the raw client key (an event id may be an email address); a server
  // that opens the store converts them (PostgresStore.convertLegacyKeys), so the roles that append may
  // delete exactly those rows, never a hashed one. Verification reads the keys in index order.
  `
  DROP TRIGGER idempotency_keys_no_change ON idempotency_keys;
  CREATE TRIGGER idempotency_keys_no_update BEFORE UPDATE ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION reject_change();
  CREATE FUNCTION allow_legacy_key_delete() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF starts_with(OLD.key, 'v2:') THEN
      RAISE EXCEPTION 'sealtrail: idempotency_keys is append-only (DELETE refused)' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN OLD;
  END $$;
  CREATE TRIGGER idempotency_keys_legacy_delete_only BEFORE DELETE ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION allow_legacy_key_delete();
  CREATE INDEX idempotency_keys_by_index ON idempotency_keys (ledger_id, idx);
  -- Empty once converted, so that every start finds the rows left to convert without a scan.
  CREATE INDEX idempotency_keys_legacy ON idempotency_keys (ledger_id, key) WHERE NOT starts_with(key, 'v2:');
  ${grantToRoles(APPENDING_ROLES, ['GRANT DELETE ON idempotency_keys TO %I'])}
  `,
  // 10: what the running server has verified of each ledger (src/store/integrity.ts): see SQLite
  // migration 9. The service role reads and writes it (not DELETE); serviceGrants runs only at
  // db setup, so the roles already granted INSERT on entries are granted here as well.
  `
  CREATE TABLE integrity_state (
    ledger_id     BIGINT PRIMARY KEY,
    verified_size BIGINT NOT NULL DEFAULT 0,
    verified_root BYTEA,
    verified_mac  BYTEA,
    broken_reason TEXT,
    broken_at     BIGINT,
    lease_holder  TEXT,
    lease_until   BIGINT
  );
  ${grantToRoles(APPENDING_ROLES, ['GRANT SELECT, INSERT, UPDATE ON integrity_state TO %I'])}
  `,
  // 11: leases of background work (src/store/lease.ts): see SQLite migration 10.
  `
  CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL
  );
  ${grantToRoles(APPENDING_ROLES, ['GRANT SELECT, INSERT, UPDATE ON leases TO %I'])}
  `,
  // 12: reserved for detection (issue 14).
  // The detection engine's state: see SQLite migration 11. The service role reads and writes it all
  // (DELETE too: the outbox empties, rules are removed, the HR feed is replaced, states are reset).
  `
  CREATE TABLE detection_cursors (
    ledger     TEXT PRIMARY KEY,
    evaluated  BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE TABLE detection_states (
    ledger   TEXT NOT NULL,
    detector TEXT NOT NULL,
    state    TEXT NOT NULL,
    PRIMARY KEY (ledger, detector)
  );
  CREATE TABLE alerts (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    group_key    TEXT NOT NULL,
    tenant       TEXT,
    rule         TEXT NOT NULL,
    title        TEXT NOT NULL,
    severity     TEXT NOT NULL,
    ledger       TEXT NOT NULL,
    actor_type   TEXT,
    actor_id     TEXT,
    first_seen   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    events       TEXT NOT NULL,
    summary      TEXT NOT NULL,
    finding_keys TEXT NOT NULL,
    status       TEXT NOT NULL,
    close_reason TEXT,
    opened_at    BIGINT NOT NULL,
    changed_at   BIGINT,
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
    seq   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key   TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL
  );
  CREATE TABLE detection_rules (
    id       TEXT PRIMARY KEY,
    yaml     TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    added_by TEXT NOT NULL
  );
  CREATE TABLE detection_rule_settings (
    id         TEXT PRIMARY KEY,
    enabled    BOOLEAN NOT NULL,
    changed_at BIGINT NOT NULL,
    changed_by TEXT NOT NULL
  );
  CREATE TABLE detection_departures (
    actor_id TEXT PRIMARY KEY,
    ends_at  BIGINT NOT NULL
  );
  ${grantToRoles(APPENDING_ROLES, [`GRANT SELECT, INSERT, UPDATE, DELETE ON ${DETECTION_TABLES} TO %I`])}
  `,
  // 13: streams (issue 20): see SQLite migration 12. The service role reads and changes all three.
  `
  CREATE TABLE sinks (
    name            TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    definition      TEXT NOT NULL,
    sealed_secrets  BYTEA,
    paused          BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    last_success_at BIGINT,
    last_error_at   BIGINT,
    last_error      TEXT,
    failing         BOOLEAN NOT NULL DEFAULT FALSE,
    lagging         BOOLEAN NOT NULL DEFAULT FALSE
  );
  CREATE TABLE sink_cursors (
    sink       TEXT NOT NULL,
    ledger     TEXT NOT NULL,
    next_index BIGINT NOT NULL,
    last_sent  BIGINT,
    generation BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (sink, ledger)
  );
  CREATE TABLE sink_dead_letters (
    id         BIGSERIAL PRIMARY KEY,
    sink       TEXT NOT NULL,
    ledger     TEXT NOT NULL,
    from_index BIGINT NOT NULL,
    to_index   BIGINT NOT NULL,
    indexes    TEXT NOT NULL,
    previous   BIGINT,
    attempts   INTEGER NOT NULL,
    error      TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE INDEX sink_dead_letters_sink ON sink_dead_letters (sink, id);
  ${grantToRoles(APPENDING_ROLES, [
    'GRANT SELECT, INSERT, UPDATE, DELETE ON sinks, sink_cursors, sink_dead_letters TO %I',
    'GRANT USAGE ON SEQUENCE sink_dead_letters_id_seq TO %I',
  ])}
  `,
  // 14: issue 16 (timelines and search): session and device as search columns, and targets by event;
  // see SQLite migration 13.
  // search_events is already the service role's to write, so no grant is needed.
  `
  ALTER TABLE search_events
    ADD COLUMN session_id TEXT COLLATE "C",
    ADD COLUMN device_id TEXT COLLATE "C";
  UPDATE search_events s
     SET session_id = en.disclosures::jsonb -> 'actor.session_id' ->> 1,
         device_id = en.disclosures::jsonb -> 'origin.device_id' ->> 1
    FROM entries en
   WHERE en.ledger_id = s.ledger_id AND en.idx = s.idx
     AND (strpos(en.disclosures, '"actor.session_id"') > 0 OR strpos(en.disclosures, '"origin.device_id"') > 0);
  CREATE INDEX search_events_session ON search_events (ledger_id, session_id, idx);
  CREATE INDEX search_events_device ON search_events (ledger_id, device_id, idx);
  CREATE INDEX search_targets_event ON search_targets (ledger_id, idx);
  `,
  // 15: console sign-in sessions; see SQLite migration 14.
  `
  CREATE TABLE console_sessions (
    token_hash     BYTEA PRIMARY KEY,
    key_id         TEXT NOT NULL,
    operator_check BYTEA,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
  );
  CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
  ${grantToRoles(APPENDING_ROLES, ['GRANT SELECT, INSERT, DELETE ON console_sessions TO %I'])}
  `,
  // 16: interior nodes of full tiles; see SQLite migration 15.
  `
  CREATE TABLE tile_nodes (
    ledger_id INTEGER NOT NULL,
    level     SMALLINT NOT NULL,
    tile      BIGINT NOT NULL,
    nodes     BYTEA NOT NULL,
    PRIMARY KEY (ledger_id, level, tile)
  );
  ${appendOnly('tile_nodes')}
  ${grantToRoles(APPENDING_ROLES, ['GRANT SELECT, INSERT ON tile_nodes TO %I'])}
  `,
  // 17: hourly count rollups of the search index; see SQLite migration 16. Appends add to them and
  // forgetting moves and removes counts, so the roles that append or forget read and change them.
  `
  CREATE TABLE search_hourly (
    ledger_id INTEGER NOT NULL,
    dimension TEXT COLLATE "C" NOT NULL,
    value     TEXT COLLATE "C" NOT NULL,
    hour      BIGINT NOT NULL,
    count     BIGINT NOT NULL,
    PRIMARY KEY (ledger_id, dimension, value, hour)
  );
  INSERT INTO search_hourly (ledger_id, dimension, value, hour, count)
    ${countedRollups(() => 'TRUE')};
  ${grantToRoles(`${APPENDING_ROLES} UNION ${FORGETTING_ROLES}`, ['GRANT SELECT, INSERT, UPDATE, DELETE ON search_hourly TO %I'])}
  `,
];

function appendOnly(table: string): string {
  return `
  CREATE TRIGGER ${table}_no_change BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION reject_change();
  CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION reject_change();`;
}

/** Grants of the service role: read and append sealed data; revoke keys; forget disclosures; release holds. */
export function serviceGrants(schema: string, role: string): string {
  const s = quoteIdent(schema);
  const r = quoteIdent(role);
  return `
  GRANT USAGE ON SCHEMA ${s} TO ${r};
  GRANT SELECT, INSERT ON ${s}.ledgers, ${s}.entries, ${s}.tree_hashes, ${s}.checkpoints, ${s}.idempotency_keys, ${s}.api_keys TO ${r};
  GRANT SELECT ON ${s}.meta TO ${r};
  GRANT SELECT, INSERT ON ${s}.search_events, ${s}.search_targets, ${s}.search_metadata TO ${r};
  GRANT UPDATE (revoked_at) ON ${s}.api_keys TO ${r};
  REVOKE UPDATE, DELETE, TRUNCATE ON ${s}.ledgers, ${s}.entries, ${s}.tree_hashes, ${s}.checkpoints, ${s}.idempotency_keys FROM ${r};
  -- Converting raw idempotency keys written before schema 9 to keyed hashes (its trigger refuses the
  -- deletion of any hashed row).
  GRANT DELETE ON ${s}.idempotency_keys TO ${r};
  -- Retention and erasure (Store.forget): entries may lose disclosures (the trigger allows nothing else),
  -- and an event's search rows are deleted and rewritten from what remains.
  GRANT UPDATE (disclosures, redactions, forgotten_by) ON ${s}.entries TO ${r};
  GRANT SELECT, DELETE ON ${s}.legacy_redactions TO ${r};
  GRANT DELETE ON ${s}.search_events, ${s}.search_targets, ${s}.search_metadata TO ${r};
  GRANT SELECT, INSERT ON ${s}.retention_policies, ${s}.legal_holds TO ${r};
  GRANT UPDATE (released_at, released_by, release_reason) ON ${s}.legal_holds TO ${r};
  GRANT SELECT, INSERT, UPDATE ON ${s}.integrity_state TO ${r};
  GRANT SELECT, INSERT, UPDATE ON ${s}.leases TO ${r};
  GRANT SELECT, INSERT, UPDATE, DELETE ON ${DETECTION_TABLES.split(', ').map((table) => `${s}.${table}`).join(', ')} TO ${r};
  GRANT SELECT, INSERT, UPDATE, DELETE ON ${s}.sinks, ${s}.sink_cursors, ${s}.sink_dead_letters TO ${r};
  GRANT USAGE ON SEQUENCE ${s}.sink_dead_letters_id_seq TO ${r};
  GRANT SELECT, INSERT, DELETE ON ${s}.console_sessions TO ${r};
  GRANT SELECT, INSERT ON ${s}.tile_nodes TO ${r};
  -- Hourly count rollups: appends add to them, forgetting moves and removes counts.
  GRANT SELECT, INSERT, UPDATE, DELETE ON ${s}.search_hourly TO ${r};`;
}

export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`unsafe SQL identifier ${JSON.stringify(name)}`);
  return `"${name}"`;
}
