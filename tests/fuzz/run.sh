#!/bin/sh
# Run every fuzz harness for a fixed number of executions from freshly generated seeds, then
# replay every stored reproducer (tests/fuzz/regress/<harness>/) once; all under ASan and
# UBSan. Any crash, leak, sanitizer report, timeout or out-of-memory fails.
# usage: run.sh SRCDIR OUTDIR RUNS   (make fuzz-check)
set -eu
src=$1 out=$2 runs=$3
rm -rf "$out/seeds" "$out/corpus"
# Harnesses that need a path write each input to a file: keep those files in memory.
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
TMPDIR=$(mktemp -d "$shm/tg_fuzz.XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
"$out/make_seeds" "$src" "$out/seeds"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
opts="-rss_limit_mb=1024 -malloc_limit_mb=512 -timeout=10 -max_len=65536 -print_final_stats=1"
for h in model checkpoint checkpoint_sections csv idx idx_gz png jpeg pnm cache; do
    mkdir -p "$out/corpus/$h"
    cp "$out/seeds/$h"/* "$out/corpus/$h/"
    echo "== fuzz_$h: $runs executions"
    "$out/fuzz_$h" $opts -runs="$runs" -seed=1 "$out/corpus/$h" >"$out/fuzz_$h.log" 2>&1 || {
        tail -n 60 "$out/fuzz_$h.log" >&2
        exit 1
    }
    grep -E '^stat::number_of_executed_units' "$out/fuzz_$h.log" || true
    if [ -d "$src/tests/fuzz/regress/$h" ]; then
        n=$(ls "$src/tests/fuzz/regress/$h" | wc -l)
        echo "== fuzz_$h: replaying $n stored reproducers"
        "$out/fuzz_$h" $opts "$src/tests/fuzz/regress/$h"/* >"$out/fuzz_$h.replay.log" 2>&1 || {
            tail -n 60 "$out/fuzz_$h.replay.log" >&2
            exit 1
        }
    fi
done
echo "fuzz: all harnesses ran $runs executions and every reproducer replayed cleanly"
