-- svc-rewarder postgres RunStore, schema version 3: the publication queue (contract §13).
--
-- One row per committed run whose publication (object + signed pointer under PUBLISH_DIR) is
-- pending, inserted in the same transaction as the epoch commitment (RunStore.commitRun) and
-- deleted by the publisher once the files are durable: a crash between the two loses nothing.
-- Runs committed before this migration are queued too, so an instance that starts publishing
-- catches up on every committed epoch (the publisher skips files that exist with the same bytes).

CREATE TABLE publication_queue (
  tenant         text   COLLATE "C" NOT NULL,
  run_key        text   COLLATE "C" NOT NULL,
  epoch_id       text   COLLATE "C" NOT NULL,
  enqueued_at_ms bigint NOT NULL,
  PRIMARY KEY (tenant, run_key),
  FOREIGN KEY (tenant, run_key) REFERENCES commitments (tenant, run_key)
    DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX publication_queue_oldest ON publication_queue (enqueued_at_ms, tenant, run_key);

INSERT INTO publication_queue (tenant, run_key, epoch_id, enqueued_at_ms)
SELECT tenant, run_key, epoch_id, committed_at_ms FROM commitments;
