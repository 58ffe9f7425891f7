/* arch.c - the table of supported model_types. */
#include "models/arch.h"

#include <string.h>

#include "support/error.h"
#include "support/strbuf.h"

static const model_arch archs[] = {
    {"llama", arch_llama_configure}, {"mistral", arch_mistral_configure}, {"qwen2", arch_qwen2_configure},
    {"qwen3", arch_qwen3_configure}, {"phi3", arch_phi3_configure},       {"gemma", arch_gemma_configure},
    {"gemma2", arch_gemma2_configure},
};

const model_arch *model_arch_find(const char *model_type, const char *file) {
    mlcc_strbuf known = STRBUF_INIT;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        if (strcmp(archs[i].model_type, model_type) == 0) {
            sb_free(&known);
            return &archs[i];
        }
        sb_printf(&known, "%s%s", i ? ", " : "", archs[i].model_type);
    }
    mlcc_set_error("%s: model_type '%s' is not supported (supported: %s)", file, model_type, sb_cstr(&known));
    sb_free(&known);
    return NULL;
}
