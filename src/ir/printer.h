/* printer.h - prints TensorIR as TVMScript-like text, so any stage can be looked at.
 *
 *     @T.prim_func
 *     def matmul(A: T.Buffer((n, 64), "float32"), ...):
 *         n = T.int64()
 *         for i, j, k in T.grid(n, 64, 64):
 *             with T.block("C"):
 *                 vi = T.axis.spatial(n, i)
 *                 ...
 * Names are made unique within one print (a second var named `i` prints as `i_1`). */
#ifndef MLCC_IR_PRINTER_H
#define MLCC_IR_PRINTER_H

#include "ir/tir.h"
#include "support/strbuf.h"

void tir_print_func(const mlcc_prim_func *f, mlcc_strbuf *out);
void tir_print_stmt(const mlcc_stmt *s, mlcc_strbuf *out);
void tir_print_expr(const mlcc_expr *e, mlcc_strbuf *out);
/* Convenience: the text as a malloc'ed string. */
char *tir_func_to_string(const mlcc_prim_func *f);
char *tir_expr_to_string(const mlcc_expr *e);
char *tir_stmt_to_string(const mlcc_stmt *s);

#endif
