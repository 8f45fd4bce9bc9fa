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
                           "--standardize", "--layers", "--activation", "--output", "--init",
                           "--loss", "--optimizer", "--lr", "--momentum", "--beta1", "--beta2",
                           "--eps", "--rho", "--weight-decay", "--batch", "--full-batch",
                           "--playground", "--search", "--search-epochs", "--epochs", "--seed",
                           "--threads", "--save", "--quiet", "--help"};
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
    bsnn_dataset_free(raw);
    bsnn_model_free(m);
    remove(csv);
    remove(model);
}
