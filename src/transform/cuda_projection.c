/* cuda_projection.c - the names of the CUDA runtime's projection functions (cuda_projection.h). */
#include "transform/cuda_projection.h"

#include <string.h>

static const char *const names[CUDA_PROJ_KINDS][CUDA_PROJ_FORMS] = {
    {"mlcc.cuda.linear_f16", "mlcc.cuda.linear_f16_silu", "mlcc.cuda.linear_f16_norm", "mlcc.cuda.linear_f16_norm_silu",
     "mlcc.cuda.linear_f16_add"},
    {"mlcc.cuda.linear_q4f16", "mlcc.cuda.linear_q4f16_silu", "mlcc.cuda.linear_q4f16_norm", "mlcc.cuda.linear_q4f16_norm_silu",
     "mlcc.cuda.linear_q4f16_add"},
    {"mlcc.cuda.linear_q4f16_zp8", "mlcc.cuda.linear_q4f16_zp8_silu", "mlcc.cuda.linear_q4f16_zp8_norm",
     "mlcc.cuda.linear_q4f16_zp8_norm_silu", "mlcc.cuda.linear_q4f16_zp8_add"},
};

const char *cuda_projection_name(cuda_proj_kind kind, cuda_proj_form form) {
    return names[kind][form];
}

int cuda_projection_parse(const char *name, cuda_proj_kind *kind, cuda_proj_form *form) {
    for (int k = 0; name && k < CUDA_PROJ_KINDS; k++)
        for (int f = 0; f < CUDA_PROJ_FORMS; f++)
            if (!strcmp(name, names[k][f])) {
                if (kind) *kind = (cuda_proj_kind)k;
                if (form) *form = (cuda_proj_form)f;
                return 1;
            }
    return 0;
}
