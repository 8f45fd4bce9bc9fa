/*
 * codec.c - the byte codec of bsnn's files: CRC-32 (IEEE 802.3, reflected,
 * as zlib and PNG), which every section of a model or checkpoint file
 * carries.
 */
#include "common/common.h"

uint32_t bsnn__crc32(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

