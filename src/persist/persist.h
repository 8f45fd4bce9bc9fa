/*
 * persist.h - tier 6 (src/persist/): the model and checkpoint file
 * formats (docs/format.md). Above train/, whose optimizer and scheduler
 * state a checkpoint holds.
 */
#ifndef BSNN_PERSIST_H
#define BSNN_PERSIST_H

#include "train/train.h"

#endif /* BSNN_PERSIST_H */
