/* Plugins: a shared object whose one entry point registers ops, so that model files
 * and the twingrad command can use ops written outside the library. A model file
 * names the plugins it needs (`plugin NAME`); loading is always explicit.
 *
 *   // myops.c, built with: cc -shared -fPIC myops.c -o libmyops.so $(pkg-config ...)
 *   static const tg_op my_op = {.name = "my_op", ...};
 *   TG_PLUGIN_EXPORT tg_status twingrad_plugin_init(int abi) {
 *       if (abi != TG_PLUGIN_ABI) return tg_error(TG_ERR_VERSION, "built for ABI %d",
 * TG_PLUGIN_ABI); return tg_op_register(&my_op);
 *   }
 *   // user side: tg_plugin_load("./libmyops.so") or `twingrad --plugin ./libmyops.so ...`
 */
#ifndef TG_PLUGIN_H
#define TG_PLUGIN_H

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"
#include "autograd/tg_op.h"

/* The plugin interface version: the layout of tg_op and the accessors ops use. A
 * plugin compares the value it is called with to the one it was compiled with. */
#define TG_PLUGIN_ABI 2 /* 2: tg_op holds 14 examples (was 12) */
/* The entry point's name; its type is tg_plugin_init_fn. */
#define TG_PLUGIN_ENTRY "twingrad_plugin_init"
/* Register the plugin's ops with tg_op_register; return TG_OK or an error. */
typedef tg_status (*tg_plugin_init_fn)(int abi);
/* Put on the entry point so it is exported whatever the plugin's default visibility. */
#if defined(__GNUC__) || defined(__clang__)
#define TG_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define TG_PLUGIN_EXPORT
#endif

TG_API_BEGIN

/* Load the plugin at `path` (dlopen; a name without '/' is searched for by the
 * dynamic loader) and run its entry point. Its name is the file name without the
 * folder, a leading "lib" and the extension: "./libtriplet_ops.so" is "triplet_ops".
 * All or nothing: when the entry point fails (e.g. an op name taken by a built-in
 * op) the ops it registered are removed and the object is unloaded. Loading a
 * plugin of the same name again does nothing; another file with a name already
 * loaded is an error. */
tg_status tg_plugin_load(const char *path);
/* The loaded plugins: count, and the name and path of the i-th (NULL out of range). */
int tg_plugin_count(void);
const char *tg_plugin_name(int i);
const char *tg_plugin_path(int i);
/* Index of the loaded plugin called `name`, or -1. */
int tg_plugin_find(const char *name);
/* The name of the plugin that registered `op`, or NULL (built-in, or registered from C). */
const char *tg_op_plugin(const tg_op *op);

TG_API_END

#endif
