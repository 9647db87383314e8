#!/bin/sh
# End to end through the twingrad command on a tiny synthetic set: synth, train,
# interrupt with SIGINT and resume (bit-identical to an uninterrupted run), eval,
# predict, embed, summary, gradcheck; reports hold their charts; bad flags and
# bad inputs give one line on stderr and a non-zero exit. Nothing here is skipped: checks
# that need data outside the tree live in tests/test_cli_xray.sh, which reports SKIP (77).
set -u
TG=${TG:-./twingrad}
SRC=${TG_SRCDIR:-.}
dir=$(mktemp -d /tmp/tg_cli.XXXXXX)
trap 'rm -rf "$dir"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }

# One line on stderr, non-zero exit: the contract for every bad input.
one_line_error() { # name, expected exit code, command...
    name=$1 want=$2
    shift 2
    "$@" >"$dir/out" 2>"$dir/err"
    rc=$?
    lines=$(wc -l <"$dir/err")
    if [ "$rc" -eq "$want" ] && [ "$lines" -eq 1 ]; then ok; else
        bad "$name: exit $rc (want $want), $lines stderr lines: $(cat "$dir/err")"
    fi
}

cat >"$dir/tiny.tg" <<'MODEL'
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

$TG synth --out "$dir/data" --positive 24 --negative 24 --size 40 --seed 3 >/dev/null
check "synth wrote the CSV and images" "[ -f '$dir/data/metadata.csv' ] && [ \$(ls '$dir/data/images' | wc -l) -eq 48 ]"

# Uninterrupted reference run.
$TG train "$dir/tiny.tg" --data "synth:$dir/data" --out "$dir/ref" --pairs 2400 --threads 1 \
    --progress quiet
check "train exits 0" "[ $? -eq 0 ]"
for f in metrics.csv last.tgc best.tgc report.html; do
    check "train wrote $f" "[ -s '$dir/ref/$f' ]"
done
check "metrics.csv has a header and 3 epochs" "[ \$(wc -l <'$dir/ref/metrics.csv') -eq 4 ]"
check "report has its charts" "[ \$(grep -c '<svg' '$dir/ref/report.html') -ge 3 ]"
check "report has the ROC AUC" "grep -q 'AUC' '$dir/ref/report.html'"

# The same run stopped at a given optimizer step (the hidden --stop-after-steps acts like
# SIGINT arriving during that batch), then resumed: in the first epoch (no validation
# threshold yet), in the middle of an epoch, and after the last batch of an epoch. Each
# must exit 130, leave last.tgc, resume, and end bit-identical to the uninterrupted run.
# 2400 pairs at batch 8 are 300 steps per epoch.
$TG embed "$dir/ref/last.tgc" --data "synth:$dir/data" --out "$dir/ref.csv"
for stop in 5 450 300; do
    run="$dir/int$stop"
    $TG train "$dir/tiny.tg" --data "synth:$dir/data" --out "$run" --pairs 2400 --threads 1 \
        --progress quiet --stop-after-steps $stop
    rc=$?
    check "stop at step $stop exits 130 (got $rc)" "[ $rc -eq 130 ]"
    check "stop at step $stop leaves last.tgc" "[ -s '$run/last.tgc' ]"
    $TG train --resume --out "$run" --progress quiet --threads 1 2>"$dir/err"
    rc=$?
    check "resume after step $stop exits 0 (got $rc: $(cat "$dir/err"))" "[ $rc -eq 0 ]"
    $TG embed "$run/last.tgc" --data "synth:$dir/data" --out "$run.csv"
    check "stopped at step $stop and resumed: bit-identical to the uninterrupted run" \
        "cmp -s '$dir/ref.csv' '$run.csv'"
    check "stopped at step $stop and resumed: metrics.csv matches (epochs and losses)" \
        "[ \"\$(cut -d, -f1-6 '$dir/ref/metrics.csv')\" = \"\$(cut -d, -f1-6 '$run/metrics.csv')\" ]"
done

# A real SIGINT: a run of 1000 epochs cannot finish before it arrives, so it must stop with
# exit 130 and a last.tgc that resumes.
$TG train "$dir/tiny.tg" --data "synth:$dir/data" --out "$dir/int" --pairs 2400 --threads 1 \
    --epochs 1000 --progress quiet &
pid=$!
tries=0
while [ "$(cat "$dir/int/metrics.csv" 2>/dev/null | wc -l)" -lt 2 ] && [ $tries -lt 1200 ]; do
    sleep 0.05
    tries=$((tries + 1))
done
kill -INT $pid
wait $pid
rc=$?
check "SIGINT stops the run with exit 130 (got $rc)" "[ $rc -eq 130 ]"
done_epochs=$(($(wc -l <"$dir/int/metrics.csv") - 1))
$TG train --resume --out "$dir/int" --epochs $((done_epochs + 1)) --progress quiet --threads 1
check "resume after SIGINT exits 0" "[ $? -eq 0 ]"
check "resume after SIGINT completes one more epoch" \
    "[ \$(wc -l <'$dir/int/metrics.csv') -eq $((done_epochs + 2)) ]"
check "embed wrote a header and 48 rows" "[ \$(wc -l <'$dir/ref.csv') -eq 49 ]"

# Resuming for more epochs continues the run.
$TG train --resume --out "$dir/int450" --epochs 4 --progress quiet --threads 1
check "resume with more epochs adds a row" "[ \$(wc -l <'$dir/int450/metrics.csv') -eq 5 ]"

$TG eval "$dir/ref/best.tgc" >"$dir/eval.txt"
check "eval exits 0" "[ $? -eq 0 ]"
check "eval prints pair and k-NN results" "grep -q 'test pairs' '$dir/eval.txt' && grep -q 'k-NN' '$dir/eval.txt'"
check "eval report has ROC curves and confusion matrices" \
    "[ \$(grep -c '<svg' '$dir/ref/eval.html') -ge 2 ] && grep -q 'class=\"cm\"' '$dir/ref/eval.html'"

img=$(ls "$dir/data/images" | head -n 1)
$TG predict "$dir/ref/best.tgc" "$dir/data/images/$img" --reference "synth:$dir/data" >"$dir/pred.txt"
check "predict prints one line per image with a class" "[ \$(wc -l <'$dir/pred.txt') -eq 1 ] && grep -q 'class=' '$dir/pred.txt'"
check "predict finds the image itself at distance 0" "grep -q 'd=0.0000' '$dir/pred.txt'"

# models/siamese_cosine.tg needs the example plugin (tests/test_plugin.sh tests that)
plugin="${TG_BUILDDIR:-.}/examples/.libs/triplet_ops.so"
for m in "$SRC"/models/*.tg; do
    $TG --plugin "$plugin" summary "$m" >"$dir/summary.txt"
    check "summary of $(basename "$m")" "[ $? -eq 0 ] && grep -qi 'param' '$dir/summary.txt'"
done
# A 72-byte model file with 2^38 weights (1 TiB): summary allocates no weights; train refuses
# it from its shapes with the memory budget named; --max-memory is taken by every command.
printf 'input 1024 1024 1\nflatten\nfc: dense units=262144\nsiamese normalize=true\n' >"$dir/big.tg"
$TG summary "$dir/big.tg" >"$dir/summary.txt"
check "summary of a 1 TiB model allocates nothing" "[ $? -eq 0 ] && grep -q '274,878,169,088' '$dir/summary.txt'"
one_line_error "a 1 TiB model is over the memory budget" 1 $TG train "$dir/big.tg" \
    --data "synth:$dir/data" --out "$dir/big" --progress quiet
check "the budget error names the budget" "grep -q 'over the memory budget' '$dir/err'"
one_line_error "--max-memory applies to data loading" 1 $TG --max-memory 1M train "$dir/tiny.tg" \
    --data "synth:$dir/data" --out "$dir/small" --progress quiet
check "--max-memory 1M is the budget" "grep -q 'over the memory budget of 1.0 MiB' '$dir/err'"
one_line_error "bad --max-memory" 2 $TG summary "$dir/tiny.tg" --max-memory=lots
$TG gradcheck dense --inputs 4x5 --attrs "units=3 act=tanh" >/dev/null
check "gradcheck of one op passes" "[ $? -eq 0 ]"
$TG ops --markdown >"$dir/ops.md"
check "ops --markdown writes the op reference" "grep -q '^## conv2d' '$dir/ops.md'"

# Bad flags and bad inputs: one line on stderr, exit 2 for usage, 1 for failures.
one_line_error "unknown command" 2 $TG trian
one_line_error "unknown train flag" 2 $TG train "$dir/tiny.tg" --data "synth:$dir/data" --epohcs 3
one_line_error "bad epochs value" 2 $TG train "$dir/tiny.tg" --data "synth:$dir/data" --epochs x
one_line_error "missing --data" 2 $TG train "$dir/tiny.tg"
one_line_error "missing model file" 1 $TG train "$dir/none.tg" --data "synth:$dir/data" --out "$dir/x"
printf 'input 32 32 1\nc1: conv2d filters=4 kernal=3\n' >"$dir/typo.tg"
one_line_error "model typo" 1 $TG summary "$dir/typo.tg"
check "model typo names file:line:col" "grep -q 'typo.tg:2:' '$dir/err'"
one_line_error "bad data spec" 1 $TG train "$dir/tiny.tg" --data "nosuch:$dir/data" --out "$dir/y"
printf 'not a checkpoint' >"$dir/bad.tgc"
one_line_error "corrupt checkpoint" 1 $TG eval "$dir/bad.tgc"
one_line_error "missing image" 1 $TG predict "$dir/ref/best.tgc" "$dir/none.png" --reference "synth:$dir/data"
one_line_error "unknown op" 2 $TG gradcheck nosuchop
one_line_error "resume without a run" 1 $TG train --resume --out "$dir/empty"
# A diverging run (NaN loss) stops with one line and a hint.
one_line_error "diverging run" 1 $TG train "$dir/tiny.tg" --data "synth:$dir/data" --out "$dir/nan" \
    --lr 1e30 --progress quiet
check "divergence is named with a hint" "grep -q 'diverged.*lower learning rate' '$dir/err'"
# Divergence with a finite loss (issue 10, failure 3): parameters, Adam moments or batch-norm
# variances turn Inf/NaN. Each run must fail with one line and leave no non-finite checkpoint.
sed 's/normalize=true/normalize=false/' "$dir/tiny.tg" >"$dir/tiny_raw.tg"
for case in "tiny.tg --lr 1e9" "tiny_raw.tg --lr 1e9" "tiny.tg --data-norm"; do
    set -- $case
    model=$1
    shift
    spec="synth:$dir/data"
    if [ "$1" = "--data-norm" ]; then spec="$spec,norm=fixed,mean=0,std=1e-30"; shift; fi
    one_line_error "diverging run ($case)" 1 $TG train "$dir/$model" --data "$spec" \
        --out "$dir/div" --pairs 400 --progress quiet "$@"
    check "divergence ($case) is named" "grep -q 'training diverged' '$dir/err'"
    check "divergence ($case) leaves no checkpoint" "[ ! -e '$dir/div/last.tgc' ]"
    rm -rf "$dir/div"
done
# Issue 10, failure 7: under a file-size limit smaller than a checkpoint, the save fails with
# EFBIG reported on one line (SIGXFSZ used to kill the process silently), no temporary file is
# left, and stale temporary files of a killed save are removed by the next start.
(ulimit -f 2; exec $TG train "$dir/tiny.tg" --data "synth:$dir/data" --out "$dir/fsize" \
    --pairs 400 --epochs 1 --progress quiet) >"$dir/out" 2>"$dir/err"
rc=$?
check "a file-size limit gives exit 1, not SIGXFSZ (got $rc)" "[ $rc -eq 1 ]"
check "the file-size error is one line naming EFBIG" \
    "[ \$(wc -l <'$dir/err') -eq 1 ] && grep -q 'File too large' '$dir/err'"
check "no temporary file is left after EFBIG" "! ls '$dir/fsize' | grep -q tmp"
for f in last.tgc.tmp-Ab12Cd best.tgc.tmp-zzzzzz metrics.csv.tmp report.html.tmp; do : >"$dir/fsize/$f"; done
: >"$dir/fsize/last.tgc.tmp-keep"   # not the shape of a save's temporary file: kept
$TG train "$dir/tiny.tg" --data "synth:$dir/data" --out "$dir/fsize" --pairs 400 --epochs 1 \
    --progress quiet
check "stale temporary files are removed at the next start" \
    "[ \"\$(ls '$dir/fsize' | grep tmp)\" = last.tgc.tmp-keep ]"

# A good checkpoint is never replaced by a diverged state.
$TG train "$dir/tiny.tg" --data "synth:$dir/data" --out "$dir/div" --pairs 400 --epochs 1 \
    --progress quiet
cp "$dir/div/last.tgc" "$dir/good.tgc"
one_line_error "diverging run over a good checkpoint" 1 $TG train "$dir/tiny.tg" \
    --data "synth:$dir/data" --out "$dir/div" --pairs 400 --progress quiet --lr 1e9
check "the good checkpoint is kept and named" \
    "cmp -s '$dir/good.tgc' '$dir/div/last.tgc' && grep -q 'keeps the last good state' '$dir/err'"

# The BLAS kernel: --version names CPU, BLAS, kernel and threads; a generic kernel forced
# through OPENBLAS_CORETYPE is reported with its remedy, and warned about by commands.
$TG --version >"$dir/version"
check "--version exits 0" "[ $? -eq 0 ]"
for field in 'CPU:' 'BLAS:.*OpenBLAS' 'kernel:' 'threads:'; do
    check "--version prints $field" "grep -q '^$field' '$dir/version'"
done
OPENBLAS_CORETYPE=Prescott $TG --version >"$dir/version"
check "--version reports the forced Prescott kernel" "grep -q '^kernel:  Prescott' '$dir/version'"
if ! grep -q '^CPU:.*(SSE2)' "$dir/version"; then
    check "--version warns on the generic kernel" \
        "grep -q '^WARNING: .*generic fallback Prescott.*OPENBLAS_CORETYPE' '$dir/version'"
    OPENBLAS_CORETYPE=Prescott $TG gradcheck dense 2>"$dir/err" >/dev/null
    check "commands warn on the generic kernel" "grep -q 'warning: .*Prescott' '$dir/err'"
fi

# OpenMP's wait policy: passive unless the user chose one (libgomp shows what it read).
env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose $TG --version >"$dir/version" 2>"$dir/err"
check "idle OpenMP threads sleep by default" "grep GOMP_SPINCOUNT '$dir/err' | tail -n 1 | grep -q \"'0'\" && grep -q 'OpenMP wait: passive' '$dir/version'"
env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose $TG --version >"$dir/version" 2>"$dir/err"
check "a user's OMP_WAIT_POLICY is kept" "! grep -q \"GOMP_SPINCOUNT = '0'\" '$dir/err' && grep -q 'OpenMP wait: active' '$dir/version'"

echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
