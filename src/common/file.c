/*
 * file.c - the file-system helpers every writer and loader shares: saves
 * replace their target atomically (an unnamed O_TMPFILE on Linux, linked
 * and renamed once complete, else a named temporary file; fsync of the
 * file and of the directory), so a crash leaves the old file or the new
 * one, never a torn one, and the next save of a path sweeps the temporary
 * files of killed saves; loaders open without blocking and accept only a
 * regular file, whose size at open bounds every read.
 */
/* O_TMPFILE (Linux) is a GNU extension of fcntl.h; everything else used
 * here is POSIX. Without it, saves use the named temporary file. */
#define _GNU_SOURCE
#include "common/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static bsnn_status io_fail(const char *what, const char *path)
{
    return bsnn__fail(BSNN_E_IO, "%s '%s': %s", what, path, strerror(errno));
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* fsync the directory holding path, so the rename itself is durable. */
static int sync_dir(char *path_copy)
{
    char *slash = strrchr(path_copy, '/');
    const char *dir = ".";
    if (slash == path_copy) dir = "/";
    else if (slash) *slash = '\0', dir = path_copy;
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Create a fresh temp file beside path (name in tmp); O_EXCL so two savers
 * never share one. Mode 0666 honours the process umask. */
static int open_temp(char *tmp, size_t cap, const char *path)
{
    static _Atomic unsigned long counter;
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, cap, "%s.tmp-%ld-%lu", path, (long)getpid(), counter++);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

int bsnn__io_named_temp_only;

/* An unnamed file in path's directory (Linux O_TMPFILE; tmp is scratch
 * space of cap bytes): until it is linked, a process killed while writing
 * it leaves nothing behind. -1 where the kernel or file system lacks it. */
static int open_unnamed(char *tmp, size_t cap, const char *path)
{
#ifdef O_TMPFILE
    if (bsnn__io_named_temp_only) return -1;
    snprintf(tmp, cap, "%s", path);
    char *slash = strrchr(tmp, '/');
    const char *dir = ".";
    if (slash == tmp) dir = "/";
    else if (slash) *slash = '\0', dir = tmp;
    return open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
#else
    (void)tmp, (void)cap, (void)path;
    return -1;
#endif
}

/* Give the complete unnamed file fd a fresh temp name beside path (in
 * tmp), through /proc (linkat with AT_EMPTY_PATH would need a privilege).
 * 0, or -1 with errno. */
static int link_unnamed(int fd, char *tmp, size_t cap, const char *path)
{
    static _Atomic unsigned long counter;
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, cap, "%s.tmp-%ld-u%lu", path, (long)getpid(), counter++);
        if (linkat(AT_FDCWD, self, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0) return 0;
        if (errno != EEXIST) return -1;
    }
    return -1;
}

/* Write data durably to a fresh temp file beside path: unnamed when
 * `unnamed` (then *out_fd stays open for publish), else named in tmp. A
 * failure leaves nothing behind. *unsupported: the unnamed route is not
 * available here; nothing was written, take the named one. */
static bsnn_status write_temp(int *out_fd, char *tmp, size_t cap, const char *path,
                              const unsigned char *data, size_t size, int unnamed,
                              int *unsupported)
{
    int fd = unnamed ? open_unnamed(tmp, cap, path) : open_temp(tmp, cap, path);
    if (fd < 0) {
        if (unnamed) return *unsupported = 1, BSNN_OK;
        return io_fail("cannot create a temporary file beside", path);
    }
    if (write_all(fd, data, size) != 0 || fsync(fd) != 0) {
        bsnn_status st = io_fail("cannot write a temporary file beside", path);
        close(fd);
        if (!unnamed) unlink(tmp);
        return st;
    }
    *out_fd = fd;
    return BSNN_OK;
}

/* Put the complete temp file in place: an unnamed one is linked to a temp
 * name and renamed over path at once (the only moment a kill can leave a
 * file behind is between those two calls); a named one is renamed. 0 or -1
 * with errno; *unlinked: an unnamed file could not be linked (no /proc). */
static int publish(int fd, int unnamed, char *tmp, size_t cap, const char *path, int *unlinked)
{
    if (unnamed && link_unnamed(fd, tmp, cap, path) != 0) return *unlinked = 1, -1;
    if (rename(tmp, path) == 0) return 0;
    int saved = errno;
    unlink(tmp);
    errno = saved;
    return -1;
}

/* 1 when name is "<base>.tmp-<pid>-<n>" or "<base>.tmp-<pid>-u<n>" (the
 * temp names of open_temp and link_unnamed for this base) and that pid is
 * no longer running: a save that was killed before its rename. */
static int stale_temp(const char *name, const char *base, size_t base_len)
{
    if (strncmp(name, base, base_len) != 0 || strncmp(name + base_len, ".tmp-", 5) != 0) return 0;
    const char *p = name + base_len + 5;
    char *end = NULL;
    long pid = strtol(p, &end, 10);
    if (end == p || pid <= 0 || *end != '-') return 0;
    p = end + 1 + (end[1] == 'u');
    strtoul(p, &end, 10);
    if (end == p || *end != '\0' || pid == (long)getpid()) return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Remove what killed saves of path left behind: the unnamed route can
 * leave its complete file in the microseconds between link and rename, the
 * named route (and bsnn 0.2) a whole partial file. Only names of this
 * path's temp files whose process is gone are touched; tmp is scratch. */
static void sweep_stale(char *tmp, size_t cap, const char *path)
{
    snprintf(tmp, cap, "%s", path);
    char *slash = strrchr(tmp, '/');
    const char *dir = ".", *base = tmp;
    if (slash == tmp) dir = "/", base = tmp + 1;
    else if (slash) *slash = '\0', dir = tmp, base = slash + 1;
    DIR *d = opendir(dir);
    if (d == NULL) return;
    size_t base_len = strlen(base);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (stale_temp(e->d_name, base, base_len)) unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

bsnn_status bsnn__write_atomic(const char *path, const unsigned char *data, size_t size)
{
    size_t cap = strlen(path) + 64;
    char *tmp = bsnn__alloc(cap);
    if (tmp == NULL) return BSNN_E_NOMEM;
    int fd = -1, unsupported = 0, unlinked = 0;
    /* The unnamed route: the descriptor stays open until the rename is done. */
    bsnn_status st = write_temp(&fd, tmp, cap, path, data, size, 1, &unsupported);
    if (st == BSNN_OK && !unsupported && publish(fd, 1, tmp, cap, path, &unlinked) != 0 &&
        !unlinked)
        st = io_fail("cannot rename over", path);
    if (fd >= 0) close(fd);
    if (st == BSNN_OK && (unsupported || unlinked)) { /* the named route */
        st = write_temp(&fd, tmp, cap, path, data, size, 0, &unsupported);
        if (st == BSNN_OK && close(fd) != 0) {
            st = io_fail("cannot close", tmp);
            unlink(tmp);
        }
        if (st == BSNN_OK && publish(-1, 0, tmp, cap, path, &unlinked) != 0)
            st = io_fail("cannot rename over", path);
    }
    if (st == BSNN_OK) {
        sweep_stale(tmp, cap, path);
        snprintf(tmp, cap, "%s", path);
        if (sync_dir(tmp) != 0) st = io_fail("cannot sync the directory of", path);
    }
    bsnn__free(tmp);
    return st;
}

bsnn_status bsnn__open_regular(int *out_fd, size_t *out_size, const char *path)
{
    /* O_NONBLOCK: a FIFO opens at once instead of waiting for a writer;
     * it is then refused below. On a regular file the flag changes nothing. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    BSNN_FAIL_IF(fd < 0, BSNN_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    bsnn_status status = BSNN_OK;
    if (fstat(fd, &st) != 0)
        status = bsnn__fail(BSNN_E_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        status = bsnn__fail(BSNN_E_IO, "%s: not a regular file (%s)", path,
                            S_ISFIFO(st.st_mode)  ? "a FIFO"
                            : S_ISDIR(st.st_mode) ? "a directory"
                            : S_ISCHR(st.st_mode) ? "a character device"
                            : S_ISBLK(st.st_mode) ? "a block device"
                                                  : "a socket or other special file");
    else if ((uint64_t)st.st_size > SIZE_MAX / 2)
        status = bsnn__fail(BSNN_E_IO, "%s: too large (%lld bytes)", path,
                            (long long)st.st_size);
    if (status != BSNN_OK) {
        close(fd);
        return status;
    }
    *out_fd = fd;
    *out_size = (size_t)st.st_size;
    return BSNN_OK;
}

/* The whole file in a fresh buffer of its size (nothing larger is ever
 * allocated on the file's say-so). */
bsnn_status bsnn__read_file(unsigned char **out, size_t *out_size, const char *path)
{
    int fd = -1;
    size_t n = 0;
    BSNN_TRY(bsnn__open_regular(&fd, &n, path));
    bsnn_status status = BSNN_OK;
    unsigned char *buf = NULL;
    if (n == 0) {
        status = bsnn__fail(BSNN_E_IO, "'%s' is empty", path);
    } else if ((buf = bsnn__alloc(n)) == NULL) {
        status = BSNN_E_NOMEM;
    } else {
        size_t got = 0;
        while (got < n) {
            ssize_t k = read(fd, buf + got, n - got);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break;
            got += (size_t)k;
        }
        if (got != n) status = bsnn__fail(BSNN_E_IO, "'%s' shrank while being read", path);
    }
    close(fd);
    if (status != BSNN_OK) {
        bsnn__free(buf);
        return status;
    }
    *out = buf;
    *out_size = n;
    return BSNN_OK;
}

/* ---- text files (histories, search results) ------------------------------ */

int bsnn__text_printf(bsnn__text *t, const char *fmt, ...)
{
    if (t->failed) return -1;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
        t->failed = 1;
        bsnn__fail(BSNN_E_IO, "a text line cannot be formatted");
        return -1;
    }
    if (t->buf && t->len + (size_t)k < t->cap) {
        t->len += (size_t)k;
        return 0;
    }
    /* Grow to twice what is needed (amortised appends), through bsnn's
     * allocator, and format again. */
    size_t need = bsnn__add_size(t->len, (size_t)k + 1), cap = bsnn__mul_size(need, 2);
    char *grown = cap ? bsnn__alloc(cap) : NULL;
    if (grown == NULL) { /* bsnn__alloc said why (NOMEM) */
        t->failed = BSNN_E_NOMEM;
        return -1;
    }
    if (t->len) memcpy(grown, t->buf, t->len);
    bsnn__free(t->buf);
    t->buf = grown;
    t->cap = cap;
    va_start(ap, fmt);
    vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)k;
    return 0;
}

bsnn_status bsnn__write_text_file(const char *path, int (*write)(bsnn__text *t, const void *obj),
                                  const void *obj)
{
    bsnn__text t = {NULL, 0, 0, 0};
    bsnn_status st = BSNN_OK;
    if (write(&t, obj) != 0 || t.failed)
        st = t.failed == BSNN_E_NOMEM ? BSNN_E_NOMEM : BSNN_E_IO; /* the message is recorded */
    else
        st = bsnn__write_atomic(path, (const unsigned char *)t.buf, t.len);
    bsnn__free(t.buf);
    return st;
}
