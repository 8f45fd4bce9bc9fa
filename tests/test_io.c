/*
 * test_io.c - persistence of models: round trips through files and buffers,
 * the byte layout of docs/format.md checked with an independent CRC-32 and
 * section walker, hostile input (truncation, bit flips, forged sizes and
 * shapes, newer versions), and atomic replacement under SIGKILL.
 */
#include "testutil.h"
#include "common/common.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- an independent reading of the format --------------------------------- */

#include "format_ref.h" /* ref_crc, rd, wr */

/* Offset of the n-th section with tag (0-based), or (size_t)-1. */
static size_t find_section(const unsigned char *b, size_t size, const char *tag, int nth)
{
    size_t pos = 20;
    while (pos + 20 <= size) {
        uint64_t len = rd(b + pos + 8, 8);
        if (memcmp(b + pos, tag, 4) == 0 && nth-- == 0) return pos;
        pos += 16 + (size_t)len + 4;
    }
    return (size_t)-1;
}

/* Recompute the header CRC and every section's CRC, so a forged field
 * reaches the loader's validation instead of its checksum test. */
static void fix_crcs(unsigned char *b, size_t size)
{
    wr(b + 16, ref_crc(b, 16), 4);
    size_t pos = 20;
    while (pos + 20 <= size) {
        size_t len = (size_t)rd(b + pos + 8, 8);
        if (pos + 16 + len + 4 > size) return;
        wr(b + pos + 16 + len, ref_crc(b + pos, 16 + len), 4);
        pos += 16 + len + 4;
    }
}

/* ---- fixtures --------------------------------------------------------------- */

static bsnn_model *trained_model(void)
{
    bsnn_model *m = bsnn_model_create(3);
    cr_assert_not_null(m);
    bsnn_layer *d1 = bsnn_layer_dense(5);
    cr_assert_eq(bsnn_layer_set(d1, BSNN_LAYER_L2, 0.01), BSNN_OK);
    cr_assert_eq(bsnn_layer_set(d1, BSNN_LAYER_INIT, BSNN_INIT_HE_NORMAL), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, d1), BSNN_OK);
    bsnn_layer *a = bsnn_layer_activation(BSNN_ACT_LEAKY_RELU);
    cr_assert_eq(bsnn_layer_set(a, BSNN_LAYER_SLOPE, 0.2), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, a), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(2)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE), BSNN_OK);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_THRESHOLD, 0.25), BSNN_OK);
    float x[8 * 3], y[8 * 2];
    for (int i = 0; i < 8; i++) {
        for (int j = 0; j < 3; j++) x[i * 3 + j] = (float)((i * 7 + j * 3) % 5) - 2.0f;
        y[i * 2] = (float)(i & 1);
        y[i * 2 + 1] = 1.0f - y[i * 2];
    }
    bsnn_tensor *tx = tu_wrap(x, 8, 3), *ty = tu_wrap(y, 8, 2);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    for (int s = 0; s < 5; s++) cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK);
    bsnn_optimizer_free(opt);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    return m;
}

static void assert_same_model(bsnn_model *a, bsnn_model *b)
{
    cr_assert_eq(bsnn_model_n_layers(a), bsnn_model_n_layers(b));
    cr_assert_eq(bsnn_model_n_inputs(a), bsnn_model_n_inputs(b));
    cr_assert_eq(bsnn_model_n_outputs(a), bsnn_model_n_outputs(b));
    size_t n = bsnn_model_param_count(a);
    cr_assert_eq(n, bsnn_model_param_count(b));
    float *pa = malloc(n * sizeof *pa), *pb = malloc(n * sizeof *pb);
    bsnn_model_get_params(pa, n, a);
    bsnn_model_get_params(pb, n, b);
    cr_assert(memcmp(pa, pb, n * sizeof *pa) == 0, "parameters differ after the round trip");
    free(pa);
    free(pb);
    for (size_t i = 0; i < bsnn_model_n_layers(a); i++) {
        bsnn_layer *la = bsnn_model_layer(a, i), *lb = bsnn_model_layer(b, i);
        cr_assert_eq(bsnn_layer_kind_of(la), bsnn_layer_kind_of(lb));
        for (int p = 1; p < 64; p++) {
            double va, vb;
            bsnn_status sa = bsnn_layer_get(&va, la, (bsnn_layer_param)p);
            bsnn_status sb = bsnn_layer_get(&vb, lb, (bsnn_layer_param)p);
            cr_assert_eq(sa, sb, "layer %zu setting %d", i, p);
            if (sa == BSNN_OK) cr_assert_eq(va, vb, "layer %zu setting %d", i, p);
        }
    }
    for (int p = 1; p <= 4; p++) {
        double va, vb;
        cr_assert_eq(bsnn_model_get(&va, a, (bsnn_model_param)p), BSNN_OK);
        cr_assert_eq(bsnn_model_get(&vb, b, (bsnn_model_param)p), BSNN_OK);
        cr_assert_eq(va, vb, "model setting %d", p);
    }
    /* Same outputs bit for bit, for several batch sizes. */
    size_t rows[] = {1, 3, 7};
    for (size_t k = 0; k < 3; k++) {
        size_t r = rows[k], ni = bsnn_model_n_inputs(a), no = bsnn_model_n_outputs(a);
        float *x = malloc(r * ni * sizeof *x), *oa = calloc(r * no, sizeof *oa),
              *ob = calloc(r * no, sizeof *ob);
        for (size_t i = 0; i < r * ni; i++) x[i] = (float)sin((double)i * 0.7);
        bsnn_tensor *tx = tu_wrap(x, r, ni), *ta = tu_wrap(oa, r, no), *tb = tu_wrap(ob, r, no);
        cr_assert_eq(bsnn_model_forward(ta, a, tx), BSNN_OK);
        cr_assert_eq(bsnn_model_forward(tb, b, tx), BSNN_OK);
        cr_assert(memcmp(oa, ob, r * no * sizeof *oa) == 0, "outputs differ for %zu rows", r);
        bsnn_tensor_free(tx);
        bsnn_tensor_free(ta);
        bsnn_tensor_free(tb);
        free(x);
        free(oa);
        free(ob);
    }
}

static unsigned char *saved_bytes(size_t *out_size, const bsnn_model *m)
{
    void *buf = NULL;
    cr_assert_eq(bsnn_model_save_alloc(&buf, out_size, m), BSNN_OK, "%s", bsnn_last_error());
    unsigned char *copy = malloc(*out_size);
    memcpy(copy, buf, *out_size);
    bsnn_buffer_free(buf);
    return copy;
}

/* Load must fail with FORMAT and a message, and must not leak. */
static void assert_rejected(const unsigned char *b, size_t size, const char *what)
{
    bsnn_model *m = NULL;
    bsnn_status st = bsnn_model_load_buffer(&m, b, size);
    cr_assert_eq(st, BSNN_E_FORMAT, "%s: status %d (%s)", what, st, bsnn_last_error());
    cr_assert_null(m, "%s: *out was written on failure", what);
    cr_assert(strlen(bsnn_last_error()) > 10, "%s: no message", what);
}

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bsnn-io-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

/* ---- round trips -------------------------------------------------------------- */

Test(io, file_round_trip_rebuilds_layers_settings_params_and_outputs)
{
    make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/model.bsnn", tmpdir);
    bsnn_model *m = trained_model();
    cr_assert_eq(bsnn_model_save(m, path), BSNN_OK, "%s", bsnn_last_error());
    bsnn_model *back = NULL;
    cr_assert_eq(bsnn_model_load(&back, path), BSNN_OK, "%s", bsnn_last_error());
    assert_same_model(m, back);
    /* Saving over an existing file replaces it. */
    cr_assert_eq(bsnn_model_save(back, path), BSNN_OK, "%s", bsnn_last_error());
    bsnn_model_free(back);
    cr_assert_eq(bsnn_model_load(&back, path), BSNN_OK, "%s", bsnn_last_error());
    assert_same_model(m, back);
    bsnn_model_free(back);
    bsnn_model_free(m);
    remove_tmpdir();
}

Test(io, buffer_variants_write_identical_bytes)
{
    bsnn_model *m = trained_model();
    size_t need = 0, wrote = 0, alloc_size = 0;
    cr_assert_eq(bsnn_model_save_size(&need, m), BSNN_OK);
    unsigned char *mine = malloc(need + 8);
    cr_assert_eq(bsnn_model_save_buffer(mine, need - 1, &wrote, m), BSNN_E_SHAPE);
    cr_assert_eq(wrote, 0, "out_size written on failure");
    cr_assert_eq(bsnn_model_save_buffer(mine, need + 8, &wrote, m), BSNN_OK);
    cr_assert_eq(wrote, need);
    void *theirs = NULL;
    cr_assert_eq(bsnn_model_save_alloc(&theirs, &alloc_size, m), BSNN_OK);
    cr_assert_eq(alloc_size, need);
    cr_assert(memcmp(mine, theirs, need) == 0);
    bsnn_model *back = NULL;
    cr_assert_eq(bsnn_model_load_buffer(&back, mine, wrote), BSNN_OK, "%s", bsnn_last_error());
    assert_same_model(m, back);
    bsnn_buffer_free(theirs);
    bsnn_buffer_free(NULL);
    bsnn_model_free(back);
    bsnn_model_free(m);
    free(mine);
}

Test(io, layout_is_little_endian_with_checked_crcs)
{
    bsnn_model *m = bsnn_model_create(1);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(1)), BSNN_OK);
    float p[2] = {1.0f, -2.0f};
    cr_assert_eq(bsnn_model_set_params(m, p, 2), BSNN_OK);
    size_t size;
    unsigned char *b = saved_bytes(&size, m);
    static const unsigned char magic[8] = {0x89, 'B', 'S', 'N', 'N', '\r', '\n', 0x1a};
    cr_assert(memcmp(b, magic, 8) == 0);
    cr_assert_eq(rd(b + 8, 2), 1, "major version");
    cr_assert_eq(rd(b + 10, 2), 0, "minor version");
    cr_assert_eq(rd(b + 12, 4), 1, "file kind: model");
    cr_assert_eq(rd(b + 16, 4), ref_crc(b, 16), "header CRC");
    /* Walk every section: lengths add up to the file and each CRC holds. */
    size_t pos = 20, sections = 0;
    while (pos < size) {
        size_t len = (size_t)rd(b + pos + 8, 8);
        cr_assert_leq(pos + 20 + len, size);
        cr_assert_eq(rd(b + pos + 16 + len, 4), ref_crc(b + pos, 16 + len), "section %zu CRC",
                     sections);
        pos += 20 + len;
        sections++;
    }
    cr_assert_eq(pos, size);
    cr_assert_eq(sections, 5, "MODL, LAYR, PARM, STAT, END");
    size_t parm = find_section(b, size, "PARM", 0);
    cr_assert_neq(parm, (size_t)-1);
    static const unsigned char want[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};
    cr_assert_eq(rd(b + parm + 8, 8), 8);
    cr_assert(memcmp(b + parm + 16, want, 8) == 0, "1.0f and -2.0f as IEEE-754 little-endian");
    cr_assert_eq(memcmp(b + size - 20, "END ", 4), 0);
    free(b);
    bsnn_model_free(m);
}

/* ---- hostile input ------------------------------------------------------------- */

Test(io, every_truncation_is_rejected)
{
    bsnn_model *m = trained_model();
    size_t size;
    unsigned char *b = saved_bytes(&size, m);
    for (size_t cut = 0; cut < size; cut++) {
        unsigned char *t = malloc(cut ? cut : 1);
        memcpy(t, b, cut);
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu bytes", cut, size);
        assert_rejected(t, cut, what);
        free(t);
    }
    fprintf(stderr, "io: all %zu truncations of a %zu-byte model rejected\n", size, size);
    free(b);
    bsnn_model_free(m);
}

Test(io, every_single_bit_flip_is_rejected)
{
    bsnn_model *m = trained_model();
    size_t size;
    unsigned char *b = saved_bytes(&size, m);
    for (size_t i = 0; i < size; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            b[i] ^= (unsigned char)(1u << bit);
            char what[64];
            snprintf(what, sizeof what, "bit %d of byte %zu flipped", bit, i);
            assert_rejected(b, size, what);
            b[i] ^= (unsigned char)(1u << bit);
        }
    }
    fprintf(stderr, "io: all %zu single-bit flips (bits 0, 3, 6 of every byte) rejected\n",
            3 * size);
    free(b);
    bsnn_model_free(m);
}

Test(io, wrong_magic_and_trailing_bytes_are_rejected)
{
    bsnn_model *m = trained_model();
    size_t size;
    unsigned char *b = saved_bytes(&size, m);
    unsigned char *t = malloc(size + 1);
    memcpy(t, b, size);
    t[size] = 0;
    assert_rejected(t, size + 1, "one trailing byte");
    memcpy(t, "PK\x03\x04", 4);
    assert_rejected(t, size, "zip magic");
    cr_assert(strstr(bsnn_last_error(), "magic") != NULL, "%s", bsnn_last_error());
    free(t);
    free(b);
    bsnn_model_free(m);
}

Test(io, newer_major_version_is_rejected_with_a_clear_message)
{
    bsnn_model *m = trained_model();
    size_t size;
    unsigned char *b = saved_bytes(&size, m);
    wr(b + 8, 2, 2);
    fix_crcs(b, size);
    assert_rejected(b, size, "major 2");
    cr_assert(strstr(bsnn_last_error(), "2.0") && strstr(bsnn_last_error(), "newer"), "%s",
              bsnn_last_error());
    /* A newer MINOR version is read. */
    wr(b + 8, 1, 2);
    wr(b + 10, 7, 2);
    fix_crcs(b, size);
    bsnn_model *back = NULL;
    cr_assert_eq(bsnn_model_load_buffer(&back, b, size), BSNN_OK, "%s", bsnn_last_error());
    bsnn_model_free(back);
    free(b);
    bsnn_model_free(m);
}

/* The file with a 20-byte section (tag, flags, empty payload) inserted
 * before the END section. */
static unsigned char *with_extra_section(size_t *out_size, const unsigned char *b, size_t size,
                                         const char *tag, uint32_t flags)
{
    size_t end = size - 20;
    unsigned char *t = malloc(size + 20);
    memcpy(t, b, end);
    memcpy(t + end, tag, 4);
    wr(t + end + 4, flags, 4);
    wr(t + end + 8, 0, 8);
    memcpy(t + end + 20, b + end, 20);
    *out_size = size + 20;
    fix_crcs(t, *out_size);
    return t;
}

Test(io, unknown_optional_sections_are_skipped_unknown_required_rejected)
{
    bsnn_model *m = trained_model();
    size_t size, tsize;
    unsigned char *b = saved_bytes(&size, m);
    unsigned char *t = with_extra_section(&tsize, b, size, "XTRA", 1);
    bsnn_model *back = NULL;
    cr_assert_eq(bsnn_model_load_buffer(&back, t, tsize), BSNN_OK, "%s", bsnn_last_error());
    assert_same_model(m, back);
    bsnn_model_free(back);
    free(t);
    t = with_extra_section(&tsize, b, size, "XTRA", 0);
    assert_rejected(t, tsize, "unknown required section");
    cr_assert(strstr(bsnn_last_error(), "XTRA") != NULL, "%s", bsnn_last_error());
    free(t);
    free(b);
    bsnn_model_free(m);
}

/* Forge a u64 field of a section payload and fix the CRCs. */
static void forge(unsigned char *b, size_t size, const char *tag, int nth, size_t field_off,
                  uint64_t value, int bytes)
{
    size_t pos = find_section(b, size, tag, nth);
    cr_assert_neq(pos, (size_t)-1, "no section %s", tag);
    wr(b + pos + 16 + field_off, value, bytes);
    fix_crcs(b, size);
}

/* A forged field: section tag, which occurrence, offset in the payload,
 * value and width. Offsets: MODL n_in @0, loss @8, init @12, seed @16,
 * threshold @24, training @32, started @36, rng @40, n_layers @72, n_params
 * @80, n_state @88; LAYR kind @0, act @4, n_in @8, n_out @16, n_params @24,
 * n_state @32. */
typedef struct forgery {
    const char *tag;
    int nth;
    size_t off;
    uint64_t v;
    int bytes;
    const char *what;
} forgery;

/* Each forgery of a trained model's file is rejected without leaking and
 * without allocating much more than the file's size. */
static void assert_forgeries_rejected(const forgery *cases, size_t n_cases)
{
    bsnn_model *m = trained_model();
    size_t size;
    unsigned char *b = saved_bytes(&size, m);
    bsnn_model_free(m);
    for (size_t k = 0; k < n_cases; k++) {
        unsigned char *t = malloc(size);
        memcpy(t, b, size);
        forge(t, size, cases[k].tag, cases[k].nth, cases[k].off, cases[k].v, cases[k].bytes);
        tu_count_allocations(0);
        assert_rejected(t, size, cases[k].what);
        cr_assert_leq(tu_stats.peak_bytes, 64 * size + 65536,
                      "%s: peak %zu bytes for a %zu-byte file", cases[k].what,
                      tu_stats.peak_bytes, size);
        cr_assert_eq(tu_stats.live_bytes, 0, "%s: leaked", cases[k].what);
        tu_restore_allocator();
        free(t);
    }
    free(b);
}

Test(io, huge_declared_sizes_are_refused_before_allocating)
{
    static const forgery cases[] = {
        {"MODL", 0, 72, UINT64_C(1) << 40, 8, "2^40 layers"},
        {"MODL", 0, 80, UINT64_C(1) << 60, 8, "2^60 parameters"},
        {"MODL", 0, 88, UINT64_MAX, 8, "2^64-1 state values"},
        {"MODL", 0, 0, UINT64_C(1) << 62, 8, "2^62 inputs"},
        {"LAYR", 0, 16, UINT64_C(1) << 40, 8, "dense layer of 2^40 outputs"},
        {"LAYR", 0, 24, UINT64_C(1) << 61, 8, "layer of 2^61 parameters"},
        /* issue 10: (3 + 1) * (2^62 + 5) wraps to the genuine 20 parameters */
        {"LAYR", 0, 16, (UINT64_C(1) << 62) + 5, 8, "dense width 2^62+5, count wraps to 20"},
        {"LAYR", 0, 16, (UINT64_C(1) << 63) + 5, 8, "dense width 2^63+5, count wraps to 20"},
    };
    assert_forgeries_rejected(cases, sizeof cases / sizeof cases[0]);
}

Test(io, inconsistent_shapes_and_values_are_rejected)
{
    static const forgery cases[] = {
        {"LAYR", 0, 16, 6, 8, "dense width 6 but parameters sized for 5"},
        {"LAYR", 1, 16, 4, 8, "activation wider than its input"},
        {"LAYR", 2, 8, 4, 8, "second dense claims 4 inputs after a width-5 layer"},
        {"LAYR", 0, 0, 99, 4, "unknown layer kind"},
        {"LAYR", 1, 4, 42, 4, "unknown activation"},
        {"MODL", 0, 8, 77, 4, "unknown loss"},
        {"MODL", 0, 0, 4, 8, "4 inputs but the first dense was sized for 3"},
        {"MODL", 0, 72, 2, 8, "2 layers declared, 3 present"},
        {"MODL", 0, 72, 4, 8, "4 layers declared, 3 present"},
        {"MODL", 0, 80, 3, 8, "fewer parameters declared than layers hold"},
        {"MODL", 0, 24, UINT64_C(0x7ff8000000000000), 8, "NaN threshold"},
        {"PARM", 0, 0, UINT64_C(0x7fc00000), 4, "NaN parameter"},
    };
    assert_forgeries_rejected(cases, sizeof cases / sizeof cases[0]);
}

Test(io, bad_settings_in_a_file_are_rejected_through_the_setters)
{
    bsnn_model *m = trained_model();
    size_t size;
    unsigned char *b = saved_bytes(&size, m);
    bsnn_model_free(m);
    /* Layer 1 (leaky relu) saves one setting: id @76, value @80. */
    size_t pos = find_section(b, size, "LAYR", 1);
    cr_assert_eq(rd(b + pos + 16 + 72, 4), 1, "one setting");
    cr_assert_eq(rd(b + pos + 16 + 76, 4), BSNN_LAYER_SLOPE);
    double neg = -3.0;
    uint64_t bits;
    memcpy(&bits, &neg, 8);
    forge(b, size, "LAYR", 1, 80, bits, 8);
    assert_rejected(b, size, "negative leaky slope");
    cr_assert(strstr(bsnn_last_error(), "setting 5") != NULL, "%s", bsnn_last_error());
    forge(b, size, "LAYR", 1, 72, 1000, 4);
    assert_rejected(b, size, "1000 settings in a short section");
    free(b);
}

Test(io, bad_arguments_and_missing_files_report_errors)
{
    bsnn_model *m = trained_model(), *out = NULL;
    size_t size = 0;
    void *buf = NULL;
    unsigned char one = 0;
    cr_assert_eq(bsnn_model_save(NULL, "/tmp/x"), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_save(m, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_load(NULL, "/tmp/x"), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_load(&out, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_load_buffer(NULL, &one, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_load_buffer(&out, NULL, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_save_size(NULL, m), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_save_size(&size, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_save_buffer(NULL, 10, &size, m), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_save_buffer(&one, 1, NULL, m), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_save_buffer(&one, 1, &size, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_save_alloc(NULL, &size, m), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_save_alloc(&buf, NULL, m), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_save_alloc(&buf, &size, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_load_buffer(&out, &one, 0), BSNN_E_FORMAT);
    cr_assert_eq(bsnn_model_load(&out, "/nonexistent-dir/model.bsnn"), BSNN_E_IO);
    cr_assert(strstr(bsnn_last_error(), "/nonexistent-dir/model.bsnn") != NULL, "%s",
              bsnn_last_error());
    cr_assert_eq(bsnn_model_load(&out, "/tmp"), BSNN_E_IO, "a directory");
    cr_assert_eq(bsnn_model_save(m, "/nonexistent-dir/model.bsnn"), BSNN_E_IO);
    cr_assert_null(out);
    bsnn_model_free(m);
}

/* ---- atomic replacement ------------------------------------------------------- */

/* Keep saving one of two different models over path until killed. */
static void saver_loop(const char *path, bsnn_model *a, bsnn_model *b)
{
    for (unsigned long i = 0;; i++)
        if (bsnn_model_save(i & 1 ? a : b, path) != BSNN_OK) _exit(3);
}

/* Files in tmpdir other than the target: temporary files a killed save left
 * behind. They are removed, so each kill's litter is counted once. */
static int count_litter(const char *target)
{
    DIR *d = opendir(tmpdir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, target) == 0) continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
        n++;
    }
    closedir(d);
    return n;
}

/* SIGKILL a process that saves over one path, at random moments, up to 420
 * times (or 4 s): the file must load after every kill and hold one of the
 * two models (never a torn mix). `litter` counts the kills that left a
 * temporary file behind: on the named-file route a killed write leaves its
 * whole PATH.tmp-PID-N; on Linux's unnamed route (O_TMPFILE, linked only
 * once complete) nothing but in the short window between link and rename. */
static void kill_during_saves(int named_only, int *out_kills, int *out_litter)
{
    make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/model.bsnn", tmpdir);
    bsnn_model *a = trained_model(), *b = bsnn_model_create(3);
    cr_assert_eq(bsnn_model_add(b, bsnn_layer_dense(40)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(b, bsnn_layer_dense(2)), BSNN_OK);
    cr_assert_eq(bsnn_model_save(a, path), BSNN_OK);
    bsnn__io_named_temp_only = named_only; /* inherited by the saver */
    uint64_t lcg = 12345;
    int kills = 0, litter = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) saver_loop(path, a, b);
        lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
        struct timespec nap = {0, (long)((lcg >> 33) % 5000000)}; /* 0-5 ms */
        nanosleep(&nap, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "saver exited by itself: %d", status);
        kills++;
        bsnn_model *back = NULL;
        cr_assert_eq(bsnn_model_load(&back, path), BSNN_OK, "after kill %d: %s", kills,
                     bsnn_last_error());
        size_t n = bsnn_model_param_count(back);
        cr_assert(n == bsnn_model_param_count(a) || n == bsnn_model_param_count(b));
        assert_same_model(n == bsnn_model_param_count(a) ? a : b, back);
        bsnn_model_free(back);
        litter += count_litter("model.bsnn") > 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (kills < 420 && (now.tv_sec - t0.tv_sec) < 4);
    /* Whatever the kills left, the next completed save of the path sweeps. */
    cr_assert_eq(bsnn_model_save(a, path), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(count_litter("model.bsnn"), 0, "litter survived the next save");
    bsnn__io_named_temp_only = 0;
    bsnn_model_free(a);
    bsnn_model_free(b);
    remove_tmpdir();
    *out_kills = kills;
    *out_litter = litter;
}

Test(io, file_always_loads_after_sigkill_during_saves, .timeout = 60)
{
    int kills = 0, litter = 0, named_kills = 0, named_litter = 0;
    kill_during_saves(0, &kills, &litter);
    kill_during_saves(1, &named_kills, &named_litter);
    fprintf(stderr,
            "io: %d SIGKILLs during saves, file loaded after each (0 torn); litter: %d kills left "
            "a temporary file (unnamed O_TMPFILE route); named-file route: %d kills, %d left "
            "litter\n",
            kills, litter, named_kills, named_litter);
    cr_assert_geq(kills, 20);
    cr_assert_geq(named_kills, 20);
    /* Only the link-to-rename window (two system calls) can leave a name on
     * the unnamed route, where the named route exposes the whole write: seen
     * 0-2 of 420 kills against about half, up to 9 of 420 on a loaded machine
     * under ASan. The window's share depends on the machine's speed, so the
     * bound is relative to the named route, measured alongside; the next
     * save sweeps what either left (checked in kill_during_saves). */
    cr_assert_leq(litter * 4 * named_kills, named_litter * kills + named_kills,
                  "%d of %d kills left litter (named route: %d of %d)", litter, kills,
                  named_litter, named_kills);
}

/* What killed saves leave behind is removed by the next save of the same
 * path: temp names of that path whose process is gone (both routes, and
 * bsnn 0.2's), never those of a live process or other files. */
Test(io, next_save_removes_temp_files_of_killed_saves)
{
    make_tmpdir();
    pid_t dead = fork();
    cr_assert_geq(dead, 0);
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0); /* a pid that no longer runs */
    char path[128], name[256];
    snprintf(path, sizeof path, "%s/model.bsnn", tmpdir);
    const char *fmt[] = {"%s.tmp-%ld-7", "%s.tmp-%ld-u12", "%s.tmp-%ld-3", "%s.tmp-%ld-u1"};
    long pids[] = {(long)dead, (long)dead, (long)getppid(), (long)getppid()};
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, fmt[i], path, pids[i]);
        FILE *f = fopen(name, "w");
        cr_assert_not_null(f);
        fputs("partial", f);
        fclose(f);
    }
    const char *others[] = {"other.bsnn.tmp-1-2", "model.bsnn.tmp-x-2", "model.bsnn.bak"};
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s/%s", tmpdir, others[i]);
        FILE *f = fopen(name, "w");
        fclose(f);
    }
    bsnn_model *m = trained_model();
    cr_assert_eq(bsnn_model_save(m, path), BSNN_OK, "%s", bsnn_last_error());
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, fmt[i], path, pids[i]);
        cr_assert_eq(access(name, F_OK) == 0, i >= 2, "%s: %s", name,
                     i >= 2 ? "a live process's file was removed" : "stale file kept");
    }
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s/%s", tmpdir, others[i]);
        cr_assert_eq(access(name, F_OK), 0, "%s removed", others[i]);
    }
    bsnn_model_free(m);
    remove_tmpdir();
}

Test(io, crc32_matches_the_published_check_value)
{
    /* The CRC-32 check value from the catalogue of parametrised CRCs. */
    cr_assert_eq(ref_crc((const unsigned char *)"123456789", 9), 0xcbf43926u);
    cr_assert_eq(bsnn__crc32(0, "123456789", 9), 0xcbf43926u);
    cr_assert_eq(bsnn__crc32(bsnn__crc32(0, "1234", 4), "56789", 5), 0xcbf43926u, "continuation");
}

/* Issue 10, item 3: bsnn_model_load on a FIFO with no writer blocked in
 * open() forever. Refused at once. (A hang fails through the timeout.) */
Test(io, fifo_is_refused_without_blocking, .timeout = 10)
{
    make_tmpdir();
    char fifo[128];
    snprintf(fifo, sizeof fifo, "%s/pipe.bsnn", tmpdir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    bsnn_model *out = NULL;
    cr_assert_eq(bsnn_model_load(&out, fifo), BSNN_E_IO);
    cr_assert(strstr(bsnn_last_error(), "not a regular file (a FIFO)") != NULL, "%s",
              bsnn_last_error());
    cr_assert_null(out);
    cr_assert_eq(bsnn_model_load(&out, "/dev/zero"), BSNN_E_IO);
    cr_assert(strstr(bsnn_last_error(), "character device") != NULL, "%s", bsnn_last_error());
    unlink(fifo);
    remove_tmpdir();
}

/* Issue 10: a model saved before any loss was chosen stores loss 0 and
 * loads back without one (training still refused); files written by bsnn
 * 0.2.0 (when a new model defaulted to MSE and stored 1) still load, with
 * their loss. tests/fuzz/corpus/model/model0.bsnn was written by 0.2.0. */
Test(io, model_without_a_loss_round_trips_and_0_2_0_files_load)
{
    bsnn_model *m = bsnn_model_create(3), *back = NULL;
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(2)), BSNN_OK);
    size_t size;
    unsigned char *b = saved_bytes(&size, m);
    size_t modl = find_section(b, size, "MODL", 0);
    cr_assert_eq(rd(b + modl + 16 + 8, 4), BSNN_LOSS_NONE, "loss field is 0");
    cr_assert_eq(bsnn_model_load_buffer(&back, b, size), BSNN_OK, "%s", bsnn_last_error());
    double loss = -1;
    cr_assert_eq(bsnn_model_get(&loss, back, BSNN_MODEL_LOSS), BSNN_OK);
    cr_assert_eq(loss, BSNN_LOSS_NONE);
    float x[3] = {1, 2, 3}, y[2] = {0, 1};
    bsnn_tensor *tx = tu_wrap(x, 1, 3), *ty = tu_wrap(y, 1, 2);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    cr_assert_eq(bsnn_model_train_step(NULL, back, opt, tx, ty), BSNN_E_STATE);
    bsnn_model_free(back);
    back = NULL;
    cr_assert_eq(bsnn_model_load(&back, "tests/fuzz/corpus/model/model0.bsnn"), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(bsnn_model_get(&loss, back, BSNN_MODEL_LOSS), BSNN_OK);
    cr_assert_eq(loss, BSNN_LOSS_MSE, "0.2.0 stored its default, MSE");
    bsnn_tensor *ty1 = tu_wrap(y, 1, 1);
    cr_assert_eq(bsnn_model_train_step(NULL, back, opt, tx, ty1), BSNN_OK, "%s", bsnn_last_error());
    bsnn_tensor_free(ty1);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    bsnn_model_free(back);
    bsnn_model_free(m);
    free(b);
}
