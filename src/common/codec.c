/*
 * codec.c - the byte codec of bsnn's files (docs/format.md), shared by every
 * object that serialises itself: CRC-32 (IEEE 802.3, reflected, as zlib and
 * PNG); a two-pass writer (counts when it has no buffer, fills otherwise, so
 * every section length is known before it is written) with little-endian
 * fields, byte by byte, the same on every host; sections (tag, flags,
 * length, payload, CRC-32); a reader that treats every byte as hostile (each
 * read bounds checked, a short read flagged, never past the end); and the
 * settings list every object writes from its descriptor table.
 */
#include "common/common.h"

/* Fuzz builds (make fuzz) ignore CRC mismatches, the convention of OSS-Fuzz
 * projects: otherwise almost every mutation dies at the checksum and the
 * parser behind it is never exercised. Only there: every other build checks. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define CRC_MISMATCH(want, got) ((void)(want), (void)(got), 0)
#else
#define CRC_MISMATCH(want, got) ((want) != (got))
#endif

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

int bsnn__crc_mismatch(uint32_t want, uint32_t got) { return CRC_MISMATCH(want, got); }

/* ---- writer ---------------------------------------------------------------- */

void bsnn__put_u8(bsnn__writer *w, unsigned v)
{
    if (w->buf) w->buf[w->len] = (unsigned char)v;
    w->len++;
}

void bsnn__put_uint(bsnn__writer *w, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) bsnn__put_u8(w, (unsigned)(v >> (8 * i)) & 0xffu);
}

void bsnn__put_u32(bsnn__writer *w, uint32_t v) { bsnn__put_uint(w, v, 4); }
void bsnn__put_u64(bsnn__writer *w, uint64_t v) { bsnn__put_uint(w, v, 8); }

void bsnn__put_f64(bsnn__writer *w, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    bsnn__put_u64(w, bits);
}

void bsnn__put_floats(bsnn__writer *w, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        bsnn__put_u32(w, bits);
    }
}

void bsnn__put_rng(bsnn__writer *w, const bsnn_rng *rng)
{
    for (int i = 0; i < 4; i++) bsnn__put_u64(w, rng->s[i]);
}

void bsnn__begin_section(bsnn__writer *w, const char *tag, uint32_t flags)
{
    w->section = w->len;
    for (int i = 0; i < 4; i++) bsnn__put_u8(w, (unsigned char)tag[i]);
    bsnn__put_u32(w, flags);
    bsnn__put_u64(w, 0); /* length, patched by end_section */
}

void bsnn__end_section(bsnn__writer *w)
{
    size_t payload = w->len - w->section - 16;
    if (w->buf) {
        bsnn__writer patch = {w->buf, w->section + 8, 0};
        bsnn__put_u64(&patch, payload);
    }
    uint32_t crc = w->buf ? bsnn__crc32(0, w->buf + w->section, w->len - w->section) : 0;
    bsnn__put_u32(w, crc);
}

/* ---- reader ---------------------------------------------------------------- */

uint64_t bsnn__get_uint(bsnn__reader *r, int bytes)
{
    if (r->len - r->pos < (size_t)bytes) {
        r->bad = 1;
        r->pos = r->len;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
    r->pos += (size_t)bytes;
    return v;
}

uint32_t bsnn__get_u32(bsnn__reader *r) { return (uint32_t)bsnn__get_uint(r, 4); }
uint64_t bsnn__get_u64(bsnn__reader *r) { return bsnn__get_uint(r, 8); }

double bsnn__get_f64(bsnn__reader *r)
{
    uint64_t bits = bsnn__get_u64(r);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

void bsnn__get_rng(bsnn__reader *r, bsnn_rng *rng)
{
    for (int i = 0; i < 4; i++) rng->s[i] = bsnn__get_u64(r);
}

void bsnn__get_floats(bsnn__reader *r, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = bsnn__get_u32(r);
        memcpy(&out[i], &bits, sizeof bits);
    }
}

size_t bsnn__get_size(bsnn__reader *r)
{
    uint64_t v = bsnn__get_u64(r);
    if (v > SIZE_MAX) r->bad = 1;
    return (size_t)v;
}

size_t bsnn__remaining(const bsnn__reader *r) { return r->len - r->pos; }

bsnn_status bsnn__next_section(bsnn__section *out, bsnn__reader *r)
{
    size_t start = r->pos;
    BSNN_FAIL_IF(bsnn__remaining(r) < BSNN__SECTION_OVERHEAD, BSNN_E_FORMAT,
                 "truncated at byte %zu: no room for a section header", start);
    for (int i = 0; i < 4; i++) out->tag[i] = (char)r->p[r->pos + (size_t)i];
    out->tag[4] = '\0';
    for (int i = 0; i < 4; i++)
        if (out->tag[i] < 0x20 || out->tag[i] > 0x7e) out->tag[i] = '?';
    r->pos += 4;
    out->flags = bsnn__get_u32(r);
    uint64_t length = bsnn__get_u64(r);
    BSNN_FAIL_IF(length > bsnn__remaining(r) || bsnn__remaining(r) - length < 4, BSNN_E_FORMAT,
                 "section '%s' at byte %zu declares %llu bytes, only %zu remain", out->tag, start,
                 (unsigned long long)length, bsnn__remaining(r));
    size_t body = r->pos;
    r->pos += (size_t)length;
    uint32_t want = bsnn__get_u32(r);
    uint32_t got = bsnn__crc32(0, r->p + start, body + (size_t)length - start);
    BSNN_FAIL_IF(CRC_MISMATCH(want, got), BSNN_E_FORMAT,
                 "section '%s' at byte %zu fails its CRC-32 (stored %08x, computed %08x)",
                 out->tag, start, want, got);
    out->body = (bsnn__reader){r->p + body, (size_t)length, 0, 0};
    return BSNN_OK;
}

bsnn_status bsnn__body_ok(const bsnn__section *s)
{
    BSNN_FAIL_IF(s->body.bad, BSNN_E_FORMAT, "section '%s' is shorter than its fields", s->tag);
    return BSNN_OK;
}

bsnn_status bsnn__get_rest_floats(float *out, size_t n, bsnn__section *s)
{
    BSNN_FAIL_IF(bsnn__remaining(&s->body) / 4 != n || bsnn__remaining(&s->body) % 4 != 0,
                 BSNN_E_FORMAT, "section '%s' holds %zu bytes, expected %zu floats", s->tag,
                 bsnn__remaining(&s->body), n);
    bsnn__get_floats(&s->body, out, n);
    BSNN_FAIL_IF(!bsnn__all_finite(out, n), BSNN_E_FORMAT,
                 "section '%s' holds a NaN or infinite value", s->tag);
    return BSNN_OK;
}

/* ---- settings lists ------------------------------------------------------------ */

/* A 64-bit setting whose value a double cannot hold exactly is written with
 * this bit in its id and its value as a u64 (since 0.3; bsnn 0.2 reads such
 * an id as unknown and refuses the file). */
#define TYPED_ID 0x80000000u

static int wide(const bsnn__setting *d, uint64_t v)
{
    return (d->type == BSNN__SET_U64 || d->type == BSNN__SET_SIZE) && v > BSNN__EXACT_U64;
}

void bsnn__put_settings(bsnn__writer *w, const bsnn__setting *table, size_t n, const void *obj,
                        int (*applies)(const void *ctx, int id), const void *ctx)
{
    uint32_t count = 0;
    for (size_t i = 0; i < n; i++) count += applies == NULL || applies(ctx, table[i].id);
    bsnn__put_u32(w, count);
    for (size_t i = 0; i < n; i++) {
        const bsnn__setting *d = &table[i];
        if (applies && !applies(ctx, d->id)) continue;
        uint64_t u = d->type == BSNN__SET_U64 || d->type == BSNN__SET_SIZE
                         ? bsnn__setting_load_u64(d, obj)
                         : 0;
        double v = 0.0;
        if (wide(d, u)) {
            bsnn__put_u32(w, (uint32_t)d->id | TYPED_ID);
            bsnn__put_u64(w, u);
            continue;
        }
        bsnn__setting_load(d, obj, &v); /* exact: not wide */
        bsnn__put_u32(w, (uint32_t)d->id);
        bsnn__put_f64(w, v);
    }
}

bsnn_status bsnn__get_settings(bsnn__reader *b, void *obj, const char *what,
                               bsnn_status (*set)(void *obj, int id, double v),
                               bsnn_status (*set_u64)(void *obj, int id, uint64_t v))
{
    uint32_t count = bsnn__get_u32(b);
    BSNN_FAIL_IF(b->bad || count > bsnn__remaining(b) / 12, BSNN_E_FORMAT,
                 "%s declares %u settings in %zu bytes", what, count, bsnn__remaining(b));
    for (uint32_t i = 0; i < count; i++) {
        uint32_t id = bsnn__get_u32(b);
        if (id & TYPED_ID) {
            uint64_t v = bsnn__get_u64(b);
            /* A value a double holds goes through the setter and its checks
             * (ranges that depend on the object), whatever form it came in:
             * a file must not hold what the setter refuses. */
            int sid = (int)(id & ~TYPED_ID);
            BSNN_FAIL_IF(v > BSNN__EXACT_U64 && set_u64 == NULL, BSNN_E_FORMAT,
                         "%s: setting %d takes no 64-bit value", what, sid);
            bsnn_status st = v <= BSNN__EXACT_U64 ? set(obj, sid, (double)v) : set_u64(obj, sid, v);
            BSNN_FORWARD_AS_IF_ERROR(st, BSNN_E_FORMAT, "%s: setting %d = %llu rejected", what,
                                     sid, (unsigned long long)v);
            continue;
        }
        double v = bsnn__get_f64(b);
        BSNN_FORWARD_AS_IF_ERROR(set(obj, (int)id, v), BSNN_E_FORMAT,
                                 "%s: setting %u = %g rejected", what, id, v);
    }
    return BSNN_OK;
}
