/*
 * fuzz_file.h - the path-based loaders need files: write fuzz bytes to a
 * per-process temporary file, rewritten on each input.
 */
#ifndef BSNN_FUZZ_FILE_H
#define BSNN_FUZZ_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A RAM-backed directory when there is one: the loaders need real files,
 * and a disk-backed /tmp slows the harness a hundredfold. */
static const char *fuzz_dir(void) { return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"; }

static char fuzz_paths[2][96];

static void fuzz_cleanup(void)
{
    for (int i = 0; i < 2; i++)
        if (fuzz_paths[i][0]) unlink(fuzz_paths[i]);
}

/* Write size bytes to DIR/bsnn-fuzz-PID-<tag> and return its path (tags
 * starting with 'b' and others use two distinct slots). */
static const char *fuzz_file(const char *tag, const uint8_t *data, size_t size)
{
    static int registered;
    if (!registered) registered = atexit(fuzz_cleanup) == 0;
    char *path = fuzz_paths[tag[0] == 'b'];
    snprintf(path, sizeof fuzz_paths[0], "%s/bsnn-fuzz-%ld-%s", fuzz_dir(), (long)getpid(), tag);
    FILE *f = fopen(path, "wb");
    if (f == NULL) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}

#endif
