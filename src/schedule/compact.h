/* compact.h - buffer compaction after compute_at / cache_read / cache_write (TVM's
 * CompactBufferAllocation): on a lowered function (tir_lower_blocks), an intermediate buffer
 * whose accesses all lie under one loop and move with it is allocated inside that loop's body,
 * shaped like the region one iteration touches (a tile instead of the whole tensor), its
 * indices shifted to the tile's start. compact.c says when it applies. */
#ifndef MLCC_SCHEDULE_COMPACT_H
#define MLCC_SCHEDULE_COMPACT_H

#include "ir/tir.h"

/* f with its allocations compacted; f itself when nothing changes. */
mlcc_prim_func *tir_compact_buffers(const mlcc_prim_func *f);

#endif
