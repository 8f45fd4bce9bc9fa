/*
 * clock.c - the monotonic wall clock of histories and the search.
 */
#include "common/common.h"

#include <time.h>

double bsnn__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
