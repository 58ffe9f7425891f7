/* commands.h - the subcommands of `mlcc`; each lives in its own cli/cmd_*.c file. */
#ifndef MLCC_CLI_COMMANDS_H
#define MLCC_CLI_COMMANDS_H

typedef struct mlcc_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} mlcc_command;

int cmd_show_demo(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_download(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_debug(int argc, char **argv);
int cmd_convert(int argc, char **argv);
/* `mlcc debug random-model` (cmd_random_model.c) */
int cmd_debug_random_model(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
