/* Warnings from the library to the program that uses it: the library never prints,
 * so a program installs a handler (the twingrad command prints to stderr). Used for
 * conditions that are not errors of a call, e.g. a slow generic BLAS kernel. */
#ifndef TG_LOG_H
#define TG_LOG_H

#include "autograd/tg_export.h"

TG_API_BEGIN

typedef enum tg_log_level { TG_LOG_INFO, TG_LOG_WARN } tg_log_level;

/* Receives one message, without a trailing newline. May be called from any thread. */
typedef void (*tg_log_fn)(tg_log_level level, const char *message, void *user);

/* Install a handler (NULL: messages are dropped, the default). Install it before
 * the first computation: the BLAS warning is sent once, when the BLAS loads. */
void tg_log_set_handler(tg_log_fn fn, void *user);
/* Send a message to the handler, printf-style. */
void tg_log(tg_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

TG_API_END

#endif
