-- svc-rewarder postgres RunStore, schema version 2: contract v2 (§5, §7). One way: a v1 build
-- refuses to open a database at this version (it does not know migration 002).
--
-- 1. The inputs commitment: one epoch per (tenant, inputs_cid) among committed runs, inserted
--    in the same transaction as the epoch commitment (RunStore.commitRun). Never released.
-- 2. Upgrade of v1 data: the inputs commitments are derived from the committed runs. v1 could
--    commit one inputs_cid under several epochs; every such epoch commitment stays as it is: the
--    earliest one fills inputs_commitments, the others are kept in inputs_commitments_v1_extra
--    (counted in the report, never used to decide a new commit).
-- 3. Outbox rows keep their sealed `intent` column: a v1 row holds the v1 intent object (sent
--    as its JCS under the run key, as the v1 dispatcher did), a v2 row the queued intent (key +
--    exact body). The store tells them apart on read; nothing is rebuilt.

CREATE TABLE inputs_commitments (
  tenant     text COLLATE "C" NOT NULL,
  inputs_cid text COLLATE "C" NOT NULL,
  epoch_id   text COLLATE "C" NOT NULL,
  PRIMARY KEY (tenant, inputs_cid),
  FOREIGN KEY (tenant, epoch_id) REFERENCES commitments (tenant, epoch_id)
    DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE inputs_commitments_v1_extra (
  tenant     text COLLATE "C" NOT NULL,
  inputs_cid text COLLATE "C" NOT NULL,
  epoch_id   text COLLATE "C" NOT NULL,
  PRIMARY KEY (tenant, inputs_cid, epoch_id),
  FOREIGN KEY (tenant, epoch_id) REFERENCES commitments (tenant, epoch_id)
);

INSERT INTO inputs_commitments (tenant, inputs_cid, epoch_id)
SELECT DISTINCT ON (c.tenant, r.inputs_cid) c.tenant, r.inputs_cid, c.epoch_id
FROM commitments c JOIN runs r ON r.tenant = c.tenant AND r.run_key = c.run_key
ORDER BY c.tenant, r.inputs_cid, c.committed_at_ms, c.epoch_id;

INSERT INTO inputs_commitments_v1_extra (tenant, inputs_cid, epoch_id)
SELECT c.tenant, r.inputs_cid, c.epoch_id
FROM commitments c JOIN runs r ON r.tenant = c.tenant AND r.run_key = c.run_key
WHERE NOT EXISTS (
  SELECT 1 FROM inputs_commitments i
  WHERE i.tenant = c.tenant AND i.inputs_cid = r.inputs_cid AND i.epoch_id = c.epoch_id
);

-- What this migration found, read and logged once by the instance that applied it.
CREATE TABLE upgrade_report (
  version                     integer PRIMARY KEY,
  commitments                 bigint NOT NULL,
  inputs_commitments          bigint NOT NULL,
  inputs_under_several_epochs bigint NOT NULL,
  extra_epoch_commitments     bigint NOT NULL,
  pending_v1_intents          bigint NOT NULL
);

INSERT INTO upgrade_report
SELECT 2,
  (SELECT count(*) FROM commitments),
  (SELECT count(*) FROM inputs_commitments),
  (SELECT count(DISTINCT (tenant, inputs_cid)) FROM inputs_commitments_v1_extra),
  (SELECT count(*) FROM inputs_commitments_v1_extra),
  (SELECT count(*) FROM outbox WHERE state = 'pending');
