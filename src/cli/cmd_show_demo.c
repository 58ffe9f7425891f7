/* cmd_show_demo.c - `mlcc show-demo`: the tensor-level compiler end to end on a matmul. */
#include <stdio.h>

#include "cli/commands.h"

int cmd_show_demo(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "mlcc show-demo: the tensor-level compiler is not built yet\n");
    return 1;
}
