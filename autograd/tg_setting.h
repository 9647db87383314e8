/* Settings tables (not installed): the one descriptor the optimizer and the
 * schedule use for their hyper-parameters, and the lookups, reads and writes
 * over such a table, by index, by name and from model-file text. */
#ifndef TG_SETTING_H
#define TG_SETTING_H

#include <stddef.h>

#include "autograd/tg_error.h"

typedef enum tg_setting_type {
    TG_SETTING_REAL,   /* a double */
    TG_SETTING_INT,    /* an int, whole and >= 0 */
    TG_SETTING_FLAG,   /* an int, 0 or 1 */
    TG_SETTING_CHOICE, /* an enum (int-sized) whose values follow `choices` */
} tg_setting_type;

typedef struct tg_setting {
    const char *key;
    unsigned kinds; /* bit k set when kind k reads the setting */
    tg_setting_type type;
    size_t offset;       /* of the field in the config struct */
    const char *choices; /* TG_SETTING_CHOICE: "min|max" */
} tg_setting;

/* A table and what it configures ("optimizer", "schedule"), for messages. */
typedef struct tg_settings {
    const tg_setting *items;
    int n;
    const char *owner;
} tg_settings;

int tg_settings_find(const tg_settings *t, const char *name);
int tg_settings_used(const tg_settings *t, int i, int kind);
/* Setting i of cfg as a number (a flag 0/1, a choice its index); NaN out of range. */
double tg_settings_get(const tg_settings *t, const void *cfg, int i);
/* Setting i from a number: ints must be whole and in [0, INT_MAX], flags 0 or 1,
 * choices an index of one of them. `kind_name` names the config in messages. */
tg_status tg_settings_put(const tg_settings *t, void *cfg, int i, double v, const char *kind_name);
/* Setting `key` from its model-file text, for a config of `kind`: an unknown key
 * (TG_ERR_UNKNOWN, listing the known ones), a key the kind does not read or a
 * malformed value (TG_ERR_ATTR) is an error. */
tg_status tg_settings_set_text(const tg_settings *t, void *cfg, int kind, const char *kind_name,
                               const char *key, const char *value);

/* A validation error (TG_ERR_INVALID) with the formatted message, naming setting
 * `key`: *bad_setting (may be NULL) gets its index. */
tg_status tg_settings_invalid(const tg_settings *t, int *bad_setting, const char *key,
                              const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif
