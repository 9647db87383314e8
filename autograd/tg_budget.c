/* The memory budget: one process-wide number, a default from the physical memory. */
#include "autograd/tg_budget.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

static _Atomic uint64_t budget; /* 0: the default */

uint64_t tg_memory_budget_default(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return 4 * GIB;
    uint64_t half = (uint64_t)pages / 2 * (uint64_t)page;
    return half < 256 * MIB ? 256 * MIB : half;
}

uint64_t tg_memory_budget(void) {
    uint64_t b = budget;
    return b ? b : tg_memory_budget_default();
}

void tg_memory_budget_set(uint64_t bytes) {
    budget = bytes;
}

/* "1.5 GiB", "12.0 MiB" or "512 bytes". */
static const char *human(uint64_t bytes, char *buf, size_t size) {
    if (bytes >= GIB)
        snprintf(buf, size, "%.2f GiB", (double)bytes / (double)GIB);
    else if (bytes >= MIB)
        snprintf(buf, size, "%.1f MiB", (double)bytes / (double)MIB);
    else
        snprintf(buf, size, "%llu bytes", (unsigned long long)bytes);
    return buf;
}

tg_status tg_memory_check(uint64_t bytes, const char *what) {
    uint64_t b = tg_memory_budget();
    if (bytes <= b) return TG_OK;
    char need[32], have[32];
    if (bytes == UINT64_MAX)
        snprintf(need, sizeof need, "more than any memory");
    else
        human(bytes, need, sizeof need);
    return tg_error(TG_ERR_LIMIT,
                    "%s needs %s, over the memory budget of %s; if the input is genuine, raise "
                    "the budget (--max-memory, tg_memory_budget_set)",
                    what, need, human(b, have, sizeof have));
}

tg_status tg_memory_parse(const char *text, uint64_t *bytes) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || !(v > 0) || !isfinite(v))
        return tg_error(TG_ERR_INVALID,
                        "memory size '%s': expected a positive size like 512M or 2G", text);
    double unit = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K':
        unit = 1024.0;
        break;
    case 'M':
        unit = (double)MIB;
        break;
    case 'G':
        unit = (double)GIB;
        break;
    case 'T':
        unit = (double)GIB * 1024.0;
        break;
    case '\0':
        break;
    default:
        return tg_error(TG_ERR_INVALID, "memory size '%s': unknown unit '%s' (use K, M, G or T)",
                        text, end);
    }
    if (*end) {
        end++;
        if (!strcmp(end, "iB") || !strcmp(end, "B")) end += strlen(end);
        if (*end) return tg_error(TG_ERR_INVALID, "memory size '%s': unknown unit", text);
    }
    double b = v * unit;
    if (b < 1 || b >= 18446744073709551616.0)
        return tg_error(TG_ERR_INVALID, "memory size '%s' is out of range", text);
    *bytes = (uint64_t)b;
    return TG_OK;
}
