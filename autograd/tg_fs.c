/* File-system helpers (see tg_fs.h). */
#include "autograd/tg_fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

tg_status tg_fs_check_replaceable(const char *path, const char *what) {
    struct stat sb;
    if (lstat(path, &sb) != 0 || S_ISREG(sb.st_mode)) return TG_OK; /* absent, or a file */
    if (S_ISLNK(sb.st_mode) && stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
        return TG_OK; /* a link to a file: the link is replaced, as with a file */
    return tg_error(TG_ERR_IO,
                    "%s '%s': it exists and is not a regular file (a device, pipe or folder), "
                    "which the save would replace; name a file",
                    what, path);
}

tg_status tg_epoch_csv_keep(const char *path, const char *header, int64_t keep) {
    FILE *f = fopen(path, "r");
    if (!f) {
        f = fopen(path, "w");
        if (!f || fputs(header, f) < 0 || fclose(f))
            return tg_error(TG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        return TG_OK;
    }
    char tmp[4200], line[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fclose(f);
        return tg_error(TG_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    }
    fputs(header, out);
    while (fgets(line, sizeof line, f)) {
        char *end;
        long e = strtol(line, &end, 10);
        if (end != line && *end == ',' && e >= 1 && e <= keep) fputs(line, out);
    }
    fclose(f);
    if (ferror(out) | fclose(out) | rename(tmp, path))
        return tg_error(TG_ERR_IO, "cannot rewrite %s: %s", path, strerror(errno));
    return TG_OK;
}
