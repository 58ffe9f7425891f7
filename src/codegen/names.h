/* names.h - identifiers for the IR's vars and buffers in generated source (codegen_c,
 * codegen_cuda, codegen_vulkan): each node gets one, made from its name hint, unique within
 * the function being emitted (base, base_1, base_2, ...) and never a reserved word. */
#ifndef MLCC_CODEGEN_NAMES_H
#define MLCC_CODEGEN_NAMES_H

#include "support/hashmap.h"

typedef struct cg_names {
    mlcc_u64map ids;  /* var / buffer node -> its identifier */
    mlcc_strmap used; /* identifiers taken, the reserved ones included */
} cg_names;

/* Identifier rules: C and CUDA C++, or GLSL (which also reserves names that contain "__" or
 * start with "gl_"). */
typedef enum { CG_NAMES_C, CG_NAMES_GLSL } cg_names_style;

/* An empty naming with the NULL-terminated `reserved` words taken. */
void cg_names_init(cg_names *n, const char *const *reserved);
void cg_names_free(cg_names *n);

/* node's identifier: base with every character outside [A-Za-z0-9_] made '_' and "v_" put in
 * front of one that would start with a digit (or be empty; GLSL: also "__" squeezed to "_" and
 * a leading "gl_" or "_" prefixed), then a "_N" suffix if taken. The same node, the same name. */
const char *cg_name(cg_names *n, const void *node, const char *base, cg_names_style style);

#endif
