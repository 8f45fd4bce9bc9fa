/*
 * test_mpi.c - libbsnn_mpi under mpirun (make test-mpi; never part of make
 * test). Each test launches tests/mpi/mpi_train.c on 1 to 3 ranks on this
 * machine (loopback, more ranks than cores allowed) and checks its report,
 * its exit status and its wall time:
 *  - 2 ranks x local batch 16 train like one process on batches of 32 (SGD,
 *    momentum, Adam; several epochs; the last batch of each epoch uneven),
 *    3 ranks on a global batch of 32 (shares 11/11/10, then 3/3/2) and 3
 *    ranks on batches of 2 (an empty share at every update);
 *  - a checkpoint written by rank 0 mid-epoch resumes the 2-rank run
 *    bit-exactly, and as one process to 1e-5;
 *  - a rank that exits, leaves, hangs or aborts ends the whole job, with a
 *    message, in under 30 s;
 *  - bad input to every bsnn_mpi function, alike on every rank;
 *  - bsnn-train --mpi on 2 ranks prints the results one process prints.
 * The checks themselves (against one process's training computed in the
 * same program, and sums the program computes itself) are in mpi_train.c.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct run {
    int status;     /* exit status of mpirun (-1: did not exit normally) */
    double seconds; /* wall time */
    char out[65536];
} run;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* mpirun -np ranks PROGRAM args (ranks 0: the program alone), stdout and
 * stderr together, stopped by timeout(1) after 120 s should it ever hang. */
static void launch_program(run *r, int ranks, const char *program, const char *args)
{
    char cmd[1024];
    if (ranks > 0)
        snprintf(cmd, sizeof cmd, "timeout -s KILL 120 %s -np %d %s %s 2>&1", MPIRUN, ranks,
                 program, args);
    else
        snprintf(cmd, sizeof cmd, "timeout -s KILL 120 %s %s 2>&1", program, args);
    double t0 = now();
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    size_t n = fread(r->out, 1, sizeof r->out - 1, p);
    r->out[n] = '\0';
    int st = pclose(p);
    r->seconds = now() - t0;
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    cr_log_info("%s\n(%.1f s, status %d)\n%s", cmd, r->seconds, r->status, r->out);
}

static void launch(run *r, int ranks, const char *args) { launch_program(r, ranks, MPI_TRAIN, args); }

static void expect_pass(int ranks, const char *args, const char *want)
{
    static run r;
    launch(&r, ranks, args);
    cr_assert_eq(r.status, 0, "%s: status %d\n%s", args, r.status, r.out);
    cr_assert(strstr(r.out, "RESULT: pass") != NULL, "%s\n%s", args, r.out);
    cr_assert(strstr(r.out, "FAIL") == NULL, "%s\n%s", args, r.out);
    cr_assert(strstr(r.out, want) != NULL, "%s: no '%s' in\n%s", args, want, r.out);
}

/* The job must end, not hang: non-zero status, the message, under 30 s. */
static void expect_job_failure(const char *how, const char *msg1, const char *msg2)
{
    static run r;
    char args[64];
    snprintf(args, sizeof args, "fail %s", how);
    launch(&r, 2, args);
    cr_assert_neq(r.status, 0, "%s: the job ended with status 0\n%s", how, r.out);
    cr_assert_neq(r.status, -1, "%s: killed by the 120 s safety timeout\n%s", how, r.out);
    cr_assert_lt(r.seconds, 30.0, "%s: the job took %.1f s to fail\n%s", how, r.seconds, r.out);
    cr_assert(strstr(r.out, msg1) != NULL || (msg2 && strstr(r.out, msg2) != NULL),
              "%s: no '%s'%s%s in\n%s", how, msg1, msg2 ? " or " : "", msg2 ? msg2 : "", r.out);
    cr_assert(strstr(r.out, "RESULT: pass") == NULL, "%s\n%s", how, r.out);
}

TestSuite(mpi, .timeout = 150);

Test(mpi, two_ranks_of_16_train_like_one_process_of_32_sgd)
{
    expect_pass(2, "equiv sgd 32 5", "sgd, 2 ranks, global batch 32");
}

Test(mpi, two_ranks_of_16_train_like_one_process_of_32_momentum)
{
    expect_pass(2, "equiv momentum 32 5", "momentum, 2 ranks, global batch 32");
}

Test(mpi, two_ranks_of_16_train_like_one_process_of_32_adam)
{
    expect_pass(2, "equiv adam 32 5", "adam, 2 ranks, global batch 32");
}

Test(mpi, three_ranks_on_a_global_batch_that_does_not_divide)
{
    expect_pass(3, "equiv adam 32 4", "adam, 3 ranks, global batch 32");
}

Test(mpi, three_ranks_with_an_empty_share_at_every_update)
{
    expect_pass(3, "equiv momentum 2 1", "momentum, 3 ranks, global batch 2");
}

Test(mpi, dropout_on_two_and_three_ranks_draws_the_masks_of_one_process)
{
    expect_pass(2, "equiv adam 32 3 dropout", "adam with dropout, 2 ranks, global batch 32");
    expect_pass(3, "equiv sgd 32 2 dropout", "sgd with dropout, 3 ranks, global batch 32");
}

Test(mpi, one_rank_is_one_process)
{
    expect_pass(1, "equiv adam 32 2", "adam, 1 ranks, global batch 32");
}

/* The resume runs write their checkpoint into a directory of their own. */
static void resume(const char *rule, const char *model, const char *want)
{
    char dir[] = "/tmp/bsnn-mpi-XXXXXX", args[256], file[300];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(args, sizeof args, "resume %s %s %s", rule, dir, model);
    expect_pass(2, args, want);
    snprintf(file, sizeof file, "%s/resume.ckpt", dir);
    unlink(file);
    rmdir(dir);
}

Test(mpi, checkpoint_from_rank_0_resumes_two_ranks_bit_exactly_with_batch_norm)
{
    resume("adam", "bn", "rank 1's batch-norm statistics differ from rank 0's");
}

Test(mpi, checkpoint_from_rank_0_resumes_two_ranks_bit_exactly_and_one_process_to_1e5)
{
    resume("momentum", "plain", "resumed as 1 process");
}

Test(mpi, a_rank_that_exits_early_ends_the_job_in_under_30_s)
{
    /* mpirun itself sees the exit and ends the job (its own message) */
    expect_job_failure("exit", "exited", "non-zero");
}

Test(mpi, a_rank_that_leaves_the_training_early_ends_the_job_at_the_deadline)
{
    expect_job_failure("leave", "did not complete within 5 s", NULL);
}

Test(mpi, a_rank_that_hangs_in_its_callback_ends_the_job_at_the_deadline)
{
    expect_job_failure("hang", "the gradient allreduce of update 6 did not complete within 5 s",
                       NULL);
}

Test(mpi, in_return_mode_the_others_get_an_error_and_end_the_job_themselves)
{
    expect_job_failure("return", "training returned status -10", NULL);
}

Test(mpi, a_rank_with_a_local_error_ends_the_job_at_once)
{
    expect_job_failure("abort", "bsnn_mpi: rank 1 of 2: could not read its next file", NULL);
}

Test(mpi, bad_input_to_every_function_is_refused_alike_on_every_rank)
{
    expect_pass(2, "misuse", "misuse:");
}

/* The number after `key` on the "result:" line of out. */
static double result_field(const char *out, const char *key)
{
    const char *line = strstr(out, "result:");
    cr_assert_not_null(line, "no result line in\n%s", out);
    const char *at = strstr(line, key);
    cr_assert_not_null(at, "no '%s' in the result line\n%s", key, out);
    return strtod(at + strlen(key), NULL);
}

/* bsnn-train --mpi: 2 ranks (global batch 32: shares of 16) print the
 * result line one process prints (losses to 1e-5, the same accuracies),
 * once (rank 0 alone prints), and rank 0 writes the model. */
Test(mpi, bsnn_train_on_two_ranks_prints_what_one_process_prints)
{
    static run one, two;
    char model[] = "/tmp/bsnn-mpi-model-XXXXXX", args[512];
    int fd = mkstemp(model);
    cr_assert_geq(fd, 0);
    close(fd);
    const char *common = "--dataset spiral --points 400 --noise 0.1 --layers 2,16,16,1 "
                         "--activation tanh --batch 32 --epochs 15 --optimizer adam --lr 0.01 --seed 3";
    launch_program(&one, 0, BSNN_TRAIN_MPI_BIN, common);
    snprintf(args, sizeof args, "--mpi %s --save %s", common, model);
    launch_program(&two, 2, BSNN_TRAIN_MPI_BIN, args);
    cr_assert_eq(one.status, 0, "%s", one.out);
    cr_assert_eq(two.status, 0, "%s", two.out);
    const char *keys[] = {"train loss ", "val loss "}, *accs[] = {"train acc ", "val acc "};
    for (int k = 0; k < 2; k++) {
        double a = result_field(one.out, keys[k]), b = result_field(two.out, keys[k]);
        cr_assert_lt(fabs(a - b), 1e-5 * fabs(a) + 1e-6, "%s%.6f vs %.6f", keys[k], a, b);
        cr_assert_eq(result_field(one.out, accs[k]), result_field(two.out, accs[k]), "%s", accs[k]);
    }
    const char *first = strstr(two.out, "result:");
    cr_assert(strstr(first + 1, "result:") == NULL, "more than one rank printed\n%s", two.out);
    struct stat st;
    cr_assert(stat(model, &st) == 0 && st.st_size > 0, "rank 0 wrote no model");
    unlink(model);
}
