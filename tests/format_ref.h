/*
 * format_ref.h - an independent reading of the model file format for the
 * persistence tests: CRC-32 written from the polynomial (not from codec.c) and
 * little-endian field access, used to forge and re-seal files.
 */
#ifndef BSNN_FORMAT_REF_H
#define BSNN_FORMAT_REF_H

#include <stddef.h>
#include <stdint.h>

/* Bitwise CRC-32 (IEEE 802.3, reflected, polynomial 0xedb88320). */
static uint32_t ref_crc(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return c ^ 0xffffffffu;
}

/* Read / write a little-endian unsigned field of `bytes` bytes. */
static uint64_t rd(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void wr(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

#endif
