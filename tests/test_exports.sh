#!/bin/sh
# The shared library exports exactly the public API: every function declared in
# the installed headers (twingrad.h and what it includes) is exported, and every
# exported function is declared there. Catches an internal helper leaking out of
# libtwingrad.so and a public declaration with no definition behind it.
set -eu
: "${TG_SRCDIR:?}" "${TG_BUILDDIR:?}"
so="$TG_BUILDDIR/.libs/libtwingrad.so"
if [ ! -f "$so" ]; then
    echo "skipped: no shared library (built with --disable-shared)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' | sort -u >"$tmp/exported"

# Declared functions: preprocess the umbrella header, replace every {...} body
# (structs, static inline functions) by ';', split into statements and keep
# those that declare a tg_ function and are neither typedefs nor static.
${CC:-cc} -E -P -D_DEFAULT_SOURCE -I"$TG_SRCDIR" "$TG_SRCDIR/twingrad.h" | grep -v "^#" |
    awk 'BEGIN { RS = "\001" } {
        out = ""; depth = 0
        for (i = 1; i <= length($0); i++) {
            c = substr($0, i, 1)
            if (c == "{") { if (depth++ == 0) out = out ";"; continue }
            if (c == "}") { depth--; continue }
            if (depth == 0) out = out c
        }
        n = split(out, stmt, ";")
        for (k = 1; k <= n; k++) {
            s = stmt[k]; gsub(/[ \t\n]+/, " ", s); sub(/^ /, "", s)
            if (s ~ /^(typedef|static|extern "C")/) continue
            if (match(s, /[ *]tg_[a-z0-9_]+ ?\(/)) {
                name = substr(s, RSTART + 1, RLENGTH - 1); sub(/ ?\($/, "", name)
                print name
            }
        }
    }' | sort -u >"$tmp/declared"

n_exp=$(wc -l <"$tmp/exported")
n_dec=$(wc -l <"$tmp/declared")
status=0
if ! comm -23 "$tmp/exported" "$tmp/declared" >"$tmp/extra" || [ -s "$tmp/extra" ]; then
    echo "FAIL: exported but not declared in an installed header:"; sed 's/^/  /' "$tmp/extra"
    status=1
fi
if ! comm -13 "$tmp/exported" "$tmp/declared" >"$tmp/missing" || [ -s "$tmp/missing" ]; then
    echo "FAIL: declared in an installed header but not exported (undefined or hidden):"
    sed 's/^/  /' "$tmp/missing"
    status=1
fi
if [ "$n_dec" -lt 100 ]; then
    echo "FAIL: only $n_dec declarations found: the header scan is broken"; status=1
fi
[ $status -eq 0 ] && echo "exports match the public API: $n_exp functions"
exit $status
