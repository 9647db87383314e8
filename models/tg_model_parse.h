/* Internals shared by the model-file parser's files (not installed): the tokens
 * of a line, the parser state, and the helpers (tg_model_lex.c) that report an
 * error at a file:line:col. tg_model_parse.c reads lines and layers and calls
 * tg_model_head.c for the siamese and train lines; neither calls back. */
#ifndef TG_MODEL_PARSE_H
#define TG_MODEL_PARSE_H

#include "models/tg_model.h"

#define TG_MP_MAX_KEY 64
#define TG_MP_MAX_VALUE 256
#define TG_MP_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef struct tg_mp_token {
    const char *s;
    int len;
    int col; /* 1-based */
} tg_mp_token;

/* What pass 1 learns about a layer beyond tg_model_layer: the in= names. */
typedef struct tg_mp_pending {
    char in_names[TG_MAX_INPUTS][TG_MODEL_MAX_NAME];
    int in_cols[TG_MAX_INPUTS];
    int n_in_names; /* 0: implicit (the previous layer) */
    int named;      /* the name was written, not generated */
    int name_col;
} tg_mp_pending;

typedef struct tg_mp_parser {
    const char *src;
    tg_model_def *def;
    tg_mp_pending *pend;
    int cap_layers;
    int line;
    int input_col;
    int has_siamese, has_train;
    char output_name[TG_MODEL_MAX_NAME];
    int output_line, output_col;
} tg_mp_parser;

/* ---- tg_model_lex.c ---- */

/* Raise `st` with the message "src:line:col: <fmt...>". */
tg_status tg_mp_error(const tg_mp_parser *p, int line, int col, tg_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
/* Prefix the current message with "src:line:col: <what>". */
tg_status tg_mp_error_ctx(const tg_mp_parser *p, int line, int col, tg_status st, const char *what);
/* Split a line of len bytes into words (at most max, into toks; *n gets their count):
 * printable ASCII separated by spaces and tabs, a '\r' before the end ignored. With
 * `comments` a '#' ends the line; without (a setting on the command line) it is an error. */
tg_status tg_mp_tokenize(const tg_mp_parser *p, const char *s, int len, int comments,
                         tg_mp_token *toks, int max, int *n);
/* A malloc'ed, NUL-terminated copy of n bytes of s (NULL when out of memory). */
char *tg_mp_dup(const char *s, size_t n);
/* Copy n bytes into dst of `size` with a NUL; 0 when they do not fit. */
int tg_mp_copy(char *dst, size_t size, const char *s, int n);
/* A whole decimal number (digits only) in [lo, hi] into *out; 0 when it is not. */
int tg_mp_parse_int(const char *s, long long lo, long long hi, long long *out);
/* A finite number into *out; 0 when it is not. */
int tg_mp_parse_double(const char *s, double *out);
/* Split a key=value token into key (TG_MP_MAX_KEY) and value (TG_MP_MAX_VALUE);
 * *val_col gets the value's column. A malformed token is a located error. */
tg_status tg_mp_split_kv(const tg_mp_parser *p, const tg_mp_token *t, char *key, char *value,
                         int *val_col);
/* An error when token i repeats the key of an earlier token in [from, i). */
tg_status tg_mp_check_duplicate(const tg_mp_parser *p, const tg_mp_token *toks, int from, int i,
                                const char *key);

/* ---- tg_model_head.c ---- */

/* The triplet line, and the triplet head the builder adds for it (tg_model_triplet.c). */
tg_status tg_mp_parse_triplet(tg_mp_parser *p, const tg_mp_token *toks, int n);
tg_status tg_model_build_triplet(tg_model *m, int batch);
/* A plugin line (tg_model_head.c). */
tg_status tg_mp_parse_plugin(tg_mp_parser *p, const tg_mp_token *toks, int n);
/* The siamese line. */
tg_status tg_mp_parse_siamese(tg_mp_parser *p, const tg_mp_token *toks, int n);
/* The train line. */
tg_status tg_mp_parse_train(tg_mp_parser *p, const tg_mp_token *toks, int n);

#endif
