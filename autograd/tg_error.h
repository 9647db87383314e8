/* Errors are values: every library call that can fail returns a tg_status and
 * leaves a one-line message for tg_last_error(). The library never exits or
 * aborts on bad input; only the CLI turns an error into an exit code. */
#ifndef TG_ERROR_H
#define TG_ERROR_H
#include "autograd/tg_export.h"

TG_API_BEGIN

typedef enum tg_status {
    TG_OK = 0,
    TG_ERR_NOMEM,    /* an allocation failed */
    TG_ERR_INVALID,  /* a bad argument from the caller */
    TG_ERR_SHAPE,    /* shapes that do not fit */
    TG_ERR_UNKNOWN,  /* an unknown name (op, attribute, layer, column) */
    TG_ERR_ATTR,     /* a bad, missing or out-of-range attribute value */
    TG_ERR_IO,       /* a file could not be opened, read or written */
    TG_ERR_FORMAT,   /* a file's contents are malformed or truncated */
    TG_ERR_CORRUPT,  /* a checksum does not match */
    TG_ERR_VERSION,  /* a file from a newer, unknown format version */
    TG_ERR_MISMATCH, /* a file does not match the model it is loaded into */
    TG_ERR_LIMIT,    /* a declared size exceeds a configured limit */
    TG_ERR_NUMERIC,  /* NaN or Inf where a finite number was needed */
    TG_ERR_STATE,    /* the call is not valid in the object's current state */
} tg_status;

/* The message of the last error raised on this thread ("" if none). */
const char *tg_last_error(void);
/* The symbolic name of a status, e.g. "TG_ERR_SHAPE". */
const char *tg_status_name(tg_status status);
/* Raise an error: formats the message for tg_last_error() and returns `status`,
 * so a failing function can `return tg_error(TG_ERR_SHAPE, "...", ...);`. An argument
 * may be tg_last_error() itself (though tg_error_context says that better). */
tg_status tg_error(tg_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prefix the current message with more context ("loading x.tgc: " + old message)
 * and return `status` unchanged. */
tg_status tg_error_context(tg_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Forget the last error on this thread. */
void tg_error_clear(void);

TG_API_END

#endif
