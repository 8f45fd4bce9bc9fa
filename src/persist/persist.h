/*
 * persist.h - tier 6 (src/persist/): the model and checkpoint file formats
 * (docs/format.md). format.c holds what both share, model_file.c the model
 * sections and the model save/load functions, checkpoint.c the checkpoint
 * ones. The objects write and read their own payloads (layers, optimizer,
 * scheduler) through the codec of common/; this tier frames and orders the
 * sections. Above train/, whose optimizer and scheduler a checkpoint holds.
 */
#ifndef BSNN_PERSIST_H
#define BSNN_PERSIST_H

#include "train/train.h"

/* File kinds in the header. */
enum { BSNN__FILE_MODEL = 1, BSNN__FILE_CHECKPOINT = 2 };

/* The 20-byte header: magic, version 1.0, kind, CRC-32. _check: BSNN_E_FORMAT
 * for anything else (naming a newer major version). */
void bsnn__put_file_header(bsnn__writer *w, uint32_t kind);
bsnn_status bsnn__check_file_header(bsnn__reader *r, uint32_t *out_kind);
/* The next section this reader knows (unknown optional ones skipped,
 * unknown required ones BSNN_E_FORMAT); _expect: and it must be `tag`. */
bsnn_status bsnn__next_known(bsnn__section *out, bsnn__reader *r);
bsnn_status bsnn__expect_section(bsnn__section *out, bsnn__reader *r, const char *tag);
/* The END section; _check_end: section end is it and nothing follows. */
void bsnn__put_end(bsnn__writer *w);
bsnn_status bsnn__check_end(const bsnn__section *end, const bsnn__reader *r);
/* Run fill twice through the two-pass writer: count, then into a buffer of
 * exactly that size (*out, bsnn__free'd by the caller). */
bsnn_status bsnn__serialise(unsigned char **out, size_t *out_size,
                            void (*fill)(bsnn__writer *, const void *), const void *obj);

/* The model sections (MODL, LAYR per layer, PARM, STAT), written and read
 * by model files and checkpoints alike (model_file.c). _get builds a new
 * model from the reader's position, every value checked. */
void bsnn__put_model_sections(bsnn__writer *w, const bsnn_model *m);
bsnn_status bsnn__get_model_sections(bsnn_model **out, bsnn__reader *r);

#endif /* BSNN_PERSIST_H */
