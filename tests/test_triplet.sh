#!/bin/sh
# Triplet training from a model file through the command: P x K batches, mining, the
# per-epoch triplet figures in the log, a checkpoint that evaluates and exports like a
# pair-trained one, and a clear error when the data has fewer classes than P.
set -u
TG=${TG:-./twingrad}
work=$(mktemp -d "${TMPDIR:-/tmp}/tg_triplet.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$TG" synth --out "$work/synth" --positive 16 --negative 16 --size 32 --seed 4 >/dev/null || fail synth
for mining in batch_hard semi_hard batch_all; do
    cat >"$work/m.tg" <<MODEL
input 32 32 1
c1: conv2d filters=4 kernel=3 act=relu
p1: maxpool2d size=2
f:  flatten
e:  dense units=8
siamese distance=l2 loss=contrastive margin=1 normalize=true
triplet mining=$mining margin=0.2 classes=2 per_class=4
train optimizer=adam lr=1e-3 epochs=2 seed=1
MODEL
    aug=""
    [ $mining = semi_hard ] && aug="--augment" # the batch images through the augmenter
    "$TG" train "$work/m.tg" --data "synth:$work/synth" --out "$work/run_$mining" --pairs 16 \
        $aug --progress lines >"$work/log" 2>&1 || { cat "$work/log"; fail "$mining: training"; }
    grep -q "batch 8" "$work/log" || { cat "$work/log"; fail "$mining: the batch is not P x K = 8"; }
    [ "$(grep -c "triplets: [0-9.]*% active, mean d(a,p) [0-9.]*, mean d(a,n) [0-9.]*" "$work/log")" -eq 2 ] ||
        { cat "$work/log"; fail "$mining: no triplet figures for each epoch"; }
done
"$TG" eval "$work/run_batch_hard/best.tgc" --report "$work/eval.html" >"$work/eval" ||
    fail "eval of a triplet-trained checkpoint"
grep -q "k-NN" "$work/eval" || { cat "$work/eval"; fail "eval printed no k-NN figures"; }
"$TG" export "$work/run_batch_hard/best.tgc" --onnx "$work/t.onnx" >/dev/null || fail "export"

"$TG" train "$work/m.tg" --data "synth:$work/synth" --out "$work/run4" --batch 16 2>"$work/err" &&
    fail "--batch with a triplet line accepted"
grep -q "m.tg:7: --batch does not apply to triplet training" "$work/err" || { cat "$work/err"; fail "--batch: unclear error"; }
sed -i 's/classes=2/classes=3/' "$work/m.tg"
"$TG" train "$work/m.tg" --data "synth:$work/synth" --out "$work/run3" 2>"$work/err" &&
    fail "classes=3 on two classes accepted"
grep -q "m.tg:7: triplet batches need classes=3 classes" "$work/err" || { cat "$work/err"; fail "unclear error"; }
echo "PASS: triplet training from the command"
