/*
 * internal.h - libbsnn_mpi's private declarations (src/mpi/): the context, the
 * error helpers, and the collective primitives every call is built on (a
 * non-blocking MPI operation waited for against the context's deadline,
 * agreement on a status). This folder is not a tier of libbsnn: it is a
 * client of bsnn.h's public API only, built into its own library when MPI is
 * present (make mpi).
 *
 *   context.c    create/free, settings, statistics, abort, messages
 *   collective.c the deadline wait, status agreement, chunked broadcasts
 *   reduce.c     the gradient hook (the allreduce) and attach
 *   state.c      broadcast of objects, checkpoints through rank 0
 *   evaluate.c   evaluation over all rows, shared by the ranks
 */
#ifndef BSNN_MPI_PRIVATE_H
#define BSNN_MPI_PRIVATE_H

#include "bsnn_mpi.h"

#include <stddef.h>
#include <stdint.h>

/* Requests of one reduction: the scalars plus the gradient in chunks of at
 * most BSNN_MPI__CHUNK floats (MPI counts are int): 2^30 x 62 floats. */
#define BSNN_MPI__CHUNK ((size_t)1 << 30)
#define BSNN_MPI__MAX_REQUESTS 64

struct bsnn_mpi {
    MPI_Comm comm;            /* our duplicate of the host's communicator  */
    int rank, size;
    double timeout;           /* BSNN_MPI_TIMEOUT, seconds                 */
    int on_timeout;           /* bsnn_mpi_on_timeout                       */
    int broken;               /* a collective timed out: refuse the rest   */
    int noise;                /* BSNN_MPI_NOISE_STATS                      */
    bsnn_model *model;        /* the model last attached: each update's
                                 noise observation goes into its estimate */
    /* Open MPI's libnbc picks, for an in-place Iallreduce on < 4 ranks, a
     * binomial reduce-then-broadcast twice as slow as its blocking
     * allreduce; its control variable selects Rabenseifner's algorithm
     * (ring when too few elements) for the gradient instead. */
    int have_alg;
    MPI_T_cvar_handle alg;
    /* statistics (bsnn_mpi_stat) */
    size_t updates;
    double reduce_seconds, last_seconds;
    double local_rows, global_rows, small_batch, small_sq, big_sq, grad_sq, trace;
};

/* ---- messages (context.c) -------------------------------------------------- */

/* The public function the host called (or what runs), for messages. */
extern _Thread_local const char *bsnn_mpi__entry;
#define BSNN_MPI_ENTER() (bsnn_mpi__entry = __func__)

/* Record "<entry>: <message>" for bsnn_mpi_last_error(); return status. */
bsnn_status bsnn_mpi__fail(bsnn_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The same with bsnn_last_error()'s text after the message. */
bsnn_status bsnn_mpi__fail_bsnn(bsnn_status status, const char *what);
/* Copy of the current message (for broadcasting it), and its restoration. */
#define BSNN_MPI__MSG_CAP 512
void bsnn_mpi__message_copy(char *out);
void bsnn_mpi__message_set(const char *msg);

#define BSNN_MPI_FAIL_IF(cond, status, ...)                                       \
    do {                                                                          \
        if (cond) return bsnn_mpi__fail((status), __VA_ARGS__);                   \
    } while (0)
#define BSNN_MPI_CHECK_NULL(arg)                                                  \
    BSNN_MPI_FAIL_IF((arg) == NULL, BSNN_E_NULL, "argument '%s' is NULL", #arg)
#define BSNN_MPI_TRY(expr)                                                        \
    do {                                                                          \
        bsnn_status bsnn_mpi__st = (expr);                                        \
        if (bsnn_mpi__st != BSNN_OK) return bsnn_mpi__st;                         \
    } while (0)

/* ---- collectives (collective.c) -------------------------------------------- */

/* BSNN_E_STATE when an earlier collective broke the context. */
bsnn_status bsnn_mpi__usable(const bsnn_mpi *ctx);
/* Wait for n started requests until the context's deadline. On timeout or
 * an MPI error: the context is broken, and by BSNN_MPI_ON_TIMEOUT the job
 * is aborted with a message naming `what`, or BSNN_E_IO is returned. */
bsnn_status bsnn_mpi__wait(bsnn_mpi *ctx, MPI_Request *reqs, int n, const char *what);
/* Fail the way a timeout does, for an MPI call that returned `rc`. */
bsnn_status bsnn_mpi__mpi_failed(bsnn_mpi *ctx, int rc, const char *what);
/* Every rank learns the worst status (the most negative, from the lowest
 * rank having it) and returns it; the ranks that did not fail get the
 * failing rank's message. */
bsnn_status bsnn_mpi__agree(bsnn_mpi *ctx, bsnn_status local, const char *what);
/* Broadcast size bytes at buf from rank 0, in chunks MPI counts can hold. */
bsnn_status bsnn_mpi__bcast_bytes(bsnn_mpi *ctx, void *buf, size_t size, const char *what);
/* MPI_Iallreduce in place over count values of type t with op, waited for. */
bsnn_status bsnn_mpi__allreduce(bsnn_mpi *ctx, void *buf, int count, MPI_Datatype t, MPI_Op op,
                                const char *what);

/* ---- the gradient reduction (reduce.c) ------------------------------------- */

/* The bsnn_grad_hook libbsnn_mpi installs (user: the context). */
int bsnn_mpi__grad_hook(void *user, float *grads, size_t count, size_t *rows,
                        double *loss_sum);

/* ---- sharing rows (evaluate.c) --------------------------------------------- */

/* Where rank r's share of c rows starts (the scheduler's rule). */
size_t bsnn_mpi__share_start(size_t c, size_t r, size_t size);

#endif /* BSNN_MPI_PRIVATE_H */
