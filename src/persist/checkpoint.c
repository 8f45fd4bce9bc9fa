/*
 * checkpoint.c - the checkpoint format (docs/format.md): the model sections,
 * an optional NOIS (the model's gradient noise-scale route and estimate)
 * when there is one, then OPTM (the optimizer's own payload: kind, settings, state vectors,
 * step count) when one is given, SCHD (the scheduler's: settings, batch
 * steps, position and generator) when one is given, then END; and the
 * checkpoint save and load functions. A run resumed from one is
 * bit-identical to a run that never stopped.
 */
#include "persist/persist.h"

typedef struct checkpoint {
    const bsnn_model *m;
    const bsnn_optimizer *opt; /* may be NULL */
    const bsnn_scheduler *s;   /* may be NULL */
} checkpoint;

static void fill_checkpoint(bsnn__writer *w, const void *obj)
{
    const checkpoint *c = obj;
    bsnn__put_file_header(w, BSNN__FILE_CHECKPOINT);
    bsnn__put_model_sections(w, c->m);
    if (bsnn__noise_worth_saving(c->m)) {
        /* optional: a reader that does not know it skips it */
        bsnn__begin_section(w, "NOIS", BSNN__SECTION_OPTIONAL);
        bsnn__noise_save(w, c->m);
        bsnn__end_section(w);
    }
    if (c->opt) {
        bsnn__begin_section(w, "OPTM", 0);
        bsnn__optimizer_save(w, c->opt);
        bsnn__end_section(w);
    }
    if (c->s) {
        bsnn__begin_section(w, "SCHD", 0);
        bsnn__scheduler_save(w, c->s);
        bsnn__end_section(w);
    }
    bsnn__put_end(w);
}

/* Serialise a checkpoint into a fresh buffer. */
static bsnn_status checkpoint_bytes(unsigned char **out, size_t *out_size, const bsnn_model *m,
                                    const bsnn_optimizer *opt, const bsnn_scheduler *s)
{
    BSNN_CHECK_NULL(m);
    BSNN_FAIL_IF(opt && opt->bound && opt->bound != m->id, BSNN_E_STATE,
                 "the optimizer is bound to another model");
    checkpoint c = {m, opt, s};
    return bsnn__serialise(out, out_size, fill_checkpoint, &c);
}

bsnn_status bsnn_checkpoint_save_alloc(void **out, size_t *out_size, const bsnn_model *m,
                                       const bsnn_optimizer *opt, const bsnn_scheduler *s)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(out_size);
    unsigned char *buf = NULL;
    size_t size = 0;
    BSNN_TRY(checkpoint_bytes(&buf, &size, m, opt, s));
    *out = buf;
    *out_size = size;
    return BSNN_OK;
}

bsnn_status bsnn_checkpoint_save(const bsnn_model *m, const bsnn_optimizer *opt,
                                 const bsnn_scheduler *s, const char *path)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(path);
    unsigned char *buf = NULL;
    size_t size = 0;
    BSNN_TRY(checkpoint_bytes(&buf, &size, m, opt, s));
    bsnn_status st = bsnn__write_atomic(path, buf, size);
    bsnn__free(buf);
    return st;
}

/* After the model: an optional OPTM, an optional SCHD, then END. */
static bsnn_status read_rest(bsnn_optimizer **out_opt, bsnn_scheduler **out_s, bsnn_model *m,
                             bsnn__reader *r)
{
    bsnn__section sec;
    BSNN_TRY(bsnn__next_known(&sec, r));
    if (memcmp(sec.tag, "NOIS", 4) == 0) {
        BSNN_TRY(bsnn__noise_load(&sec, m));
        BSNN_TRY(bsnn__next_known(&sec, r));
    }
    if (memcmp(sec.tag, "OPTM", 4) == 0) {
        BSNN_TRY(bsnn__optimizer_load(out_opt, &sec, m));
        BSNN_TRY(bsnn__next_known(&sec, r));
    }
    if (memcmp(sec.tag, "SCHD", 4) == 0) {
        BSNN_TRY(bsnn__scheduler_load(out_s, &sec.body, r->len));
        BSNN_TRY(bsnn__next_known(&sec, r));
    }
    return bsnn__check_end(&sec, r);
}

static bsnn_status checkpoint_from(bsnn_model **out_m, bsnn_optimizer **out_opt,
                                   bsnn_scheduler **out_s, const unsigned char *data, size_t size)
{
    bsnn__reader r = {data, size, 0, 0};
    uint32_t kind = 0;
    BSNN_TRY(bsnn__check_file_header(&r, &kind));
    BSNN_FAIL_IF(kind != BSNN__FILE_CHECKPOINT, BSNN_E_FORMAT,
                 "this is a model file, not a checkpoint (use bsnn_model_load)");
    bsnn_model *m = NULL;
    bsnn_optimizer *opt = NULL;
    bsnn_scheduler *s = NULL;
    BSNN_TRY(bsnn__get_model_sections(&m, &r));
    bsnn_status st = read_rest(&opt, &s, m, &r);
    if (st != BSNN_OK) {
        bsnn__optimizer_free(opt);
        bsnn__scheduler_free(s);
        bsnn__model_free(m);
        return st;
    }
    *out_m = m;
    if (out_opt)
        *out_opt = opt;
    else
        bsnn__optimizer_free(opt);
    if (out_s)
        *out_s = s;
    else
        bsnn__scheduler_free(s);
    return BSNN_OK;
}

bsnn_status bsnn_checkpoint_load_buffer(bsnn_model **out_model, bsnn_optimizer **out_opt,
                                        bsnn_scheduler **out_sched, const void *data, size_t size)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_model);
    BSNN_CHECK_NULL(data);
    return checkpoint_from(out_model, out_opt, out_sched, data, size);
}

bsnn_status bsnn_checkpoint_load(bsnn_model **out_model, bsnn_optimizer **out_opt,
                                 bsnn_scheduler **out_sched, const char *path)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_model);
    BSNN_CHECK_NULL(path);
    unsigned char *buf = NULL;
    size_t size = 0;
    BSNN_TRY(bsnn__read_file(&buf, &size, path));
    bsnn_status st = checkpoint_from(out_model, out_opt, out_sched, buf, size);
    bsnn__free(buf);
    return st;
}
