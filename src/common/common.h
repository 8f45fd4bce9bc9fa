/*
 * common.h - the lowest tier (src/common/): what every other tier reports,
 * allocates, draws and reads through. Nothing here knows a layer, a model,
 * a dataset or a training run. Private: every name is static, bsnn__*, or
 * a struct tag completing a public opaque handle; nothing is part of the ABI.
 *
 * Tiers, lowest first; a file uses its own folder and the ones below it:
 *   common/   errors, allocator, rng, tensor, cpu features, finiteness,
 *             clock, settings tables, the byte codec and CRC-32, the file
 *             helpers
 *   kernels/  GEMM, vector elementwise functions
 *   nn/       the layer framework, one file per kind, losses, the model
 *   data/     datasets, CSV and IDX loaders, generators
 *   train/    update rules, the step, the loop, evaluation, scheduler,
 *             memory estimates, histories
 *   persist/  the file container, the model and checkpoint files
 *   search/   the batch-size search
 * (src/mpi/ is not a tier: it is libbsnn_mpi, built by `make mpi` on the
 * public API alone.)
 * `make check-tiers` (tests/check-tiers.py) fails on an include or call
 * into a higher tier, on files that call each other in a circle, and on
 * library code that calls a public function.
 */
#ifndef BSNN_COMMON_H
#define BSNN_COMMON_H

#include "bsnn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define BSNN_ALIGN 64

/* ---- floating-point state (fpstate.c) ------------------------------------ */

/* bsnn computes with one fixed control state in every thread that works
 * for it: round to nearest, all exceptions masked, subnormals flushed
 * (FTZ + DAZ) unless bsnn_set_flush_subnormals(0). An opaque word (MXCSR
 * without its sticky flags on x86-64; 0 elsewhere, where all of this does
 * nothing). */
unsigned bsnn__fp_state(void);
/* The calling thread's current state, in the same form. */
unsigned bsnn__fp_current(void);
/* Put state (from bsnn__fp_state or bsnn__fp_current) into the calling
 * thread, keeping its sticky flags; nothing is written when it is there. */
void bsnn__fp_set(unsigned state);

/* What a compute scope saved: the host's register, and the enclosing
 * scope's host state (a callback may call bsnn again). */
typedef struct bsnn__fp_scope {
    unsigned saved, outer_state;
    int outer_active;
} bsnn__fp_scope;
/* Save the calling thread's state and switch to bsnn's (BSNN_ENTER_COMPUTE). */
bsnn__fp_scope bsnn__fp_enter(void);
/* Restore exactly what bsnn__fp_enter saved, sticky flags included. */
void bsnn__fp_leave(bsnn__fp_scope *scope);
/* Around host code run inside a compute scope (callbacks, hooks): the
 * host's state as it was at entry, then bsnn's again (as set now). No-ops
 * outside a compute scope. BSNN_CALL_HOST does both. */
void bsnn__fp_host_begin(void);
void bsnn__fp_host_end(void);

/* ---- errors (error.c) ---------------------------------------------------- */

/* Messages name the function the HOST called. Every public function that
 * can fail starts with BSNN_ENTER(), which records its own name (__func__:
 * no hand-written strings) in a thread-local; the fail functions prefix
 * every message with it. Public functions never call each other inside the
 * library, so the name recorded is the host's call; the one place host code
 * runs inside a bsnn call (a training callback) is wrapped in
 * BSNN_CALL_HOST, which puts the name back afterwards. */
extern _Thread_local const char *bsnn__entry;
#define BSNN_ENTER() (bsnn__entry = __func__)
/* Host code called back from inside a compute function also gets the
 * host's floating-point state back for its duration (fpstate.c). */
#define BSNN_CALL_HOST(var, call)                                                    \
    do {                                                                             \
        const char *bsnn__saved_entry = bsnn__entry;                                 \
        bsnn__fp_host_begin();                                                       \
        (var) = (call);                                                              \
        bsnn__fp_host_end();                                                         \
        bsnn__entry = bsnn__saved_entry;                                             \
    } while (0)
/* BSNN_ENTER for the public functions that compute (train, forward,
 * evaluate, search): the calling thread runs with bsnn's floating-point
 * state until the function returns, on every path (a cleanup variable
 * restores the host's state; fpstate.c). Without the GNU cleanup attribute
 * the host's state is used as it is. */
#if defined(__GNUC__) || defined(__clang__)
#define BSNN_ENTER_COMPUTE()                                                         \
    BSNN_ENTER();                                                                    \
    bsnn__fp_scope bsnn__fp_scope_ __attribute__((cleanup(bsnn__fp_leave))) =        \
        bsnn__fp_enter()
#else
#define BSNN_ENTER_COMPUTE() BSNN_ENTER()
#endif

/* Record "<entry>: <formatted message>" for bsnn_last_error(); return status. */
bsnn_status bsnn__fail(bsnn_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Put context in front of the message a failed inner call recorded:
 * "<entry>: <context>: <inner detail>"; returns status. The inner message is
 * copied before the new one is formatted (never formatted into itself). */
bsnn_status bsnn__context(bsnn_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* One-line error paths (zstd's RETURN_ERROR_IF / FORWARD_IF_ERROR). */
#define BSNN_FAIL_IF(cond, status, ...)                                               \
    do {                                                                             \
        if (cond) return bsnn__fail((status), __VA_ARGS__);                          \
    } while (0)
/* The same in a constructor, which returns NULL. */
#define BSNN_FAIL_NULL_IF(cond, status, ...)                                          \
    do {                                                                             \
        if (cond) {                                                                  \
            bsnn__fail((status), __VA_ARGS__);                                       \
            return NULL;                                                             \
        }                                                                            \
    } while (0)
/* Forward a failing status, its message kept as it is. */
#define BSNN_TRY(expr)                                                                \
    do {                                                                             \
        bsnn_status bsnn__st = (expr);                                               \
        if (bsnn__st != BSNN_OK) return bsnn__st;                                    \
    } while (0)
/* Forward a failing status with context in front of its message. */
#define BSNN_FORWARD_IF_ERROR(expr, ...)                                              \
    do {                                                                             \
        bsnn_status bsnn__st = (expr);                                               \
        if (bsnn__st != BSNN_OK) return bsnn__context(bsnn__st, __VA_ARGS__);        \
    } while (0)
/* The same, reporting `status` instead, except that running out of memory
 * stays BSNN_E_NOMEM (a loader turns a refused value into BSNN_E_FORMAT). */
#define BSNN_FORWARD_AS_IF_ERROR(expr, status, ...)                                   \
    do {                                                                             \
        bsnn_status bsnn__st = (expr);                                               \
        if (bsnn__st != BSNN_OK)                                                     \
            return bsnn__context(bsnn__st == BSNN_E_NOMEM ? bsnn__st : (status),     \
                                 __VA_ARGS__);                                       \
    } while (0)

/* Fail with BSNN_E_NULL naming the argument. */
#define BSNN_CHECK_NULL(arg) BSNN_FAIL_IF((arg) == NULL, BSNN_E_NULL, "argument '%s' is NULL", #arg)
/* The same in a constructor. */
#define BSNN_CHECK_NULL_CTOR(arg)                                                  \
    BSNN_FAIL_NULL_IF((arg) == NULL, BSNN_E_NULL, "argument '%s' is NULL", #arg)

/* Keep the message across an internal failure that a successful public
 * call swallows (successful calls never change bsnn_last_error()). */
#define BSNN__ERROR_CAP 512
void bsnn__error_save(char *out, size_t cap);
void bsnn__error_restore(const char *saved);

/* ---- memory (alloc.c) ---------------------------------------------------- */

/* 64-byte aligned allocation through the host's allocator; records a
 * BSNN_E_NOMEM message on failure. Sizes of 0 return NULL. */
void *bsnn__alloc(size_t size);
/* Same, zero-filled. */
void *bsnn__calloc(size_t count, size_t size);
/* Release memory from bsnn__alloc. NULL is a no-op. */
void bsnn__free(void *ptr);
/* Live allocations, for bsnn_set_allocator's "no object alive" rule. */
size_t bsnn__live_allocations(void);
/* Overflow-checked count*size; 0 on overflow. */
size_t bsnn__mul_size(size_t count, size_t size);
/* Overflow-checked a+b; 0 on overflow (callers whose operands may both be
 * 0 must tell the two apart). Every size computed from a caller's or a
 * file's numbers goes through these two before it is compared or used. */
size_t bsnn__add_size(size_t a, size_t b);
/* Bytes an allocation of size bytes costs, counting the allocator's
 * alignment header as bsnn__alloc requests it (memory estimates). */
size_t bsnn__alloc_cost(size_t size);

/* ---- random numbers (rng.c) ---------------------------------------------- */

/* xoshiro256** state: small, fast, splittable with a seed expander. */
typedef struct bsnn_rng {
    uint64_t s[4];
} bsnn_rng;

void bsnn__rng_seed(bsnn_rng *rng, uint64_t seed);
uint64_t bsnn__rng_next(bsnn_rng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double bsnn__rng_uniform(bsnn_rng *rng);
/* Uniform integer in [0, bound), bound >= 1, without modulo bias. */
uint64_t bsnn__rng_below(bsnn_rng *rng, uint64_t bound);
/* Standard normal draw (Marsaglia polar method). */
double bsnn__rng_normal(bsnn_rng *rng);
/* Fisher-Yates shuffle of v[0..n) in place. */
void bsnn__shuffle(size_t *v, size_t n, bsnn_rng *rng);

/* ---- tensors (tensor.c) -------------------------------------------------- */

struct bsnn_tensor {
    float *data;
    size_t shape[BSNN_MAX_RANK];
    int rank;
    int owned;
};

/* Elements of a tensor (the product of its shape). */
size_t bsnn__tensor_size(const bsnn_tensor *t);
/* Rows (dim 0) and columns (product of the other dims) of a tensor. */
size_t bsnn__tensor_rows(const bsnn_tensor *t);
size_t bsnn__tensor_cols(const bsnn_tensor *t);

/* ---- settings descriptors (settings.c) ----------------------------------- */

/* Where a setting's value lives and how it crosses the API as a double. */
typedef enum bsnn__setting_type {
    BSNN__SET_DOUBLE = 0, /* double                                          */
    BSNN__SET_INT = 1,    /* int: enum values, flags (whole numbers)         */
    BSNN__SET_SIZE = 2,   /* size_t: counts, byte counts (whole numbers)     */
    BSNN__SET_U64 = 3     /* uint64_t: seeds (whole numbers)                 */
} bsnn__setting_type;

/* One setting of an object: its public id (an enum value), its name for
 * messages, type, valid range lo..hi with open ends (BSNN_BOUND_*), default,
 * and the offset of its field in the object's (or layer kind's) struct.
 * One table per object serves set, get, bounds and save/load. */
typedef struct bsnn__setting {
    int id;
    const char *name;
    unsigned char type;  /* bsnn__setting_type                           */
    unsigned char open;  /* BSNN_BOUND_LO_OPEN | BSNN_BOUND_HI_OPEN      */
    double lo, hi, def;
    size_t offset;
    const char *typed;   /* 64-bit settings: the typed getter's name     */
} bsnn__setting;

#define BSNN__MAX_EXACT 9007199254740992.0 /* 2^53: integers exact in a double */
#define BSNN__EXACT_U64 ((uint64_t)1 << 53) /* the same bound as an integer */

/* The descriptor of setting id in table[0..n), or NULL. */
const bsnn__setting *bsnn__setting_find(const bsnn__setting *table, size_t n, int id);
/* The upper bound on this host (a size_t setting stops at SIZE_MAX). */
double bsnn__setting_hi(const bsnn__setting *d);
/* BSNN_E_ARG (naming the setting, value and range) unless v is finite,
 * within the bounds and, for integer types, whole. */
bsnn_status bsnn__setting_check(const bsnn__setting *d, double v);
/* Store a checked v in obj's field; read it back (BSNN_E_ARG for a 64-bit
 * value beyond 2^53, which a double would round); the typed forms. */
void bsnn__setting_store(const bsnn__setting *d, void *obj, double v);
bsnn_status bsnn__setting_load(const bsnn__setting *d, const void *obj, double *out);
void bsnn__setting_store_u64(const bsnn__setting *d, void *obj, uint64_t v);
/* BSNN_E_ARG unless d is a 64-bit setting (U64 or SIZE) that can hold v. */
bsnn_status bsnn__setting_check_u64(const bsnn__setting *d, uint64_t v);
uint64_t bsnn__setting_load_u64(const bsnn__setting *d, const void *obj);
/* Store every setting's default. */
void bsnn__settings_defaults(const bsnn__setting *table, size_t n, void *obj);

/* ---- cpu features (cpu.c) ------------------------------------------------ */

/* 1 when the CPU runs AVX2 and FMA: bsnn's own kernels (kernels/) are
 * compiled for it and chosen at run time. */
int bsnn__cpu_avx2(void);
/* 1 when the CPU runs AVX-512F (and AVX2/FMA) and the OS saves its
 * registers: the 512-bit kernels are chosen at run time from this. */
int bsnn__cpu_avx512f(void);

/* ---- threads (pool.c) ---------------------------------------------------- */

/* One chunk of a parallel pass: fn(ctx, chunk) for chunk in [0, n_chunks). */
typedef void (*bsnn__task_fn)(void *ctx, size_t chunk);
/* Run fn for every chunk in [0, n_chunks) on up to bsnn_get_num_threads()
 * threads including the caller; returns when all are done. Which thread
 * runs which chunk varies from call to call: a chunk's result must depend
 * on its index only, never on the thread or the thread count (so results
 * are bit-identical for every count). Workers run with the caller's
 * floating-point state. No allocation; about 1-3 us per call when the
 * workers are awake (they stay awake ~100 us after a call), so split only
 * work of tens of microseconds or more. Calls made while the pool is busy
 * (another host thread, or from inside a chunk) run on the caller alone. */
void bsnn__parallel(size_t n_chunks, bsnn__task_fn fn, void *ctx);
/* Floats per chunk of an elementwise pass: fixed, whatever the thread
 * count, so a pass's chunks (and any per-chunk partial sums) are the same
 * for every count. 16384 floats = 64 KB, about 2-10 us of work. */
#define BSNN_PARALLEL_CHUNK ((size_t)16384)
/* Chunks of BSNN_PARALLEL_CHUNK needed for count elements (0 for 0). */
static inline size_t bsnn__chunks(size_t count)
{
    return count / BSNN_PARALLEL_CHUNK + (count % BSNN_PARALLEL_CHUNK != 0);
}
/* bsnn_get_num_threads for library code (no internal call of a public
 * function). */
int bsnn__num_threads(void);
/* Tests only: workers currently running, and thread creation failing once
 * `after` more threads have been created (-1: never), as when the system
 * is out of threads or memory: the pool then runs with fewer workers. */
int bsnn__pool_workers(void);
void bsnn__pool_fail_thread_creation(int after);

/* ---- ranges (range.c) ---------------------------------------------------- */

/* fn(ctx, lo, hi, chunk) for the chunks [lo, hi) of [0, count) of `grain`
 * elements (the last one shorter), through bsnn__parallel; one chunk runs
 * directly. The grain must come from sizes only (BSNN_PARALLEL_CHUNK, or
 * bsnn__row_grain), never from the thread count. */
typedef void (*bsnn__range_fn)(void *ctx, size_t lo, size_t hi, size_t chunk);
void bsnn__parallel_ranges(size_t count, size_t grain, bsnn__range_fn fn, void *ctx);
/* One chunk (the common case of small nets) is a direct call, inlined. */
static inline void bsnn__parallel_range(size_t count, size_t grain, bsnn__range_fn fn, void *ctx)
{
    if (count <= grain) {
        if (count) fn(ctx, 0, count, 0);
        return;
    }
    bsnn__parallel_ranges(count, grain, fn, ctx);
}
/* Chunks of `grain` in count (0 for 0). */
size_t bsnn__range_chunks(size_t count, size_t grain);
/* Rows of `width` floats per chunk of about BSNN_PARALLEL_CHUNK floats (>= 1). */
size_t bsnn__row_grain(size_t width);

/* ---- finiteness (finite.c) ----------------------------------------------- */

/* 1 if all count floats are finite. */
int bsnn__all_finite(const float *v, size_t count);
/* The largest |v[i]| as the bits of a float's magnitude: the bits of
 * non-negative floats order like unsigned integers, with infinity
 * (0x7f800000) above every finite value and NaNs above it, so one integer
 * max gives the largest magnitude and tells whether anything is not finite
 * (bsnn__bits_finite). 0 for count 0. */
uint32_t bsnn__max_abs_bits(const float *v, size_t count);
static inline int bsnn__bits_finite(uint32_t bits) { return bits < 0x7f800000u; }
/* The magnitude bits of one float, and the float of magnitude bits. */
static inline uint32_t bsnn__mag_bits(float v)
{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return b & 0x7fffffffu;
}
static inline float bsnn__bits_float(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* ---- plan generation (settings.c) ----------------------------------------- */

/* A counter that every setter able to change how a training step runs
 * bumps (layer and optimizer settings, a model's mode or hook, an
 * optimizer's binding): the step engine's plans remember the value they
 * were made at and are remade when it moved. Process-wide, atomic. */
uint64_t bsnn__plan_generation(void);
void bsnn__plan_changed(void);

/* base + off, or NULL for an arena that was never allocated (a model with
 * no parameters or no state): arithmetic on NULL is undefined behaviour. */
static inline float *bsnn__at(float *base, size_t off) { return base ? base + off : NULL; }

/* ---- the gradient noise-scale estimator (noise.c) ------------------------- */

/* The two-batch estimator of the gradient noise scale (docs/scheduler.md):
 * each observation (|g_b|^2 over b rows, |g_B|^2 over B > b rows, at the
 * same parameters) gives unbiased estimates of |G|^2 and tr(Sigma); the
 * estimator keeps their weighted means, every earlier weight multiplied by
 * `decay` at each new observation (a debiased exponential average; decay 1:
 * the plain mean), with weighted second moments for standard errors
 * (West's incremental form: no cancellation). Plain data, so a model embeds
 * one and a checkpoint stores it field by field. */
typedef struct bsnn__noise {
    double decay;               /* [0, 1]                                  */
    double w, w2;               /* sum of the weights, of their squares    */
    double g, t, b, B;          /* weighted means: |G|^2, tr, b and B      */
    double m2_g, m2_t, c_gt;    /* weighted squared deviations, co-deviation */
    double small_sq, big_sq;    /* the last observation's squared norms    */
    uint64_t count;             /* observations                            */
} bsnn__noise;

/* An estimator with no observation (keeps nothing but decay). */
void bsnn__noise_clear(bsnn__noise *e, double decay);
/* The two estimates of one observation (1 <= b < B, finite, >= 0 norms). */
void bsnn__noise_two_batch(double *out_grad_sq, double *out_trace, double small_sq, double b,
                           double big_sq, double B);
/* Add one observation (arguments valid as for _two_batch). */
void bsnn__noise_observe(bsnn__noise *e, double small_sq, double b, double big_sq, double B);
/* Add a pair of estimates (|G|^2, tr) directly, with its b and B. */
void bsnn__noise_add(bsnn__noise *e, double grad_sq, double trace, double b, double B);
/* The value of a bsnn_noise_field (a known one). */
double bsnn__noise_field(const bsnn__noise *e, bsnn_noise_field field);
/* The range flag of BSNN_NOISE_RANGE for a noise scale bs measured
 * between b and B (NaN when bs is NaN). */
double bsnn__noise_range(double bs, double b, double B);
#define BSNN__NOISE_FIELDS 12
#define BSNN__NOISE_DECAY_DEFAULT 0.99

/* ---- clock (clock.c) ----------------------------------------------------- */

/* Wall clock in seconds (monotonic), for histories and the search. */
double bsnn__now(void);

/* ---- files (file.c) ------------------------------------------------------ */

/* Open path for reading without ever blocking (a FIFO with no writer would
 * block open() forever) and accept only a regular file: *out_fd and its
 * size in bytes, which bounds every read loop of the caller (a file that
 * grows meanwhile is read up to that size). BSNN_E_IO naming the path
 * otherwise; nothing stays open then. */
bsnn_status bsnn__open_regular(int *out_fd, size_t *out_size, const char *path);
/* The whole regular file at path in a fresh buffer of its size (never more
 * than the file justifies); BSNN_E_IO for an empty or unreadable file. */
bsnn_status bsnn__read_file(unsigned char **out, size_t *out_size, const char *path);
/* Replace path by size bytes atomically: a temporary file beside it
 * (unnamed until complete where the system has O_TMPFILE) is written,
 * fsync'ed and renamed over path, the directory synced; the next save of a
 * path removes what killed saves of it left. */
bsnn_status bsnn__write_atomic(const char *path, const unsigned char *data, size_t size);
/* A text file built in memory (bsnn's allocator), then written as every
 * file is, by bsnn__write_atomic: write(t, obj) appends with
 * bsnn__text_printf (0 or -1). BSNN_E_NOMEM or BSNN_E_IO with a message. */
typedef struct bsnn__text {
    char *buf;
    size_t len, cap;
    int failed; /* 0, BSNN_E_NOMEM, or 1 (a formatting error) */
} bsnn__text;
int bsnn__text_printf(bsnn__text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
bsnn_status bsnn__write_text_file(const char *path, int (*write)(bsnn__text *t, const void *obj),
                                  const void *obj);
/* Tests only: nonzero makes saves skip the unnamed temporary file (Linux
 * O_TMPFILE) and take the named-file route other systems use. */
extern int bsnn__io_named_temp_only;

/* ---- the byte codec (codec.c) -------------------------------------------- */

/* CRC-32 (IEEE, as zlib) of n bytes, continuing from crc (0 to start). */
uint32_t bsnn__crc32(uint32_t crc, const void *data, size_t n);
/* want != got, except in fuzz builds, which ignore checksums. */
int bsnn__crc_mismatch(uint32_t want, uint32_t got);

/* The two-pass writer: with buf NULL it only counts (len), so a first pass
 * sizes the buffer a second pass fills. Little-endian, byte by byte. */
typedef struct bsnn__writer {
    unsigned char *buf;
    size_t len;
    size_t section; /* offset of the open section's tag */
} bsnn__writer;

void bsnn__put_u8(bsnn__writer *w, unsigned v);
void bsnn__put_uint(bsnn__writer *w, uint64_t v, int bytes);
void bsnn__put_u32(bsnn__writer *w, uint32_t v);
void bsnn__put_u64(bsnn__writer *w, uint64_t v);
void bsnn__put_f64(bsnn__writer *w, double d);
void bsnn__put_floats(bsnn__writer *w, const float *v, size_t n);
void bsnn__put_rng(bsnn__writer *w, const bsnn_rng *rng);
/* A section: tag, flags, a length patched by _end, payload, CRC-32. */
void bsnn__begin_section(bsnn__writer *w, const char *tag, uint32_t flags);
void bsnn__end_section(bsnn__writer *w);

#define BSNN__SECTION_OVERHEAD 20 /* tag, flags, length, crc */
#define BSNN__SECTION_OPTIONAL 1u /* flag: a reader that does not know it may skip it */

/* The reader: every access bounds checked; a read past the end returns 0
 * and sets bad (callers check once, after a group of fields). */
typedef struct bsnn__reader {
    const unsigned char *p;
    size_t len, pos;
    int bad;
} bsnn__reader;

uint64_t bsnn__get_uint(bsnn__reader *r, int bytes);
uint32_t bsnn__get_u32(bsnn__reader *r);
uint64_t bsnn__get_u64(bsnn__reader *r);
double bsnn__get_f64(bsnn__reader *r);
void bsnn__get_rng(bsnn__reader *r, bsnn_rng *rng);
/* n floats into out; the caller has checked that 4n bytes remain. */
void bsnn__get_floats(bsnn__reader *r, float *out, size_t n);
/* A size_t from a u64 (bad when it does not fit this host). */
size_t bsnn__get_size(bsnn__reader *r);
size_t bsnn__remaining(const bsnn__reader *r);

/* One verified section: its tag (printable), flags and a reader over its
 * payload. _next_section: BSNN_E_FORMAT naming the byte offset for a
 * truncated section or a CRC mismatch. _body_ok: BSNN_E_FORMAT when a read
 * ran past the payload. */
typedef struct bsnn__section {
    char tag[5];
    uint32_t flags;
    bsnn__reader body;
} bsnn__section;
bsnn_status bsnn__next_section(bsnn__section *out, bsnn__reader *r);
bsnn_status bsnn__body_ok(const bsnn__section *s);
/* The rest of section s is exactly n floats, all finite, read into out;
 * BSNN_E_FORMAT otherwise. */
bsnn_status bsnn__get_rest_floats(float *out, size_t n, bsnn__section *s);

/* The settings list of an object, from its descriptor table: a count, then
 * (u32 id, f64 value) pairs in table order, the values read from the
 * fields at obj, for the settings applies(ctx, id) keeps (applies NULL:
 * all). A 64-bit setting beyond 2^53 is written exactly,
 * as (id | 0x80000000, u64). _get_settings reads one back through the
 * object's own setters (set, and set_u64 for the exact form; NULL: none),
 * which validate; a refused value is BSNN_E_FORMAT naming `what`. */
void bsnn__put_settings(bsnn__writer *w, const bsnn__setting *table, size_t n, const void *obj,
                        int (*applies)(const void *ctx, int id), const void *ctx);
bsnn_status bsnn__get_settings(bsnn__reader *b, void *obj, const char *what,
                               bsnn_status (*set)(void *obj, int id, double v),
                               bsnn_status (*set_u64)(void *obj, int id, uint64_t v));

#endif /* BSNN_COMMON_H */
