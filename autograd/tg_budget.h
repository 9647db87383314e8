/* One memory budget for everything twingrad allocates because of an input: image, IDX, CSV
 * and checkpoint headers, model files, data specs. Loaders compute what an input will cost
 * from its header and refuse it with TG_ERR_LIMIT above the budget, before allocating. */
#ifndef TG_BUDGET_H
#define TG_BUDGET_H

#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

/* The budget in bytes: the last tg_memory_budget_set(), else tg_memory_budget_default(). */
uint64_t tg_memory_budget(void);
/* Set the budget for this process (all threads); 0 restores the default. Set it before
 * loading anything: a load that is already running keeps the budget it checked against. */
void tg_memory_budget_set(uint64_t bytes);
/* Half the physical memory, at least 256 MiB (4 GiB when the size cannot be read). */
uint64_t tg_memory_budget_default(void);
/* TG_OK when `bytes` fits the budget, else TG_ERR_LIMIT with a message saying what needs
 * how much ("what needs 5.0 GiB, over the memory budget of 4.0 GiB; ..."). */
tg_status tg_memory_check(uint64_t bytes, const char *what);
/* Saturating cost arithmetic for sizes read from headers: an overflow gives UINT64_MAX,
 * which no budget admits. */
static inline uint64_t tg_cost_mul(uint64_t a, uint64_t b) {
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}
static inline uint64_t tg_cost_add(uint64_t a, uint64_t b) {
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* Parse a size like "512M", "2G", "1.5GiB" or "1000000" (bytes; K, M, G, T are powers
 * of 1024) into *bytes; TG_ERR_INVALID with a message when it is not one. */
tg_status tg_memory_parse(const char *text, uint64_t *bytes);

TG_API_END

#endif
