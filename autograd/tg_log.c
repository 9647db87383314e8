/* The log handler: one process-wide function pointer, set by the program. */
#include "autograd/tg_log.h"

#include <stdarg.h>
#include <stdio.h>

static _Atomic(tg_log_fn) handler;
static void *_Atomic handler_user;

void tg_log_set_handler(tg_log_fn fn, void *user) {
    handler_user = user;
    handler = fn;
}

void tg_log(tg_log_level level, const char *fmt, ...) {
    tg_log_fn fn = handler;
    if (!fn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn(level, msg, handler_user);
}
