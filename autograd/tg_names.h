/* Names read from text: the index of a value among an enum's choices, and the
 * nearest known name for a "did you mean" hint. Shared by op attributes, the
 * model-file parser and the data-spec reader. */
#ifndef TG_NAMES_H
#define TG_NAMES_H

#include "autograd/tg_export.h"

TG_API_BEGIN

/* The index of `value` among the '|'-separated `choices` ("none|relu|tanh"), or -1. */
int tg_choice_index(const char *choices, const char *value);

/* The name among names[0..n) closest to `name` by edit distance, or NULL when none
 * is a plausible typo of it. */
const char *tg_nearest_name(const char *name, const char *const *names, int n);

TG_API_END

#endif
