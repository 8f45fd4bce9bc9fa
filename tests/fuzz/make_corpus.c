/*
 * make_corpus.c - writes the seed corpus of the fuzz harnesses into
 * tests/fuzz/corpus/<name>/: valid models and checkpoints of several shapes,
 * CSV files and IDX pairs (`make fuzz-corpus`; rerun when the format changes).
 */
#include <bsnn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(const char *dir, const char *name, const void *data, size_t size)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fuzz/corpus/%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

static bsnn_model *model(size_t in, size_t hidden, bsnn_activation act, size_t out)
{
    bsnn_model *m = bsnn_model_create(in);
    bsnn_model_add(m, bsnn_layer_dense(hidden));
    bsnn_layer *a = bsnn_layer_activation(act);
    if (act == BSNN_ACT_LEAKY_RELU) bsnn_layer_set(a, BSNN_LAYER_SLOPE, 0.1);
    bsnn_model_add(m, a);
    bsnn_model_add(m, bsnn_layer_dense(out));
    return m;
}

static void models_and_checkpoints(void)
{
    bsnn_dataset *ds = bsnn_dataset_parity(3);
    struct {
        size_t hidden;
        bsnn_activation act;
        bsnn_optimizer_kind kind;
        int carry;
    } cfg[] = {{2, BSNN_ACT_TANH, BSNN_SGD, 0},
               {4, BSNN_ACT_LEAKY_RELU, BSNN_ADAM, 1},
               {3, BSNN_ACT_SIGMOID, BSNN_ADADELTA, 0}};
    for (int i = 0; i < 3; i++) {
        bsnn_model *m = model(3, cfg[i].hidden, cfg[i].act, 1);
        bsnn_optimizer *opt = bsnn_optimizer_create(cfg[i].kind);
        bsnn_scheduler *s = bsnn_scheduler_create(8);
        bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 3);
        if (cfg[i].carry) bsnn_scheduler_set(s, BSNN_SCHED_CARRY_OVER, 1);
        bsnn_model_train(NULL, m, opt, s, ds, 2, NULL, NULL);
        const size_t *idx;
        size_t n;
        int end;
        bsnn_scheduler_next(&idx, &n, &end, s); /* stop mid-epoch */
        void *buf;
        size_t size;
        char name[32];
        bsnn_model_save_alloc(&buf, &size, m);
        snprintf(name, sizeof name, "model%d.bsnn", i);
        put("model", name, buf, size);
        bsnn_buffer_free(buf);
        bsnn_checkpoint_save_alloc(&buf, &size, m, i == 2 ? NULL : opt, s);
        snprintf(name, sizeof name, "ckpt%d.bsnn", i);
        put("checkpoint", name, buf, size);
        bsnn_buffer_free(buf);
        bsnn_model_free(m);
        bsnn_optimizer_free(opt);
        bsnn_scheduler_free(s);
    }
    bsnn_dataset_free(ds);
}

/* Batch norm (running statistics) and dropout (its generator). */
static void bn_dropout(void)
{
    bsnn_dataset *ds = bsnn_dataset_parity(3);
    bsnn_model *m = bsnn_model_create(3);
    bsnn_model_add(m, bsnn_layer_dense(4));
    bsnn_model_add(m, bsnn_layer_batchnorm());
    bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_RELU));
    bsnn_model_add(m, bsnn_layer_dropout(0.25));
    bsnn_model_add(m, bsnn_layer_dense(1));
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_NADAM);
    bsnn_scheduler *s = bsnn_scheduler_create(8);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 4);
    bsnn_model_train(NULL, m, opt, s, ds, 2, NULL, NULL);
    void *buf;
    size_t size;
    bsnn_model_save_alloc(&buf, &size, m);
    put("model", "bn_dropout.bsnn", buf, size);
    bsnn_buffer_free(buf);
    bsnn_checkpoint_save_alloc(&buf, &size, m, opt, s);
    put("checkpoint", "bn_dropout.bsnn", buf, size);
    bsnn_buffer_free(buf);
    bsnn_model_free(m);
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
}

static void csv_files(void)
{
    /* First byte: options (see fuzz_csv.c), then the file. */
    static const char *files[] = {
        "\x01" "x,y,label\n0.5,1,0\n-2e3,3.25,1\n",
        "\x00" "1,2,3\r\n4,5,6\r\n\r\n7,8,9\r\n",
        "\x02" "a, b\n 1 , 2\n3,4\n",
        "\x13" "0,0,1\n1,1e-7,0\n2,-0,1\n",
    };
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "seed%d.csv", i);
        put("csv", name, files[i], strlen(files[i] + 1) + 1);
    }
}

static void idx_pair(void)
{
    /* 3 images of 2x2 unsigned bytes, 3 labels, behind a 4-byte split. */
    unsigned char buf[4 + 16 + 12 + 8 + 3];
    size_t images = 16 + 12, p = 0;
    buf[p++] = (unsigned char)images, buf[p++] = 0, buf[p++] = 0, buf[p++] = 0;
    const unsigned char ih[16] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
    memcpy(buf + p, ih, 16), p += 16;
    for (int i = 0; i < 12; i++) buf[p++] = (unsigned char)(i * 21);
    const unsigned char lh[8] = {0, 0, 8, 1, 0, 0, 0, 3};
    memcpy(buf + p, lh, 8), p += 8;
    buf[p++] = 0, buf[p++] = 1, buf[p++] = 2;
    put("idx", "seed0.idx", buf, p);
}

int main(void)
{
    models_and_checkpoints();
    bn_dropout();
    csv_files();
    idx_pair();
    return 0;
}
