/*
 * state.c - rank 0's objects on every rank: a checkpoint in memory
 * (bsnn_checkpoint_save_alloc, exact to the bit) broadcast and loaded, for
 * the start of a run (bsnn_mpi_broadcast) and for resuming one from a file
 * only rank 0 reads (bsnn_mpi_checkpoint_load); and checkpoints written by
 * rank 0 with its status shared (bsnn_mpi_checkpoint_save). Every failure
 * is agreed on, so all ranks return the same status and no rank is left
 * waiting in a collective the others skipped.
 */
#include "mpi/internal.h"

#include <stdlib.h>

/* What rank 0 sends: the payload's size and which parts it holds. */
enum { H_SIZE, H_OPT, H_SCHED, N_HEAD };

/* The new objects a non-root rank built from the payload. */
typedef struct received {
    bsnn_model *m;
    bsnn_optimizer *opt;
    bsnn_scheduler *s;
} received;

static void received_free(received *r)
{
    bsnn_model_free(r->m);
    bsnn_optimizer_free(r->opt);
    bsnn_scheduler_free(r->s);
}

/* Rank 0: serialise its objects into *buf (bsnn_buffer_free). */
static bsnn_status pack(void **buf, uint64_t *head, bsnn_model *m, bsnn_optimizer *opt,
                        bsnn_scheduler *s)
{
    size_t size = 0;
    if (m == NULL) return bsnn_mpi__fail(BSNN_E_NULL, "rank 0 has no model (*m is NULL)");
    bsnn_status st = bsnn_checkpoint_save_alloc(buf, &size, m, opt, s);
    if (st != BSNN_OK) return bsnn_mpi__fail_bsnn(st, "serialising rank 0's objects");
    head[H_SIZE] = size;
    head[H_OPT] = opt != NULL;
    head[H_SCHED] = s != NULL;
    return BSNN_OK;
}

/* Another rank: room for the payload, and somewhere to put each part. */
static bsnn_status prepare(void **buf, const uint64_t *head, bsnn_optimizer **opt,
                           bsnn_scheduler **s)
{
    BSNN_MPI_FAIL_IF(head[H_OPT] && opt == NULL, BSNN_E_ARG,
                     "rank 0 sends an optimizer but this rank's 'opt' is NULL");
    BSNN_MPI_FAIL_IF(head[H_SCHED] && s == NULL, BSNN_E_ARG,
                     "rank 0 sends a scheduler but this rank's 's' is NULL");
    BSNN_MPI_FAIL_IF(head[H_SIZE] > SIZE_MAX, BSNN_E_NOMEM, "a %llu-byte payload",
                     (unsigned long long)head[H_SIZE]);
    *buf = malloc((size_t)head[H_SIZE]);
    BSNN_MPI_FAIL_IF(*buf == NULL, BSNN_E_NOMEM, "out of memory (%llu bytes of rank 0's objects)",
                     (unsigned long long)head[H_SIZE]);
    return BSNN_OK;
}

static bsnn_status unpack(received *r, const void *buf, const uint64_t *head)
{
    bsnn_status st = bsnn_checkpoint_load_buffer(&r->m, head[H_OPT] ? &r->opt : NULL,
                                                 head[H_SCHED] ? &r->s : NULL, buf,
                                                 (size_t)head[H_SIZE]);
    if (st != BSNN_OK) return bsnn_mpi__fail_bsnn(st, "loading rank 0's objects");
    return BSNN_OK;
}

/* The whole exchange; on success a non-root rank's new objects are in *r. */
static bsnn_status exchange(bsnn_mpi *ctx, received *r, bsnn_model *m, bsnn_optimizer **opt,
                            bsnn_scheduler **s, const char *what)
{
    uint64_t head[N_HEAD] = {0, 0, 0};
    void *buf = NULL;
    int root = ctx->rank == 0;
    /* each step's status is agreed on before the next collective, so the
     * ranks take the same branches */
    bsnn_status st = root ? pack(&buf, head, m, opt ? *opt : NULL, s ? *s : NULL) : BSNN_OK;
    st = bsnn_mpi__agree(ctx, st, what);
    if (st == BSNN_OK) st = bsnn_mpi__bcast_bytes(ctx, head, sizeof head, what);
    if (st == BSNN_OK) {
        st = root ? BSNN_OK : prepare(&buf, head, opt, s);
        st = bsnn_mpi__agree(ctx, st, what);
    }
    if (st == BSNN_OK) st = bsnn_mpi__bcast_bytes(ctx, buf, (size_t)head[H_SIZE], what);
    if (st == BSNN_OK) {
        st = root ? BSNN_OK : unpack(r, buf, head);
        st = bsnn_mpi__agree(ctx, st, what);
    }
    if (root)
        bsnn_buffer_free(buf);
    else
        free(buf);
    return st;
}

bsnn_status bsnn_mpi_broadcast(bsnn_mpi *ctx, bsnn_model **m, bsnn_optimizer **opt,
                               bsnn_scheduler **s)
{
    BSNN_MPI_ENTER();
    BSNN_MPI_CHECK_NULL(ctx);
    BSNN_MPI_TRY(bsnn_mpi__usable(ctx));
    received r = {NULL, NULL, NULL};
    bsnn_status st = m ? BSNN_OK : bsnn_mpi__fail(BSNN_E_NULL, "argument 'm' is NULL");
    st = bsnn_mpi__agree(ctx, st, "bsnn_mpi_broadcast");
    if (st == BSNN_OK) st = exchange(ctx, &r, *m, opt, s, "bsnn_mpi_broadcast");
    if (st != BSNN_OK) {
        received_free(&r);
        return st;
    }
    if (ctx->rank != 0) {
        bsnn_model_free(*m);
        *m = r.m;
        if (r.opt) bsnn_optimizer_free(*opt), *opt = r.opt;
        if (r.s) bsnn_scheduler_free(*s), *s = r.s;
    }
    return BSNN_OK;
}

bsnn_status bsnn_mpi_checkpoint_save(bsnn_mpi *ctx, const bsnn_model *m, const bsnn_optimizer *opt,
                                     const bsnn_scheduler *s, const char *path)
{
    BSNN_MPI_ENTER();
    BSNN_MPI_CHECK_NULL(ctx);
    BSNN_MPI_TRY(bsnn_mpi__usable(ctx));
    bsnn_status st = BSNN_OK;
    if (ctx->rank == 0) {
        st = bsnn_checkpoint_save(m, opt, s, path);
        if (st != BSNN_OK) st = bsnn_mpi__fail_bsnn(st, "rank 0 writing the checkpoint");
    }
    return bsnn_mpi__agree(ctx, st, "bsnn_mpi_checkpoint_save");
}

bsnn_status bsnn_mpi_checkpoint_load(bsnn_mpi *ctx, bsnn_model **out_model,
                                     bsnn_optimizer **out_opt, bsnn_scheduler **out_sched,
                                     const char *path)
{
    BSNN_MPI_ENTER();
    BSNN_MPI_CHECK_NULL(ctx);
    BSNN_MPI_TRY(bsnn_mpi__usable(ctx));
    const char *what = "bsnn_mpi_checkpoint_load";
    received loaded = {NULL, NULL, NULL}, r = {NULL, NULL, NULL};
    bsnn_status st = out_model ? BSNN_OK : bsnn_mpi__fail(BSNN_E_NULL, "argument 'out_model' is NULL");
    if (st == BSNN_OK && ctx->rank == 0) {
        st = bsnn_checkpoint_load(&loaded.m, out_opt ? &loaded.opt : NULL,
                                  out_sched ? &loaded.s : NULL, path);
        if (st != BSNN_OK) st = bsnn_mpi__fail_bsnn(st, "rank 0 reading the checkpoint");
    }
    st = bsnn_mpi__agree(ctx, st, what);
    /* rank 0 sends what it read; the others receive it as new objects */
    bsnn_optimizer **opt = out_opt ? &loaded.opt : NULL;
    bsnn_scheduler **s = out_sched ? &loaded.s : NULL;
    if (st == BSNN_OK) st = exchange(ctx, &r, loaded.m, opt, s, what);
    if (st != BSNN_OK) {
        received_free(&loaded);
        received_free(&r);
        return st;
    }
    received *mine = ctx->rank == 0 ? &loaded : &r;
    *out_model = mine->m;
    if (out_opt) *out_opt = mine->opt;
    if (out_sched) *out_sched = mine->s;
    return BSNN_OK;
}
