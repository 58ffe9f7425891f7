/* fuzz_model_config.c - config.json reading on arbitrary bytes: the common fields, the
 * architecture's own hook, and the rotary table of an accepted config; every input is
 * accepted or rejected with an error, without reading out of bounds or leaking. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/arch.h"
#include "support/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *j = mlcc_json_loads((const char *)data, size, "fuzz config.json");
    if (!j) return 0;
    mlcc_model_config cfg;
    decoder_spec spec;
    memset(&spec, 0, sizeof spec);
    if (model_config_from_json(j, "config.json", &cfg) == 0) {
        const model_arch *arch = model_arch_find(cfg.model_type, "config.json");
        if (arch && arch->configure(j, "config.json", &cfg, &spec) == 0) {
            double *f = malloc(sizeof(double) * (size_t)(cfg.head_dim / 2));
            model_rope_inv_freq(&cfg, f);
            free(f);
        }
    }
    model_config_free(&cfg);
    json_decref(j);
    return 0;
}
