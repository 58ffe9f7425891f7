/* structural.h - structural equality and hashing of TensorIR.
 *
 * Two functions are structurally equal when they are the same tree up to the names and
 * identities of variables and buffers: each var/buffer is identified by the order in which it
 * first appears (so `for i` vs `for j` with consistent use are equal, while using one var where
 * the other function uses two different ones is not). Both are computed from one canonical
 * serialization, so equal functions always hash equally. */
#ifndef MLCC_IR_STRUCTURAL_H
#define MLCC_IR_STRUCTURAL_H

#include <stdint.h>

#include "ir/tir.h"

int tir_structural_equal(const mlcc_prim_func *a, const mlcc_prim_func *b);
uint64_t tir_structural_hash(const mlcc_prim_func *f);
int tir_expr_structural_equal(const mlcc_expr *a, const mlcc_expr *b);
uint64_t tir_expr_structural_hash(const mlcc_expr *e);
/* The canonical serialization itself (malloc'ed), for debugging a mismatch. */
char *tir_canonical_form(const mlcc_prim_func *f);

#endif
