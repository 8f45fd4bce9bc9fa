/*
 * alloc.c - the one door every bsnn allocation goes through, so a host can
 * replace the allocator (and a test can fail the Nth allocation).
 */
#include "common/common.h"

#include <stdatomic.h>
#include <stdlib.h>

static void *default_alloc(void *user, size_t size)
{
    (void)user;
    return malloc(size);
}

static void default_free(void *user, void *ptr, size_t size)
{
    (void)user;
    (void)size;
    free(ptr);
}

static bsnn_alloc_fn host_alloc = default_alloc;
static bsnn_free_fn host_free = default_free;
static void *host_user;
/* Atomic: distinct objects may allocate from distinct threads at once. */
static _Atomic size_t live_allocations;

/* Each block carries its raw pointer and requested size just below the
 * aligned address, so bsnn__free can hand both back to the host. */
typedef struct block_header {
    void *raw;
    size_t size;
} block_header;

bsnn_status bsnn_set_allocator(bsnn_alloc_fn alloc, bsnn_free_fn free_fn, void *user)
{
    BSNN_ENTER();
    BSNN_FAIL_IF((alloc == NULL) != (free_fn == NULL), BSNN_E_ARG,
                 "alloc and free_fn must both be set or both NULL");
    BSNN_FAIL_IF(live_allocations != 0, BSNN_E_STATE, "%zu bsnn allocations are still alive",
                 (size_t)live_allocations);
    host_alloc = alloc ? alloc : default_alloc;
    host_free = free_fn ? free_fn : default_free;
    host_user = alloc ? user : NULL;
    return BSNN_OK;
}

size_t bsnn__mul_size(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) return 0;
    return count * size;
}

size_t bsnn__add_size(size_t a, size_t b)
{
    if (a > SIZE_MAX - b) return 0;
    return a + b;
}

void *bsnn__alloc(size_t size)
{
    BSNN_FAIL_NULL_IF(size == 0 || size > SIZE_MAX - BSNN_ALIGN - sizeof(block_header),
                      BSNN_E_NOMEM, "cannot allocate %zu bytes", size);
    size_t total = size + BSNN_ALIGN + sizeof(block_header);
    unsigned char *raw = host_alloc(host_user, total);
    BSNN_FAIL_NULL_IF(raw == NULL, BSNN_E_NOMEM, "out of memory allocating %zu bytes", size);
    uintptr_t base = (uintptr_t)(raw + sizeof(block_header));
    uintptr_t aligned = (base + BSNN_ALIGN - 1) & ~(uintptr_t)(BSNN_ALIGN - 1);
    block_header *h = (block_header *)aligned - 1;
    h->raw = raw;
    h->size = total;
    live_allocations++;
    return (void *)aligned;
}

void *bsnn__calloc(size_t count, size_t size)
{
    size_t bytes = bsnn__mul_size(count, size);
    BSNN_FAIL_NULL_IF(bytes == 0 && count != 0 && size != 0, BSNN_E_NOMEM,
                      "%zu x %zu bytes overflows", count, size);
    void *p = bsnn__alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void bsnn__free(void *ptr)
{
    if (ptr == NULL) return;
    block_header *h = (block_header *)ptr - 1;
    live_allocations--;
    host_free(host_user, h->raw, h->size);
}

size_t bsnn__live_allocations(void) { return live_allocations; }

size_t bsnn__alloc_cost(size_t size)
{
    /* bsnn__alloc asks the host for size + alignment slack + its header. */
    return size ? size + BSNN_ALIGN + sizeof(block_header) : 0;
}
