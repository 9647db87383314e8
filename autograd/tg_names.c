/* Names and choices read from text (see tg_names.h). */
#include "autograd/tg_names.h"

#include <string.h>

int tg_choice_index(const char *choices, const char *value) {
    size_t len = strlen(value);
    int idx = 0;
    for (const char *p = choices; *p; idx++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, value, n) == 0) return idx;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

/* Levenshtein distance, for "did you mean"; names are short. */
static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63) return 99;
    int row[64];
    for (int j = 0; j <= lb; j++) row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *tg_nearest_name(const char *name, const char *const *names, int n) {
    const char *best = NULL;
    int best_d = 1 << 30;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(name, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    /* Suggest only plausible typos: at most a third of the name wrong. */
    int len = (int)strlen(name);
    return best && best_d <= (len < 3 ? 1 : len / 3 + 1) ? best : NULL;
}
