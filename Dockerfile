# svc-rewarder production image (docs/DEPLOY.md).
# Pinned Deno base (Debian; ships /tini and a non-root user `deno`, uid 1993). For a release,
# pin the digest too: FROM denoland/deno:2.9.6@sha256:<digest of the tag you reviewed>.
FROM denoland/deno:2.9.6

ENV DENO_DIR=/deno-dir \
    DENO_NO_UPDATE_CHECK=1 \
    DENO_NO_PROMPT=1 \
    NO_COLOR=1

WORKDIR /app

# 1. Dependencies first (cache-friendly), exactly as locked: --frozen fails the build if
#    deno.lock does not match package.json/deno.json.
COPY deno.json deno.lock package.json ./
RUN deno install --frozen

# 2. Only what the service runs: the entry, the app, its launcher and the health probe. No
#    tests, vectors, dev tools, bench or docs (see .dockerignore).
COPY main.ts ./
COPY src/ src/
COPY routes/ routes/
COPY middleware/ middleware/
COPY scripts/start_prod.sh scripts/start_prod.sh
COPY ops/healthcheck.ts ops/healthcheck.ts

# 3. Type-check-free module cache, so the read-only root filesystem needs no writes at run time.
RUN deno cache --frozen main.ts src/shell/engine/engine_worker.ts ops/healthcheck.ts \
 && mkdir -p /data \
 && chown deno:deno /data \
 && chmod 0700 /data

# Everything above is owned by root and read-only to the service user.
USER deno

# Production defaults; secrets come from files mounted read-only (CAPS_KEYS_PATH, ...).
ENV BIND_ADDR=0.0.0.0:8090 \
    DATA_DIR=/data \
    PRODUCTION=on

VOLUME ["/data"]
EXPOSE 8090

# Deno itself probes /healthz (no curl in the image), with network access to that port only.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["deno", "run", "--cached-only", "--allow-net=127.0.0.1:8090", "ops/healthcheck.ts"]

# tini (pid 1) reaps and forwards signals to the whole group (-g), so SIGTERM reaches the
# service and it drains. start:prod computes the narrowest permissions from the environment
# (--allow-net to the bind address and configured downstreams, reads of the code and key
# files, writes to DATA_DIR only, --deny-run, --deny-ffi).
ENTRYPOINT ["/tini", "-g", "--", "deno", "task", "start:prod"]
