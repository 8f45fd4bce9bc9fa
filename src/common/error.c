/*
 * error.c - status strings, the thread-local last-error message and the
 * library version: the pieces every other file reports through.
 */
#include "common/common.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[BSNN__ERROR_CAP];

/* The public function the host called on this thread (BSNN_ENTER). */
_Thread_local const char *bsnn__entry;

#define BSNN_STR2(x) #x
#define BSNN_STR(x) BSNN_STR2(x)

unsigned bsnn_version(void) { return BSNN_VERSION_NUMBER; }

const char *bsnn_version_string(void)
{
    return BSNN_STR(BSNN_VERSION_MAJOR) "." BSNN_STR(BSNN_VERSION_MINOR) "." BSNN_STR(
        BSNN_VERSION_PATCH);
}

const char *bsnn_status_string(bsnn_status status)
{
    switch (status) {
    case BSNN_OK: return "ok";
    case BSNN_E_NULL: return "NULL argument";
    case BSNN_E_ARG: return "invalid argument";
    case BSNN_E_SHAPE: return "shape mismatch";
    case BSNN_E_NOMEM: return "out of memory";
    case BSNN_E_STATE: return "invalid state for this call";
    case BSNN_E_IO: return "input/output error";
    case BSNN_E_FORMAT: return "malformed or unsupported data";
    case BSNN_E_DIVERGED: return "training diverged (non-finite loss or gradient)";
    case BSNN_E_UNSUPPORTED: return "not supported";
    case BSNN_E_CALLBACK: return "abandoned by a host hook";
    }
    return "unknown status";
}

const char *bsnn_last_error(void) { return last_error; }

void bsnn__error_save(char *out, size_t cap) { snprintf(out, cap, "%s", last_error); }

void bsnn__error_restore(const char *saved)
{
    snprintf(last_error, sizeof last_error, "%s", saved);
}

static const char *entry_name(void) { return bsnn__entry ? bsnn__entry : "bsnn"; }

/* "<entry>: " then fmt; the detail is formatted after the prefix. */
static void record(const char *fmt, va_list ap)
{
    int k = snprintf(last_error, sizeof last_error, "%s: ", entry_name());
    if (k < 0 || (size_t)k >= sizeof last_error) return;
    vsnprintf(last_error + k, sizeof last_error - (size_t)k, fmt, ap);
}

bsnn_status bsnn__fail(bsnn_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(fmt, ap);
    va_end(ap);
    return status;
}

/* Append str to last_error at *n, cutting what does not fit. */
static void append(size_t *n, const char *str)
{
    size_t len = strlen(str), room = sizeof last_error - 1 - *n;
    if (len > room) len = room;
    memcpy(last_error + *n, str, len);
    *n += len;
    last_error[*n] = '\0';
}

bsnn_status bsnn__context(bsnn_status status, const char *fmt, ...)
{
    /* The inner detail, without its "<entry>: " prefix, copied out first. */
    char inner[BSNN__ERROR_CAP], ctx[BSNN__ERROR_CAP];
    const char *name = entry_name();
    size_t skip = strlen(name);
    const char *detail = last_error;
    if (strncmp(last_error, name, skip) == 0 && strncmp(last_error + skip, ": ", 2) == 0)
        detail += skip + 2;
    memcpy(inner, detail, strlen(detail) + 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    size_t n = 0;
    last_error[0] = '\0';
    append(&n, name);
    append(&n, ": ");
    append(&n, ctx);
    append(&n, ": ");
    append(&n, inner);
    return status;
}
