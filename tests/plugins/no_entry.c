/* A shared object that is not a twingrad plugin: it lacks twingrad_plugin_init. */
int tg_test_not_a_plugin(void);
int tg_test_not_a_plugin(void) {
    return 42;
}
