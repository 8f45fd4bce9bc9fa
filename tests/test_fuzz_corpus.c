/*
 * test_fuzz_corpus.c - replays every file of tests/fuzz/corpus/<name>/
 * (the seeds, and regression inputs of crashes the fuzzers found) through
 * the same harness code `make fuzz` runs, so `make test`, the sanitizer
 * build and valgrind keep checking them without clang.
 */
#include "testutil.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>

#define LLVMFuzzerTestOneInput fuzz_model_one
#include "fuzz/fuzz_model.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_checkpoint_one
#include "fuzz/fuzz_checkpoint.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_csv_one
#include "fuzz/fuzz_csv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_idx_one
#include "fuzz/fuzz_idx.c"
#undef LLVMFuzzerTestOneInput

/* Feed each file of the corpus directory to the harness; returns the count. */
static size_t replay(const char *name, int (*harness)(const uint8_t *, size_t))
{
    char dir[128];
    snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", name);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "no corpus directory %s", dir);
    size_t files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "%s", path);
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        harness(buf, n);
        files++;
    }
    closedir(d);
    return files;
}

Test(fuzz_corpus, model_inputs_replay_cleanly) { cr_assert_gt(replay("model", fuzz_model_one), 0); }
Test(fuzz_corpus, checkpoint_inputs_replay_cleanly)
{
    cr_assert_gt(replay("checkpoint", fuzz_checkpoint_one), 0);
}
Test(fuzz_corpus, csv_inputs_replay_cleanly) { cr_assert_gt(replay("csv", fuzz_csv_one), 0); }
Test(fuzz_corpus, idx_inputs_replay_cleanly) { cr_assert_gt(replay("idx", fuzz_idx_one), 0); }
