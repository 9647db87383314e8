/* The twingrad command: one function per subcommand, and the small helpers
 * they share. Only this layer prints to the terminal and picks exit codes. */
#ifndef TG_CLI_H
#define TG_CLI_H

#include "twingrad.h"

/* Exit codes, documented in docs/cli.md and the man page. */
enum {
    TG_EXIT_OK = 0,
    TG_EXIT_FAILURE = 1,       /* the work failed: bad input file, numeric trouble, I/O */
    TG_EXIT_USAGE = 2,         /* bad command line */
    TG_EXIT_INTERRUPTED = 130, /* stopped by SIGINT/SIGTERM after saving */
};

typedef int (*tg_cli_command_fn)(int argc, char **argv);

int tg_cmd_train(int argc, char **argv);
int tg_cmd_cv(int argc, char **argv);
int tg_cmd_eval(int argc, char **argv);
int tg_cmd_embed(int argc, char **argv);
int tg_cmd_predict(int argc, char **argv);
int tg_cmd_summary(int argc, char **argv);
int tg_cmd_synth(int argc, char **argv);
int tg_cmd_ops(int argc, char **argv);
int tg_cmd_gradcheck(int argc, char **argv);
int tg_cmd_export(int argc, char **argv);

/* Print "twingrad <cmd>: <message>" on stderr and return `code`. */
int tg_cli_fail(const char *cmd, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The argument getopt_long just refused ('?'), for the message: an unknown long option,
 * or the last argument when it is a long option missing its value, as written; an
 * unknown short option as "-x", also inside a cluster ("-xy"), where optind has not
 * moved past it yet. */
const char *tg_cli_refused(int argc, char **argv);
/* Check --schedule TEXT before any work starts, as the train line's schedule is read
 * (tg_model_schedule_parse), against the rate `lr` (<= 0: MODEL's train line). Returns
 * 0, or the exit code after saying why: TG_EXIT_USAGE for the schedule, TG_EXIT_FAILURE
 * when MODEL cannot be read. */
int tg_cli_check_schedule(const char *cmd, const char *model, const char *schedule, double lr);
/* Parse a whole decimal integer / finite number; 0 on success. */
int tg_cli_parse_long(const char *text, long lo, long hi, long *out);
int tg_cli_parse_double(const char *text, double *out);

#endif
