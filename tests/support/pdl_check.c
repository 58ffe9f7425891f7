/* pdl_check.c - see pdl_check.h. */
#include "pdl_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "support/error.h"

int pdl_check_source(const char *source, int *declared) {
    *declared = 0;
    char *ptx = NULL;
    if (mlcc_nvrtc_compile_ptx(source, 90, &ptx) != 0) {
        printf("pdl_check: %s\n", mlcc_last_error());
        return -1;
    }
    int missing = 0;
    for (char *e = strstr(ptx, ".entry "); e; e = strstr(e + 1, ".entry ")) {
        char name[256];
        if (sscanf(e + 7, "%255[A-Za-z0-9_]", name) != 1) continue;
        if (!mlcc_cuda_source_declares_wait(source, name)) continue;
        (*declared)++;
        char *next = strstr(e + 1, ".entry ");
        char *wait = strstr(e, "griddepcontrol.wait");
        if (!wait || (next && wait > next)) {
            printf("pdl_check: %s is declared as waiting but has no griddepcontrol.wait\n", name);
            missing++;
        }
    }
    free(ptx);
    return missing;
}
