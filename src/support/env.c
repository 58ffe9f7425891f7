/* env.c - integer switches from the environment (env.h). */
#include "support/env.h"

#include <stdlib.h>

int mlcc_env_int(const char *name, int fallback) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : fallback;
}
