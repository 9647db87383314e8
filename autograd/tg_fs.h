/* File-system helpers shared by the library's writers (not installed): the
 * dataset cache, the synthetic-data generator and the training run folder. */
#ifndef TG_FS_H
#define TG_FS_H

#include "autograd/tg_error.h"

/* Create a directory and any missing parents (like mkdir -p); an existing one is fine. */
tg_status tg_mkdir_p(const char *path);

#endif
