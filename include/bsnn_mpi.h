/*
 * bsnn_mpi.h - libbsnn_mpi, bsnn's companion library for data-parallel
 * training over MPI (docs/mpi.md). N processes (ranks) each train a copy of
 * the model on their share of every global batch; the model's gradient hook
 * (bsnn_model_set_grad_hook) combines the ranks' gradients with one
 * MPI_Iallreduce per update, weighted by rows, so N ranks with local batch b
 * apply the update one process would apply to the global batch of N x b.
 * libbsnn itself never links MPI; this library uses only bsnn.h's API.
 *
 * Conventions are bsnn.h's (status codes, out arguments first, free(NULL) a
 * no-op), with three differences:
 *  - Messages: after a failure, bsnn_mpi_last_error() (per thread) names the
 *    function, the argument and the value; a failure inside a bsnn call is
 *    reported with bsnn_last_error()'s text.
 *  - Collective calls (marked "collective") must be made by every rank of
 *    the context's communicator in the same order. Each one completes within
 *    BSNN_MPI_TIMEOUT seconds or fails: by default the library then prints
 *    one line to stderr and calls MPI_Abort, ending the whole job (Open MPI
 *    has no timeout of its own; a rank that died, hangs or stopped calling
 *    would otherwise block the others forever). libbsnn never aborts; this
 *    library does, by design, unless BSNN_MPI_ON_TIMEOUT says otherwise.
 *  - The host calls MPI_Init (any thread level; only the thread that trains
 *    calls MPI) before bsnn_mpi_create and MPI_Finalize after the last
 *    bsnn_mpi_free. Memory of this library comes from malloc.
 */
#ifndef BSNN_MPI_H
#define BSNN_MPI_H

#include <bsnn.h>
#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BSNN_MPI_BUILDING) && defined(__GNUC__)
#define BSNN_MPI_API __attribute__((visibility("default")))
#else
#define BSNN_MPI_API
#endif

/* A data-parallel context: a private duplicate of a communicator, the
 * settings, and the statistics of the reductions made through it. */
typedef struct bsnn_mpi bsnn_mpi;

/* Settings, for bsnn_mpi_set / _get / _bounds. */
typedef enum bsnn_mpi_param {
    BSNN_MPI_TIMEOUT = 1,    /* seconds any collective call may take, (0, 1e6]
                                (default 60)                              */
    BSNN_MPI_ON_TIMEOUT = 2, /* a bsnn_mpi_on_timeout (default ABORT)      */
    BSNN_MPI_NOISE_STATS = 3 /* 1: record the noise-scale statistics below
                                and feed each update's observation to the
                                attached model's estimate (bsnn_model_noise;
                                two more passes over the gradient per
                                update); 0 (default): free, NaN         */
} bsnn_mpi_param;

/* What a collective call does when its deadline passes (or MPI reports an
 * error). */
typedef enum bsnn_mpi_on_timeout {
    BSNN_MPI_ABORT = 0,   /* print the reason to stderr, MPI_Abort the job   */
    BSNN_MPI_RETURN = 1   /* fail with BSNN_E_IO (the gradient hook with
                             BSNN_E_CALLBACK); the context is then broken:
                             every later collective call fails at once, and
                             the host must end the job (bsnn_mpi_abort)
                             without freeing a model whose reduction is
                             still pending                               */
} bsnn_mpi_on_timeout;

/* Statistics, for bsnn_mpi_stat. "Last" is the last update reduced. The
 * noise-scale inputs (7-10 need BSNN_MPI_NOISE_STATS; docs/mpi.md,
 * McCandlish et al. 2018): the local gradients are the small batch b, the
 * global one the big batch B. */
typedef enum bsnn_mpi_stat_id {
    BSNN_MPI_STAT_UPDATES = 1,         /* updates reduced through the context */
    BSNN_MPI_STAT_REDUCE_SECONDS = 2,  /* total seconds inside the gradient
                                          hook (scaling, allreduce, waiting
                                          for the slowest rank)             */
    BSNN_MPI_STAT_LAST_SECONDS = 3,    /* the same for the last update      */
    BSNN_MPI_STAT_LOCAL_ROWS = 4,      /* last: this rank's rows            */
    BSNN_MPI_STAT_GLOBAL_ROWS = 5,     /* last: B, the rows of all ranks    */
    BSNN_MPI_STAT_SMALL_BATCH = 6,     /* last: b = B / ranks with rows     */
    BSNN_MPI_STAT_SMALL_SQNORM = 7,    /* last: mean over the ranks with rows
                                          of |g_rank|^2 (their local mean
                                          gradients, before L1/L2)          */
    BSNN_MPI_STAT_BIG_SQNORM = 8,      /* last: |g_B|^2 of the global mean  */
    BSNN_MPI_STAT_GRAD_SQ = 9,         /* last: unbiased |G|^2 estimate
                                          (B|g_B|^2 - b|g_b|^2) / (B - b);
                                          NaN when b == B                   */
    BSNN_MPI_STAT_TRACE = 10           /* last: unbiased tr(Sigma) estimate
                                          (|g_b|^2 - |g_B|^2) / (1/b - 1/B);
                                          NaN when b == B                   */
} bsnn_mpi_stat_id;

/* A context over a duplicate of comm (MPI_Comm_dup: its traffic never
 * mixes with the host's), errors on it returned, not fatal. Collective
 * over comm. NULL when MPI is not initialised, comm is MPI_COMM_NULL, or
 * out of memory (bsnn_mpi_last_error says which). */
BSNN_MPI_API bsnn_mpi *bsnn_mpi_create(MPI_Comm comm);

/* Release a context (frees its communicator). NULL is a no-op. Not
 * collective; call it before MPI_Finalize. */
BSNN_MPI_API void bsnn_mpi_free(bsnn_mpi *ctx);

/* This process's rank and the number of ranks (0 and 0 when ctx is NULL). */
BSNN_MPI_API int bsnn_mpi_rank(const bsnn_mpi *ctx);
BSNN_MPI_API int bsnn_mpi_size(const bsnn_mpi *ctx);

/* Set / read a setting; set it alike on every rank. Errors: BSNN_E_NULL,
 * BSNN_E_ARG (unknown setting, value out of bsnn_mpi_bounds). */
BSNN_MPI_API bsnn_status bsnn_mpi_set(bsnn_mpi *ctx, bsnn_mpi_param param, double value);
BSNN_MPI_API bsnn_status bsnn_mpi_get(double *out, const bsnn_mpi *ctx, bsnn_mpi_param param);

/* The valid range of a setting, as every bsnn_X_bounds in bsnn.h. Errors:
 * BSNN_E_NULL, BSNN_E_ARG (unknown setting). */
BSNN_MPI_API bsnn_status bsnn_mpi_bounds(double *out_lo, double *out_hi, unsigned *out_open,
                                         const bsnn_mpi *ctx, bsnn_mpi_param param);

/* Collective: make every rank's *m (and *opt, *s when rank 0 passes them)
 * a copy of rank 0's, through a checkpoint in memory: parameters, layer
 * state, optimizer state, scheduler settings and position. Rank 0's objects
 * are kept; another rank's are replaced by new ones (the old ones freed, so
 * pointers into them, such as layers, die; *m may be NULL there) only when
 * every rank succeeded. Hooks and shards are not copied (bsnn_mpi_attach).
 * Errors, the same on every rank: BSNN_E_NULL, BSNN_E_ARG (opt or s NULL
 * where rank 0 sends one), BSNN_E_NOMEM, BSNN_E_STATE (broken context). */
BSNN_MPI_API bsnn_status bsnn_mpi_broadcast(bsnn_mpi *ctx, bsnn_model **m,
                                            bsnn_optimizer **opt, bsnn_scheduler **s);

/* Collective: start data parallelism on m: installs ctx's gradient hook on
 * m (replacing any other) and, when s is not NULL, shards s by this rank
 * (bsnn_scheduler_set_shard). Refuses ranks whose parameters or scheduler
 * settings (samples, seed, batch size, remainder rule, shuffle, schedule)
 * differ: broadcast first. Errors, the same on every rank: BSNN_E_NULL,
 * BSNN_E_STATE (ranks differ, broken context), BSNN_E_NOMEM. */
BSNN_MPI_API bsnn_status bsnn_mpi_attach(bsnn_mpi *ctx, bsnn_model *m, bsnn_scheduler *s);

/* Collective: rank 0 writes bsnn_checkpoint_save(m, opt, s, path) (its own
 * objects; the others' arguments are not used and may be NULL); every rank
 * returns rank 0's status, with rank 0's message. The checkpoint holds rank
 * 0's batch-norm statistics (each rank keeps its own while training).
 * Errors: those of bsnn_checkpoint_save, BSNN_E_STATE (broken context). */
BSNN_MPI_API bsnn_status bsnn_mpi_checkpoint_save(bsnn_mpi *ctx, const bsnn_model *m,
                                                  const bsnn_optimizer *opt,
                                                  const bsnn_scheduler *s, const char *path);

/* Collective: rank 0 reads the checkpoint at path (only rank 0 needs the
 * file); every rank receives the same new objects, as bsnn_checkpoint_load
 * gives them (out_opt, out_sched may be NULL to discard those parts). Every
 * rank thus resumes with rank 0's batch-norm statistics. Attach afterwards.
 * Errors, the same on every rank: those of bsnn_checkpoint_load,
 * BSNN_E_STATE (broken context). */
BSNN_MPI_API bsnn_status bsnn_mpi_checkpoint_load(bsnn_mpi *ctx, bsnn_model **out_model,
                                                  bsnn_optimizer **out_opt,
                                                  bsnn_scheduler **out_sched,
                                                  const char *path);

/* Collective: mean loss and accuracy over ALL rows of ds (which every rank
 * holds whole), each rank evaluating its contiguous share of the rows (as
 * the scheduler shares a batch), combined by rows: what one process's
 * bsnn_model_evaluate(m, ds, batch_size) gives, to rounding. out_loss or
 * out_accuracy may be NULL (then not computed, as in bsnn_model_evaluate).
 * Errors: those of bsnn_model_evaluate, the same on every rank. */
BSNN_MPI_API bsnn_status bsnn_mpi_evaluate(double *out_loss, double *out_accuracy,
                                           bsnn_mpi *ctx, bsnn_model *m,
                                           const bsnn_dataset *ds, size_t batch_size);

/* Read a statistic of this rank (see bsnn_mpi_stat_id) into *out: 0 before
 * the first update, NaN for 7-10 without BSNN_MPI_NOISE_STATS. Errors:
 * BSNN_E_NULL, BSNN_E_ARG (unknown statistic). */
BSNN_MPI_API bsnn_status bsnn_mpi_stat(double *out, const bsnn_mpi *ctx, bsnn_mpi_stat_id stat);

/* End the whole job from this rank: prints "bsnn_mpi: rank R of N: message"
 * to stderr and calls MPI_Abort(code) on ctx's communicator (MPI_COMM_WORLD
 * when ctx is NULL). For a rank that cannot go on (a local error), so the
 * others stop at once instead of at their deadline. Does not return. */
BSNN_MPI_API void bsnn_mpi_abort(bsnn_mpi *ctx, int code, const char *message);

/* The message of the last failure of a bsnn_mpi call on this thread. Never
 * NULL; "" before any failure. */
BSNN_MPI_API const char *bsnn_mpi_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* BSNN_MPI_H */
