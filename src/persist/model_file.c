/*
 * model_file.c - the model format (docs/format.md): MODL (the model's own
 * fields), one LAYR per layer (written and read by the layer itself, from
 * its kind's settings table), PARM (the parameters) and STAT (the layers'
 * state), in files and in memory buffers; and the model save and load
 * functions. Loading rebuilds the model through the same code paths as
 * building it (create, add), holding every count to what the file can hold
 * before anything is allocated.
 */
#include "persist/persist.h"

/* ---- writing ------------------------------------------------------------- */

void bsnn__put_model_sections(bsnn__writer *w, const bsnn_model *m)
{
    bsnn__begin_section(w, "MODL", 0);
    bsnn__put_u64(w, m->n_in);
    bsnn__put_u32(w, (uint32_t)m->loss);
    bsnn__put_u32(w, (uint32_t)m->init_default);
    bsnn__put_u64(w, m->seed);
    bsnn__put_f64(w, m->threshold);
    bsnn__put_u32(w, (uint32_t)m->training);
    bsnn__put_u32(w, (uint32_t)m->started);
    bsnn__put_rng(w, &m->rng);
    bsnn__put_u64(w, m->n_layers);
    bsnn__put_u64(w, m->n_params);
    bsnn__put_u64(w, m->n_state);
    bsnn__end_section(w);
    for (size_t i = 0; i < m->n_layers; i++) {
        bsnn__begin_section(w, "LAYR", 0);
        bsnn__layer_save(w, m->layers[i]);
        bsnn__end_section(w);
    }
    bsnn__begin_section(w, "PARM", 0);
    bsnn__put_floats(w, m->params, m->n_params);
    bsnn__end_section(w);
    bsnn__begin_section(w, "STAT", 0);
    bsnn__put_floats(w, m->state, m->n_state);
    bsnn__end_section(w);
}

static void fill_model_file(bsnn__writer *w, const void *m)
{
    bsnn__put_file_header(w, BSNN__FILE_MODEL);
    bsnn__put_model_sections(w, m);
    bsnn__put_end(w);
}

/* ---- reading ------------------------------------------------------------- */

typedef struct model_header {
    size_t n_in, n_layers, n_params, n_state;
    bsnn_rng rng; /* restored last: adding layers draws from the model's stream */
    int started;  /* restored last: a started model refuses new layers */
} model_header;

static bsnn_status read_model_header(bsnn_model **out, model_header *h, bsnn__section *s,
                                     size_t file_size)
{
    bsnn__reader *b = &s->body;
    h->n_in = bsnn__get_size(b);
    uint32_t loss = bsnn__get_u32(b), init = bsnn__get_u32(b);
    uint64_t seed = bsnn__get_u64(b);
    double threshold = bsnn__get_f64(b);
    uint32_t training = bsnn__get_u32(b), started = bsnn__get_u32(b);
    bsnn__get_rng(b, &h->rng);
    h->n_layers = bsnn__get_size(b);
    h->n_params = bsnn__get_size(b);
    h->n_state = bsnn__get_size(b);
    BSNN_TRY(bsnn__body_ok(s));
    /* Each layer, parameter and state float needs bytes of its own in the
     * file, so sizes beyond the file's are lies: refuse before allocating. */
    BSNN_FAIL_IF(h->n_layers > file_size / BSNN__SECTION_OVERHEAD || h->n_params > file_size / 4 ||
                     h->n_state > file_size / 4,
                 BSNN_E_FORMAT,
                 "model declares %zu layers, %zu parameters, %zu state values: more than a "
                 "%zu-byte file can hold",
                 h->n_layers, h->n_params, h->n_state, file_size);
    /* loss 0: none chosen yet (a model saved before set_loss) */
    BSNN_FAIL_IF(h->n_in == 0 || (loss != BSNN_LOSS_NONE && !bsnn__loss_valid((int)loss)) ||
                     init < BSNN_INIT_ZEROS || init > BSNN_INIT_UNIFORM || !isfinite(threshold) ||
                     training > 1 || started > 1,
                 BSNN_E_FORMAT,
                 "model header holds invalid values (inputs %zu, loss %u, init %u, threshold %g, "
                 "training %u, started %u)",
                 h->n_in, loss, init, threshold, training, started);
    bsnn_model *m = bsnn__model_create(h->n_in);
    if (m == NULL) return BSNN_E_NOMEM;
    m->loss = (bsnn_loss)loss;
    m->init_default = (int)init;
    m->seed = seed;
    m->threshold = threshold;
    m->training = (int)training;
    h->started = (int)started;
    *out = m;
    return BSNN_OK;
}

/* Build layer `index` from its section and add it to m; budget holds the
 * parameter and state floats the header still allows. */
static bsnn_status read_layer(bsnn_model *m, bsnn__section *s, size_t index,
                              size_t *budget_params, size_t *budget_state)
{
    bsnn_layer *l = NULL;
    bsnn__layer_file f;
    BSNN_FORWARD_IF_ERROR(bsnn__layer_load(&l, &f, &s->body, bsnn__model_n_outputs(m)),
                          "layer %zu", index);
    if (s->body.bad || f.n_params > *budget_params || f.n_state > *budget_state) {
        bsnn__layer_destroy(l);
        BSNN_FAIL_IF(s->body.bad, BSNN_E_FORMAT, "layer %zu: section is shorter than its fields",
                     index);
        return bsnn__fail(BSNN_E_FORMAT, "layer %zu holds more parameters or state than the "
                          "model header declares", index);
    }
    /* bsnn__model_add takes l even on failure */
    BSNN_FORWARD_AS_IF_ERROR(bsnn__model_add(m, l), BSNN_E_FORMAT, "layer %zu cannot be added",
                             index);
    if (l->ops->set_rng) l->ops->set_rng(l, &f.rng);
    *budget_params -= f.n_params;
    *budget_state -= f.n_state;
    return BSNN_OK;
}

static bsnn_status read_model_sections(bsnn_model *m, const model_header *h, bsnn__reader *r)
{
    bsnn__section s;
    size_t budget_params = h->n_params, budget_state = h->n_state;
    for (size_t i = 0; i < h->n_layers; i++) {
        BSNN_TRY(bsnn__expect_section(&s, r, "LAYR"));
        BSNN_TRY(read_layer(m, &s, i, &budget_params, &budget_state));
    }
    BSNN_FAIL_IF(m->n_params != h->n_params || m->n_state != h->n_state, BSNN_E_FORMAT,
                 "layers hold %zu parameters and %zu state values, header says %zu and %zu",
                 m->n_params, m->n_state, h->n_params, h->n_state);
    BSNN_TRY(bsnn__expect_section(&s, r, "PARM"));
    BSNN_TRY(bsnn__get_rest_floats(m->params, m->n_params, &s));
    BSNN_TRY(bsnn__expect_section(&s, r, "STAT"));
    BSNN_TRY(bsnn__get_rest_floats(m->state, m->n_state, &s));
    for (size_t i = 0; i < m->n_layers; i++) {
        const bsnn_layer *l = m->layers[i];
        if (l->ops->check_state)
            BSNN_FORWARD_IF_ERROR(l->ops->check_state(l, bsnn__at(m->state, l->state_off)),
                                  "layer %zu", i);
    }
    m->rng = h->rng;
    m->started = h->started;
    return BSNN_OK;
}

bsnn_status bsnn__get_model_sections(bsnn_model **out, bsnn__reader *r)
{
    bsnn__section s;
    model_header h;
    bsnn_model *m = NULL;
    BSNN_TRY(bsnn__expect_section(&s, r, "MODL"));
    BSNN_TRY(read_model_header(&m, &h, &s, r->len));
    bsnn_status st = read_model_sections(m, &h, r);
    if (st != BSNN_OK) {
        bsnn__model_free(m);
        return st;
    }
    *out = m;
    return BSNN_OK;
}

/* Parse a model from a whole file image; a checkpoint's model is accepted. */
static bsnn_status model_from(bsnn_model **out, const unsigned char *data, size_t size)
{
    bsnn__reader r = {data, size, 0, 0};
    uint32_t kind = 0;
    bsnn_model *m = NULL;
    BSNN_TRY(bsnn__check_file_header(&r, &kind));
    BSNN_TRY(bsnn__get_model_sections(&m, &r));
    bsnn_status st = BSNN_OK;
    if (kind == BSNN__FILE_MODEL) {
        bsnn__section end;
        st = bsnn__expect_section(&end, &r, "END ");
        if (st == BSNN_OK) st = bsnn__check_end(&end, &r);
    }
    if (st != BSNN_OK) {
        bsnn__model_free(m);
        return st;
    }
    *out = m;
    return BSNN_OK;
}

/* ---- public ------------------------------------------------------------------ */

bsnn_status bsnn_model_save_size(size_t *out_size, const bsnn_model *m)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_size);
    BSNN_CHECK_NULL(m);
    bsnn__writer w = {NULL, 0, 0};
    fill_model_file(&w, m);
    *out_size = w.len;
    return BSNN_OK;
}

bsnn_status bsnn_model_save_buffer(void *out, size_t capacity, size_t *out_size,
                                   const bsnn_model *m)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(out_size);
    BSNN_CHECK_NULL(m);
    bsnn__writer w = {NULL, 0, 0};
    fill_model_file(&w, m);
    BSNN_FAIL_IF(w.len > capacity, BSNN_E_SHAPE, "capacity is %zu bytes, the model needs %zu",
                 capacity, w.len);
    size_t size = w.len;
    w = (bsnn__writer){out, 0, 0};
    fill_model_file(&w, m);
    *out_size = size;
    return BSNN_OK;
}

bsnn_status bsnn_model_save_alloc(void **out, size_t *out_size, const bsnn_model *m)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(out_size);
    BSNN_CHECK_NULL(m);
    unsigned char *buf = NULL;
    size_t size = 0;
    BSNN_TRY(bsnn__serialise(&buf, &size, fill_model_file, m));
    *out = buf;
    *out_size = size;
    return BSNN_OK;
}

void bsnn_buffer_free(void *buf) { bsnn__free(buf); }

bsnn_status bsnn_model_save(const bsnn_model *m, const char *path)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(path);
    unsigned char *buf = NULL;
    size_t size = 0;
    BSNN_TRY(bsnn__serialise(&buf, &size, fill_model_file, m));
    bsnn_status st = bsnn__write_atomic(path, buf, size);
    bsnn__free(buf);
    return st;
}

bsnn_status bsnn_model_load_buffer(bsnn_model **out, const void *data, size_t size)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(data);
    return model_from(out, data, size);
}

bsnn_status bsnn_model_load(bsnn_model **out, const char *path)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(path);
    unsigned char *buf = NULL;
    size_t size = 0;
    BSNN_TRY(bsnn__read_file(&buf, &size, path));
    bsnn_status st = model_from(out, buf, size);
    bsnn__free(buf);
    return st;
}
