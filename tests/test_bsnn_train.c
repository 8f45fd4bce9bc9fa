/*
 * test_bsnn_train.c - the bsnn-train command-line tool, run as a program:
 * --help documents every flag, a short training run works on a generated
 * set, a CSV file and with --save, and bad flags or values exit 2 naming
 * the flag. The binary is the one built beside this test (../examples).
 */
#include "testutil.h"

#include <libgen.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static char tool[4096];
static char output[65536];

/* Run the tool with args (a shell-quoted string); returns its exit status
 * and leaves stdout+stderr in `output`. */
static int run(const char *args)
{
    if (tool[0] == '\0') {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        cr_assert(n > 0);
        self[n] = '\0';
        snprintf(tool, sizeof tool, "%s/../examples/bsnn-train", dirname(self));
    }
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", tool, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t len = fread(output, 1, sizeof output - 1, p);
    output[len] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(bsnn_train, help_documents_every_flag_and_exits_0)
{
    cr_assert_eq(run("--help"), 0, "%s", output);
    const char *flags[] = {"--dataset", "--points", "--noise", "--features", "--csv", "--target",
                           "--header", "--images", "--labels", "--max-rows", "--val-fraction",
                           "--test", "--test-labels", "--test-fraction", "--standardize",
                           "--layers", "--activation", "--output", "--init", "--loss",
                           "--optimizer", "--lr", "--momentum", "--beta1", "--beta2", "--eps",
                           "--rho", "--weight-decay", "--batch", "--full-batch", "--playground",
                           "--search", "--search-epochs", "--search-csv", "--search-budget",
                           "--search-metric", "--search-start", "--repeats", "--search-rule",
                           "--noise-scale", "--micro-batch", "--adaptive", "--epochs", "--seed",
                           "--threads", "--history", "--checkpoint", "--resume", "--save",
                           "--quiet", "--model", "--out", "predict", "evaluate", "--help"};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        cr_assert(strstr(output, flags[i]) != NULL, "--help lacks %s", flags[i]);
}

Test(bsnn_train, short_run_on_a_generated_set_reports_every_epoch)
{
    int rc = run("--dataset circle --points 200 --layers 2,8,1 --activation tanh --output tanh "
                 "--batch 10 --epochs 3 --lr 0.1 --seed 2");
    cr_assert_eq(rc, 0, "%s", output);
    cr_assert(strstr(output, "epoch 3/3") != NULL, "%s", output);
    /* 160 training rows (20% validation) in batches of 10: 16 updates per epoch. */
    cr_assert(strstr(output, "result: batch 10  updates 48") != NULL, "%s", output);
}

Test(bsnn_train, csv_training_with_save_writes_a_model)
{
    char csv[64], model[64];
    snprintf(csv, sizeof csv, "/tmp/bsnn_tool_%d.csv", (int)getpid());
    snprintf(model, sizeof model, "/tmp/bsnn_tool_%d.bsnn", (int)getpid());
    FILE *f = fopen(csv, "w");
    fprintf(f, "a,b,label\n");
    for (int i = 0; i < 60; i++) fprintf(f, "%d,%d,%d\n", i % 7, i % 5, (i % 7 + i % 5) % 2);
    fclose(f);
    char args[512];
    snprintf(args, sizeof args, "--csv %s --layers 2,4,1 --loss bce --batch 8 --epochs 2 "
             "--optimizer adam --lr 0.01 --standardize --save %s", csv, model);
    cr_assert_eq(run(args), 0, "%s", output);
    cr_assert(access(model, R_OK) == 0, "%s", output);
    bsnn_model *m = NULL;
    cr_assert_eq(bsnn_model_load(&m, model), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_n_inputs(m), 2);
    bsnn_model_free(m);
    remove(csv);
    remove(model);
}

Test(bsnn_train, bad_flags_and_values_exit_2_naming_them)
{
    cr_assert_eq(run("--dataset xor --layers 2,1 --bogus 3"), 2);
    cr_assert(strstr(output, "--bogus") != NULL, "%s", output);
    cr_assert_eq(run("--dataset xor --layers 2,1 --lr fast"), 2);
    cr_assert(strstr(output, "--lr: 'fast'") != NULL, "%s", output);
    cr_assert_eq(run("--dataset xor --layers 2,1 --batch 0"), 2);
    cr_assert(strstr(output, "--batch") != NULL, "%s", output);
    cr_assert_eq(run("--dataset xor --layers 2,1 --activation swish"), 2);
    cr_assert(strstr(output, "--activation: 'swish'") != NULL, "%s", output);
    cr_assert_eq(run("--dataset xor --layers 2,1 --lr -1"), 2);
    cr_assert(strstr(output, "--lr") != NULL, "%s", output);
    cr_assert_eq(run("--layers 2,1"), 2);
    cr_assert_eq(run("--dataset xor --layers 5,1"), 2);
    cr_assert(strstr(output, "--layers") != NULL, "%s", output);
    cr_assert_eq(run("--dataset xor --layers"), 2);
    /* this build has no MPI: --mpi says which build has (tests/mpi runs it) */
    cr_assert_eq(run("--dataset xor --layers 2,1 --mpi"), 2);
    cr_assert(strstr(output, "--mpi needs the MPI build") != NULL, "%s", output);
}

Test(bsnn_train, missing_file_is_a_runtime_error_exit_1)
{
    cr_assert_eq(run("--csv /nonexistent/data.csv --layers 2,1"), 1);
    cr_assert(strstr(output, "/nonexistent/data.csv") != NULL, "%s", output);
}

/* Issue 10, item 8: --layers 2,,1 was accepted (strtok dropped the empty
 * entry) and --points 3 printed 'odd' instead of the value. */
Test(bsnn_train, empty_list_entries_and_odd_points_are_refused_naming_the_value)
{
    const char *lists[] = {"2,,1", ",2,1", "2,1,", ","};
    for (size_t i = 0; i < 4; i++) {
        char args[128];
        snprintf(args, sizeof args, "--dataset xor --layers %s --epochs 1", lists[i]);
        cr_assert_eq(run(args), 2, "--layers %s: %s", lists[i], output);
        cr_assert(strstr(output, "--layers") != NULL, "%s", output);
        cr_assert(strstr(output, "empty") != NULL, "%s", output);
    }
    cr_assert_eq(run("--dataset xor --features x1,,x2 --layers 2,1 --epochs 1"), 2, "%s", output);
    cr_assert(strstr(output, "--features") != NULL && strstr(output, "empty") != NULL, "%s",
              output);
    cr_assert_eq(run("--dataset xor --points 3 --layers 2,1 --epochs 1"), 2, "%s", output);
    cr_assert(strstr(output, "--points: '3'") != NULL, "%s", output);
    cr_assert(strstr(output, "odd") != NULL, "%s", output);
}

/* Softmax cross-entropy over one output trained at loss 0 and learned
 * nothing; BCE after a sigmoid output applied the sigmoid twice. Both are
 * bad flag combinations now: exit 2 with the library's reason. */
Test(bsnn_train, losses_that_cannot_work_with_the_network_exit_2_saying_why)
{
    cr_assert_eq(run("--dataset xor --layers 2,4,1 --loss softmax --epochs 1"), 2, "%s", output);
    cr_assert(strstr(output, "--loss softmax") != NULL, "%s", output);
    cr_assert(strstr(output, "one output") != NULL, "%s", output);
    cr_assert_eq(run("--dataset xor --layers 2,4,1 --output sigmoid --loss bce --epochs 1"), 2,
                 "%s", output);
    cr_assert(strstr(output, "sigmoid") != NULL, "%s", output);
}

/* --standardize puts its statistics into the model (a first standardize
 * layer), so the saved model is right on RAW rows. Iris-like data (three
 * classes of 50, Fisher's class means and spreads) with one feature moved
 * to the thousands: a model that saw standardised rows but not the
 * statistics would classify raw rows at chance. */
Test(bsnn_train, standardize_saves_the_statistics_so_raw_rows_predict_right, .timeout = 60)
{
    static const double mean[3][4] = {{5.0, 3.4, 1.5, 0.2}, {5.9, 2.8, 4.3, 1.3},
                                      {6.6, 3.0, 5.6, 2.0}};
    static const double sd[3][4] = {{0.35, 0.38, 0.17, 0.10}, {0.52, 0.31, 0.47, 0.20},
                                    {0.64, 0.32, 0.55, 0.27}};
    char csv[64], model[64];
    snprintf(csv, sizeof csv, "/tmp/bsnn_iris_%d.csv", (int)getpid());
    snprintf(model, sizeof model, "/tmp/bsnn_iris_%d.bsnn", (int)getpid());
    FILE *f = fopen(csv, "w");
    cr_assert_not_null(f);
    fprintf(f, "sepal_length,sepal_width,petal_length,petal_width,class\n");
    unsigned st = 7;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 50; i++) {
            double v[4];
            for (int j = 0; j < 4; j++) {
                /* a sum of 12 uniforms: close to normal, independent of bsnn */
                double z = -6.0;
                for (int k = 0; k < 12; k++) {
                    st = st * 1103515245u + 12345u;
                    z += (double)((st >> 8) % 100000) / 100000.0;
                }
                v[j] = mean[c][j] + sd[c][j] * z;
            }
            fprintf(f, "%.4f,%.4f,%.4f,%.4f,%d\n", 1000.0 + 100.0 * v[0], v[1], v[2], v[3], c);
        }
    fclose(f);
    char args[512];
    snprintf(args, sizeof args,
             "--csv %s --target 4 --layers 4,8,3 --activation tanh --loss softmax "
             "--optimizer adam --lr 0.02 --batch 16 --epochs 80 --val-fraction 0 --seed 3 "
             "--standardize --quiet --save %s",
             csv, model);
    cr_assert_eq(run(args), 0, "%s", output);
    bsnn_model *m = NULL;
    cr_assert_eq(bsnn_model_load(&m, model), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_layer_kind_of(bsnn_model_layer(m, 0)), BSNN_LAYER_STANDARDIZE);
    const size_t target[1] = {4};
    bsnn_dataset *raw = bsnn_dataset_load_csv(csv, -1, target, 1);
    cr_assert_not_null(raw, "%s", bsnn_last_error());
    double acc = 0;
    cr_assert_eq(bsnn_model_evaluate(NULL, &acc, m, raw, 150), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_geq(acc, 0.9, "accuracy %.3f on raw rows", acc);
    /* bsnn-train predict on the raw rows (class column skipped) agrees. */
    snprintf(args, sizeof args, "predict --model %s --csv %s --target 4", model, csv);
    cr_assert_eq(run(args), 0, "%s", output);
    size_t right = 0, rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(output, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *cls = strrchr(line, ',');
        cr_assert_not_null(cls, "%s", line);
        right += strtoul(cls + 1, NULL, 10) == (unsigned long)(rows / 50);
        rows++;
    }
    cr_assert_eq(rows, 150);
    cr_assert(fabs((double)right / 150 - acc) < 1e-12, "predict %zu of 150 vs accuracy %.4f", right, acc);
    bsnn_dataset_free(raw);
    bsnn_model_free(m);
    remove(csv);
    remove(model);
}

/* ---- using saved models (issue 14) ------------------------------------------ */

/* A path under /tmp unique to this process and `tag`. */
static const char *tmp_path(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "/tmp/bsnn_tool_%d_%s", (int)getpid(), tag);
    return buf;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* Three classes of 2-D points around (0,0), (3,0) and (0,3), 30 each in
 * class order, from an LCG independent of bsnn: x[n][2] as the CSV holds
 * them (printed with %.4f and read back), labels y[n]. */
#define BLOBS 90
static void blobs(float x[BLOBS][2], int y[BLOBS], unsigned seed)
{
    static const double centre[3][2] = {{0, 0}, {3, 0}, {0, 3}};
    unsigned st = seed;
    for (int i = 0; i < BLOBS; i++) {
        y[i] = i / 30;
        for (int j = 0; j < 2; j++) {
            st = st * 1103515245u + 12345u;
            double v = centre[y[i]][j] + ((double)((st >> 8) % 20000) / 10000.0 - 1.0);
            char text[32];
            snprintf(text, sizeof text, "%.4f", v);
            x[i][j] = strtof(text, NULL);
        }
    }
}

/* Writes the blobs as CSV: with_labels adds the class as a third column;
 * header adds a header line. */
static void write_blobs(const char *path, float x[BLOBS][2], const int y[BLOBS], int with_labels,
                        int header)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    if (header) fprintf(f, with_labels ? "a,b,class\n" : "a,b\n");
    for (int i = 0; i < BLOBS; i++) {
        if (with_labels) fprintf(f, "%.4f,%.4f,%d\n", x[i][0], x[i][1], y[i]);
        else fprintf(f, "%.4f,%.4f\n", x[i][0], x[i][1]);
    }
    cr_assert_eq(fclose(f), 0);
}

/* The model's outputs for rows x[n][n_in], computed here through the
 * library's forward pass (not through the tool). */
static void outputs_of(float *out, const char *model, const float *x, size_t n, size_t n_in)
{
    bsnn_model *m = NULL;
    cr_assert_eq(bsnn_model_load(&m, model), BSNN_OK, "%s", bsnn_last_error());
    size_t k = bsnn_model_n_outputs(m);
    bsnn_tensor *tx = tu_wrap((float *)x, n, n_in), *to = tu_wrap(out, n, k);
    cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK, "%s", bsnn_last_error());
    bsnn_tensor_free(tx);
    bsnn_tensor_free(to);
    bsnn_model_free(m);
}

static size_t argmax(const float *v, size_t k)
{
    size_t best = 0;
    for (size_t j = 1; j < k; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

/* Trains the 3-class blobs into `model` (the loss left to the tool). */
static void train_blobs(const char *csv, const char *model)
{
    char args[1024];
    snprintf(args, sizeof args,
             "--csv %s --layers 2,8,3 --activation tanh --optimizer adam --lr 0.05 --batch 10 "
             "--epochs 40 --seed 4 --save %s", csv, model);
    cr_assert_eq(run(args), 0, "%s", output);
}

Test(bsnn_train, without_loss_a_multiclass_task_gets_softmax_and_says_so)
{
    char csv[128], model[128];
    float x[BLOBS][2];
    int y[BLOBS];
    blobs(x, y, 11);
    write_blobs(tmp_path(csv, sizeof csv, "mc.csv"), x, y, 1, 1);
    train_blobs(csv, tmp_path(model, sizeof model, "mc.bsnn"));
    cr_assert(strstr(output, "loss softmax (chosen: 3 outputs, class-index targets 0..2") != NULL,
              "%s", output);
    cr_assert(strstr(output, "  loss softmax\n") != NULL, "the result line names it: %s", output);
    /* mse on class indices cannot even be set up: exit 2 pointing at softmax. */
    char args[512];
    snprintf(args, sizeof args, "--csv %s --layers 2,8,3 --loss mse --epochs 1", csv);
    cr_assert_eq(run(args), 2, "%s", output);
    cr_assert(strstr(output, "--loss mse") && strstr(output, "use --loss softmax"), "%s", output);
    /* One linear output on 0/1 targets: bce; on other numbers: mse. */
    cr_assert_eq(run("--dataset parity3 --layers 3,4,1 --epochs 1 --val-fraction 0"), 0, "%s", output);
    cr_assert(strstr(output, "loss bce (chosen: one linear output, 0/1 targets)") != NULL, "%s", output);
    cr_assert_eq(run("--dataset plane --layers 2,4,1 --epochs 1"), 0, "%s", output);
    cr_assert(strstr(output, "loss mse (chosen: regression set)") != NULL, "%s", output);
    cr_assert_eq(run("--dataset spiral --layers 2,4,2 --epochs 1"), 0, "%s", output);
    cr_assert(strstr(output, "loss softmax (chosen: 2 outputs") != NULL, "%s", output);
    remove(csv);
    remove(model);
}

Test(bsnn_train, predict_prints_each_rows_outputs_and_class_as_the_model_computes_them)
{
    char csv[128], inputs[128], model[128], outfile[128];
    float x[BLOBS][2];
    int y[BLOBS];
    blobs(x, y, 12);
    write_blobs(tmp_path(csv, sizeof csv, "pl.csv"), x, y, 1, 1);
    write_blobs(tmp_path(inputs, sizeof inputs, "pi.csv"), x, y, 0, 0);
    train_blobs(csv, tmp_path(model, sizeof model, "p.bsnn"));
    float want[BLOBS * 3];
    outputs_of(want, model, &x[0][0], BLOBS, 2);

    char args[1024];
    snprintf(args, sizeof args, "predict --model %s --csv %s", model, inputs);
    cr_assert_eq(run(args), 0, "%s", output);
    char first[sizeof output];
    memcpy(first, output, sizeof output);
    size_t right = 0, lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(first, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cr_assert_lt(lines, BLOBS, "more lines than rows: %s", line);
        double o[3];
        unsigned long cls;
        cr_assert_eq(sscanf(line, "%lf,%lf,%lf,%lu", &o[0], &o[1], &o[2], &cls), 4, "%s", line);
        for (int j = 0; j < 3; j++)
            cr_assert(tu_rel(o[j], want[lines * 3 + j], 1e-6) < 1e-6, "row %zu: %s vs %g", lines,
                      line, want[lines * 3 + j]);
        cr_assert_eq(cls, argmax(want + lines * 3, 3), "row %zu: %s", lines, line);
        right += cls == (unsigned long)y[lines];
        lines++;
    }
    cr_assert_eq(lines, BLOBS);
    cr_assert_geq(right, 80, "%zu of 90 right", right);

    /* The labelled file with its class column skipped, into --out: the same lines. */
    snprintf(args, sizeof args, "predict --model %s --csv %s --target 2 --out %s", model, csv,
             tmp_path(outfile, sizeof outfile, "p.out"));
    cr_assert_eq(run(args), 0, "%s", output);
    cr_assert_eq(output[0], '\0', "nothing on stdout with --out: %s", output);
    FILE *f = fopen(outfile, "r");
    cr_assert_not_null(f);
    char written[sizeof output];
    size_t len = fread(written, 1, sizeof written - 1, f);
    written[len] = '\0';
    fclose(f);
    snprintf(args, sizeof args, "predict --model %s --csv %s", model, inputs);
    run(args);
    cr_assert_str_eq(written, output);
    /* Extra columns without --target are refused, naming the counts. */
    snprintf(args, sizeof args, "predict --model %s --csv %s", model, csv);
    cr_assert_eq(run(args), 2, "%s", output);
    cr_assert(strstr(output, "3 columns") && strstr(output, "--target"), "%s", output);
    remove(csv);
    remove(inputs);
    remove(model);
    remove(outfile);
}

Test(bsnn_train, predict_reads_a_csv_of_one_input_column)
{
    char csv[128], inputs[128], model[128];
    FILE *f = fopen(tmp_path(csv, sizeof csv, "r1.csv"), "w");
    cr_assert_not_null(f);
    fprintf(f, "x,y\n");
    for (int i = 0; i < 40; i++) fprintf(f, "%.3f,%.3f\n", i / 20.0 - 1, sin(3 * (i / 20.0 - 1)));
    fclose(f);
    write_text(tmp_path(inputs, sizeof inputs, "r1in.csv"), "x\n-0.5\n\n0.25\r\n0.75\n");
    char args[1024];
    snprintf(args, sizeof args, "--csv %s --layers 1,8,1 --activation tanh --optimizer adam "
             "--lr 0.02 --epochs 20 --quiet --save %s", csv, tmp_path(model, sizeof model, "r1.bsnn"));
    cr_assert_eq(run(args), 0, "%s", output);
    cr_assert(strstr(output, "loss mse") != NULL, "%s", output);
    snprintf(args, sizeof args, "predict --model %s --csv %s", model, inputs);
    cr_assert_eq(run(args), 0, "%s", output);
    const float x[3] = {-0.5f, 0.25f, 0.75f};
    float want[3];
    outputs_of(want, model, x, 3, 1);
    double got[3];
    cr_assert_eq(sscanf(output, "%lf\n%lf\n%lf\n", &got[0], &got[1], &got[2]), 3, "%s", output);
    for (int i = 0; i < 3; i++) cr_assert(tu_rel(got[i], want[i], 1e-6) < 1e-6, "%s", output);
    cr_assert_null(strchr(output, ','), "no class for an mse model: %s", output);
    remove(csv);
    remove(inputs);
    remove(model);
}

/* An IDX pair of n 2x2 images (class c has a bright pixel c) and labels. */
static void write_idx(const char *images, const char *labels, int n, unsigned seed)
{
    FILE *fi = fopen(images, "wb"), *fl = fopen(labels, "wb");
    cr_assert(fi && fl);
    unsigned char hi[16] = {0, 0, 8, 3, 0, 0, 0, (unsigned char)n, 0, 0, 0, 2, 0, 0, 0, 2};
    unsigned char hl[8] = {0, 0, 8, 1, 0, 0, 0, (unsigned char)n};
    fwrite(hi, 1, 16, fi);
    fwrite(hl, 1, 8, fl);
    unsigned st = seed;
    for (int i = 0; i < n; i++) {
        unsigned char px[4];
        for (int j = 0; j < 4; j++) {
            st = st * 1103515245u + 12345u;
            px[j] = (unsigned char)((st >> 16) % 60);
        }
        px[i % 3] += 180;
        fwrite(px, 1, 4, fi);
        fputc(i % 3, fl);
    }
    fclose(fi);
    fclose(fl);
}

Test(bsnn_train, predict_and_evaluate_read_idx_images_with_a_confusion_matrix)
{
    char images[128], labels[128], model[128], test_images[128], test_labels[128];
    tmp_path(images, sizeof images, "im.idx");
    tmp_path(labels, sizeof labels, "lb.idx");
    tmp_path(test_images, sizeof test_images, "tim.idx");
    tmp_path(test_labels, sizeof test_labels, "tlb.idx");
    write_idx(images, labels, 60, 5);
    write_idx(test_images, test_labels, 30, 6);
    char args[1024];
    snprintf(args, sizeof args, "--images %s --labels %s --test %s --test-labels %s --layers 4,6,3 "
             "--optimizer adam --lr 0.05 --epochs 8 --quiet --save %s", images, labels, test_images,
             test_labels, tmp_path(model, sizeof model, "im.bsnn"));
    cr_assert_eq(run(args), 0, "%s", output);
    cr_assert(strstr(output, "test acc ") != NULL, "%s", output);
    snprintf(args, sizeof args, "--images %s --labels %s --test %s --layers 4,6,3", images, labels,
             test_images);
    cr_assert_eq(run(args), 2, "--test of images needs --test-labels: %s", output);
    /* predict needs no labels: one line per image, the class last. */
    snprintf(args, sizeof args, "predict --model %s --images %s", model, images);
    cr_assert_eq(run(args), 0, "%s", output);
    size_t lines = 0;
    for (const char *c = output; *c; c++) lines += *c == '\n';
    cr_assert_eq(lines, 60, "%s", output);
    snprintf(args, sizeof args, "predict --model %s --images %s --max-rows 7", model, images);
    cr_assert_eq(run(args), 0, "%s", output);
    lines = 0;
    for (const char *c = output; *c; c++) lines += *c == '\n';
    cr_assert_eq(lines, 7, "%s", output);

    /* evaluate: the loss and accuracy the library gives, and the matrix
     * counted here from the model's own outputs. */
    bsnn_dataset *ds = bsnn_dataset_load_idx(images, labels, 0);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    bsnn_model *m = NULL;
    cr_assert_eq(bsnn_model_load(&m, model), BSNN_OK);
    double loss, acc;
    cr_assert_eq(bsnn_model_evaluate(&loss, &acc, m, ds, 60), BSNN_OK);
    float out[60 * 3];
    outputs_of(out, model, bsnn_dataset_inputs(ds), 60, 4);
    size_t cm[3][3] = {{0}};
    for (int i = 0; i < 60; i++) cm[(int)bsnn_dataset_targets(ds)[i]][argmax(out + 3 * i, 3)]++;
    snprintf(args, sizeof args, "evaluate --model %s --images %s --labels %s", model, images, labels);
    cr_assert_eq(run(args), 0, "%s", output);
    double got_loss, got_acc;
    cr_assert_eq(sscanf(output, "evaluate: 60 rows  loss %lf  accuracy %lf", &got_loss, &got_acc), 2,
                 "%s", output);
    cr_assert(fabs(got_loss - loss) < 1e-6 && fabs(got_acc - acc) < 1e-4, "%s (want %g, %g)", output,
              loss, acc);
    const char *table = strstr(output, "predicted class):\n");
    cr_assert_not_null(table, "%s", output);
    table = strchr(table, '\n') + 1;
    table = strchr(table, '\n') + 1; /* the column labels */
    size_t trace = 0;
    for (int t = 0; t < 3; t++) {
        int row;
        size_t c0, c1, c2;
        cr_assert_eq(sscanf(table, "%d %zu %zu %zu", &row, &c0, &c1, &c2), 4, "%s", table);
        cr_assert(row == t && c0 == cm[t][0] && c1 == cm[t][1] && c2 == cm[t][2], "row %d: %s", t, output);
        trace += cm[t][t];
        table = strchr(table, '\n') + 1;
    }
    cr_assert(fabs((double)trace / 60 - acc) < 1e-12, "the diagonal is the accuracy");
    /* Without labels there is nothing to evaluate. */
    snprintf(args, sizeof args, "evaluate --model %s --images %s", model, images);
    cr_assert_eq(run(args), 2, "%s", output);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
    remove(images);
    remove(labels);
    remove(test_images);
    remove(test_labels);
    remove(model);
}

Test(bsnn_train, evaluate_takes_the_columns_after_the_inputs_as_targets)
{
    char csv[128], model[128];
    float x[BLOBS][2];
    int y[BLOBS];
    blobs(x, y, 13);
    write_blobs(tmp_path(csv, sizeof csv, "ev.csv"), x, y, 1, 0);
    train_blobs(csv, tmp_path(model, sizeof model, "ev.bsnn"));
    char args[1024];
    snprintf(args, sizeof args, "evaluate --model %s --csv %s", model, csv);
    cr_assert_eq(run(args), 0, "%s", output);
    char same[sizeof output];
    memcpy(same, output, sizeof output);
    snprintf(args, sizeof args, "evaluate --model %s --csv %s --target 2 --header no", model, csv);
    cr_assert_eq(run(args), 0, "%s", output);
    cr_assert_str_eq(output, same);
    cr_assert(strstr(output, "evaluate: 90 rows") && strstr(output, "confusion matrix"), "%s", output);
    /* Rows of the confusion matrix hold each class's 30 rows. */
    const char *table = strchr(strchr(strstr(output, "predicted class):\n"), '\n') + 1, '\n') + 1;
    for (int t = 0; t < 3; t++) {
        int row;
        size_t c[3];
        cr_assert_eq(sscanf(table, "%d %zu %zu %zu", &row, &c[0], &c[1], &c[2]), 4, "%s", output);
        cr_assert_eq(c[0] + c[1] + c[2], 30, "%s", output);
        table = strchr(table, '\n') + 1;
    }
    remove(csv);
    remove(model);
}

Test(bsnn_train, misuse_of_predict_and_evaluate_exits_naming_the_flag)
{
    char bad[128];
    write_text(tmp_path(bad, sizeof bad, "bad.bsnn"), "not a model\n");
    cr_assert_eq(run("predict --csv /dev/null"), 2, "%s", output);
    cr_assert(strstr(output, "--model is required") != NULL, "%s", output);
    cr_assert_eq(run("predict --model x.bsnn --csv a.csv --layers 2,1"), 2, "%s", output);
    cr_assert(strstr(output, "--layers is not used by bsnn-train predict") != NULL, "%s", output);
    cr_assert_eq(run("evaluate --model x.bsnn --csv a.csv --out o.txt"), 2, "%s", output);
    cr_assert_eq(run("evaluate --model x.bsnn --csv a.csv --epochs 3"), 2, "%s", output);
    char args[512];
    snprintf(args, sizeof args, "predict --model %s --dataset xor", bad);
    cr_assert_eq(run(args), 1, "%s", output);
    cr_assert(strstr(output, "--model") && strstr(output, "bad.bsnn"), "%s", output);
    cr_assert_eq(run("--dataset xor --layers 2,1 --model m.bsnn"), 2, "%s", output);
    remove(bad);
}

/* Row counts printed on the first line: training, validation, test. */
static void row_counts(size_t *tr, size_t *val, size_t *test)
{
    const char *line = strstr(output, "bsnn-train: ");
    cr_assert_not_null(line, "%s", output);
    cr_assert_eq(sscanf(line, "bsnn-train: %zu training rows, %zu validation rows, %zu test rows",
                        tr, val, test), 3, "%s", output);
}

Test(bsnn_train, test_fraction_holds_rows_out_of_training_and_validation)
{
    cr_assert_eq(run("--dataset circle --points 500 --layers 2,4,1 --epochs 1 --test-fraction 0.2"),
                 0, "%s", output);
    size_t tr, val, test;
    row_counts(&tr, &val, &test);
    cr_assert(tr == 320 && val == 80 && test == 100, "%zu %zu %zu", tr, val, test);
    cr_assert(strstr(output, "test loss ") && strstr(output, "test acc "), "%s", output);
    cr_assert_eq(run("--dataset circle --layers 2,4,1 --test-fraction 0.5 --val-fraction 0.5"), 2,
                 "%s", output);
    cr_assert_eq(run("--dataset circle --layers 2,4,1 --test t.csv"), 2, "%s", output);
}

/* The figure after "key " in output. */
static double figure(const char *key)
{
    const char *at = strstr(output, key);
    cr_assert_not_null(at, "no '%s' in %s", key, output);
    return strtod(at + strlen(key), NULL);
}

/* The lines of text before "result:", each cut after its "val acc X.XXXX"
 * figure when it has one: what follows (seconds, samples per second)
 * differs run to run. */
static void selection_lines(char *out, size_t cap, const char *text)
{
    size_t len = 0;
    const char *end = strstr(text, "result:");
    cr_assert_not_null(end, "%s", text);
    for (const char *line = text; line < end; line = strchr(line, '\n') + 1) {
        size_t keep = (size_t)(strchr(line, '\n') - line);
        for (size_t c = 0; c + 8 < keep; c++)
            if (strncmp(line + c, "val acc ", 8) == 0) keep = c + 8 + 6;
        cr_assert_lt(len + keep + 1, cap);
        memcpy(out + len, line, keep);
        len += keep;
        out[len++] = '\n';
    }
    out[len] = '\0';
}

Test(bsnn_train, the_test_file_is_measured_at_the_end_and_never_selects)
{
    char csv[128], test_a[128], test_b[128], model[128];
    float x[BLOBS][2];
    int y[BLOBS];
    blobs(x, y, 21);
    write_blobs(tmp_path(csv, sizeof csv, "tt.csv"), x, y, 1, 1);
    blobs(x, y, 22);
    write_blobs(tmp_path(test_a, sizeof test_a, "ta.csv"), x, y, 1, 1);
    blobs(x, y, 23);
    write_blobs(tmp_path(test_b, sizeof test_b, "tb.csv"), x, y, 1, 1);
    tmp_path(model, sizeof model, "tt.bsnn");
    char args[1024], first[sizeof output];
    const char *common = "--layers 2,6,3 --optimizer adam --lr 0.05 --search --search-epochs 2 "
                         "--epochs 5 --seed 3";
    snprintf(args, sizeof args, "--csv %s --test %s %s --save %s", csv, test_a, common, model);
    cr_assert_eq(run(args), 0, "%s", output);
    memcpy(first, output, sizeof output);
    /* The figures reported for the test file are the saved model's on it. */
    const size_t target[1] = {2};
    bsnn_dataset *ta = bsnn_dataset_load_csv(test_a, 1, target, 1);
    cr_assert_not_null(ta);
    bsnn_model *m = NULL;
    cr_assert_eq(bsnn_model_load(&m, model), BSNN_OK);
    double loss, acc;
    cr_assert_eq(bsnn_model_evaluate(&loss, &acc, m, ta, 90), BSNN_OK);
    cr_assert(fabs(figure("test loss ") - loss) < 1e-6 && fabs(figure("test acc ") - acc) < 1e-4,
              "%s (want %g %g)", output, loss, acc);
    size_t tr, val, test;
    row_counts(&tr, &val, &test);
    cr_assert(tr == 72 && val == 18 && test == 90, "%zu %zu %zu", tr, val, test);
    /* Another test file changes nothing before the final measurement: the
     * search and every epoch line are the same. */
    snprintf(args, sizeof args, "--csv %s --test %s %s", csv, test_b, common);
    cr_assert_eq(run(args), 0, "%s", output);
    static char lines_a[sizeof output], lines_b[sizeof output];
    selection_lines(lines_a, sizeof lines_a, first);
    selection_lines(lines_b, sizeof lines_b, output);
    cr_assert_str_eq(lines_a, lines_b, "selection depends on the test file");
    cr_assert(strstr(lines_a, "search: batch") && strstr(lines_a, "epoch 5/5"), "%s", lines_a);
    cr_assert(strstr(first, "search: chose batch") != NULL, "%s", first);
    bsnn_model_free(m);
    bsnn_dataset_free(ta);
    remove(csv);
    remove(test_a);
    remove(test_b);
    remove(model);
}

Test(bsnn_train, history_and_search_csv_hold_a_row_per_epoch_and_candidate)
{
    char hist[128], search[128];
    char args[1024];
    snprintf(args, sizeof args, "--dataset gauss --points 200 --layers 2,4,1 --epochs 4 --search "
             "--search-epochs 1 --history %s --search-csv %s",
             tmp_path(hist, sizeof hist, "h.csv"), tmp_path(search, sizeof search, "s.csv"));
    cr_assert_eq(run(args), 0, "%s", output);
    size_t candidates = 0;
    for (const char *c = output; (c = strstr(c, "search: batch")) != NULL; c++) candidates++;
    cr_assert_geq(candidates, 2, "%s", output);
    double val_loss = figure("val loss ");
    const char *last_epoch = strstr(output, "epoch 4/4  loss ");
    cr_assert_not_null(last_epoch, "%s", output);
    double last_val = strtod(strstr(last_epoch, "val loss ") + 9, NULL);
    (void)val_loss;
    FILE *f = fopen(hist, "r");
    cr_assert_not_null(f);
    char line[512];
    size_t rows = 0;
    double epoch = -1, vl = NAN;
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert(strstr(line, "epoch,") == line && strstr(line, "val_loss"), "%s", line);
    while (fgets(line, sizeof line, f)) {
        double b, lr, tl;
        cr_assert_eq(sscanf(line, "%lf,%lf,%lf,%lf,%lf", &epoch, &b, &lr, &tl, &vl), 5, "%s", line);
        cr_assert_eq(epoch, (double)rows);
        rows++;
    }
    fclose(f);
    cr_assert_eq(rows, 4);
    cr_assert(fabs(vl - last_val) < 1e-6, "history %g vs epoch line %g", vl, last_val);
    f = fopen(search, "r");
    cr_assert_not_null(f);
    rows = 0;
    while (fgets(line, sizeof line, f)) rows++;
    fclose(f);
    cr_assert_eq(rows, 1 + candidates);
    cr_assert_eq(run("--dataset gauss --layers 2,1 --search-csv s.csv"), 2, "%s", output);
    remove(hist);
    remove(search);
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    cr_assert(fa && fb, "%s %s", a, b);
    int ca, cb, same = 1;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
        same &= ca == cb;
    } while (same && ca != EOF);
    fclose(fa);
    fclose(fb);
    return same;
}

Test(bsnn_train, resuming_a_checkpoint_gives_the_model_of_an_uninterrupted_run)
{
    char straight[128], ckpt[128], resumed[128];
    tmp_path(straight, sizeof straight, "straight.bsnn");
    tmp_path(ckpt, sizeof ckpt, "run.ckpt");
    tmp_path(resumed, sizeof resumed, "resumed.bsnn");
    const char *common = "--dataset spiral --points 200 --layers 2,8,1 --activation tanh "
                         "--optimizer adam --lr 0.01 --batch 8 --seed 5 --quiet";
    char args[1024];
    snprintf(args, sizeof args, "%s --epochs 6 --save %s", common, straight);
    cr_assert_eq(run(args), 0, "%s", output);
    snprintf(args, sizeof args, "%s --epochs 3 --checkpoint %s", common, ckpt);
    cr_assert_eq(run(args), 0, "%s", output);
    bsnn_model *m = NULL;
    bsnn_optimizer *opt = NULL;
    bsnn_scheduler *s = NULL;
    cr_assert_eq(bsnn_checkpoint_load(&m, &opt, &s, ckpt), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_scheduler_epoch(s), 3, "written after every epoch, the last after epoch 3");
    bsnn_model_free(m);
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    snprintf(args, sizeof args, "%s --epochs 6 --resume %s --save %s", common, ckpt, resumed);
    cr_assert_eq(run(args), 0, "%s", output);
    cr_assert(same_file(straight, resumed), "the resumed model differs from the uninterrupted one");
    /* Other data than the run that wrote it is refused, and so is a model file. */
    snprintf(args, sizeof args, "--dataset spiral --points 300 --epochs 6 --resume %s", ckpt);
    cr_assert_eq(run(args), 2, "%s", output);
    cr_assert(strstr(output, "--resume") && strstr(output, "240"), "%s", output);
    snprintf(args, sizeof args, "--dataset spiral --points 200 --epochs 6 --resume %s", straight);
    cr_assert_eq(run(args), 1, "%s", output);
    cr_assert(strstr(output, "--resume") != NULL, "%s", output);
    snprintf(args, sizeof args, "--dataset spiral --points 200 --epochs 6 --search --resume %s", ckpt);
    cr_assert_eq(run(args), 2, "%s", output);
    remove(straight);
    remove(ckpt);
    remove(resumed);
}

Test(bsnn_train, the_honest_search_and_the_noise_scale_flags)
{
    /* 3 runs per candidate from 16, on the loss, a samples budget, the one-SE rule */
    int rc = run("--dataset gauss --points 400 --layers 2,8,1 --activation tanh --epochs 2 "
                 "--search --repeats 3 --search-rule one-se --search-budget samples:2000 "
                 "--search-start 16 --search-metric loss --noise-scale per-sample");
    cr_assert_eq(rc, 0, "%s", output);
    const char *first = strstr(output, "search: batch ");
    cr_assert_not_null(first, "%s", output);
    cr_assert_eq(strtod(first + 14, NULL), 16.0, "the search starts at 16: %s", output);
    cr_assert(strstr(output, "(mean, sd of 3 runs)") != NULL, "%s", output);
    cr_assert(strstr(output, "within one standard error of the best mean") != NULL, "%s", output);
    cr_assert(strstr(output, "epoch 2/2") && strstr(output, "B_simple "), "%s", output);
    /* the adaptive batch on the spiral: the epoch lines say where it goes */
    rc = run("--dataset spiral --features x1,x2,sinx1,sinx2 --layers 4,8,8,1 --activation tanh "
             "--output tanh --batch 4 --epochs 3 --lr 0.1 --noise-scale per-sample --adaptive");
    cr_assert_eq(rc, 0, "%s", output);
    cr_assert(strstr(output, "next batch ") != NULL, "%s", output);
    /* micro-batch route with accumulation */
    rc = run("--dataset gauss --layers 2,4,1 --batch 32 --epochs 2 --micro-batch 8 "
             "--noise-scale micro");
    cr_assert_eq(rc, 0, "%s", output);
    const char *line = strstr(output, "epoch 2/2");
    cr_assert(line && strstr(line, "B_simple ") && !strstr(line, "B_simple nan"), "%s", output);
    /* misuse exits 2 naming the flag */
    const char *bad[] = {"--repeats 2", "--search --search-budget weeks:3", "--search --search-budget epochs",
                         "--search --search-budget samples:0", "--search --search-rule worst",
                         "--search --search-metric f1", "--adaptive", "--noise-scale micro",
                         "--noise-scale sideways", "--search --repeats 0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char args[256];
        snprintf(args, sizeof args, "--dataset gauss --layers 2,1 %s", bad[i]);
        cr_assert_eq(run(args), 2, "%s: %s", bad[i], output);
        char flag[64];
        sscanf(bad[i] + (strncmp(bad[i], "--search ", 9) == 0 ? 9 : 0), "%63s", flag);
        cr_assert(strstr(output, flag) != NULL, "%s: the message names %s: %s", bad[i], flag, output);
    }
}
