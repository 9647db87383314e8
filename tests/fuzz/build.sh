#!/bin/sh
# Build the libFuzzer harnesses and the seed generator with clang: the library's own
# sources are compiled once into OUTDIR/obj with -fsanitize=fuzzer-no-link,address,undefined
# (rebuilt when a source is newer), then each harness is linked with -fsanitize=fuzzer.
# usage: build.sh CLANG SRCDIR OUTDIR "CPPFLAGS" "LIBS" LIBRARY_SOURCES...   (make fuzz)
set -eu
cc=$1 src=$2 out=$3 cppflags=$4 libs=$5
shift 5
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cflags="-std=c11 -g -O1 -D_DEFAULT_SOURCE -I$src -Wno-unknown-pragmas $cppflags"
mkdir -p "$out/obj"
objs=""
for s in "$@"; do
    o="$out/obj/$(echo "$s" | tr / _ | sed 's/\.c$/.o/')"
    if [ ! -f "$o" ] || [ "$src/$s" -nt "$o" ] || [ -n "$(find "$src" -name '*.h' -newer "$o" -print -quit)" ]; then
        $cc $cflags $san -fsanitize=fuzzer-no-link -c "$src/$s" -o "$o"
    fi
    objs="$objs $o"
done
for h in model checkpoint checkpoint_sections csv idx idx_gz png jpeg pnm cache; do
    $cc $cflags $san -fsanitize=fuzzer "$src/tests/fuzz/fuzz_$h.c" $objs $libs -lm -o "$out/fuzz_$h"
done
$cc $cflags $san "$src/tests/fuzz/make_seeds.c" "$src/tests/test_datasets_fixtures.c" $objs $libs \
    -lm -o "$out/make_seeds"
echo "fuzzers in $out: $(cd "$out" && ls fuzz_* | grep -v "\.log$" | tr "\n" " ")"
