/* lower_tir.h - lowers a scheduled PrimFunc from block form to plain loops for codegen.
 *
 * Each BlockRealize becomes its body with the block's iter vars replaced by their bound values,
 * guarded by the realize predicate; a reduction's init runs where every reduce iter value is at
 * the start of its domain (the first reduction step, as TVM lowers it); block-local and
 * function-level intermediate buffers become Allocate statements around their users. The
 * result holds only For, Store, Allocate, If, Seq and Evaluate statements. */
#ifndef MLCC_TRANSFORM_LOWER_TIR_H
#define MLCC_TRANSFORM_LOWER_TIR_H

#include "ir/tir.h"

mlcc_prim_func *tir_lower_blocks(const mlcc_prim_func *f);

#endif
