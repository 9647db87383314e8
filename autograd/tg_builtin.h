/* The built-in op table (not installed). The op library linked into libtwingrad
 * defines it (ops/tg_builtin_ops.c); the registry only reads it, so the core
 * names no op family and includes nothing from ops/. */
#ifndef TG_BUILTIN_H
#define TG_BUILTIN_H

#include "autograd/tg_op.h"

extern const tg_op *const tg_builtin_ops[];
extern const int tg_builtin_op_count;

#endif
