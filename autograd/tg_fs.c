/* File-system helpers (see tg_fs.h). */
#include "autograd/tg_fs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

tg_status tg_mkdir_p(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return tg_error(TG_ERR_INVALID, "directory name too long: %.64s...", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return tg_error(TG_ERR_IO, "%s: cannot create the directory: %s", buf, strerror(errno));
        *p = c;
        if (!c) break;
    }
    return TG_OK;
}
