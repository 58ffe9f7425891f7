/* placeholder, replaced below */
#include "cli/commands.h"
#include <stdio.h>
int cmd_bench_serve(int argc, char **argv);
int cmd_bench_serve(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "not yet\n"); return 2; }
