/*
 * settlement.pml — svc-rewarder's Compute -> commit -> IntentEmit -> Dedup protocol under crash
 * and retry (issue 9 item 4; seed §"TLA+ (optional)"; contract §5, §7, §10).
 *
 * Steps are named after the code's:  prepareRun, registry.submit, store.commitWithIntent,
 * dispatcher.deliver, ledger.applyIntent, restart.  docs/MODEL.md maps each to a file.
 *
 * One epoch, two run keys of that epoch: K1 (asked for by two concurrent clients, so one of them
 * is a replay) and K2 (a conflicting run: same epoch, other policy/inputs).  The service (every
 * request handler and the outbox dispatcher) can be SIGKILLed before any of its steps; durable
 * state (runs, the epoch commitment, the outbox) survives, everything else is lost.  The network
 * between dispatcher and ledger can refuse/time out before the ledger sees a request, or drop the
 * connection after the ledger applied it (lost acknowledgement).
 *
 * Properties (ltl blocks at the end; select one with `pan -N name`):
 *   no_double_spend       the ledger applies at most one intent per run key, and at most one run
 *                         key of the epoch ever reaches the ledger
 *   idempotent_run_key    a stored manifest never changes and every answer (first or replay)
 *                         carries the first manifest of that run key
 *   eventually_delivered  once the epoch is committed, its intent is eventually acknowledged
 *                         (check with `pan -a -f`: weak fairness)
 * With -DPROGRESS_CHECK a monitor asserts, whenever the whole system is quiescent (`timeout`),
 * that every client got an answer and the committed run is delivered with its own manifest: a
 * bounded form of eventually_delivered that a plain safety search checks.
 *
 * Deliberately broken variants (each must be caught by check.sh):
 *   -DBUGGY_NO_DEDUP            ledger.applyIntent ignores the Idempotency-Key
 *   -DBUGGY_EMIT_BEFORE_COMMIT  the intent is queued before store.commitWithIntent decides
 *   -DBUGGY_CHECK_THEN_COMMIT   the epoch conflict check and the insert are separate steps
 *   -DBUGGY_REPLAY_RECOMPUTE    a replay recomputes (with a clock in the manifest) and upserts
 *   -DBUGGY_VOLATILE_OUTBOX     pending intents live in memory only and die with the process
 */

#ifndef MAX_CRASHES
#define MAX_CRASHES 1        /* SIGKILL + restart cycles per run of the model */
#endif
#ifndef MAX_NET_FAULTS
#define MAX_NET_FAULTS 2     /* refused/timed-out requests plus lost acknowledgements, in total */
#endif
#define CLIENT_TRIES_MAX (MAX_CRASHES + 1) /* a client retries after each crash it sees */
#define NCLIENTS 3
#define NKEYS 2
#define K1 1
#define K2 2

/* outbox row states */
#define OB_NONE 0
#define OB_PENDING 1
#define OB_ACKED 2
#define OB_FAILED 3   /* ledger answered 409: the run is quarantined and never retried */

mtype = { ACCEPTED, DUPLICATE, CONFLICT_409, LOST };

/* ---- durable service state (survives restart) ---- */
byte run_manifest[NKEYS + 1]; /* 0 = no run; else the manifest (its hash, abstracted to an id) */
byte epoch_commit;            /* 0 = epoch uncommitted; else the run key that committed it */
byte outbox[NKEYS + 1];       /* one outbox row per run key: its state ... */
byte outbox_body[NKEYS + 1];  /* ... and the intent body it will send (contract §7) */

/* ---- process lifecycle ---- */
byte incarnation;             /* bumped by restart; a handler of an older incarnation is dead */
byte crashes;
byte net_faults;

/* ---- the ledger's own durable state ---- */
byte ledger_body[NKEYS + 1];     /* 0 = key unseen; else the intent body it applied */
byte ledger_applies[NKEYS + 1];  /* how many times it applied an intent for that key */
byte ledger_epoch_keys;          /* how many distinct run keys of the epoch it applied */

/* ---- ghosts for the properties ---- */
byte first_manifest[NKEYS + 1];  /* the first manifest ever stored for a key */
bool manifest_changed;           /* a stored manifest or an answer differed from it */
byte clients_served;

/* One HTTP exchange at a time, tagged with the sender's incarnation: a request already on the wire
 * still reaches the ledger after its sender died, and its answer is then read by nobody. */
chan req = [1] of { byte, byte, byte };  /* dispatcher -> ledger: incarnation, run key, body */
chan resp = [1] of { byte, mtype };      /* ledger -> dispatcher: incarnation, status */

#define M(k) (k)  /* the manifest is a pure function of the run key (contract §6) */

/* Ghost bookkeeping whenever a manifest is stored or answered for key k. */
inline observe(k, m) {
  if
  :: first_manifest[k] == 0 -> first_manifest[k] = m
  :: first_manifest[k] != 0 && first_manifest[k] != m -> manifest_changed = true
  :: else -> skip
  fi
}

/* prepareRun: fetch inputs + policy, run the engine, seal.  Deterministic in the correct model. */
inline prepareRun(k, m) {
#ifdef BUGGY_REPLAY_RECOMPUTE
  if
  :: m = M(k)
  :: m = M(k) + NKEYS  /* the bug: a wall-clock field makes the bytes differ between calls */
  fi
#else
  m = M(k)
#endif
}

/* store.commitWithIntent: ONE transaction inserting the run, the epoch commitment and the outbox
 * row, or reporting a replay / an epoch conflict.  res: 1 = inserted, 2 = replay, 3 = conflict. */
inline commitWithIntent(k, m, res) {
#ifdef BUGGY_CHECK_THEN_COMMIT
  if
  :: epoch_commit != 0 && epoch_commit != k -> res = 3
  :: else -> res = 1
  fi;
  if /* a separate statement: another handler can commit in between */
  :: res == 1 ->
     atomic { run_manifest[k] = m; epoch_commit = k; outbox[k] = OB_PENDING; outbox_body[k] = m; observe(k, m) }
  :: else -> skip
  fi
#else
  atomic {
    if
#ifdef BUGGY_REPLAY_RECOMPUTE
    :: run_manifest[k] != 0 -> run_manifest[k] = m; observe(k, m); outbox[k] = OB_PENDING; outbox_body[k] = m; res = 1
#else
    :: run_manifest[k] != 0 -> m = run_manifest[k]; res = 2
#endif
    :: run_manifest[k] == 0 && epoch_commit != 0 && epoch_commit != k -> res = 3
    :: run_manifest[k] == 0 && (epoch_commit == 0 || epoch_commit == k) ->
       run_manifest[k] = m; epoch_commit = k; outbox[k] = OB_PENDING; outbox_body[k] = m; observe(k, m); res = 1
    fi
  }
#endif
}

/* A compute request for run key k, retried by its client after a crash. */
proctype client(byte k) {
  byte tries = 0;
  byte inc;
  byte m;
  byte res;
  bool served = false;
  do
  :: served || tries >= CLIENT_TRIES_MAX -> break
  :: else ->
     atomic { tries++; inc = incarnation; res = 0; m = 0 }
     {
       prepareRun(k, m);
       /* registry.submit: replay lookup and epoch pre-check (plain reads, may be stale) */
       if
#ifndef BUGGY_REPLAY_RECOMPUTE
       :: run_manifest[k] != 0 -> m = run_manifest[k]; res = 2
#endif
       :: epoch_commit != 0 && epoch_commit != k && run_manifest[k] == 0 -> res = 3
       :: else ->
#ifdef BUGGY_EMIT_BEFORE_COMMIT
          outbox[k] = OB_PENDING; outbox_body[k] = m; /* the bug: emission decided before the commit */
#endif
          commitWithIntent(k, m, res)
       fi;
       /* answer the run record (or 409 CONFLICT) */
       atomic {
         if
         :: res == 1 || res == 2 -> observe(k, m)
         :: else -> skip
         fi;
         served = true;
         clients_served++
       }
     } unless { incarnation != inc }  /* SIGKILL: this handler is gone */
  od
}

/* dispatcher.deliver: sends every pending outbox row until the ledger acknowledges it. */
proctype dispatcher() {
  byte inc;
  byte k;
  byte from_inc;
  mtype st;
end_restart:
  do
  :: atomic { inc = incarnation; k = 0; st = 0 }
     {
end_idle:
       do
       :: if
          :: outbox[K1] == OB_PENDING -> k = K1
          :: outbox[K2] == OB_PENDING -> k = K2
          fi;
          if
          :: net_faults < MAX_NET_FAULTS -> net_faults++; st = LOST /* refused / timed out */
          :: req!inc, k, outbox_body[k] ->
             do /* await our answer; answers meant for a dead incarnation are dropped */
             :: atomic {
                  resp?from_inc, st ->
                  if
                  :: from_inc == inc -> from_inc = 0; break
                  :: else -> from_inc = 0; st = 0
                  fi
                }
             od
          fi;
          if
          :: st == ACCEPTED || st == DUPLICATE -> outbox[k] = OB_ACKED
          :: st == CONFLICT_409 -> outbox[k] = OB_FAILED
          :: st == LOST -> skip /* stays pending: backoff, then resent */
          fi;
          k = 0; st = 0
       od
     } unless { incarnation != inc }
  od
}

/* ledger.applyIntent: the ledger deduplicates by Idempotency-Key (= run key). */
proctype ledger() {
  byte i;
  byte k;
  byte b;
  mtype st;
end_ledger:
  do
  :: atomic {
       req?i, k, b ->
#ifdef BUGGY_NO_DEDUP
       if
       :: ledger_body[k] == 0 -> ledger_epoch_keys++
       :: else -> skip
       fi;
       ledger_body[k] = b; ledger_applies[k]++; st = ACCEPTED;
#else
       if
       :: ledger_body[k] == 0 ->
          ledger_body[k] = b; ledger_applies[k]++; ledger_epoch_keys++; st = ACCEPTED
       :: ledger_body[k] == b -> st = DUPLICATE
       :: ledger_body[k] != 0 && ledger_body[k] != b -> st = CONFLICT_409
       fi;
#endif
       if
       :: net_faults < MAX_NET_FAULTS -> net_faults++; resp!i, LOST /* applied, answer lost */
       :: resp!i, st
       fi;
       i = 0; k = 0; b = 0; st = 0
     }
  od
}

/* restart: SIGKILL at any step of the service, then a fresh process on the same durable state. */
proctype supervisor() {
end_supervisor:
  do
  :: crashes < MAX_CRASHES ->
     atomic {
       crashes++;
       incarnation++;
#ifdef BUGGY_VOLATILE_OUTBOX
       if
       :: outbox[K1] == OB_PENDING -> outbox[K1] = OB_NONE
       :: else -> skip
       fi;
       if
       :: outbox[K2] == OB_PENDING -> outbox[K2] = OB_NONE
       :: else -> skip
       fi
#endif
     }
  od
}

#ifdef PROGRESS_CHECK
/* Bounded progress: when nothing can move any more, everything that should happen has. */
active proctype quiescence() {
  timeout ->
  assert(clients_served == NCLIENTS);
  assert(epoch_commit == K1 || epoch_commit == K2);
  assert(outbox[epoch_commit] == OB_ACKED);
  assert(ledger_body[epoch_commit] == run_manifest[epoch_commit]);
  assert(outbox[3 - epoch_commit] == OB_NONE && ledger_body[3 - epoch_commit] == 0)
}
#endif

init {
  atomic {
    run ledger();
    run dispatcher();
    run supervisor();
    run client(K1);
    run client(K1);
    run client(K2)
  }
}

#define committed_acked ((epoch_commit == K1 && outbox[K1] == OB_ACKED) || (epoch_commit == K2 && outbox[K2] == OB_ACKED))

ltl no_double_spend {
  [] (ledger_applies[K1] <= 1 && ledger_applies[K2] <= 1 && ledger_epoch_keys <= 1)
}

ltl idempotent_run_key {
  [] (!manifest_changed)
}

ltl eventually_delivered {
  [] ((epoch_commit != 0) -> <> committed_acked)
}
