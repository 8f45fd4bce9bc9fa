/*
 * io.c - persistence: models and checkpoints to files and memory buffers in
 * the format of docs/format.md (magic, version, little-endian sections each
 * with a length and a CRC-32). Writers go through a two-pass byte writer
 * (count, then fill) so every section length is known before it is written;
 * files are replaced atomically by common/file.c. Readers treat every byte
 * as hostile: each read is bounds checked, each size is checked against the
 * bytes that remain before anything is allocated, and every value is
 * validated through the objects' own setters.
 */
#include "persist/persist.h"

#include <stdio.h>

#define FMT_MAJOR 1
#define FMT_MINOR 0
#define HEADER_SIZE 20
#define SECTION_OVERHEAD 20 /* tag, flags, length, crc */
#define SECTION_OPTIONAL 1u /* flag: a reader that does not know it may skip it */
/* Settings ids probed on save; the enums stay far below this. */
#define MAX_SETTING 64

enum { KIND_MODEL = 1, KIND_CHECKPOINT = 2 };

/* Fuzz builds (make fuzz) ignore CRC mismatches, the convention of OSS-Fuzz
 * projects: otherwise almost every mutation dies at the checksum and the
 * parser behind it is never exercised. Only there: every other build checks. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define CRC_MISMATCH(want, got) ((void)(want), (void)(got), 0)
#else
#define CRC_MISMATCH(want, got) ((want) != (got))
#endif

static const unsigned char magic[8] = {0x89, 'B', 'S', 'N', 'N', '\r', '\n', 0x1a};

/* ---- writer: counts when buf is NULL, fills otherwise ---------------------- */

typedef struct writer {
    unsigned char *buf;
    size_t len;
    size_t section; /* offset of the open section's tag */
} writer;

static void put_u8(writer *w, unsigned v)
{
    if (w->buf) w->buf[w->len] = (unsigned char)v;
    w->len++;
}

/* Byte by byte, least significant first: the same file on every host. */
static void put_uint(writer *w, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) put_u8(w, (unsigned)(v >> (8 * i)) & 0xffu);
}

static void put_u32(writer *w, uint32_t v) { put_uint(w, v, 4); }
static void put_u64(writer *w, uint64_t v) { put_uint(w, v, 8); }

static void put_f64(writer *w, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    put_u64(w, bits);
}

static void put_floats(writer *w, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        put_u32(w, bits);
    }
}

static void put_rng(writer *w, const bsnn_rng *rng)
{
    for (int i = 0; i < 4; i++) put_u64(w, rng->s[i]);
}

static void put_tag(writer *w, const char *tag)
{
    for (int i = 0; i < 4; i++) put_u8(w, (unsigned char)tag[i]);
}

static void begin_section(writer *w, const char *tag, uint32_t flags)
{
    w->section = w->len;
    put_tag(w, tag);
    put_u32(w, flags);
    put_u64(w, 0); /* length, patched by end_section */
}

static void end_section(writer *w)
{
    size_t payload = w->len - w->section - 16;
    if (w->buf) {
        writer patch = {w->buf, w->section + 8, 0};
        put_u64(&patch, payload);
    }
    uint32_t crc = w->buf ? bsnn__crc32(0, w->buf + w->section, w->len - w->section) : 0;
    put_u32(w, crc);
}

static void put_header(writer *w, uint32_t kind)
{
    for (int i = 0; i < 8; i++) put_u8(w, magic[i]);
    put_uint(w, FMT_MAJOR, 2);
    put_uint(w, FMT_MINOR, 2);
    put_u32(w, kind);
    put_u32(w, w->buf ? bsnn__crc32(0, w->buf, 16) : 0);
}

/* ---- model sections ----------------------------------------------------- */

/* A getter of setting `id` of an object, as the public *_get functions. */
typedef bsnn_status (*getter)(double *out, const void *obj, int id);

static bsnn_status layer_get(double *out, const void *obj, int id)
{
    return bsnn__layer_get(out, obj, (bsnn_layer_param)id);
}

static bsnn_status optimizer_get(double *out, const void *obj, int id)
{
    return bsnn__optimizer_get(out, obj, (bsnn_opt_param)id);
}

static bsnn_status scheduler_get(double *out, const void *obj, int id)
{
    return bsnn__scheduler_get(out, obj, (bsnn_sched_param)id);
}

/* Every setting the object answers to, through its own public getter, so
 * settings and kinds added later are saved without touching this file:
 * a count, then (u32 id, f64 value) pairs in increasing id order. */
static void put_settings(writer *w, getter get, const void *obj)
{
    double values[MAX_SETTING];
    uint32_t ids[MAX_SETTING], count = 0;
    char saved_error[BSNN__ERROR_CAP];
    bsnn__error_save(saved_error, sizeof saved_error);
    for (int p = 1; p < MAX_SETTING; p++)
        if (get(&values[count], obj, p) == BSNN_OK) ids[count++] = (uint32_t)p;
    bsnn__error_restore(saved_error); /* probing must not clobber the caller's message */
    put_u32(w, count);
    for (uint32_t i = 0; i < count; i++) {
        put_u32(w, ids[i]);
        put_f64(w, values[i]);
    }
}

static void put_layer(writer *w, const bsnn_layer *l)
{
    bsnn_rng rng = {{0, 0, 0, 0}};
    if (l->ops->get_rng) l->ops->get_rng(l, &rng);
    begin_section(w, "LAYR", 0);
    put_u32(w, (uint32_t)l->ops->kind);
    put_u32(w, l->ops->variant ? l->ops->variant(l) : 0);
    put_u64(w, l->n_in);
    put_u64(w, l->n_out);
    put_u64(w, l->n_params);
    put_u64(w, l->n_state);
    put_rng(w, &rng);
    put_settings(w, layer_get, l);
    end_section(w);
}

static void put_model(writer *w, const bsnn_model *m)
{
    begin_section(w, "MODL", 0);
    put_u64(w, m->n_in);
    put_u32(w, (uint32_t)m->loss);
    put_u32(w, (uint32_t)m->init_default);
    put_u64(w, m->seed);
    put_f64(w, m->threshold);
    put_u32(w, (uint32_t)m->training);
    put_u32(w, (uint32_t)m->started);
    put_rng(w, &m->rng);
    put_u64(w, m->n_layers);
    put_u64(w, m->n_params);
    put_u64(w, m->n_state);
    end_section(w);
    for (size_t i = 0; i < m->n_layers; i++) put_layer(w, m->layers[i]);
    begin_section(w, "PARM", 0);
    put_floats(w, m->params, m->n_params);
    end_section(w);
    begin_section(w, "STAT", 0);
    put_floats(w, m->state, m->n_state);
    end_section(w);
}

/* ---- reader: every access bounds checked ------------------------------------ */

typedef struct reader {
    const unsigned char *p;
    size_t len, pos;
    int bad; /* a read ran past the end */
} reader;

static uint64_t get_uint(reader *r, int bytes)
{
    if (r->len - r->pos < (size_t)bytes) {
        r->bad = 1;
        r->pos = r->len;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
    r->pos += (size_t)bytes;
    return v;
}

static uint32_t get_u32(reader *r) { return (uint32_t)get_uint(r, 4); }
static uint64_t get_u64(reader *r) { return get_uint(r, 8); }

static double get_f64(reader *r)
{
    uint64_t bits = get_u64(r);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static void get_rng(reader *r, bsnn_rng *rng)
{
    for (int i = 0; i < 4; i++) rng->s[i] = get_u64(r);
}

/* n floats into out; the caller has checked that 4n bytes remain. */
static void get_floats(reader *r, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = get_u32(r);
        memcpy(&out[i], &bits, sizeof bits);
    }
}

/* A size_t from a u64, failing (bad) when it does not fit this host. */
static size_t get_size(reader *r)
{
    uint64_t v = get_u64(r);
    if (v > SIZE_MAX) r->bad = 1;
    return (size_t)v;
}

static size_t remaining(const reader *r) { return r->len - r->pos; }

/* One verified section: its tag and a reader over its payload. */
typedef struct section {
    char tag[5];
    uint32_t flags;
    reader body;
} section;

static bsnn_status next_section(section *out, reader *r)
{
    size_t start = r->pos;
    BSNN_FAIL_IF(remaining(r) < SECTION_OVERHEAD, BSNN_E_FORMAT,
                 "truncated at byte %zu: no room for a section header", start);
    for (int i = 0; i < 4; i++) out->tag[i] = (char)r->p[r->pos + (size_t)i];
    out->tag[4] = '\0';
    for (int i = 0; i < 4; i++)
        if (out->tag[i] < 0x20 || out->tag[i] > 0x7e) out->tag[i] = '?';
    r->pos += 4;
    out->flags = get_u32(r);
    uint64_t length = get_u64(r);
    BSNN_FAIL_IF(length > remaining(r) || remaining(r) - length < 4, BSNN_E_FORMAT,
                 "section '%s' at byte %zu declares %llu bytes, only %zu remain", out->tag, start,
                 (unsigned long long)length, remaining(r));
    size_t body = r->pos;
    r->pos += (size_t)length;
    uint32_t want = get_u32(r);
    uint32_t got = bsnn__crc32(0, r->p + start, body + (size_t)length - start);
    BSNN_FAIL_IF(CRC_MISMATCH(want, got), BSNN_E_FORMAT,
                 "section '%s' at byte %zu fails its CRC-32 (stored %08x, computed %08x)", out->tag,
                 start, want, got);
    out->body = (reader){r->p + body, (size_t)length, 0, 0};
    return BSNN_OK;
}

static bsnn_status check_header(reader *r, uint32_t *out_kind)
{
    BSNN_FAIL_IF(r->len < HEADER_SIZE, BSNN_E_FORMAT,
                 "%zu bytes is too short for a bsnn file (header is %d)", r->len, HEADER_SIZE);
    BSNN_FAIL_IF(memcmp(r->p, magic, sizeof magic) != 0, BSNN_E_FORMAT,
                 "not a bsnn file (wrong magic bytes)");
    r->pos = 8;
    unsigned major = (unsigned)get_uint(r, 2), minor = (unsigned)get_uint(r, 2);
    uint32_t kind = get_u32(r), crc = get_u32(r);
    BSNN_FAIL_IF(CRC_MISMATCH(crc, bsnn__crc32(0, r->p, 16)), BSNN_E_FORMAT,
                 "file header fails its CRC-32");
    BSNN_FAIL_IF(major != FMT_MAJOR, BSNN_E_FORMAT,
                 "format version %u.%u is not readable by this bsnn (reads %d.x)%s", major, minor,
                 FMT_MAJOR, major > FMT_MAJOR ? "; it was written by a newer bsnn: upgrade" : "");
    BSNN_FAIL_IF(kind != KIND_MODEL && kind != KIND_CHECKPOINT, BSNN_E_FORMAT,
                 "unknown file kind %u", kind);
    *out_kind = kind;
    return BSNN_OK;
}

/* Skip unknown optional sections; fail on unknown required ones. Returns
 * BSNN_OK with *out set to the next section the caller knows about. */
static bsnn_status next_known(section *out, reader *r, const char *const *known)
{
    for (;;) {
        BSNN_TRY(next_section(out, r));
        for (const char *const *k = known; *k; k++)
            if (memcmp(out->tag, *k, 4) == 0) return BSNN_OK;
        BSNN_FAIL_IF(!(out->flags & SECTION_OPTIONAL), BSNN_E_FORMAT,
                     "required section '%s' is unknown to this reader "
                     "(written by a newer bsnn?)",
                     out->tag);
    }
}

static bsnn_status expect(section *out, reader *r, const char *tag)
{
    const char *known[] = {"MODL", "LAYR", "PARM", "STAT", "OPTM", "SCHD", "END ", NULL};
    BSNN_TRY(next_known(out, r, known));
    BSNN_FAIL_IF(memcmp(out->tag, tag, 4) != 0, BSNN_E_FORMAT, "expected section '%s', found '%s'",
                 tag, out->tag);
    return BSNN_OK;
}

static bsnn_status body_ok(const section *s)
{
    BSNN_FAIL_IF(s->body.bad, BSNN_E_FORMAT, "section '%s' is shorter than its fields", s->tag);
    return BSNN_OK;
}

/* ---- model loading -------------------------------------------------------- */

typedef struct model_header {
    size_t n_in, n_layers, n_params, n_state;
    bsnn_rng rng; /* restored last: adding layers draws from the model's stream */
    int started;  /* restored last: a started model refuses new layers */
} model_header;

static bsnn_status read_model_header(bsnn_model **out, model_header *h, section *s,
                                     size_t file_size)
{
    reader *b = &s->body;
    h->n_in = get_size(b);
    uint32_t loss = get_u32(b), init = get_u32(b);
    uint64_t seed = get_u64(b);
    double threshold = get_f64(b);
    uint32_t training = get_u32(b), started = get_u32(b);
    get_rng(b, &h->rng);
    h->n_layers = get_size(b);
    h->n_params = get_size(b);
    h->n_state = get_size(b);
    BSNN_TRY(body_ok(s));
    /* Each layer, parameter and state float needs bytes of its own in the
     * file, so sizes beyond the file's are lies: refuse before allocating. */
    BSNN_FAIL_IF(h->n_layers > file_size / SECTION_OVERHEAD || h->n_params > file_size / 4 ||
                     h->n_state > file_size / 4,
                 BSNN_E_FORMAT,
                 "model declares %zu layers, %zu parameters, %zu state values: "
                 "more than a %zu-byte file can hold",
                 h->n_layers, h->n_params, h->n_state, file_size);
    /* loss 0: none chosen yet (a model saved before set_loss) */
    BSNN_FAIL_IF(h->n_in == 0 || (loss != BSNN_LOSS_NONE && !bsnn__loss_valid((int)loss)) ||
                     init < BSNN_INIT_ZEROS || init > BSNN_INIT_UNIFORM || !isfinite(threshold) ||
                     training > 1 || started > 1,
                 BSNN_E_FORMAT,
                 "model header holds invalid values (inputs %zu, loss %u, init %u, "
                 "threshold %g, training %u, started %u)",
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

/* A setter of setting `id`, as the public *_set functions. */
typedef bsnn_status (*setter)(void *obj, int id, double v);

static bsnn_status layer_set(void *obj, int id, double v)
{
    return bsnn__layer_set(obj, (bsnn_layer_param)id, v);
}

static bsnn_status optimizer_set(void *obj, int id, double v)
{
    return bsnn__optimizer_set(obj, (bsnn_opt_param)id, v);
}

static bsnn_status scheduler_set(void *obj, int id, double v)
{
    return bsnn__scheduler_set(obj, (bsnn_sched_param)id, v);
}

/* Read a settings list and apply each through the public setter, which
 * bounds-checks it; `what` names the object in messages. */
static bsnn_status read_settings(reader *b, setter set, void *obj, const char *what)
{
    uint32_t count = get_u32(b);
    BSNN_FAIL_IF(b->bad || count > remaining(b) / 12, BSNN_E_FORMAT,
                 "%s declares %u settings in %zu bytes", what, count, remaining(b));
    for (uint32_t i = 0; i < count; i++) {
        uint32_t id = get_u32(b);
        double v = get_f64(b);
        BSNN_FORWARD_AS_IF_ERROR(set(obj, (int)id, v), BSNN_E_FORMAT,
                                 "%s: setting %u = %g rejected", what, id, v);
    }
    return BSNN_OK;
}

/* Build layer `index` from its section and add it to m; budget holds the
 * parameter and state floats the header still allows. */
static bsnn_status read_layer(bsnn_model *m, section *s, size_t index, size_t *budget_params,
                              size_t *budget_state)
{
    reader *b = &s->body;
    uint32_t kind = get_u32(b), act = get_u32(b);
    size_t n_in = get_size(b), n_out = get_size(b), n_params = get_size(b), n_state = get_size(b);
    bsnn_rng rng;
    get_rng(b, &rng);
    BSNN_TRY(body_ok(s));
    const bsnn_layer_ops *ops = bsnn__layer_ops_of((int)kind);
    BSNN_FAIL_IF(ops == NULL, BSNN_E_FORMAT, "layer %zu has unknown kind %u", index, kind);
    BSNN_FAIL_IF(act != 0 && ops->set_variant == NULL, BSNN_E_FORMAT,
                 "layer %zu (%s) has variant %u, expected 0", index, ops->name, act);
    bsnn_layer *l = bsnn__layer_new(ops);
    if (l == NULL) return BSNN_E_NOMEM;
    l->n_out = n_out;
    char what[32];
    snprintf(what, sizeof what, "layer %zu", index);
    bsnn_status st = ops->set_variant ? ops->set_variant(l, act) : BSNN_OK;
    if (st != BSNN_OK) st = bsnn__context(st, "%s", what);
    if (st == BSNN_OK) st = read_settings(b, layer_set, l, what);
    /* Size the layer before the model allocates for it, and hold it to what
     * the header (itself bounded by the file size) declared. */
    if (st == BSNN_OK && (ops->setup(l, bsnn__model_n_outputs(m)) != BSNN_OK ||
                          l->n_in != n_in || l->n_out != n_out || l->n_params != n_params ||
                          l->n_state != n_state || n_params > *budget_params ||
                          n_state > *budget_state))
        st = bsnn__fail(BSNN_E_FORMAT,
                        "layer %zu (%s, %zu -> %zu, %zu parameters, %zu state) does not fit "
                        "the model (input width %zu)",
                        index, ops->name, n_in, n_out, n_params, n_state, bsnn__model_n_outputs(m));
    if (st != BSNN_OK) {
        bsnn__layer_destroy(l);
        return st;
    }
    /* bsnn__model_add takes l even on failure */
    BSNN_FORWARD_AS_IF_ERROR(bsnn__model_add(m, l), BSNN_E_FORMAT, "layer %zu cannot be added",
                             index);
    if (ops->set_rng) ops->set_rng(l, &rng);
    *budget_params -= n_params;
    *budget_state -= n_state;
    return BSNN_OK;
}

/* A float section holding exactly n finite values into out. */
static bsnn_status read_floats(float *out, size_t n, section *s)
{
    BSNN_FAIL_IF(remaining(&s->body) != n * 4, BSNN_E_FORMAT,
                 "section '%s' holds %zu bytes, expected %zu", s->tag, remaining(&s->body), n * 4);
    get_floats(&s->body, out, n);
    BSNN_FAIL_IF(!bsnn__all_finite(out, n), BSNN_E_FORMAT,
                 "section '%s' holds a NaN or infinite value", s->tag);
    return BSNN_OK;
}

static bsnn_status read_model_sections(bsnn_model *m, const model_header *h, reader *r)
{
    section s;
    size_t budget_params = h->n_params, budget_state = h->n_state;
    for (size_t i = 0; i < h->n_layers; i++) {
        BSNN_TRY(expect(&s, r, "LAYR"));
        BSNN_TRY(read_layer(m, &s, i, &budget_params, &budget_state));
    }
    BSNN_FAIL_IF(m->n_params != h->n_params || m->n_state != h->n_state, BSNN_E_FORMAT,
                 "layers hold %zu parameters and %zu state values, header says %zu "
                 "and %zu",
                 m->n_params, m->n_state, h->n_params, h->n_state);
    BSNN_TRY(expect(&s, r, "PARM"));
    BSNN_TRY(read_floats(m->params, m->n_params, &s));
    BSNN_TRY(expect(&s, r, "STAT"));
    BSNN_TRY(read_floats(m->state, m->n_state, &s));
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

/* Read the model at the reader's position (after the file header). */
static bsnn_status read_model(bsnn_model **out, reader *r)
{
    section s;
    model_header h;
    bsnn_model *m = NULL;
    BSNN_TRY(expect(&s, r, "MODL"));
    BSNN_TRY(read_model_header(&m, &h, &s, r->len));
    bsnn_status st = read_model_sections(m, &h, r);
    if (st != BSNN_OK) {
        bsnn__model_free(m);
        return st;
    }
    *out = m;
    return BSNN_OK;
}

static bsnn_status expect_end(reader *r)
{
    section s;
    BSNN_TRY(expect(&s, r, "END "));
    BSNN_FAIL_IF(remaining(r) != 0, BSNN_E_FORMAT, "%zu unexpected bytes after the end section",
                 remaining(r));
    return BSNN_OK;
}

/* ---- public: models ------------------------------------------------------- */

static void write_model_file(writer *w, const bsnn_model *m)
{
    put_header(w, KIND_MODEL);
    put_model(w, m);
    begin_section(w, "END ", 0);
    end_section(w);
}

/* Serialise into a fresh buffer through the two-pass writer. */
static bsnn_status serialise(unsigned char **out, size_t *out_size,
                             void (*fill)(writer *, const void *), const void *obj)
{
    writer w = {NULL, 0, 0};
    fill(&w, obj);
    unsigned char *buf = bsnn__alloc(w.len);
    if (buf == NULL) return BSNN_E_NOMEM;
    size_t size = w.len;
    w = (writer){buf, 0, 0};
    fill(&w, obj);
    *out = buf;
    *out_size = size;
    return BSNN_OK;
}

static void fill_model(writer *w, const void *m) { write_model_file(w, m); }

bsnn_status bsnn_model_save_size(size_t *out_size, const bsnn_model *m)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_size);
    BSNN_CHECK_NULL(m);
    writer w = {NULL, 0, 0};
    write_model_file(&w, m);
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
    writer w = {NULL, 0, 0};
    write_model_file(&w, m);
    BSNN_FAIL_IF(w.len > capacity, BSNN_E_SHAPE, "capacity is %zu bytes, the model needs %zu",
                 capacity, w.len);
    size_t size = w.len;
    w = (writer){out, 0, 0};
    write_model_file(&w, m);
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
    BSNN_TRY(serialise(&buf, &size, fill_model, m));
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
    BSNN_TRY(serialise(&buf, &size, fill_model, m));
    bsnn_status st = bsnn__write_atomic(path, buf, size);
    bsnn__free(buf);
    return st;
}

/* Parse a model from a whole file image; a checkpoint's model is accepted. */
static bsnn_status model_from(bsnn_model **out, const unsigned char *data, size_t size)
{
    reader r = {data, size, 0, 0};
    uint32_t kind = 0;
    bsnn_model *m = NULL;
    BSNN_TRY(check_header(&r, &kind));
    BSNN_TRY(read_model(&m, &r));
    bsnn_status st = kind == KIND_MODEL ? expect_end(&r) : BSNN_OK;
    if (st != BSNN_OK) {
        bsnn__model_free(m);
        return st;
    }
    *out = m;
    return BSNN_OK;
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

/* ---- checkpoints: model + optimizer state + scheduler position ------------ */

typedef struct checkpoint {
    const bsnn_model *m;
    const bsnn_optimizer *opt;    /* may be NULL */
    const bsnn_scheduler *s;      /* may be NULL */
    const uint64_t *sched_words;  /* the scheduler's position, from scheduler.c */
    size_t n_words;
} checkpoint;

static void put_optimizer(writer *w, const bsnn_optimizer *opt)
{
    size_t count = opt->bound && opt->state ? opt->n * opt->n_state_vectors : 0;
    begin_section(w, "OPTM", 0);
    put_u32(w, (uint32_t)opt->kind);
    put_settings(w, optimizer_get, opt);
    put_u32(w, opt->bound != 0);
    put_u64(w, opt->t);
    put_u64(w, opt->n);
    put_u64(w, opt->n_state_vectors);
    put_u64(w, count);
    put_floats(w, opt->state, count);
    end_section(w);
}

static void put_scheduler(writer *w, const bsnn_scheduler *s, const uint64_t *words, size_t n)
{
    begin_section(w, "SCHD", 0);
    put_u64(w, s->n);
    put_settings(w, scheduler_get, s);
    put_u64(w, s->n_steps);
    for (size_t i = 0; i < s->n_steps; i++) {
        put_u64(w, s->step_epochs[i]);
        put_u64(w, s->step_sizes[i]);
    }
    put_u64(w, n);
    for (size_t i = 0; i < n; i++) put_u64(w, words[i]);
    end_section(w);
}

static void fill_checkpoint(writer *w, const void *obj)
{
    const checkpoint *c = obj;
    put_header(w, KIND_CHECKPOINT);
    put_model(w, c->m);
    if (c->opt) put_optimizer(w, c->opt);
    if (c->s) put_scheduler(w, c->s, c->sched_words, c->n_words);
    begin_section(w, "END ", 0);
    end_section(w);
}

/* Serialise a checkpoint into a fresh buffer. */
static bsnn_status checkpoint_bytes(unsigned char **out, size_t *out_size, const bsnn_model *m,
                                    const bsnn_optimizer *opt, const bsnn_scheduler *s)
{
    BSNN_CHECK_NULL(m);
    BSNN_FAIL_IF(opt && opt->bound && opt->bound != m->id, BSNN_E_STATE,
                 "the optimizer is bound to another model");
    checkpoint c = {m, opt, s, NULL, 0};
    uint64_t *words = NULL;
    if (s) {
        c.n_words = bsnn__scheduler_state_words(s);
        words = bsnn__calloc(c.n_words, sizeof *words);
        if (words == NULL) return BSNN_E_NOMEM;
        bsnn__scheduler_save(s, words);
        c.sched_words = words;
    }
    bsnn_status st = serialise(out, out_size, fill_checkpoint, &c);
    bsnn__free(words);
    return st;
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

/* The optimizer of an OPTM section, bound to m with its state restored. */
static bsnn_status read_optimizer(bsnn_optimizer **out, section *sec, bsnn_model *m)
{
    reader *b = &sec->body;
    uint32_t kind = get_u32(b);
    BSNN_FAIL_IF(!bsnn__optimizer_kind_valid((int)kind), BSNN_E_FORMAT, "unknown optimizer kind %u",
                 kind);
    bsnn_optimizer *opt = bsnn__optimizer_create((bsnn_optimizer_kind)kind);
    if (opt == NULL) return BSNN_E_NOMEM;
    bsnn_status st = read_settings(b, optimizer_set, opt, "optimizer");
    uint32_t bound = get_u32(b);
    uint64_t t = get_u64(b);
    size_t n = get_size(b), vectors = get_size(b), count = get_size(b);
    if (st == BSNN_OK) st = body_ok(sec);
    if (st == BSNN_OK && (bound > 1 || (bound && n != m->n_params) || (!bound && count != 0)))
        st = bsnn__fail(BSNN_E_FORMAT,
                        "optimizer state (bound %u, %zu values per vector) does not match "
                        "the model's %zu parameters",
                        bound, n, m->n_params);
    if (st == BSNN_OK && bound) {
        st = bsnn__optimizer_bind(opt, m, n);
        if (st == BSNN_OK && (vectors != opt->n_state_vectors ||
                              count != bsnn__mul_size(n, opt->n_state_vectors)))
            st = bsnn__fail(BSNN_E_FORMAT,
                            "optimizer holds %zu state vectors (%zu values), its kind has %zu",
                            vectors, count, opt->n_state_vectors);
        if (st == BSNN_OK) st = read_floats(opt->state, count, sec);
        opt->t = t;
    }
    if (st != BSNN_OK) {
        bsnn__optimizer_free(opt);
        return st;
    }
    *out = opt;
    return BSNN_OK;
}

/* Read the batch-size step list into s (validated by the public setter). */
static bsnn_status read_batch_steps(bsnn_scheduler *s, reader *b)
{
    size_t count = get_size(b);
    BSNN_FAIL_IF(b->bad || count > remaining(b) / 16, BSNN_E_FORMAT,
                 "scheduler declares %zu batch steps in %zu bytes", count, remaining(b));
    if (count == 0) return BSNN_OK;
    size_t *epochs = bsnn__calloc(count, 2 * sizeof(size_t));
    if (epochs == NULL) return BSNN_E_NOMEM;
    size_t *sizes = epochs + count;
    for (size_t i = 0; i < count; i++) {
        epochs[i] = get_size(b);
        sizes[i] = get_size(b);
    }
    bsnn_status st = b->bad ? BSNN_E_FORMAT
                            : bsnn__scheduler_set_batch_steps(s, epochs, sizes, count);
    bsnn__free(epochs);
    if (st == BSNN_E_NOMEM) return st;
    BSNN_FAIL_IF(st != BSNN_OK, BSNN_E_FORMAT, "the scheduler's batch steps are invalid");
    return BSNN_OK;
}

/* Restore the position words (scheduler.c validates and applies them). */
static bsnn_status read_position(bsnn_scheduler *s, reader *b)
{
    size_t count = get_size(b);
    BSNN_FAIL_IF(b->bad || count > remaining(b) / 8 || count == 0, BSNN_E_FORMAT,
                 "scheduler declares %zu position words in %zu bytes", count, remaining(b));
    uint64_t *words = bsnn__calloc(count, sizeof *words);
    if (words == NULL) return BSNN_E_NOMEM;
    for (size_t i = 0; i < count; i++) words[i] = get_u64(b);
    bsnn_status st = bsnn__scheduler_load(s, words, count);
    bsnn__free(words);
    return st;
}

static bsnn_status read_scheduler(bsnn_scheduler **out, section *sec, size_t file_size)
{
    reader *b = &sec->body;
    size_t n = get_size(b);
    /* The position holds one word per sample: n is bounded by the file. */
    BSNN_FAIL_IF(b->bad || n == 0 || n > file_size / 8, BSNN_E_FORMAT,
                 "scheduler for %zu samples in a %zu-byte file", n, file_size);
    bsnn_scheduler *s = bsnn__scheduler_create(n);
    if (s == NULL) return BSNN_E_NOMEM;
    bsnn_status st = read_settings(b, scheduler_set, s, "scheduler");
    if (st == BSNN_OK) st = read_batch_steps(s, b);
    if (st == BSNN_OK) st = read_position(s, b);
    if (st != BSNN_OK) {
        bsnn__scheduler_free(s);
        return st;
    }
    *out = s;
    return BSNN_OK;
}

/* After the model: an optional OPTM, an optional SCHD, then END. */
static bsnn_status read_checkpoint_rest(bsnn_optimizer **out_opt, bsnn_scheduler **out_s,
                                        bsnn_model *m, reader *r)
{
    const char *known[] = {"MODL", "LAYR", "PARM", "STAT", "OPTM", "SCHD", "END ", NULL};
    section sec;
    BSNN_TRY(next_known(&sec, r, known));
    if (memcmp(sec.tag, "OPTM", 4) == 0) {
        BSNN_TRY(read_optimizer(out_opt, &sec, m));
        BSNN_TRY(next_known(&sec, r, known));
    }
    if (memcmp(sec.tag, "SCHD", 4) == 0) {
        BSNN_TRY(read_scheduler(out_s, &sec, r->len));
        BSNN_TRY(next_known(&sec, r, known));
    }
    BSNN_FAIL_IF(memcmp(sec.tag, "END ", 4) != 0, BSNN_E_FORMAT,
                 "unexpected section '%s' in a checkpoint", sec.tag);
    BSNN_FAIL_IF(remaining(r) != 0, BSNN_E_FORMAT, "%zu unexpected bytes after the end section",
                 remaining(r));
    return BSNN_OK;
}

static bsnn_status checkpoint_from(bsnn_model **out_m, bsnn_optimizer **out_opt,
                                   bsnn_scheduler **out_s, const unsigned char *data,
                                   size_t size)
{
    reader r = {data, size, 0, 0};
    uint32_t kind = 0;
    BSNN_TRY(check_header(&r, &kind));
    BSNN_FAIL_IF(kind != KIND_CHECKPOINT, BSNN_E_FORMAT,
                 "this is a model file, not a checkpoint "
                 "(use bsnn_model_load)");
    bsnn_model *m = NULL;
    bsnn_optimizer *opt = NULL;
    bsnn_scheduler *s = NULL;
    BSNN_TRY(read_model(&m, &r));
    bsnn_status st = read_checkpoint_rest(&opt, &s, m, &r);
    if (st != BSNN_OK) {
        bsnn__optimizer_free(opt);
        bsnn__scheduler_free(s);
        bsnn__model_free(m);
        return st;
    }
    *out_m = m;
    if (out_opt) *out_opt = opt;
    else bsnn__optimizer_free(opt);
    if (out_s) *out_s = s;
    else bsnn__scheduler_free(s);
    return BSNN_OK;
}

bsnn_status bsnn_checkpoint_load_buffer(bsnn_model **out_model, bsnn_optimizer **out_opt,
                                        bsnn_scheduler **out_sched, const void *data,
                                        size_t size)
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
