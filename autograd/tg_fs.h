/* File-system helpers shared by the library's writers (not installed): the
 * dataset cache, the synthetic-data generator and the training run folder. */
#ifndef TG_FS_H
#define TG_FS_H

#include <stdint.h>

#include "autograd/tg_error.h"

/* Before a save that writes path.tmp and renames it over path: refuse a path that exists
 * and is not a regular file (a device such as /dev/null, a pipe, a folder), which the
 * rename would replace. `what` starts the message ("saving checkpoint"). */
tg_status tg_fs_check_replaceable(const char *path, const char *what);

/* Create a directory and any missing parents (like mkdir -p); an existing one is fine. */
tg_status tg_mkdir_p(const char *path);

/* A per-epoch CSV (each row starts with its epoch number, after one header line):
 * keep the rows of epochs 1..keep and drop the rest, so a resumed run appends after
 * them whatever happened between a row and its checkpoint. A missing file is
 * created with just the header. The rewrite goes through path.tmp and a rename. */
tg_status tg_epoch_csv_keep(const char *path, const char *header, int64_t keep);

#endif
