/* Thread-local error message: the one piece of per-thread state, like errno. */
#include "autograd/tg_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TG_ERROR_MAX 1024
static _Thread_local char last_error[TG_ERROR_MAX];

const char *tg_last_error(void) {
    return last_error;
}

void tg_error_clear(void) {
    last_error[0] = '\0';
}

const char *tg_status_name(tg_status status) {
    switch (status) {
    case TG_OK:
        return "TG_OK";
    case TG_ERR_NOMEM:
        return "TG_ERR_NOMEM";
    case TG_ERR_INVALID:
        return "TG_ERR_INVALID";
    case TG_ERR_SHAPE:
        return "TG_ERR_SHAPE";
    case TG_ERR_UNKNOWN:
        return "TG_ERR_UNKNOWN";
    case TG_ERR_ATTR:
        return "TG_ERR_ATTR";
    case TG_ERR_IO:
        return "TG_ERR_IO";
    case TG_ERR_FORMAT:
        return "TG_ERR_FORMAT";
    case TG_ERR_CORRUPT:
        return "TG_ERR_CORRUPT";
    case TG_ERR_VERSION:
        return "TG_ERR_VERSION";
    case TG_ERR_MISMATCH:
        return "TG_ERR_MISMATCH";
    case TG_ERR_LIMIT:
        return "TG_ERR_LIMIT";
    case TG_ERR_NUMERIC:
        return "TG_ERR_NUMERIC";
    case TG_ERR_STATE:
        return "TG_ERR_STATE";
    }
    return "TG_ERR_?";
}

tg_status tg_error(tg_status status, const char *fmt, ...) {
    /* Formatted apart first: an argument may be tg_last_error() itself, and vsnprintf
     * into the buffer it reads from is undefined. */
    char msg[TG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, strlen(msg) + 1);
    return status;
}

tg_status tg_error_context(tg_status status, const char *fmt, ...) {
    char prefix[TG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Shift the old message right and put the prefix in front, truncating the tail. */
    size_t lp = strlen(prefix), lo = strlen(last_error);
    if (lp > TG_ERROR_MAX - 1) lp = TG_ERROR_MAX - 1;
    if (lp + lo > TG_ERROR_MAX - 1) lo = TG_ERROR_MAX - 1 - lp;
    memmove(last_error + lp, last_error, lo);
    memcpy(last_error, prefix, lp);
    last_error[lp + lo] = '\0';
    return status;
}
