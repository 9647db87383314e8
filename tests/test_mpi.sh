#!/bin/sh
# Data-parallel training under mpirun on a tiny synthetic set (docs/distributed.md):
# the dist suite across two ranks; two ranks against one process (fast mode within
# the rounding of a different summation order, fixed mode bit for bit, batch norm
# and dropout included); SIGINT to one rank stops both with one checkpoint and the
# run resumes exactly on another rank count; a killed rank ends the job instead of
# hanging it; errors are one line from rank 0. Skipped (exit 77) without MPI.
set -u
if [ "${TG_WITH_MPI:-no}" != yes ] || [ -z "${TG_MPIRUN:-}" ]; then
    echo "skip: twingrad was built without MPI (configure found no libopenmpi-dev)"
    exit 77
fi
TG=${TG:-./twingrad}
BUILD=${TG_BUILDDIR:-.}
SRC=${TG_SRCDIR:-.}
# Under AddressSanitizer, leak detection is off for the ranks: Open MPI keeps
# allocations from MPI_Init to exit inside components it dlopens, whose frames
# LeakSanitizer cannot name, so no suppression matches them. Memory errors are
# still caught here, and the same training code runs with leak detection in
# every other test.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
CKDIFF=$BUILD/tests/tg_ckdiff
dir=$(mktemp -d /tmp/tg_mpi.XXXXXX)
trap 'rm -rf "$dir"' EXIT
. "$SRC/tests/tg_check.sh"
# On a failure, what the last command said (most checks read $dir/err).
on_fail() { [ -s "${dir:-}/err" ] && sed 's/^/    stderr: /' "$dir/err" | head -20; return 0; }

# Two ranks on a two-core machine, as root in CI containers, not bound to cores
# (other jobs share them).
root_flag=""
[ "$(id -u)" -eq 0 ] && root_flag="--allow-run-as-root"
mpi() { # ranks, command...
    n=$1
    shift
    "$TG_MPIRUN" --oversubscribe $root_flag --bind-to none -np "$n" "$@"
}
# In the background, with stderr to a file: sets mp to mpirun's pid (whose children are the ranks).
mpi_bg() { # ranks, stderr file, command...
    n=$1 err=$2
    shift 2
    "$TG_MPIRUN" --oversubscribe $root_flag --bind-to none -np "$n" "$@" 2>"$err" &
    mp=$!
}
train() { $TG train "$@" --data "synth:$dir/data" --threads 1 --progress quiet; }

# The collectives and the fixed-order reduction across two ranks (CK_FORK is off there).
mpi 2 "$BUILD/tests/test_dist" >"$dir/dist.log" 2>&1
check "test_dist passes on two ranks" "[ $? -eq 0 ] && grep -q '100%' '$dir/dist.log'"

$TG synth --out "$dir/data" --positive 24 --negative 24 --size 40 --seed 3 >/dev/null

# A tanh MLP with plain SGD: its training does not amplify rounding differences, so
# two summation orders stay within a few float32 ulps per step (docs/distributed.md).
cat >"$dir/mlp.tg" <<'MODEL'
input 32 32 1
p: maxpool2d size=4
f: flatten
h: dense units=16 act=tanh
e: dense units=8
siamese distance=l2 loss=contrastive margin=1 normalize=false
train optimizer=sgd lr=0.01 batch=8 epochs=3 seed=5
MODEL
# Batch norm and dropout: per-shard statistics and masks, exact in fixed mode only.
cat >"$dir/bn.tg" <<'MODEL'
input 32 32 1
c1: conv2d filters=4 kernel=3 act=relu
p1: maxpool2d size=2
s1: sepconv2d filters=8 kernel=3 act=relu
bn: batchnorm
d1: dropout rate=0.2
p2: global_avgpool
fc: dense units=8
siamese distance=l2 loss=contrastive margin=1 normalize=true
train optimizer=adam lr=3e-3 batch=8 epochs=3 seed=5
MODEL

# Fast mode: 2 ranks x 4 pairs against one process with batches of 8, 180 steps.
train "$dir/mlp.tg" --out "$dir/one" --pairs 480
mpi 2 $TG train "$dir/mlp.tg" --data "synth:$dir/data" --out "$dir/fast2" --pairs 480 \
    --threads 1 --progress quiet
check "fast mode on 2 ranks exits 0" "[ $? -eq 0 ]"
check "rank 0 alone wrote the run" "[ -s '$dir/fast2/last.tgc' ] && [ -s '$dir/fast2/report.html' ]"
# Loss curves agree to 4 significant digits; parameters within 1e-5 (measured: ~6e-8).
same_losses() { # run a, run b, relative tolerance
    paste -d, "$1/metrics.csv" "$2/metrics.csv" | awk -F, -v tol="$3" -v n=$(($(head -1 "$1/metrics.csv" | tr , '\n' | wc -l))) '
        NR > 1 { for (c = 2; c <= 3; c++) { a = $c; b = $(c + n); d = a - b; if (d < 0) d = -d
                 s = a < 0 ? -a : a; if (d > tol * s) { print "epoch " $1 " column " c ": " a " vs " b; bad = 1 } } }
        END { exit bad }'
}
check "fast mode: loss curve matches one process to 1e-4" "same_losses '$dir/one' '$dir/fast2' 1e-4"
diff_out=$($CKDIFF "$dir/one/last.tgc" "$dir/fast2/last.tgc")
check "fast mode: parameters within 1e-5 of one process ($diff_out)" \
    "$CKDIFF '$dir/one/last.tgc' '$dir/fast2/last.tgc' 1e-5 >/dev/null"

# Fixed mode: 2 ranks against one process cutting each batch into the same 2 shards.
train "$dir/bn.tg" --out "$dir/fixed1" --pairs 480 --reduce fixed --shards 2
mpi 2 $TG train "$dir/bn.tg" --data "synth:$dir/data" --out "$dir/fixed2" --pairs 480 \
    --threads 1 --progress quiet --reduce fixed
check "fixed mode on 2 ranks exits 0" "[ $? -eq 0 ]"
check "fixed mode: 2 ranks and 1 process end with identical parameters and optimizer state" \
    "[ \"\$($CKDIFF '$dir/fixed1/last.tgc' '$dir/fixed2/last.tgc')\" = identical ]"
check "fixed mode: identical loss curves and validation figures" \
    "[ \"\$(cut -d, -f1-8 '$dir/fixed1/metrics.csv')\" = \"\$(cut -d, -f1-8 '$dir/fixed2/metrics.csv')\" ]"

# SIGINT to rank 1 alone, during the second epoch: both ranks stop after the batch,
# rank 0 writes one checkpoint; resumed on ONE process it ends where fixed2 ends.
interrupt_rank1() { # run dir, mpirun pid
    tries=0
    while [ "$(cat "$1/metrics.csv" 2>/dev/null | wc -l)" -lt 2 ] && [ $tries -lt 600 ]; do
        sleep 0.05
        tries=$((tries + 1))
    done
    for p in $(pgrep -P "$2"); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1; then
            kill -INT "$p"
        fi
    done
}
mpi_bg 2 "$dir/int.err" $TG train "$dir/bn.tg" --data "synth:$dir/data" --out "$dir/int" \
    --pairs 480 --threads 1 --progress lines --reduce fixed
interrupt_rank1 "$dir/int" $mp
wait $mp
rc=$?
if grep -q "interrupted: state saved" "$dir/int.err"; then
    ok
    check "interrupted run: every rank exits 130 (mpirun $rc)" "[ $rc -ne 0 ]"
    check "one 'interrupted' message, from rank 0" "[ \$(grep -c 'interrupted: state saved' '$dir/int.err') -eq 1 ]"
    train --resume --out "$dir/int"
    check "resume on 1 process of a 2-rank fixed run exits 0" "[ $? -eq 0 ]"
elif [ "$rc" -eq 0 ]; then
    echo "note: the run finished before SIGINT arrived"
    ok
else
    bad "SIGINT to rank 1: mpirun exit $rc: $(cat "$dir/int.err")"
fi
check "fixed mode: interrupted on 2 ranks, resumed on 1, identical to the uninterrupted run" \
    "[ \"\$($CKDIFF '$dir/fixed2/last.tgc' '$dir/int/last.tgc')\" = identical ]"
check "... and the same metrics" \
    "[ \"\$(cut -d, -f1-8 '$dir/fixed2/metrics.csv')\" = \"\$(cut -d, -f1-8 '$dir/int/metrics.csv')\" ]"

# Fast mode resumes exactly on the same rank count.
mpi_bg 2 /dev/null $TG train "$dir/mlp.tg" --data "synth:$dir/data" --out "$dir/intf" \
    --pairs 480 --threads 1 --progress quiet
interrupt_rank1 "$dir/intf" $mp
wait $mp
[ -s "$dir/intf/last.tgc" ] && mpi 2 $TG train --resume --out "$dir/intf" --threads 1 --progress quiet
check "fast mode: interrupted and resumed on 2 ranks, identical to the uninterrupted run" \
    "[ \"\$($CKDIFF '$dir/fast2/last.tgc' '$dir/intf/last.tgc')\" = identical ]"

# Errors: one line, from rank 0, and a non-zero exit.
mpi 2 $TG train "$dir/bn.tg" --data "synth:$dir/data" --out "$dir/odd" --batch 7 --threads 1 \
    --progress quiet 2>"$dir/err" >/dev/null
check "a batch that does not split over 2 ranks fails with one line" \
    "[ \$(grep -c '^twingrad train:' '$dir/err') -eq 1 ] && grep -q 'multiple of 2' '$dir/err'"
mpi 3 $TG train --resume --out "$dir/fixed2" --threads 1 --progress quiet 2>"$dir/err" >/dev/null
check "a fixed 2-shard run refuses to resume on 3 ranks, saying why" \
    "[ \$(grep -c '^twingrad train:' '$dir/err') -eq 1 ] && grep -q 'divides 2' '$dir/err'"
mpi 2 $TG train --resume --out "$dir/nothing" --threads 1 --progress quiet 2>"$dir/err" >/dev/null
check "resume without a run: one line" "[ \$(grep -c '^twingrad train:' '$dir/err') -eq 1 ]"

# A rank that dies (SIGKILL) ends the job with a message instead of hanging it.
mpi_bg 2 "$dir/dead.err" $TG train "$dir/bn.tg" --data "synth:$dir/data" --out "$dir/dead" \
    --pairs 480 --epochs 50 --threads 1 --progress quiet
tries=0
while [ "$(cat "$dir/dead/metrics.csv" 2>/dev/null | wc -l)" -lt 2 ] && [ $tries -lt 600 ]; do
    sleep 0.05
    tries=$((tries + 1))
done
start=$(date +%s)
for p in $(pgrep -P $mp); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && kill -KILL "$p"
done
while kill -0 $mp 2>/dev/null && [ $(($(date +%s) - start)) -lt 60 ]; do sleep 0.1; done
kill -KILL $mp 2>/dev/null # still there after a minute: it hung
wait $mp
rc=$?
took=$(($(date +%s) - start))
check "a killed rank ends the job within seconds (exit $rc after ${took}s)" "[ $rc -ne 0 ] && [ $took -lt 30 ]"
check "... with a message naming the dead rank" "grep -q 'rank 1 .*exited on signal 9' '$dir/dead.err'"

finish test_mpi
