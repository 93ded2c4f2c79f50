/*
 * tenants.pml — contract v2's settlement rules across tenants, snapshots and an upgrade
 * (contract §5, §7; docs/MODEL.md). settlement.pml checks one epoch under crash and retry;
 * this model checks what v2 added around it:
 *
 *   - per-tenant intent keys (§5): tenants A and B compute the same run key (same epoch, policy
 *     and inputs); each intent is keyed by intent_key = f(tenant, run key);
 *   - the inputs commitment (§5): tenant A also asks for the same snapshot under a second epoch
 *     (the "typo" of issue 12); per tenant, one snapshot settles one epoch, committed in the
 *     same atomic step as the epoch commitment, the run and its intent;
 *   - intent bytes fixed at first enqueue (§7): with -DUPGRADE the service starts as v1 (intents
 *     keyed by the run key, v1 bodies) and is upgraded to v2 by its one restart; a pending
 *     intent keeps the key and body it was queued with.
 *
 * The ledger deduplicates by Idempotency-Key as seen from one caller: the service is one caller
 * for every tenant, so this is the weakest ledger §7 allows the service to rely on. The
 * network may lose one request before the ledger or one answer after it applied an intent.
 *
 * Runs: r1 = (tenant A, epoch E1, run key K), r2 = (tenant B, epoch E1, run key K),
 *       r3 = (tenant A, epoch E2, run key K'); all three over one snapshot S.
 * Without -DUPGRADE: clients r1, r2, r3, the service is v2 throughout, one crash/restart.
 * With -DUPGRADE:    clients r1, r3 (tenant A), the restart is the upgrade v1 -> v2.
 *
 * Properties:
 *   no_double_pay           (ltl) the ledger applies each run at most once
 *   one_snapshot_per_tenant (ltl) tenant A's snapshot is applied under at most one epoch
 *   -DPROGRESS_CHECK        (assertions at quiescence) every client answered; B's run and
 *                           exactly one of A's runs committed; every committed run acknowledged
 *                           by the ledger with its own body (none failed with a 409)
 *
 * Deliberately broken variants (each must be caught by check.sh):
 *   -DBUGGY_RUN_KEY_AS_KEY     v2 intents keyed by the run key (v1's rule): B's intent meets A's
 *                              key with another body, 409, emission failed   -> PROGRESS_CHECK
 *   -DBUGGY_NO_INPUTS_COMMIT   the commit checks the epoch only: A's snapshot settles twice
 *                                                                            -> one_snapshot
 *   -DBUGGY_REBUILD_INTENT     (with -DUPGRADE) the dispatcher rebuilds the intent at each send
 *                              in the running version's format: a v1 intent applied before the
 *                              upgrade (answer lost) is resent as v2 under its intent key
 *                                                                            -> no_double_pay
 */

#ifndef MAX_NET_FAULTS
#define MAX_NET_FAULTS 1
#endif
#define NRUNS 3
#define TENANT_A 1
#define TENANT_B 2
#define TENANT(r) (r == 2 -> TENANT_B : TENANT_A)
#define EPOCH(r) (r == 3 -> 2 : 1)
#define RUNKEY(r) (r == 3 -> 2 : 1)
/* The Idempotency-Key of run r's intent built by service version v (§5, §7). */
#ifdef BUGGY_RUN_KEY_AS_KEY
#define KEY(v, r) (RUNKEY(r))
#else
#define KEY(v, r) (v == 1 -> RUNKEY(r) : 10 * TENANT(r) + RUNKEY(r))
#endif
/* The body bytes (abstracted to an id) of run r's intent built by version v. */
#define BODY(v, r) (10 * v + r)
#define RUN_OF(b) (b % 10)
#define LEDGER_KEYS 32

#define OB_NONE 0
#define OB_PENDING 1
#define OB_ACKED 2
#define OB_FAILED 3

mtype = { ACCEPTED, DUPLICATE, CONFLICT_409, LOST };

/* ---- durable service state ---- */
byte version = 2;               /* the running service's contract version */
bool committed[NRUNS + 1];
byte ep_commit[9];              /* (tenant * 3 + epoch) -> run that committed the epoch */
byte in_commit[3];              /* tenant -> epoch that committed snapshot S (0 = none) */
byte ob_state[NRUNS + 1];
byte ob_key[NRUNS + 1];         /* the queued Idempotency-Key ... */
byte ob_body[NRUNS + 1];        /* ... and body, fixed at first enqueue */

byte incarnation;
byte restarts;
byte net_faults;
byte clients_served;

/* ---- the ledger ---- */
byte ledger_body[LEDGER_KEYS];  /* key -> applied body (0 = unseen) */
byte applied[NRUNS + 1];        /* ghost: how many times each run was applied */

chan req = [1] of { byte, byte, byte };  /* incarnation, key, body */
chan resp = [1] of { byte, mtype };

/* The atomic step of the store (commitRun): epoch and inputs commitments, run, queued intent. */
proctype client(byte r) {
  atomic {
    if
    :: ep_commit[TENANT(r) * 3 + EPOCH(r)] != 0 -> skip /* 409 epoch_committed, or a replay */
#ifndef BUGGY_NO_INPUTS_COMMIT
    :: ep_commit[TENANT(r) * 3 + EPOCH(r)] == 0 && in_commit[TENANT(r)] != 0 &&
       in_commit[TENANT(r)] != EPOCH(r) -> skip /* 409 inputs_settled */
    :: ep_commit[TENANT(r) * 3 + EPOCH(r)] == 0 &&
       (in_commit[TENANT(r)] == 0 || in_commit[TENANT(r)] == EPOCH(r)) ->
#else
    :: ep_commit[TENANT(r) * 3 + EPOCH(r)] == 0 ->
#endif
       ep_commit[TENANT(r) * 3 + EPOCH(r)] = r;
       in_commit[TENANT(r)] = EPOCH(r);
       committed[r] = true;
       ob_state[r] = OB_PENDING;
       ob_key[r] = KEY(version, r);
       ob_body[r] = BODY(version, r)
    fi;
    clients_served++
  }
}

/* dispatcher.deliver: sends pending intents until the ledger answers. */
proctype dispatcher() {
  byte inc;
  byte r;
  byte key;
  byte body;
  byte from_inc;
  mtype st;
end_restart:
  do
  :: atomic { inc = incarnation; r = 0; st = 0 }
     {
end_idle:
       do
       :: atomic {
            if
            :: ob_state[1] == OB_PENDING -> r = 1
            :: ob_state[2] == OB_PENDING -> r = 2
            :: ob_state[3] == OB_PENDING -> r = 3
            fi;
#ifdef BUGGY_REBUILD_INTENT
            key = KEY(version, r); body = BODY(version, r)
#else
            key = ob_key[r]; body = ob_body[r]
#endif
          }
          if
          :: net_faults < MAX_NET_FAULTS -> net_faults++; st = LOST
          :: req!inc, key, body ->
             do
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
          :: st == ACCEPTED || st == DUPLICATE -> ob_state[r] = OB_ACKED
          :: st == CONFLICT_409 -> ob_state[r] = OB_FAILED
          :: st == LOST -> skip
          fi;
          r = 0; key = 0; body = 0; st = 0
       od
     } unless { incarnation != inc }
  od
}

proctype ledger() {
  byte i;
  byte k;
  byte b;
  mtype st;
end_ledger:
  do
  :: atomic {
       req?i, k, b ->
       if
       :: ledger_body[k] == 0 -> ledger_body[k] = b; applied[RUN_OF(b)]++; st = ACCEPTED
       :: ledger_body[k] == b -> st = DUPLICATE
       :: ledger_body[k] != 0 && ledger_body[k] != b -> st = CONFLICT_409
       fi;
       if
       :: net_faults < MAX_NET_FAULTS -> net_faults++; resp!i, LOST /* applied, answer lost */
       :: resp!i, st
       fi;
       i = 0; k = 0; b = 0; st = 0
     }
  od
}

/* One restart of the service: with -DUPGRADE it is the upgrade to v2. */
proctype supervisor() {
end_supervisor:
  do
  :: restarts < 1 ->
     atomic {
       restarts++;
       incarnation++;
#ifdef UPGRADE
       version = 2
#endif
     }
  od
}

#ifdef PROGRESS_CHECK
active proctype quiescence() {
  timeout ->
#ifdef UPGRADE
  assert(clients_served == 2);
#else
  assert(clients_served == 3);
  assert(committed[2]);
#endif
  assert(committed[1] != committed[3]);
  assert(ob_state[1] != OB_FAILED && ob_state[2] != OB_FAILED && ob_state[3] != OB_FAILED);
  assert(!committed[1] || (ob_state[1] == OB_ACKED && applied[1] == 1));
  assert(!committed[2] || (ob_state[2] == OB_ACKED && applied[2] == 1));
  assert(!committed[3] || (ob_state[3] == OB_ACKED && applied[3] == 1))
}
#endif

init {
  atomic {
#ifdef UPGRADE
    version = 1;
#endif
    run ledger();
    run dispatcher();
    run supervisor();
    run client(1);
#ifndef UPGRADE
    run client(2);
#endif
    run client(3)
  }
}

ltl no_double_pay {
  [] (applied[1] <= 1 && applied[2] <= 1 && applied[3] <= 1)
}

ltl one_snapshot_per_tenant {
  [] (applied[1] + applied[3] <= 1)
}
