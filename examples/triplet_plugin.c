/* The plugin form of examples/triplet_ops.c: a shared object (built by make as
 * examples/.libs/triplet_ops.so) whose entry point registers cosine_distance and
 * triplet_margin, so model files and the command can use them:
 *   twingrad --plugin examples/.libs/triplet_ops.so train models/siamese_cosine.tg ...  */
#include "autograd/tg_plugin.h"
#include "examples/triplet_ops.h"

TG_PLUGIN_EXPORT tg_status twingrad_plugin_init(int abi);

TG_PLUGIN_EXPORT tg_status twingrad_plugin_init(int abi) {
    if (abi != TG_PLUGIN_ABI)
        return tg_error(TG_ERR_VERSION, "built for plugin ABI %d, loaded by ABI %d", TG_PLUGIN_ABI,
                        abi);
    return triplet_ops_register();
}
