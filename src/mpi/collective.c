/*
 * collective.c - every collective of libbsnn_mpi is a non-blocking MPI call
 * waited for here against the context's deadline (Open MPI 4.1 has no
 * collective timeout): polled with MPI_Testall, which is also what makes
 * the operation progress, spinning for the first millisecond (a peer a
 * little behind) and then with short sleeps (a long wait, or more ranks than
 * cores). On a timeout or an MPI error the job is aborted with a message, or
 * the call fails (BSNN_MPI_ON_TIMEOUT). Also: status agreement and chunked
 * broadcasts.
 */
#include "mpi/internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SPIN_SECONDS 1e-3
#define NAP_NANOSECONDS 50000L

bsnn_status bsnn_mpi__usable(const bsnn_mpi *ctx)
{
    BSNN_MPI_FAIL_IF(ctx->broken, BSNN_E_STATE,
                     "the context is broken: an earlier collective call timed out or failed "
                     "(end the job: bsnn_mpi_abort)");
    return BSNN_OK;
}

/* The end of a failed collective: broken context, message, and by the
 * setting the job's end or BSNN_E_IO. */
static bsnn_status give_up(bsnn_mpi *ctx, const char *reason)
{
    ctx->broken = 1;
    bsnn_mpi__fail(BSNN_E_IO, "rank %d of %d: %s", ctx->rank, ctx->size, reason);
    if (ctx->on_timeout == BSNN_MPI_RETURN) return BSNN_E_IO;
    fprintf(stderr, "bsnn_mpi: rank %d of %d: %s; aborting the job (MPI_Abort)\n", ctx->rank,
            ctx->size, reason);
    fflush(stderr);
    MPI_Abort(ctx->comm != MPI_COMM_NULL ? ctx->comm : MPI_COMM_WORLD, 1);
    return BSNN_E_IO; /* not reached */
}

bsnn_status bsnn_mpi__mpi_failed(bsnn_mpi *ctx, int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, text, &len);
    char reason[BSNN_MPI__MSG_CAP + MPI_MAX_ERROR_STRING];
    snprintf(reason, sizeof reason, "%s failed in MPI (%s)", what, text);
    return give_up(ctx, reason);
}

bsnn_status bsnn_mpi__wait(bsnn_mpi *ctx, MPI_Request *reqs, int n, const char *what)
{
    double start = MPI_Wtime(), deadline = start + ctx->timeout;
    const struct timespec nap = {0, NAP_NANOSECONDS};
    for (;;) {
        int done = 0;
        int rc = MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return bsnn_mpi__mpi_failed(ctx, rc, what);
        if (done) return BSNN_OK;
        double now = MPI_Wtime();
        if (now >= deadline) {
            char reason[BSNN_MPI__MSG_CAP];
            snprintf(reason, sizeof reason,
                     "%s did not complete within %g s (BSNN_MPI_TIMEOUT): another rank died, "
                     "hangs, or stopped calling the same collectives",
                     what, ctx->timeout);
            return give_up(ctx, reason);
        }
        if (now - start > SPIN_SECONDS) nanosleep(&nap, NULL);
    }
}

bsnn_status bsnn_mpi__allreduce(bsnn_mpi *ctx, void *buf, int count, MPI_Datatype t, MPI_Op op,
                                const char *what)
{
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, count, t, op, ctx->comm, &req);
    if (rc != MPI_SUCCESS) return bsnn_mpi__mpi_failed(ctx, rc, what);
    return bsnn_mpi__wait(ctx, &req, 1, what);
}

bsnn_status bsnn_mpi__agree(bsnn_mpi *ctx, bsnn_status local, const char *what)
{
    /* MINLOC: the most negative status and the lowest rank holding it */
    int pair[2] = {(int)local, ctx->rank};
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, pair, 1, MPI_2INT, MPI_MINLOC, ctx->comm, &req);
    if (rc != MPI_SUCCESS) return bsnn_mpi__mpi_failed(ctx, rc, what);
    BSNN_MPI_TRY(bsnn_mpi__wait(ctx, &req, 1, what));
    if (pair[0] == BSNN_OK) return BSNN_OK;
    /* the failing rank's message, for every rank */
    char msg[BSNN_MPI__MSG_CAP];
    bsnn_mpi__message_copy(msg);
    rc = MPI_Ibcast(msg, (int)sizeof msg, MPI_CHAR, pair[1], ctx->comm, &req);
    if (rc != MPI_SUCCESS) return bsnn_mpi__mpi_failed(ctx, rc, what);
    BSNN_MPI_TRY(bsnn_mpi__wait(ctx, &req, 1, what));
    msg[sizeof msg - 1] = '\0';
    if (ctx->rank != pair[1]) {
        if (local != BSNN_OK) return (bsnn_status)pair[0]; /* its own message kept */
        char mine[2 * BSNN_MPI__MSG_CAP];
        snprintf(mine, sizeof mine, "%s: rank %d failed: %s", what, pair[1], msg);
        bsnn_mpi__message_set(mine);
    }
    return (bsnn_status)pair[0];
}

bsnn_status bsnn_mpi__bcast_bytes(bsnn_mpi *ctx, void *buf, size_t size, const char *what)
{
    unsigned char *p = buf;
    while (size > 0) {
        size_t n = size < (size_t)INT_MAX ? size : (size_t)INT_MAX;
        MPI_Request req;
        int rc = MPI_Ibcast(p, (int)n, MPI_BYTE, 0, ctx->comm, &req);
        if (rc != MPI_SUCCESS) return bsnn_mpi__mpi_failed(ctx, rc, what);
        BSNN_MPI_TRY(bsnn_mpi__wait(ctx, &req, 1, what));
        p += n;
        size -= n;
    }
    return BSNN_OK;
}
