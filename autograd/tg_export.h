/* Symbol visibility. libtwingrad is compiled with -fvisibility=hidden and every
 * installed header wraps its declarations in TG_API_BEGIN / TG_API_END, so the
 * shared library exports exactly the public API and nothing internal
 * (tests/test_exports.sh checks both directions). */
#ifndef TG_EXPORT_H
#define TG_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define TG_API_BEGIN _Pragma("GCC visibility push(default)")
#define TG_API_END _Pragma("GCC visibility pop")
#else
#define TG_API_BEGIN
#define TG_API_END
#endif

#endif
