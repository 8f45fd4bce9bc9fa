/*
 * context.c - the bsnn_mpi context: its communicator (a duplicate of the
 * host's, errors returned rather than fatal), its settings and statistics,
 * the thread-local message of the last failure, and bsnn_mpi_abort.
 */
#include "mpi/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[BSNN_MPI__MSG_CAP];
_Thread_local const char *bsnn_mpi__entry;

const char *bsnn_mpi_last_error(void) { return last_error; }

bsnn_status bsnn_mpi__fail(bsnn_status status, const char *fmt, ...)
{
    int k = snprintf(last_error, sizeof last_error, "%s: ",
                     bsnn_mpi__entry ? bsnn_mpi__entry : "bsnn_mpi");
    if (k < 0 || (size_t)k >= sizeof last_error) return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error + k, sizeof last_error - (size_t)k, fmt, ap);
    va_end(ap);
    return status;
}

bsnn_status bsnn_mpi__fail_bsnn(bsnn_status status, const char *what)
{
    return bsnn_mpi__fail(status, "%s: %s", what, bsnn_last_error());
}

void bsnn_mpi__message_copy(char *out) { memcpy(out, last_error, sizeof last_error); }

void bsnn_mpi__message_set(const char *msg)
{
    snprintf(last_error, sizeof last_error, "%s", msg);
}

/* The control variable of libnbc's Iallreduce algorithm, when this MPI has
 * it (Open MPI); without it the gradient goes through whatever the MPI
 * library picks. */
static void find_algorithm_variable(bsnn_mpi *ctx)
{
    int provided, index, count;
    if (MPI_T_init_thread(MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) return;
    if (MPI_T_cvar_get_index("coll_libnbc_iallreduce_algorithm", &index) == MPI_SUCCESS &&
        MPI_T_cvar_handle_alloc(index, NULL, &ctx->alg, &count) == MPI_SUCCESS) {
        if (count == 1) {
            ctx->have_alg = 1;
            return;
        }
        MPI_T_cvar_handle_free(&ctx->alg);
    }
    MPI_T_finalize();
}

/* Default settings; the duplicate is made with MPI_Comm_idup so that a
 * rank that never joins is a timeout, not a hang. */
bsnn_mpi *bsnn_mpi_create(MPI_Comm comm)
{
    BSNN_MPI_ENTER();
    int init = 0, done = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&done);
    if (!init || done) {
        bsnn_mpi__fail(BSNN_E_STATE, "MPI is %s (call MPI_Init first)",
                       done ? "already finalized" : "not initialised");
        return NULL;
    }
    if (comm == MPI_COMM_NULL) {
        bsnn_mpi__fail(BSNN_E_ARG, "comm is MPI_COMM_NULL");
        return NULL;
    }
    bsnn_mpi *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        bsnn_mpi__fail(BSNN_E_NOMEM, "out of memory (%zu bytes)", sizeof *ctx);
        return NULL;
    }
    ctx->timeout = 60.0;
    ctx->on_timeout = BSNN_MPI_ABORT;
    ctx->comm = MPI_COMM_NULL;
    MPI_Comm_rank(comm, &ctx->rank);
    MPI_Comm_size(comm, &ctx->size);
    MPI_Request req;
    int rc = MPI_Comm_idup(comm, &ctx->comm, &req);
    if (rc != MPI_SUCCESS || bsnn_mpi__wait(ctx, &req, 1, "duplicating the communicator")) {
        if (rc != MPI_SUCCESS) bsnn_mpi__fail(BSNN_E_IO, "MPI_Comm_idup failed (error %d)", rc);
        if (ctx->comm != MPI_COMM_NULL && !ctx->broken) MPI_Comm_free(&ctx->comm);
        free(ctx);
        return NULL;
    }
    MPI_Comm_set_errhandler(ctx->comm, MPI_ERRORS_RETURN);
    find_algorithm_variable(ctx);
    ctx->small_sq = ctx->big_sq = ctx->grad_sq = ctx->trace = NAN;
    return ctx;
}

void bsnn_mpi_free(bsnn_mpi *ctx)
{
    if (ctx == NULL) return;
    if (ctx->have_alg) {
        MPI_T_cvar_handle_free(&ctx->alg);
        MPI_T_finalize();
    }
    /* A broken context may still have a reduction pending on it: leave the
     * communicator to MPI_Abort or MPI_Finalize then. */
    if (!ctx->broken) MPI_Comm_free(&ctx->comm);
    free(ctx);
}

int bsnn_mpi_rank(const bsnn_mpi *ctx) { return ctx ? ctx->rank : 0; }
int bsnn_mpi_size(const bsnn_mpi *ctx) { return ctx ? ctx->size : 0; }

/* The settings: id, lower and upper bound, whether the lower is open. */
static const struct {
    int id;
    const char *name;
    double lo, hi;
    unsigned open;
} settings[] = {
    {BSNN_MPI_TIMEOUT, "timeout (seconds)", 0.0, 1e6, BSNN_BOUND_LO_OPEN},
    {BSNN_MPI_ON_TIMEOUT, "on-timeout action", BSNN_MPI_ABORT, BSNN_MPI_RETURN, 0},
    {BSNN_MPI_NOISE_STATS, "noise-statistics flag", 0, 1, 0},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

static int find(int id)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (settings[i].id == id) return (int)i;
    return -1;
}

bsnn_status bsnn_mpi_set(bsnn_mpi *ctx, bsnn_mpi_param param, double value)
{
    BSNN_MPI_ENTER();
    BSNN_MPI_CHECK_NULL(ctx);
    int i = find((int)param);
    BSNN_MPI_FAIL_IF(i < 0, BSNN_E_ARG, "unknown setting %d", (int)param);
    int open_lo = (settings[i].open & BSNN_BOUND_LO_OPEN) != 0;
    BSNN_MPI_FAIL_IF(!isfinite(value) || value > settings[i].hi ||
                         (open_lo ? value <= settings[i].lo : value < settings[i].lo) ||
                         (param != BSNN_MPI_TIMEOUT && value != floor(value)),
                     BSNN_E_ARG, "%s %g is outside %s%g, %g]", settings[i].name, value,
                     open_lo ? "(" : "[", settings[i].lo, settings[i].hi);
    if (param == BSNN_MPI_TIMEOUT)
        ctx->timeout = value;
    else if (param == BSNN_MPI_ON_TIMEOUT)
        ctx->on_timeout = (int)value;
    else
        ctx->noise = (int)value;
    return BSNN_OK;
}

bsnn_status bsnn_mpi_get(double *out, const bsnn_mpi *ctx, bsnn_mpi_param param)
{
    BSNN_MPI_ENTER();
    BSNN_MPI_CHECK_NULL(out);
    BSNN_MPI_CHECK_NULL(ctx);
    BSNN_MPI_FAIL_IF(find((int)param) < 0, BSNN_E_ARG, "unknown setting %d", (int)param);
    *out = param == BSNN_MPI_TIMEOUT      ? ctx->timeout
           : param == BSNN_MPI_ON_TIMEOUT ? (double)ctx->on_timeout
                                          : (double)ctx->noise;
    return BSNN_OK;
}

bsnn_status bsnn_mpi_bounds(double *out_lo, double *out_hi, unsigned *out_open,
                            const bsnn_mpi *ctx, bsnn_mpi_param param)
{
    BSNN_MPI_ENTER();
    BSNN_MPI_CHECK_NULL(out_lo);
    BSNN_MPI_CHECK_NULL(out_hi);
    BSNN_MPI_CHECK_NULL(out_open);
    BSNN_MPI_CHECK_NULL(ctx);
    int i = find((int)param);
    BSNN_MPI_FAIL_IF(i < 0, BSNN_E_ARG, "unknown setting %d", (int)param);
    *out_lo = settings[i].lo;
    *out_hi = settings[i].hi;
    *out_open = settings[i].open;
    return BSNN_OK;
}

bsnn_status bsnn_mpi_stat(double *out, const bsnn_mpi *ctx, bsnn_mpi_stat_id stat)
{
    BSNN_MPI_ENTER();
    BSNN_MPI_CHECK_NULL(out);
    BSNN_MPI_CHECK_NULL(ctx);
    switch (stat) {
    case BSNN_MPI_STAT_UPDATES: *out = (double)ctx->updates; return BSNN_OK;
    case BSNN_MPI_STAT_REDUCE_SECONDS: *out = ctx->reduce_seconds; return BSNN_OK;
    case BSNN_MPI_STAT_LAST_SECONDS: *out = ctx->last_seconds; return BSNN_OK;
    case BSNN_MPI_STAT_LOCAL_ROWS: *out = ctx->local_rows; return BSNN_OK;
    case BSNN_MPI_STAT_GLOBAL_ROWS: *out = ctx->global_rows; return BSNN_OK;
    case BSNN_MPI_STAT_SMALL_BATCH: *out = ctx->small_batch; return BSNN_OK;
    case BSNN_MPI_STAT_SMALL_SQNORM: *out = ctx->small_sq; return BSNN_OK;
    case BSNN_MPI_STAT_BIG_SQNORM: *out = ctx->big_sq; return BSNN_OK;
    case BSNN_MPI_STAT_GRAD_SQ: *out = ctx->grad_sq; return BSNN_OK;
    case BSNN_MPI_STAT_TRACE: *out = ctx->trace; return BSNN_OK;
    }
    return bsnn_mpi__fail(BSNN_E_ARG, "unknown statistic %d", (int)stat);
}

void bsnn_mpi_abort(bsnn_mpi *ctx, int code, const char *message)
{
    int rank = 0, size = 1;
    MPI_Comm comm = ctx ? ctx->comm : MPI_COMM_WORLD;
    if (ctx) {
        rank = ctx->rank;
        size = ctx->size;
    } else {
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
    }
    fprintf(stderr, "bsnn_mpi: rank %d of %d: %s\n", rank, size, message ? message : "aborting");
    fflush(stderr);
    MPI_Abort(comm, code);
    abort(); /* MPI_Abort does not return; never fall back into the caller */
}
