/*
 * test_batches.c - the scheduler's core batching, iterated by hand: which
 * samples form each batch of an epoch for every batch size x shuffle x
 * drop-last (each sample at most once per epoch, exactly once unless the
 * partial batch is dropped; documented batch sizes), the Playground's
 * carry-over batching (shared/PLAYGROUND.md section 4), seeds, reset and bad
 * input. Schedules, lr rules and accumulation are in test_scheduler.c.
 */
#include "testutil.h"

#define N_SAMPLES 37

static bsnn_scheduler *sched(size_t n, size_t batch, int shuffle, int drop_last, uint64_t seed)
{
    bsnn_scheduler *s = bsnn_scheduler_create(n);
    cr_assert_not_null(s, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, (double)batch), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_SHUFFLE, shuffle), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_DROP_LAST, drop_last), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_SEED, (double)seed), BSNN_OK);
    return s;
}

/* Iterate one epoch: record the batch sizes and per-sample visit counts;
 * returns the number of batches. */
static size_t one_epoch(bsnn_scheduler *s, size_t n, size_t *sizes, size_t *visits)
{
    memset(visits, 0, n * sizeof *visits);
    size_t batches = 0;
    for (;;) {
        const size_t *idx = NULL;
        size_t count = 0;
        int end = -1;
        cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
        cr_assert(end == 0 || end == 1);
        cr_assert_gt(count, 0);
        for (size_t i = 0; i < count; i++) {
            cr_assert_lt(idx[i], n, "index %zu out of range", idx[i]);
            visits[idx[i]]++;
        }
        sizes[batches++] = count;
        cr_assert_leq(batches, n, "an epoch never has more batches than samples");
        if (end) return batches;
    }
}

Test(batches, every_size_shuffle_and_drop_last_visits_each_sample_as_documented)
{
    size_t n = N_SAMPLES, sizes_to_try[5] = {1, 3, 5, 16, N_SAMPLES};
    size_t sizes[N_SAMPLES], visits[N_SAMPLES];
    for (int b = 0; b < 5; b++)
        for (int shuffle = 0; shuffle <= 1; shuffle++)
            for (int drop = 0; drop <= 1; drop++) {
                size_t B = sizes_to_try[b];
                bsnn_scheduler *s = sched(n, B, shuffle, drop, 5);
                size_t full = n / B, rest = n % B;
                size_t want_batches = full + (drop ? 0 : rest > 0);
                for (size_t e = 0; e < 4; e++) {
                    cr_assert_eq(bsnn_scheduler_epoch(s), e);
                    cr_assert_eq(bsnn_scheduler_batch_size(s), B);
                    size_t got = one_epoch(s, n, sizes, visits);
                    cr_assert_eq(got, want_batches, "B %zu shuffle %d drop %d: %zu batches", B,
                                 shuffle, drop, got);
                    for (size_t i = 0; i < full; i++) cr_assert_eq(sizes[i], B);
                    if (!drop && rest) cr_assert_eq(sizes[full], rest, "the partial last batch");
                    size_t seen = 0;
                    for (size_t i = 0; i < n; i++) {
                        cr_assert_leq(visits[i], 1, "sample %zu visited twice", i);
                        if (!drop) cr_assert_eq(visits[i], 1, "sample %zu missed", i);
                        seen += visits[i];
                    }
                    cr_assert_eq(seen, full * B + (drop ? 0 : rest));
                    cr_assert_eq(bsnn_scheduler_step(s), 0, "between epochs");
                }
                bsnn_scheduler_free(s);
            }
}

Test(batches, stored_order_without_shuffle)
{
    bsnn_scheduler *s = sched(10, 4, 0, 0, 0);
    const size_t *idx;
    size_t count;
    int end;
    for (int e = 0; e < 2; e++) {
        size_t next = 0;
        do {
            cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
            for (size_t i = 0; i < count; i++) cr_assert_eq(idx[i], next++);
        } while (!end);
        cr_assert_eq(next, 10);
    }
    bsnn_scheduler_free(s);
}

Test(batches, full_batch_is_all_samples_every_step)
{
    bsnn_scheduler *s = sched(N_SAMPLES, 3, 1, 0, 1);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_FULL_BATCH, 1), BSNN_OK);
    size_t sizes[N_SAMPLES], visits[N_SAMPLES];
    for (int e = 0; e < 3; e++) {
        cr_assert_eq(one_epoch(s, N_SAMPLES, sizes, visits), 1);
        cr_assert_eq(sizes[0], N_SAMPLES);
        for (int i = 0; i < N_SAMPLES; i++) cr_assert_eq(visits[i], 1);
    }
    cr_assert_eq(bsnn_scheduler_batch_size(s), N_SAMPLES);
    bsnn_scheduler_free(s);
}

Test(batches, default_batch_is_32_clamped_to_n)
{
    bsnn_scheduler *a = bsnn_scheduler_create(100), *b = bsnn_scheduler_create(7);
    double v;
    cr_assert_eq(bsnn_scheduler_get(&v, a, BSNN_SCHED_BATCH_SIZE), BSNN_OK);
    cr_assert_eq(v, 32);
    cr_assert_eq(bsnn_scheduler_batch_size(b), 7);
    cr_assert_eq(bsnn_scheduler_n_samples(a), 100);
    cr_assert_eq(bsnn_scheduler_get(&v, a, BSNN_SCHED_SHUFFLE), BSNN_OK);
    cr_assert_eq(v, 1, "shuffle defaults to on");
    cr_assert_eq(bsnn_scheduler_get(&v, a, BSNN_SCHED_DROP_LAST), BSNN_OK);
    cr_assert_eq(v, 0);
    bsnn_scheduler_free(a);
    bsnn_scheduler_free(b);
}

/* ---- Playground carry-over (PLAYGROUND.md section 4) -------------------------- */

/* Epochs of carry-over batching in stored order; checks every index:
 * epoch 1 has floor(N/B) batches of B in order; from epoch 2 the first batch
 * is the previous epoch's last N mod B samples followed by B new ones. */
static size_t carry_over_updates(size_t n, size_t B, size_t epochs)
{
    bsnn_scheduler *s = sched(n, B, 0, 0, 0);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_CARRY_OVER, 1), BSNN_OK);
    size_t r = n % B, updates = 0;
    for (size_t e = 0; e < epochs; e++) {
        size_t pos = 0, batch = 0;
        int end = 0;
        while (!end) {
            const size_t *idx;
            size_t count;
            cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
            size_t k = 0;
            if (batch == 0 && e > 0 && r > 0) {
                cr_assert_eq(count, B + r, "epoch %zu first batch holds B + N mod B", e + 1);
                for (; k < r; k++) cr_assert_eq(idx[k], n - r + k, "carried sample");
            } else {
                cr_assert_eq(count, B, "epoch %zu batch %zu", e + 1, batch);
            }
            for (; k < count; k++) cr_assert_eq(idx[k], pos++);
            batch++;
            updates++;
        }
        cr_assert_eq(batch, n / B, "updates per epoch");
        cr_assert_eq(pos, n - r, "the last N mod B wait for the next epoch");
    }
    bsnn_scheduler_free(s);
    return updates;
}

Test(batches, carry_over_follows_the_playground)
{
    /* Spiral at 50%: N = 250. */
    cr_assert_eq(carry_over_updates(250, 30, 3), 3 * 8, "B = 30: 8 updates per epoch");
    cr_assert_eq(carry_over_updates(250, 10, 2), 2 * 25, "B = 10: 25 per epoch");
    cr_assert_eq(carry_over_updates(250, 1, 2), 2 * 250, "B = 1: 250 per epoch");
    cr_assert_eq(carry_over_updates(250, 250, 2), 2, "B = N: one per epoch");
    cr_assert_eq(carry_over_updates(7, 3, 5), 5 * 2);
}

Test(batches, carry_over_300_epochs_of_30_give_2400_updates)
{
    bsnn_scheduler *s = sched(250, 30, 0, 0, 0);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_CARRY_OVER, 1), BSNN_OK);
    size_t updates = 0, samples = 0;
    while (bsnn_scheduler_epoch(s) < 300) {
        const size_t *idx;
        size_t count;
        int end;
        cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
        updates++;
        samples += count;
    }
    cr_assert_eq(updates, 2400);
    cr_assert_eq(samples, 300 * 250 - 10, "the final epoch's 10 leftovers are never applied");
    bsnn_scheduler_free(s);
}

Test(batches, carry_over_with_shuffle_keeps_each_epochs_samples_once)
{
    bsnn_scheduler *s = sched(23, 5, 1, 0, 9);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_CARRY_OVER, 1), BSNN_OK);
    size_t sizes[23], visits[23];
    for (int e = 0; e < 4; e++) {
        size_t got = one_epoch(s, 23, sizes, visits);
        cr_assert_eq(got, 4);
        cr_assert_eq(sizes[0], e == 0 ? 5 : 8);
        size_t total = 0;
        for (int i = 0; i < 23; i++) total += visits[i];
        cr_assert_eq(total, e == 0 ? 20 : 23, "20 new samples plus 3 carried ones");
    }
    bsnn_scheduler_free(s);
}

Test(batches, drop_last_and_carry_over_exclude_each_other_and_failure_changes_nothing)
{
    bsnn_scheduler *s = bsnn_scheduler_create(10);
    double v;
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_CARRY_OVER, 1), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_DROP_LAST, 1), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "exclude") != NULL);
    cr_assert_eq(bsnn_scheduler_get(&v, s, BSNN_SCHED_CARRY_OVER), BSNN_OK);
    cr_assert_eq(v, 1, "the refused call left carry-over on");
    cr_assert_eq(bsnn_scheduler_get(&v, s, BSNN_SCHED_DROP_LAST), BSNN_OK);
    cr_assert_eq(v, 0);
    bsnn_scheduler_free(s);
}

/* ---- seeds and reset ------------------------------------------------------------------- */

static void record_order(size_t *out, bsnn_scheduler *s, size_t n, size_t epochs)
{
    size_t k = 0;
    for (size_t e = 0; e < epochs; e++) {
        int end = 0;
        while (!end) {
            const size_t *idx;
            size_t count;
            cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
            memcpy(out + k, idx, count * sizeof *idx);
            k += count;
        }
    }
    cr_assert_eq(k, n * epochs);
}

Test(batches, same_seed_same_order_other_seed_other_order)
{
    size_t a[3 * 50], b[3 * 50], c[3 * 50];
    bsnn_scheduler *sa = sched(50, 7, 1, 0, 42), *sb = sched(50, 7, 1, 0, 42),
                   *sc = sched(50, 7, 1, 0, 43);
    record_order(a, sa, 50, 3);
    record_order(b, sb, 50, 3);
    record_order(c, sc, 50, 3);
    cr_assert(memcmp(a, b, sizeof a) == 0);
    cr_assert(memcmp(a, c, sizeof a) != 0);
    cr_assert(memcmp(a, a + 50, 50 * sizeof *a) != 0, "a new order every epoch");
    size_t identity = 0;
    for (size_t i = 0; i < 50; i++) identity += a[i] == i;
    cr_assert_lt(identity, 50, "shuffled");
    bsnn_scheduler_free(sa);
    bsnn_scheduler_free(sb);
    bsnn_scheduler_free(sc);
}

Test(batches, reset_restarts_epoch_step_and_order)
{
    size_t a[2 * 20], b[2 * 20];
    bsnn_scheduler *s = sched(20, 6, 1, 0, 7);
    record_order(a, s, 20, 2);
    cr_assert_eq(bsnn_scheduler_epoch(s), 2);
    const size_t *idx;
    size_t count;
    int end;
    bsnn_scheduler_next(&idx, &count, &end, s); /* stop mid-epoch */
    cr_assert_eq(bsnn_scheduler_step(s), 1);
    cr_assert_eq(bsnn_scheduler_reset(s), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_epoch(s), 0);
    cr_assert_eq(bsnn_scheduler_step(s), 0);
    record_order(b, s, 20, 2);
    cr_assert(memcmp(a, b, sizeof a) == 0);
    bsnn_scheduler_free(s);
}

Test(batches, batch_size_change_takes_effect_next_epoch)
{
    bsnn_scheduler *s = sched(12, 4, 0, 0, 0);
    const size_t *idx;
    size_t count;
    int end;
    cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 6), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_batch_size(s), 4, "the current epoch keeps its size");
    cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
    cr_assert_eq(count, 4);
    cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
    cr_assert_eq(count, 4);
    cr_assert_eq(end, 1);
    cr_assert_eq(bsnn_scheduler_batch_size(s), 6, "between epochs: the next epoch's size");
    cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
    cr_assert_eq(count, 6);
    bsnn_scheduler_free(s);
}

/* ---- bad input ---------------------------------------------------------------------------- */

Test(batches, bad_input_is_rejected_with_a_message)
{
    cr_assert_null(bsnn_scheduler_create(0));
    cr_assert(strstr(bsnn_last_error(), "bsnn_scheduler_create") != NULL);
    cr_assert(strstr(bsnn_last_error(), "n_samples") != NULL);
    bsnn_scheduler *s = bsnn_scheduler_create(10);
    double v;
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 0), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "batch size 0") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 11), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "11") != NULL);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 2.5), BSNN_E_ARG);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, NAN), BSNN_E_ARG);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, -1), BSNN_E_ARG);
    cr_assert_eq(bsnn_scheduler_get(&v, s, BSNN_SCHED_BATCH_SIZE), BSNN_OK);
    cr_assert_eq(v, 10, "rejected sizes left the setting unchanged");
    bsnn_sched_param flags[4] = {BSNN_SCHED_FULL_BATCH, BSNN_SCHED_SHUFFLE,
                                 BSNN_SCHED_DROP_LAST, BSNN_SCHED_CARRY_OVER};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(bsnn_scheduler_set(s, flags[i], 0.5), BSNN_E_ARG);
        cr_assert_eq(bsnn_scheduler_set(s, flags[i], 2), BSNN_E_ARG);
        cr_assert_eq(bsnn_scheduler_set(s, flags[i], NAN), BSNN_E_ARG);
    }
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_SEED, -1), BSNN_E_ARG);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_SEED, 0.5), BSNN_E_ARG);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_SEED, INFINITY), BSNN_E_ARG);
    cr_assert_eq(bsnn_scheduler_set(s, (bsnn_sched_param)999, 1), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "999") != NULL);
    cr_assert_eq(bsnn_scheduler_get(&v, s, (bsnn_sched_param)999), BSNN_E_ARG);
    cr_assert_eq(bsnn_scheduler_set(NULL, BSNN_SCHED_SEED, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_scheduler_get(NULL, s, BSNN_SCHED_SEED), BSNN_E_NULL);
    cr_assert_eq(bsnn_scheduler_get(&v, NULL, BSNN_SCHED_SEED), BSNN_E_NULL);
    const size_t *idx;
    size_t count;
    int end;
    cr_assert_eq(bsnn_scheduler_next(NULL, &count, &end, s), BSNN_E_NULL);
    cr_assert_eq(bsnn_scheduler_next(&idx, NULL, &end, s), BSNN_E_NULL);
    cr_assert_eq(bsnn_scheduler_next(&idx, &count, NULL, s), BSNN_E_NULL);
    cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, NULL), BSNN_E_NULL);
    cr_assert(strstr(bsnn_last_error(), "bsnn_scheduler_next") != NULL);
    cr_assert_eq(bsnn_scheduler_reset(NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_scheduler_epoch(NULL), 0);
    cr_assert_eq(bsnn_scheduler_step(NULL), 0);
    cr_assert_eq(bsnn_scheduler_batch_size(NULL), 0);
    cr_assert_eq(bsnn_scheduler_n_samples(NULL), 0);
    bsnn_scheduler_free(NULL);
    bsnn_scheduler_free(s);
}
