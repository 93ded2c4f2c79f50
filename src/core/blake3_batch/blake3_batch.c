/*
 * BLAKE3-256 (hash mode) for WebAssembly, with batch entry points: many short messages, a
 * whole Merkle level (contract §6: node = BLAKE3(0x01 || left || right)) or a whole Merkle
 * root in one call, so the caller pays one JS→WASM crossing per batch instead of per hash.
 *
 * Four independent messages of the same block count are compressed side by side in the four
 * 32-bit lanes of a SIMD128 vector (the layout of the BLAKE3 reference's hash_many, see
 * BLAKE3-team/BLAKE3 c/blake3_sse41.c); everything else runs the portable compression
 * (c/blake3_portable.c). Large inputs use the full tree mode (chunks, chaining-value stack).
 *
 * Memory: a fixed 2 MiB linear memory (built with --initial-memory = --max-memory), so the
 * JS views of it never detach. The caller writes inputs into the windows below, whose
 * addresses and sizes the module exports; nothing here allocates.
 *
 * Build: scripts/build_blake3_wasm.sh (clang + lld, wasm32, -O3 -msimd128 -mbulk-memory).
 */
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

/* BLAKE3 constants (BLAKE3 spec §2.1, §2.2). */
#define BLOCK_BYTES 64u
#define CHUNK_BYTES 1024u
#define BLOCKS_PER_CHUNK 16u
#define OUT_BYTES 32u
/* Deepest chaining-value stack: 2^54 chunks exceed any wasm32 input (4 GiB = 2^22 chunks). */
#define CV_STACK_DEPTH_MAX 54u
enum { CHUNK_START = 1, CHUNK_END = 2, PARENT = 4, ROOT = 8 };

/* Windows the caller fills (sizes named once, exported below). */
#define DATA_WINDOW_BYTES (1u << 20)    /* input bytes, or Merkle nodes (32 B each) */
#define MESSAGES_PER_CALL_MAX 16384u    /* messages per b3_hash_many call */
static uint8_t g_data[DATA_WINDOW_BYTES];
static uint32_t g_offsets[MESSAGES_PER_CALL_MAX + 1];
static uint8_t g_out[OUT_BYTES * MESSAGES_PER_CALL_MAX];

EXPORT(b3_data_ptr) uint8_t *b3_data_ptr(void) { return g_data; }
EXPORT(b3_data_bytes_max) uint32_t b3_data_bytes_max(void) { return DATA_WINDOW_BYTES; }
EXPORT(b3_offsets_ptr) uint32_t *b3_offsets_ptr(void) { return g_offsets; }
EXPORT(b3_out_ptr) uint8_t *b3_out_ptr(void) { return g_out; }
EXPORT(b3_messages_max) uint32_t b3_messages_max(void) { return MESSAGES_PER_CALL_MAX; }

static const uint32_t IV[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                               0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};
static const uint8_t MSG_SCHEDULE[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

/* ---- portable compression ------------------------------------------------------------ */

static inline uint32_t rotr32(uint32_t w, uint32_t c) { return (w >> c) | (w << (32 - c)); }

#define G(s, a, b, c, d, x, y)                                                                  \
  do {                                                                                         \
    s[a] += s[b] + (x); s[d] = rotr32(s[d] ^ s[a], 16); s[c] += s[d];                          \
    s[b] = rotr32(s[b] ^ s[c], 12); s[a] += s[b] + (y); s[d] = rotr32(s[d] ^ s[a], 8);         \
    s[c] += s[d]; s[b] = rotr32(s[b] ^ s[c], 7);                                               \
  } while (0)

/* One compression; writes the 8-word chaining value (state[i] ^ state[i + 8]) to out. */
static void compress(const uint32_t cv[8], const uint32_t m[16], uint32_t counter,
                     uint32_t block_len, uint32_t flags, uint32_t out[8]) {
  uint32_t s[16] = {cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
                    IV[0], IV[1], IV[2], IV[3], counter, 0, block_len, flags};
  for (int r = 0; r < 7; r++) {
    const uint8_t *k = MSG_SCHEDULE[r];
    G(s, 0, 4, 8, 12, m[k[0]], m[k[1]]);
    G(s, 1, 5, 9, 13, m[k[2]], m[k[3]]);
    G(s, 2, 6, 10, 14, m[k[4]], m[k[5]]);
    G(s, 3, 7, 11, 15, m[k[6]], m[k[7]]);
    G(s, 0, 5, 10, 15, m[k[8]], m[k[9]]);
    G(s, 1, 6, 11, 12, m[k[10]], m[k[11]]);
    G(s, 2, 7, 8, 13, m[k[12]], m[k[13]]);
    G(s, 3, 4, 9, 14, m[k[14]], m[k[15]]);
  }
  for (int i = 0; i < 8; i++) out[i] = s[i] ^ s[i + 8];
}

/* Loads `len` (<= 64) bytes as 16 little-endian words, zero-padded (wasm is little-endian). */
static void load_block(uint32_t m[16], const uint8_t *p, uint32_t len) {
  __builtin_memset(m, 0, BLOCK_BYTES);
  __builtin_memcpy(m, p, len);
}

/* A compression not yet run: the last block of a chunk or a parent (BLAKE3 spec §2.6). */
typedef struct {
  uint32_t cv[8], block[16], counter, block_len, flags;
} output_t;

/* Compresses all blocks of one chunk (1..1024 bytes, or 0 for the empty input) but the last. */
static void chunk_output(const uint8_t *in, uint32_t len, uint32_t counter, output_t *o) {
  uint32_t flags = CHUNK_START;
  __builtin_memcpy(o->cv, IV, sizeof IV);
  for (; len > BLOCK_BYTES; in += BLOCK_BYTES, len -= BLOCK_BYTES, flags = 0) {
    load_block(o->block, in, BLOCK_BYTES);
    compress(o->cv, o->block, counter, BLOCK_BYTES, flags, o->cv);
  }
  load_block(o->block, in, len);
  o->counter = counter, o->block_len = len, o->flags = flags | CHUNK_END;
}

static void parent_output(const uint32_t left[8], const uint32_t right[8], output_t *o) {
  __builtin_memcpy(o->cv, IV, sizeof IV);
  __builtin_memcpy(o->block, left, OUT_BYTES);
  __builtin_memcpy(o->block + 8, right, OUT_BYTES);
  o->counter = 0, o->block_len = BLOCK_BYTES, o->flags = PARENT;
}

static void output_cv(const output_t *o, uint32_t out[8]) {
  compress(o->cv, o->block, o->counter, o->block_len, o->flags, out);
}

/* The root's first 32 output bytes: output block counter 0, ROOT flag (spec §2.6). */
static void output_root(const output_t *o, uint8_t *out) {
  uint32_t w[8];
  compress(o->cv, o->block, 0, o->block_len, o->flags | ROOT, w);
  __builtin_memcpy(out, w, OUT_BYTES);
}

/* ---- four lanes at once (SIMD128) ----------------------------------------------------- */

#define ROT16(x) wasm_i8x16_shuffle(x, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13)
#define ROT8(x) wasm_i8x16_shuffle(x, x, 1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12)
#define ROTN(x, n) wasm_v128_or(wasm_u32x4_shr(x, n), wasm_i32x4_shl(x, 32 - n))
#define G4(v, a, b, c, d, x, y)                                                                 \
  do {                                                                                         \
    v[a] = wasm_i32x4_add(wasm_i32x4_add(v[a], v[b]), x); v[d] = ROT16(wasm_v128_xor(v[d], v[a])); \
    v[c] = wasm_i32x4_add(v[c], v[d]); v[b] = ROTN(wasm_v128_xor(v[b], v[c]), 12);             \
    v[a] = wasm_i32x4_add(wasm_i32x4_add(v[a], v[b]), y); v[d] = ROT8(wasm_v128_xor(v[d], v[a])); \
    v[c] = wasm_i32x4_add(v[c], v[d]); v[b] = ROTN(wasm_v128_xor(v[b], v[c]), 7);              \
  } while (0)

/* 4x4 transpose of 32-bit words: row r of the result holds word r of each input. */
static inline void transpose4(v128_t *a, v128_t *b, v128_t *c, v128_t *d) {
  v128_t ab01 = wasm_i32x4_shuffle(*a, *b, 0, 4, 1, 5), ab23 = wasm_i32x4_shuffle(*a, *b, 2, 6, 3, 7);
  v128_t cd01 = wasm_i32x4_shuffle(*c, *d, 0, 4, 1, 5), cd23 = wasm_i32x4_shuffle(*c, *d, 2, 6, 3, 7);
  *a = wasm_i64x2_shuffle(ab01, cd01, 0, 2), *b = wasm_i64x2_shuffle(ab01, cd01, 1, 3);
  *c = wasm_i64x2_shuffle(ab23, cd23, 0, 2), *d = wasm_i64x2_shuffle(ab23, cd23, 1, 3);
}

/* Four single-chunk inputs of `blocks` (1..16) blocks each, compressed lane by lane.
 * Lane l reads blocks 0..blocks-2 at in[l] and its last block (64 readable bytes, padded
 * with zeros by the caller when short) at last[l]; `last_len` is that block's length, the
 * chunk counter is `counter + l * counter_step`, `end_flags` is added on the last block
 * (ROOT for a whole message, 0 for a chunk of a larger input). Writes 32 bytes per lane. */
static void hash4(const uint8_t *const in[4], const uint8_t *const last[4], uint32_t blocks,
                  const uint32_t last_len[4], uint32_t counter, uint32_t counter_step,
                  uint32_t end_flags, uint8_t *const out[4]) {
  v128_t h[8], m[16], v[16];
  for (int i = 0; i < 8; i++) h[i] = wasm_i32x4_splat(IV[i]);
  const v128_t ctr = wasm_i32x4_make(counter, counter + counter_step, counter + 2 * counter_step,
                                     counter + 3 * counter_step);
  for (uint32_t b = 0; b < blocks; b++) {
    const int is_last = b + 1 == blocks;
    for (int q = 0; q < 4; q++) {
      for (int l = 0; l < 4; l++) {
        const uint8_t *p = is_last ? last[l] : in[l] + b * BLOCK_BYTES;
        m[4 * q + l] = wasm_v128_load(p + 16 * q);
      }
      transpose4(&m[4 * q], &m[4 * q + 1], &m[4 * q + 2], &m[4 * q + 3]);
    }
    const uint32_t flags = (b == 0 ? CHUNK_START : 0) | (is_last ? CHUNK_END | end_flags : 0);
    for (int i = 0; i < 8; i++) v[i] = h[i];
    for (int i = 0; i < 4; i++) v[8 + i] = wasm_i32x4_splat(IV[i]);
    v[12] = ctr, v[13] = wasm_i32x4_splat(0), v[15] = wasm_i32x4_splat(flags);
    v[14] = is_last ? wasm_v128_load(last_len) : wasm_i32x4_splat(BLOCK_BYTES);
    for (int r = 0; r < 7; r++) {
      const uint8_t *k = MSG_SCHEDULE[r];
      G4(v, 0, 4, 8, 12, m[k[0]], m[k[1]]);
      G4(v, 1, 5, 9, 13, m[k[2]], m[k[3]]);
      G4(v, 2, 6, 10, 14, m[k[4]], m[k[5]]);
      G4(v, 3, 7, 11, 15, m[k[6]], m[k[7]]);
      G4(v, 0, 5, 10, 15, m[k[8]], m[k[9]]);
      G4(v, 1, 6, 11, 12, m[k[10]], m[k[11]]);
      G4(v, 2, 7, 8, 13, m[k[12]], m[k[13]]);
      G4(v, 3, 4, 9, 14, m[k[14]], m[k[15]]);
    }
    for (int i = 0; i < 8; i++) h[i] = wasm_v128_xor(v[i], v[i + 8]);
  }
  transpose4(&h[0], &h[1], &h[2], &h[3]);
  transpose4(&h[4], &h[5], &h[6], &h[7]);
  for (int l = 0; l < 4; l++) {
    wasm_v128_store(out[l], h[l]);
    wasm_v128_store(out[l] + 16, h[4 + l]);
  }
}

/* ---- tree mode (any length) ----------------------------------------------------------- */

static uint32_t g_stack[CV_STACK_DEPTH_MAX][8];
static uint32_t g_depth, g_chunks;

/* Adds the chaining value of chunk number g_chunks and merges completed subtrees
 * (the number of merges is the number of trailing zero bits of the chunk count). */
static void push_chunk_cv(const uint32_t cv_in[8]) {
  uint32_t cv[8];
  output_t o;
  __builtin_memcpy(cv, cv_in, OUT_BYTES);
  for (uint32_t total = ++g_chunks; (total & 1) == 0; total >>= 1) {
    parent_output(g_stack[--g_depth], cv, &o);
    output_cv(&o, cv);
  }
  __builtin_memcpy(g_stack[g_depth++], cv, OUT_BYTES);
}

/** Starts a streamed hash (b3_update_chunks ... b3_finish). */
EXPORT(b3_begin) void b3_begin(void) { g_depth = 0, g_chunks = 0; }

/** Hashes `len` bytes (a multiple of 1024) of whole chunks that are not the input's last. */
EXPORT(b3_update_chunks) void b3_update_chunks(const uint8_t *in, uint32_t len) {
  uint32_t cv[8];
  uint32_t cvs[4][8];
  output_t o;
  static const uint32_t full[4] = {BLOCK_BYTES, BLOCK_BYTES, BLOCK_BYTES, BLOCK_BYTES};
  for (; len >= 4 * CHUNK_BYTES; in += 4 * CHUNK_BYTES, len -= 4 * CHUNK_BYTES) {
    const uint8_t *const lanes[4] = {in, in + CHUNK_BYTES, in + 2 * CHUNK_BYTES, in + 3 * CHUNK_BYTES};
    const uint8_t *const lasts[4] = {lanes[0] + 960, lanes[1] + 960, lanes[2] + 960, lanes[3] + 960};
    uint8_t *const outs[4] = {(uint8_t *)cvs[0], (uint8_t *)cvs[1], (uint8_t *)cvs[2], (uint8_t *)cvs[3]};
    hash4(lanes, lasts, BLOCKS_PER_CHUNK, full, g_chunks, 1, 0, outs);
    for (int l = 0; l < 4; l++) push_chunk_cv(cvs[l]);
  }
  for (; len >= CHUNK_BYTES; in += CHUNK_BYTES, len -= CHUNK_BYTES) {
    chunk_output(in, CHUNK_BYTES, g_chunks, &o);
    output_cv(&o, cv);
    push_chunk_cv(cv);
  }
}

/** Hashes the rest of a streamed input (everything after the chunks given to
 * b3_update_chunks; 0 bytes only when the whole input is empty) and writes the digest. */
EXPORT(b3_finish) void b3_finish(const uint8_t *in, uint32_t len, uint8_t *out) {
  uint32_t whole = len == 0 ? 0 : (len - 1) / CHUNK_BYTES; /* chunks before the last one */
  uint32_t cv[8];
  output_t o;
  b3_update_chunks(in, whole * CHUNK_BYTES);
  chunk_output(in + whole * CHUNK_BYTES, len - whole * CHUNK_BYTES, g_chunks, &o);
  while (g_depth > 0) {
    output_cv(&o, cv);
    parent_output(g_stack[--g_depth], cv, &o);
  }
  output_root(&o, out);
}

/** BLAKE3-256 of `len` bytes at `in`, written to `out` (32 bytes). */
EXPORT(b3_hash) void b3_hash(const uint8_t *in, uint32_t len, uint8_t *out) {
  b3_begin();
  b3_finish(in, len, out);
}

/* ---- batches ---------------------------------------------------------------------------- */

/* Messages waiting for three companions of the same block count. */
static uint32_t g_pending[BLOCKS_PER_CHUNK + 1][4], g_pending_n[BLOCKS_PER_CHUNK + 1];
static uint8_t g_last[4][BLOCK_BYTES];

static void flush4(const uint8_t *data, const uint32_t *offsets, const uint32_t idx[4],
                   uint32_t blocks, uint8_t *out) {
  const uint8_t *in[4], *last[4];
  uint8_t *outs[4];
  uint32_t last_len[4];
  for (int l = 0; l < 4; l++) {
    const uint32_t start = offsets[idx[l]], len = offsets[idx[l] + 1] - start;
    const uint32_t tail = (blocks - 1) * BLOCK_BYTES;
    in[l] = data + start, last[l] = g_last[l], outs[l] = out + OUT_BYTES * idx[l];
    last_len[l] = len - tail;
    __builtin_memset(g_last[l], 0, BLOCK_BYTES);
    __builtin_memcpy(g_last[l], data + start + tail, len - tail);
  }
  hash4(in, last, blocks, last_len, 0, 0, ROOT, outs);
}

/** BLAKE3-256 of each of `count` messages: message i is data[offsets[i] .. offsets[i+1]).
 * Writes 32 * count bytes to `out`, digest i at out + 32 * i. Messages up to one chunk
 * (1024 bytes) go four at a time through SIMD lanes, grouped by block count. */
EXPORT(b3_hash_many) void b3_hash_many(const uint8_t *data, const uint32_t *offsets, uint32_t count,
                                       uint8_t *out) {
  for (uint32_t b = 0; b <= BLOCKS_PER_CHUNK; b++) g_pending_n[b] = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t len = offsets[i + 1] - offsets[i];
    if (len > CHUNK_BYTES) {
      b3_hash(data + offsets[i], len, out + OUT_BYTES * i);
      continue;
    }
    const uint32_t blocks = len == 0 ? 1 : (len + BLOCK_BYTES - 1) / BLOCK_BYTES;
    g_pending[blocks][g_pending_n[blocks]++] = i;
    if (g_pending_n[blocks] == 4) {
      flush4(data, offsets, g_pending[blocks], blocks, out);
      g_pending_n[blocks] = 0;
    }
  }
  for (uint32_t b = 1; b <= BLOCKS_PER_CHUNK; b++) {
    for (uint32_t j = 0; j < g_pending_n[b]; j++) {
      const uint32_t i = g_pending[b][j];
      b3_hash(data + offsets[i], offsets[i + 1] - offsets[i], out + OUT_BYTES * i);
    }
  }
}

/* Merkle node preimages (0x01 || left || right, 65 bytes), one per lane, zero-padded. */
#define NODE_PREIMAGE_BYTES 65u
static uint8_t g_node[4][2 * BLOCK_BYTES];

static void node_preimage(uint8_t *buf, const uint8_t *pair) {
  __builtin_memset(buf, 0, 2 * BLOCK_BYTES);
  buf[0] = 0x01;
  __builtin_memcpy(buf + 1, pair, 2 * OUT_BYTES);
}

/** One Merkle level (contract §6): parent i = BLAKE3(0x01 || node 2i || node 2i+1) for the
 * `count` 32-byte nodes at `nodes`; an odd last node moves up unchanged. Writes
 * ceil(count / 2) digests to `out`, which may equal `nodes` (every read of a slot happens
 * before the write that reuses it). */
EXPORT(b3_merkle_level) void b3_merkle_level(const uint8_t *nodes, uint32_t count, uint8_t *out) {
  static const uint32_t one[4] = {1, 1, 1, 1};
  const uint32_t pairs = count / 2;
  uint32_t p = 0;
  for (; p + 4 <= pairs; p += 4) {
    for (int l = 0; l < 4; l++) node_preimage(g_node[l], nodes + 2 * OUT_BYTES * (p + l));
    const uint8_t *const in[4] = {g_node[0], g_node[1], g_node[2], g_node[3]};
    const uint8_t *const last[4] = {g_node[0] + 64, g_node[1] + 64, g_node[2] + 64, g_node[3] + 64};
    uint8_t *const outs[4] = {out + OUT_BYTES * p, out + OUT_BYTES * (p + 1),
                              out + OUT_BYTES * (p + 2), out + OUT_BYTES * (p + 3)};
    hash4(in, last, 2, one, 0, 0, ROOT, outs);
  }
  for (; p < pairs; p++) {
    node_preimage(g_node[0], nodes + 2 * OUT_BYTES * p);
    b3_hash(g_node[0], NODE_PREIMAGE_BYTES, out + OUT_BYTES * p);
  }
  if (count % 2 == 1) __builtin_memmove(out + OUT_BYTES * pairs, nodes + OUT_BYTES * (count - 1), OUT_BYTES);
}

/** The Merkle root of `count` 32-byte leaves at `nodes` (contract §6), computed in place
 * (the leaves are overwritten): no leaves → BLAKE3 of the empty input; one leaf → that leaf. */
EXPORT(b3_merkle_root) void b3_merkle_root(uint8_t *nodes, uint32_t count, uint8_t *out) {
  if (count == 0) {
    b3_hash(nodes, 0, out);
    return;
  }
  for (; count > 1; count = (count + 1) / 2) b3_merkle_level(nodes, count, nodes);
  __builtin_memmove(out, nodes, OUT_BYTES);
}
