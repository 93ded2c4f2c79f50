-- svc-rewarder postgres RunStore, schema version 1 (docs/SCALE-OUT.md).
-- Applied by postgres_run_store.ts inside one transaction holding an advisory lock, in the
-- store's schema (search_path). Never edit an applied migration: add 002_*.sql instead (the
-- runner refuses a changed checksum).
--
-- Sealed columns are XChaCha20-Poly1305 blobs (at_rest_cipher.ts) whose AAD is the row's
-- logical name ("pg/run/<tenant>/<run key>", "pg/intent/<tenant>/<run key>", "pg/canary"):
-- a blob copied into another row fails authentication like a flipped byte. The plain columns
-- beside them exist only for lookup, filtering and ordering; reads return the sealed copy.

CREATE TABLE runs (
  tenant        text   COLLATE "C" NOT NULL,
  run_key       text   COLLATE "C" NOT NULL,
  epoch_id      text   COLLATE "C" NOT NULL,
  status        text   NOT NULL CHECK (status IN ('sealed', 'quarantined')),
  dry_run       boolean NOT NULL,
  policy_hash   text   COLLATE "C" NOT NULL,
  inputs_cid    text   COLLATE "C" NOT NULL,
  created_seq   bigint NOT NULL,
  created_at_ms bigint NOT NULL,
  sealed        bytea  NOT NULL,
  PRIMARY KEY (tenant, run_key)
);
CREATE INDEX runs_listing ON runs (tenant, created_seq, run_key);
CREATE INDEX runs_retention ON runs (created_at_ms);

-- The single-writer rule of contract §10: one run key per (tenant, epoch), by primary key.
CREATE TABLE commitments (
  tenant          text   COLLATE "C" NOT NULL,
  epoch_id        text   COLLATE "C" NOT NULL,
  run_key         text   COLLATE "C" NOT NULL,
  committed_at_ms bigint NOT NULL,
  PRIMARY KEY (tenant, epoch_id),
  UNIQUE (tenant, run_key),
  FOREIGN KEY (tenant, run_key) REFERENCES runs (tenant, run_key) DEFERRABLE INITIALLY DEFERRED
);

-- At most one intent per run (MAX_LEDGER_EMITS_PER_RUN = 1), by primary key. The lease columns
-- make a claim exclusive across instances (FOR UPDATE SKIP LOCKED + lease_until in DB time).
CREATE TABLE outbox (
  tenant             text    COLLATE "C" NOT NULL,
  run_key            text    COLLATE "C" NOT NULL,
  intent             bytea   NOT NULL,
  state              text    NOT NULL CHECK (state IN ('pending', 'accepted', 'duplicate', 'failed')),
  attempts           integer NOT NULL CHECK (attempts >= 0),
  next_attempt_at_ms bigint  NOT NULL,
  enqueued_at_ms     bigint  NOT NULL,
  conflict           boolean NOT NULL,
  lease_owner        text,
  lease_until        timestamptz,
  PRIMARY KEY (tenant, run_key),
  FOREIGN KEY (tenant, run_key) REFERENCES commitments (tenant, run_key) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX outbox_due ON outbox (enqueued_at_ms) WHERE state = 'pending';

-- max_runs counters (contract §9), keyed by the BLAKE3 hex of the caller's opaque key.
CREATE TABLE counters (
  key_hash text   COLLATE "C" PRIMARY KEY,
  n        bigint NOT NULL CHECK (n >= 0)
);

CREATE TABLE flags (
  name  text    COLLATE "C" PRIMARY KEY,
  value boolean NOT NULL
);

-- Creation order of runs across every instance (RunStore.nextSeq).
CREATE SEQUENCE run_seq AS bigint;

-- One sealed known plaintext: /readyz reports "undecryptable" when the at-rest key is wrong.
CREATE TABLE canary (
  id     integer PRIMARY KEY CHECK (id = 1),
  sealed bytea   NOT NULL
);
