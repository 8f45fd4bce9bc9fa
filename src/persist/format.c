/*
 * format.c - what the model and checkpoint files share (docs/format.md): the
 * 20-byte file header (magic, version, kind, CRC-32), the sections a reader
 * knows (unknown optional ones are skipped, unknown required ones refused),
 * the end section, and serialising through the two-pass writer into a
 * buffer of exactly the right size.
 */
#include "persist/persist.h"

#define FMT_MAJOR 1
#define FMT_MINOR 0
#define HEADER_SIZE 20

static const unsigned char magic[8] = {0x89, 'B', 'S', 'N', 'N', '\r', '\n', 0x1a};

void bsnn__put_file_header(bsnn__writer *w, uint32_t kind)
{
    for (int i = 0; i < 8; i++) bsnn__put_u8(w, magic[i]);
    bsnn__put_uint(w, FMT_MAJOR, 2);
    bsnn__put_uint(w, FMT_MINOR, 2);
    bsnn__put_u32(w, kind);
    bsnn__put_u32(w, w->buf ? bsnn__crc32(0, w->buf, 16) : 0);
}

bsnn_status bsnn__check_file_header(bsnn__reader *r, uint32_t *out_kind)
{
    BSNN_FAIL_IF(r->len < HEADER_SIZE, BSNN_E_FORMAT,
                 "%zu bytes is too short for a bsnn file (header is %d)", r->len, HEADER_SIZE);
    BSNN_FAIL_IF(memcmp(r->p, magic, sizeof magic) != 0, BSNN_E_FORMAT,
                 "not a bsnn file (wrong magic bytes)");
    r->pos = 8;
    unsigned major = (unsigned)bsnn__get_uint(r, 2), minor = (unsigned)bsnn__get_uint(r, 2);
    uint32_t kind = bsnn__get_u32(r), crc = bsnn__get_u32(r);
    BSNN_FAIL_IF(bsnn__crc_mismatch(crc, bsnn__crc32(0, r->p, 16)), BSNN_E_FORMAT,
                 "file header fails its CRC-32");
    BSNN_FAIL_IF(major != FMT_MAJOR, BSNN_E_FORMAT,
                 "format version %u.%u is not readable by this bsnn (reads %d.x)%s", major, minor,
                 FMT_MAJOR, major > FMT_MAJOR ? "; it was written by a newer bsnn: upgrade" : "");
    BSNN_FAIL_IF(kind != BSNN__FILE_MODEL && kind != BSNN__FILE_CHECKPOINT, BSNN_E_FORMAT,
                 "unknown file kind %u", kind);
    *out_kind = kind;
    return BSNN_OK;
}

bsnn_status bsnn__next_known(bsnn__section *out, bsnn__reader *r)
{
    static const char *const known[] = {"MODL", "LAYR", "PARM", "STAT", "NOIS",
                                        "OPTM", "SCHD", "END "};
    for (;;) {
        BSNN_TRY(bsnn__next_section(out, r));
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            if (memcmp(out->tag, known[k], 4) == 0) return BSNN_OK;
        BSNN_FAIL_IF(!(out->flags & BSNN__SECTION_OPTIONAL), BSNN_E_FORMAT,
                     "required section '%s' is unknown to this reader (written by a newer bsnn?)",
                     out->tag);
    }
}

bsnn_status bsnn__expect_section(bsnn__section *out, bsnn__reader *r, const char *tag)
{
    BSNN_TRY(bsnn__next_known(out, r));
    BSNN_FAIL_IF(memcmp(out->tag, tag, 4) != 0, BSNN_E_FORMAT, "expected section '%s', found '%s'",
                 tag, out->tag);
    return BSNN_OK;
}

void bsnn__put_end(bsnn__writer *w)
{
    bsnn__begin_section(w, "END ", 0);
    bsnn__end_section(w);
}

bsnn_status bsnn__check_end(const bsnn__section *end, const bsnn__reader *r)
{
    BSNN_FAIL_IF(memcmp(end->tag, "END ", 4) != 0, BSNN_E_FORMAT, "unexpected section '%s'",
                 end->tag);
    BSNN_FAIL_IF(bsnn__remaining(r) != 0, BSNN_E_FORMAT,
                 "%zu unexpected bytes after the end section", bsnn__remaining(r));
    return BSNN_OK;
}

bsnn_status bsnn__serialise(unsigned char **out, size_t *out_size,
                            void (*fill)(bsnn__writer *, const void *), const void *obj)
{
    bsnn__writer w = {NULL, 0, 0};
    fill(&w, obj);
    unsigned char *buf = bsnn__alloc(w.len);
    if (buf == NULL) return BSNN_E_NOMEM;
    size_t size = w.len;
    w = (bsnn__writer){buf, 0, 0};
    fill(&w, obj);
    *out = buf;
    *out_size = size;
    return BSNN_OK;
}
