/*
 * search.h - tier 7 (src/search/): the batch-size search, the highest
 * tier: it trains and evaluates candidates with everything below.
 */
#ifndef BSNN_SEARCH_H
#define BSNN_SEARCH_H

#include "persist/persist.h"

#endif /* BSNN_SEARCH_H */
