/*
 * settings.c - one place per setting: a descriptor (id, name, type, bounds
 * with open ends, default, where the value lives) serves the setter, the
 * getter, the bounds query and persistence of every object with settings,
 * so none of them keeps a range or a switch of its own.
 *
 * Values cross the API as doubles. Integer-typed settings (enum values,
 * flags, counts, byte counts, seeds) take whole numbers only, and the
 * double form of a 64-bit one is exact up to 2^53: a larger value is
 * refused when set and when read, never rounded (the typed twins, such as
 * bsnn_layer_set_seed, reach every value).
 */
#include "common/common.h"

#include <stdatomic.h>

const bsnn__setting *bsnn__setting_find(const bsnn__setting *table, size_t n, int id)
{
    for (size_t i = 0; i < n; i++)
        if (table[i].id == id) return &table[i];
    return NULL;
}

static int whole_type(const bsnn__setting *d) { return d->type != BSNN__SET_DOUBLE; }

/* The upper end on this host: a size_t setting cannot exceed SIZE_MAX. */
double bsnn__setting_hi(const bsnn__setting *d)
{
    if (d->type == BSNN__SET_SIZE && (double)SIZE_MAX < d->hi) return (double)SIZE_MAX;
    return d->hi;
}

bsnn_status bsnn__setting_check(const bsnn__setting *d, double v)
{
    double hi = bsnn__setting_hi(d);
    int lo_ok = (d->open & BSNN_BOUND_LO_OPEN) ? v > d->lo : v >= d->lo;
    int hi_ok = (d->open & BSNN_BOUND_HI_OPEN) ? v < hi : v <= hi;
    BSNN_FAIL_IF(!(isfinite(v) && lo_ok && hi_ok), BSNN_E_ARG, "%s %g is not in %c%g, %g%c",
                 d->name, v, (d->open & BSNN_BOUND_LO_OPEN) ? '(' : '[', d->lo, hi,
                 (d->open & BSNN_BOUND_HI_OPEN) ? ')' : ']');
    BSNN_FAIL_IF(whole_type(d) && v != floor(v), BSNN_E_ARG, "%s %g is not a whole number",
                 d->name, v);
    return BSNN_OK;
}

static void *field(const bsnn__setting *d, void *obj) { return (char *)obj + d->offset; }

void bsnn__setting_store(const bsnn__setting *d, void *obj, double v)
{
    void *p = field(d, obj);
    switch (d->type) {
    case BSNN__SET_INT: *(int *)p = (int)v; break;
    case BSNN__SET_SIZE: *(size_t *)p = (size_t)v; break;
    case BSNN__SET_U64: *(uint64_t *)p = (uint64_t)v; break;
    default: *(double *)p = v; break;
    }
}

bsnn_status bsnn__setting_load(const bsnn__setting *d, const void *obj, double *out)
{
    const void *p = field(d, (void *)obj);
    uint64_t u = 0;
    switch (d->type) {
    case BSNN__SET_INT: *out = *(const int *)p; return BSNN_OK;
    case BSNN__SET_SIZE: u = *(const size_t *)p; break;
    case BSNN__SET_U64: u = *(const uint64_t *)p; break;
    default: *out = *(const double *)p; return BSNN_OK;
    }
    BSNN_FAIL_IF(u > ((uint64_t)1 << 53), BSNN_E_ARG,
                 "the %s %llu is beyond 2^53, where a double is not exact: read it with %s",
                 d->name, (unsigned long long)u, d->typed ? d->typed : "its typed getter");
    *out = (double)u;
    return BSNN_OK;
}

void bsnn__setting_store_u64(const bsnn__setting *d, void *obj, uint64_t v)
{
    void *p = field(d, obj);
    if (d->type == BSNN__SET_SIZE)
        *(size_t *)p = (size_t)v;
    else
        *(uint64_t *)p = v;
}

uint64_t bsnn__setting_load_u64(const bsnn__setting *d, const void *obj)
{
    const void *p = field(d, (void *)obj);
    return d->type == BSNN__SET_SIZE ? (uint64_t) * (const size_t *)p : *(const uint64_t *)p;
}

void bsnn__settings_defaults(const bsnn__setting *table, size_t n, void *obj)
{
    for (size_t i = 0; i < n; i++) bsnn__setting_store(&table[i], obj, table[i].def);
}

bsnn_status bsnn__setting_check_u64(const bsnn__setting *d, uint64_t v)
{
    BSNN_FAIL_IF(d->type != BSNN__SET_U64 && d->type != BSNN__SET_SIZE, BSNN_E_ARG,
                 "%s takes no 64-bit integer", d->name);
    BSNN_FAIL_IF((double)v < d->lo || (d->type == BSNN__SET_SIZE && v > SIZE_MAX), BSNN_E_ARG,
                 "%s %llu is out of range", d->name, (unsigned long long)v);
    return BSNN_OK;
}

static _Atomic uint64_t plan_generation = 1;

uint64_t bsnn__plan_generation(void)
{
    return atomic_load_explicit(&plan_generation, memory_order_relaxed);
}

void bsnn__plan_changed(void) { atomic_fetch_add_explicit(&plan_generation, 1, memory_order_relaxed); }
