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
. "$SRC/tests/tg_check.sh"

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
# Again on the same folder, smaller: the set is replaced, a file of the user's kept.
$TG synth --out "$dir/again" --positive 6 --negative 6 --size 16 >/dev/null
touch "$dir/again/images/mine.png"
$TG synth --out "$dir/again" --positive 2 --negative 2 --size 16 >/dev/null
check "synth over an earlier set replaces its images" \
    "[ \$(ls '$dir/again/images' | grep -c '^SYN-') -eq 4 ] && [ -f '$dir/again/images/mine.png' ]"

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

# --ema: the moving average of the weights is what validation sees and best.tgc keeps; the
# training itself is untouched (the same losses and last.tgc as without it), and a run
# stopped mid-epoch resumes to the same files. 240 pairs at batch 8: 30 steps per epoch.
ema_run() { # OUT [extra train flags]
    out=$1
    shift
    $TG train "$dir/tiny.tg" --data "synth:$dir/data" --out "$out" --pairs 240 --threads 1 \
        --progress quiet "$@"
}
ema_run "$dir/plain"
ema_run "$dir/ema" --ema 0.9
check "train --ema exits 0" "[ $? -eq 0 ]"
for f in plain ema; do
    for c in last best; do $TG embed "$dir/$f/$c.tgc" --data "synth:$dir/data" --out "$dir/$f-$c.csv"; done
done
check "--ema leaves training alone: the same training losses" \
    "[ \"\$(cut -d, -f2 '$dir/plain/metrics.csv')\" = \"\$(cut -d, -f2 '$dir/ema/metrics.csv')\" ]"
check "--ema leaves training alone: last.tgc holds the same training weights" \
    "cmp -s '$dir/plain-last.csv' '$dir/ema-last.csv'"
check "--ema validates the average: other validation losses" \
    "[ \"\$(cut -d, -f3 '$dir/plain/metrics.csv')\" != \"\$(cut -d, -f3 '$dir/ema/metrics.csv')\" ]"
check "--ema: best.tgc holds the average, not the training weights" \
    "! cmp -s '$dir/ema-best.csv' '$dir/plain-best.csv' && ! cmp -s '$dir/ema-best.csv' '$dir/ema-last.csv'"
ema_run "$dir/ema45" --ema 0.9 --stop-after-steps 45
check "--ema run stopped at step 45 exits 130" "[ $? -eq 130 ]"
$TG train --resume --out "$dir/ema45" --progress quiet --threads 1
for c in last best; do $TG embed "$dir/ema45/$c.tgc" --data "synth:$dir/data" --out "$dir/ema45-$c.csv"; done
check "--ema run resumed: last.tgc and best.tgc bit-identical to the uninterrupted run" \
    "cmp -s '$dir/ema-last.csv' '$dir/ema45-last.csv' && cmp -s '$dir/ema-best.csv' '$dir/ema45-best.csv'"
check "--ema run resumed: metrics.csv matches" \
    "[ \"\$(cut -d, -f1-6 '$dir/ema/metrics.csv')\" = \"\$(cut -d, -f1-6 '$dir/ema45/metrics.csv')\" ]"
one_line_error "--ema 1" 2 $TG train "$dir/tiny.tg" --data "synth:$dir/data" --out "$dir/ema1" --ema 1

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
# Images of another size than the model's are refused (they used to be read as if they
# were the model's size, past the end of the smaller ones).
one_line_error "embed at another image size" 1 $TG embed "$dir/ref/last.tgc" \
    --data "synth:$dir/data,size=24" --out "$dir/size24.csv"
check "embed names the sizes and the remedy" "grep -q '24x24 .*but the model takes .*drop size=' '$dir/err'"
# A file left out is warned about (once, the path once); with none left, exit 1.
mkdir -p "$dir/few/images"
cp "$dir/data/images/SYN-00001.png" "$dir/data/images/SYN-00002.png" "$dir/few/images/"
head -c 100 "$dir/data/images/SYN-00003.png" >"$dir/few/images/SYN-00003.png"
$TG embed "$dir/ref/last.tgc" --data "folders:$dir/few" --out "$dir/few.csv" 2>"$dir/few.err"
check "embed with a truncated image exits 0" "[ $? -eq 0 ]"
check "embed embeds the two good images" "[ \$(wc -l <'$dir/few.csv') -eq 3 ]"
check "embed warns once about the truncated image, naming it once" \
    "[ \$(grep -c 'warning: skipped .*SYN-00003.png' '$dir/few.err') -eq 1 ] && [ \$(grep -o 'SYN-00003' '$dir/few.err' | wc -l) -eq 1 ]"
rm "$dir/few/images/SYN-00001.png" "$dir/few/images/SYN-00002.png"
$TG embed "$dir/ref/last.tgc" --data "folders:$dir/few" --out "$dir/none.csv" 2>"$dir/err"
check "embed with no image left exits 1" "[ $? -eq 1 ] && grep -q 'no image could be loaded' '$dir/err'"

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
$TG predict "$dir/ref/best.tgc" "$dir/data/images/$img" --reference "synth:$dir/data" \
    --knn-rule vote >"$dir/pred-vote.txt"
check "predict --knn-rule vote scores by the share of neighbours" \
    "grep -Eq 'score=(0\\.[02468]00|1\\.000)\\s' '$dir/pred-vote.txt'"

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
# Every input dimension within its limit, but a batch of such images over the 2^40
# elements a tensor may hold: named as too large, with the limit, not as a bad shape.
printf 'input 8192 8192 1024\nflatten\nfc: dense units=4\nsiamese normalize=true\n' >"$dir/wide.tg"
one_line_error "an input too large for a batch" 1 $TG summary "$dir/wide.tg"
check "the input too large for a batch names the limit and the batch that fits" \
    "grep -q 'wide.tg:1:1: the input is too large: a batch of 32 images of 8192x8192x1024 is 2199023255552 elements, over the limit of 2^40 = 1099511627776 elements per tensor (at most 16' '$dir/err'"
# A triplet model's batch is classes x per_class: summary builds at it, as train does, and
# refuses batch_all over a batch of 1024 x 1024 images as train does; it reports that batch.
sed '/^train /d' "$dir/tiny.tg" >"$dir/trip.tg"
echo 'triplet mining=batch_all classes=1024 per_class=1024' >>"$dir/trip.tg"
one_line_error "summary of a batch_all triplet model over 128 images per batch" 1 \
    $TG summary "$dir/trip.tg"
check "summary refuses it as train does, naming classes x per_class" \
    "grep -q 'trip.tg:10:1: the triplet head (classes=1024 x per_class=1024 = 1048576 images per batch): .*use a batch of at most 128' '$dir/err'"
sed -i 's/^triplet .*/triplet mining=batch_all classes=4 per_class=3/' "$dir/trip.tg"
$TG summary "$dir/trip.tg" >"$dir/summary.txt"
check "summary of a triplet model is at classes x per_class images" \
    "[ $? -eq 0 ] && grep -q 'activation memory at batch 12:' '$dir/summary.txt'"
one_line_error "--max-memory applies to data loading" 1 $TG --max-memory 1M train "$dir/tiny.tg" \
    --data "synth:$dir/data" --out "$dir/small" --progress quiet
check "--max-memory 1M is the budget" "grep -q 'over the memory budget of 1.0 MiB' '$dir/err'"
one_line_error "bad --max-memory" 2 $TG summary "$dir/tiny.tg" --max-memory=lots
$TG gradcheck dense --inputs 4x5 --attrs "units=3 act=tanh" >/dev/null
check "gradcheck of one op passes" "[ $? -eq 0 ]"
$TG ops --markdown >"$dir/ops.md"
check "ops --markdown writes the op reference" "grep -q '^## conv2d' '$dir/ops.md'"

# A split the user gives (split=COL): rows say train, val or test; train and eval honour it.
awk -F, '{ sub(/\r$/, "") } NR == 1 { print $0 ",part"; next }
         { n++; print $0 "," (n % 6 == 0 ? "test" : n % 6 == 1 ? "val" : "train") }' \
    "$dir/data/metadata.csv" >"$dir/data/split.csv"
spec_split="csv:$dir/data/split.csv,images=$dir/data/images,image=patientid,label=finding,positive=COVID-19,negative=*,split=part"
$TG train "$dir/tiny.tg" --data "$spec_split" --out "$dir/split" --epochs 1 --threads 1 \
    --progress lines >"$dir/split.txt" 2>&1
check "train with split=COL" "[ $? -eq 0 ] && grep -q 'split given by the spec: 32 training, 8 validation, 8 test' '$dir/split.txt'"
$TG eval "$dir/split/best.tgc" >"$dir/split-eval.txt"
check "eval scores the spec's test rows" "grep -q 'k-NN (k=5, class-mean, 32 references): 8 test images' '$dir/split-eval.txt'"
# The images k-NN got wrong: as many as the accuracy says, each with its classes, in the report too.
acc=$(sed -n 's/.*test images  accuracy \([0-9.]*\).*/\1/p' "$dir/split-eval.txt")
wrong=$(sed -n 's/^k-NN misclassified \([0-9]*\) of 8 test images.*/\1/p' "$dir/split-eval.txt")
listed=$(grep -c '^  .*, called ' "$dir/split-eval.txt")
check "eval lists the images k-NN got wrong" \
    "[ -n '$wrong' ] && [ '$listed' -eq '$wrong' ] && awk -v a='$acc' -v w='$wrong' 'BEGIN { exit !(w == int((1 - a) * 8 + 0.5)) }'"
check "the eval report lists them" "grep -q 'Misclassified test images' '$dir/split/eval.html' && grep -q 'k-NN misclassified $wrong of 8' '$dir/split/eval.html'"
# The k-NN rule: both rules score the same test images; a rule that is neither is refused.
$TG eval "$dir/split/best.tgc" --knn-rule vote --report "$dir/vote.html" >"$dir/split-vote.txt"
check "eval --knn-rule vote" "grep -q 'k-NN (k=5, vote, 32 references): 8 test images' '$dir/split-vote.txt'"
check "the report names the k-NN rule" "grep -q 'majority class of the k nearest' '$dir/vote.html'"
one_line_error "an unknown k-NN rule" 2 $TG eval "$dir/split/best.tgc" --knn-rule majority
check "the k-NN rule error names both choices" "grep -q 'choose class-mean or vote' '$dir/err'"
one_line_error "a report in a missing folder" 1 $TG eval "$dir/split/best.tgc" --threads 1 \
    --report "$dir/no/such/r.html"
check "the report error names the file and the reason" \
    "grep -q 'cannot write report .*no/such/r.html: No such file or directory' '$dir/err'"
# The same rows scored as a separate test set against the training rows.
awk -F, 'NR == 1 || $NF == "test"' "$dir/data/split.csv" >"$dir/data/test-only.csv"
awk -F, 'NR == 1 || $NF == "train"' "$dir/data/split.csv" >"$dir/data/train-only.csv"
$TG eval "$dir/split/best.tgc" \
    --test "csv:$dir/data/test-only.csv,images=$dir/data/images,image=patientid,label=finding,positive=COVID-19,negative=*" \
    --reference "csv:$dir/data/train-only.csv,images=$dir/data/images,image=patientid,label=finding,positive=COVID-19,negative=*" \
    >"$dir/heldout.txt"
check "eval --test --reference scores a held-out set" "grep -q '32 references): 8 test images' '$dir/heldout.txt'"
check "the held-out k-NN scores match the split's" \
    "[ \"\$(grep k-NN '$dir/heldout.txt')\" = \"\$(grep k-NN '$dir/split-eval.txt')\" ]"
awk -F, 'NR == 1 || /COVID-19/' "$dir/data/test-only.csv" >"$dir/data/test-positive.csv"
one_line_error "a one-class test set" 1 $TG eval "$dir/split/best.tgc" \
    --test "csv:$dir/data/test-positive.csv,images=$dir/data/images,image=patientid,label=finding,positive=COVID-19,negative=*" \
    --reference "csv:$dir/data/train-only.csv,images=$dir/data/images,image=patientid,label=finding,positive=COVID-19,negative=*"
check "a one-class test set is told it needs both classes" "grep -q 'test set needs images of both classes' '$dir/err'"
# Patients in two splits: refused, naming one.
$TG synth --out "$dir/pp" --positive 12 --negative 12 --size 40 --per-patient 3 --seed 4 >/dev/null
awk -F, '{ sub(/\r$/, "") } NR == 1 { print $0 ",part"; next }
         { n++; print $0 "," (n % 3 == 0 ? "test" : n % 3 == 1 ? "val" : "train") }' \
    "$dir/pp/metadata.csv" >"$dir/pp/leaky.csv"
one_line_error "a split column that leaks patients" 1 $TG train "$dir/tiny.tg" --out "$dir/leak" --progress quiet \
    --data "csv:$dir/pp/leaky.csv,images=$dir/pp/images,image=patientid,label=finding,positive=COVID-19,negative=*,group=patient,split=part"
check "the leak names a patient and two splits" "grep -q 'in two splits' '$dir/err'"
check "a failed train leaves no run directory" "[ ! -e '$dir/leak' ]"
one_line_error "a bad split value" 1 $TG train "$dir/tiny.tg" --out "$dir/bad" --progress quiet \
    --data "csv:$dir/data/metadata.csv,images=$dir/data/images,image=patientid,label=finding,positive=COVID-19,negative=*,split=sex"
check "a bad split value names file:line" "grep -q 'metadata.csv:2:.*expected train, val or test' '$dir/err'"

# augment= on the model's train line, and --no-augment over it.
sed 's/^train .*/& augment=true/' "$dir/tiny.tg" >"$dir/tiny-aug.tg"
$TG train "$dir/tiny-aug.tg" --data "synth:$dir/data" --out "$dir/aug" --epochs 1 --threads 1 \
    --progress lines >"$dir/aug.txt" 2>&1
check "train augment=true augments" "grep -q 'batch [0-9]*, augmented' '$dir/aug.txt'"
$TG train "$dir/tiny-aug.tg" --data "synth:$dir/data" --out "$dir/noaug" --epochs 1 --threads 1 \
    --no-augment --progress lines >"$dir/noaug.txt" 2>&1
check "--no-augment overrides the model's augment=true" \
    "grep -q 'training images' '$dir/noaug.txt' && ! grep -q 'augmented' '$dir/noaug.txt'"

# --diagnostics: per-layer gradient norms and steps, margin terms, distance histograms.
$TG train "$dir/tiny.tg" --data "synth:$dir/data" --out "$dir/diag" --epochs 2 --diagnostics \
    --threads 1 --progress quiet
check "diagnostics.csv has every metric for both epochs" \
    "for m in grad_norm update_ratio weight_norm raw_embedding_norm active_margin_share mean_distance_similar mean_distance_dissimilar hist_similar hist_dissimilar; do grep -q \"^2,\$m,\" '$dir/diag/diagnostics.csv' || exit 1; done"
check "diagnostics: a gradient norm per layer with parameters (c1 s1 bn fc)" \
    "[ \$(grep -c '^1,grad_norm,' '$dir/diag/diagnostics.csv') -eq 4 ]"
check "diagnostics: the histograms count every validation pair" \
    "[ \$(awk -F, '\$1 == 1 && \$2 ~ /^hist_/ { n += \$4 } END { print n }' '$dir/diag/diagnostics.csv') -eq 64 ]"

# A validation part with one image per class cannot give similar pairs: the error says
# which split and what to change.
awk -F, '{ sub(/\r$/, "") } NR == 1 { print $0 ",part"; next }
         { n++; print $0 "," (n == 1 || n == 48 ? "val" : n % 6 == 0 ? "test" : "train") }' \
    "$dir/data/metadata.csv" >"$dir/data/thin.csv"
one_line_error "a validation part too thin for similar pairs" 1 $TG train "$dir/tiny.tg" \
    --out "$dir/thin" --progress quiet \
    --data "csv:$dir/data/thin.csv,images=$dir/data/images,image=patientid,label=finding,positive=COVID-19,negative=*,split=part"
check "the thin split is named with what to change" \
    "grep -q 'validation split: similar pairs need a class with two images.*raise --val' '$dir/err'"

# Validation and test fractions that leave nothing to train on are a bad command line,
# named as given (a default said to be one), nothing else.
one_line_error "--val 0.5 --test 0.5" 2 $TG train "$dir/tiny.tg" --data "synth:$dir/data" \
    --out "$dir/fracs" --val 0.5 --test 0.5
check "--val 0.5 --test 0.5 names only val + test" \
    "grep -q -- '--val 0.5 and --test 0.5 leave no image to train on: val + test must be < 1' '$dir/err' && ! grep -q similar '$dir/err'"
one_line_error "--val 0.9" 2 $TG train "$dir/tiny.tg" --data "synth:$dir/data" --out "$dir/fracs" \
    --val 0.9
check "--val 0.9 names --test's default" "grep -q -- '--test 0.15 (the default) leave' '$dir/err'"

# --val 0 trains on every non-test image; --pairs rounds up to whole batches and says so.
$TG train "$dir/tiny.tg" --data "synth:$dir/data" --out "$dir/val0" --val 0 --epochs 1 --pairs 30 \
    --threads 1 --progress lines >"$dir/val0.txt" 2>&1
check "--val 0 trains" "[ $? -eq 0 ] && grep -q '40 training, 0 validation (validation on the training images)' '$dir/val0.txt'"
check "--pairs 30 --batch 8 says it trains 32" "grep -q 'rounded up to 32' '$dir/val0.txt' && grep -q '32 pairs per epoch' '$dir/val0.txt'"

# Early stopping from the command line, announced; resuming after it continues. A run that
# cannot move (learning rate 1e-30, no batch norm) has the same validation loss every epoch.
cat >"$dir/still.tg" <<'MODEL'
input 32 32 1
c1: conv2d filters=4 kernel=3 act=relu
p2: global_avgpool
fc: dense units=8 act=relu
siamese distance=l2 loss=contrastive margin=1 normalize=false
train optimizer=sgd lr=1e-30 batch=8 epochs=6 seed=5
MODEL
$TG train "$dir/still.tg" --data "synth:$dir/data" --out "$dir/es" --early-stop 1 --threads 1 \
    --progress lines >"$dir/es.txt" 2>&1
check "an early stop is announced" "grep -q 'early stop after epoch 2: no better validation loss since epoch 1' '$dir/es.txt'"
$TG train --resume --out "$dir/es" --epochs 5 --early-stop 1 --threads 1 --progress lines >"$dir/es2.txt" 2>&1
check "resume after an early stop restarts the patience" \
    "grep -q 'patience counter restarted' '$dir/es2.txt' && [ \$(wc -l <'$dir/es/metrics.csv') -eq 4 ]"
$TG train --resume --out "$dir/es" --epochs 5 --early-stop 0 --threads 1 --progress quiet
check "resume with --early-stop 0 trains up to --epochs" "[ \$(wc -l <'$dir/es/metrics.csv') -eq 6 ]"
$TG train "$dir/tiny.tg" --data "synth:$dir/data" --out "$dir/sched" --epochs 3 \
    --schedule "cosine t_max=4" --threads 1 --progress quiet
check "--schedule overrides the train line's (constant) rate" \
    "[ \$(cut -d, -f7 '$dir/sched/metrics.csv' | sort -u | wc -l) -eq 4 ]"
one_line_error "--schedule with --resume" 2 $TG train --resume --out "$dir/sched" --schedule constant
# --schedule reads as the train line's schedule (the same checks and messages); a bad
# one is a bad command line, refused before anything runs.
for s in bogus 'cosine t_max=abc' 'cosine t_max=5 t_max=6' cosine 'cosine t_max=5 min_lr=1' step; do
    one_line_error "--schedule '$s'" 2 $TG train "$dir/tiny.tg" --data "synth:$dir/data" \
        --out "$dir/sbad" --schedule "$s"
done
check "--schedule step names the missing step_size" \
    "grep -q -- '--schedule:1:1: the step schedule needs step_size=N' '$dir/err'"
one_line_error "cv --schedule cosine" 2 $TG cv "$dir/tiny.tg" --data "synth:$dir/data" \
    --out "$dir/cvbad" --schedule cosine
check "cv --schedule cosine names the missing t_max" \
    "grep -q 'the cosine schedule needs t_max=N' '$dir/err'"
check "a refused --schedule leaves no run directory" "[ ! -e '$dir/sbad' ] && [ ! -e '$dir/cvbad' ]"
sed 's/^train .*/train optimizer=adam lr=3e-3 batch=8 epochs=3 schedule=step/' "$dir/tiny.tg" >"$dir/step.tg"
one_line_error "a step schedule without step_size" 1 $TG summary "$dir/step.tg"
check "the model file's step schedule names the missing step_size at file:line:col" \
    "grep -q 'step.tg:10:47: train: the step schedule needs step_size=N' '$dir/err'"

# A collapsing embedding stops the run with one line, keeping the best checkpoint.
cat >"$dir/collapse.tg" <<'MODEL'
input 32 32 1
c1: conv2d filters=4 kernel=3 act=relu
p2: global_avgpool
fc: dense units=8 act=relu
siamese distance=l2 loss=contrastive margin=1 normalize=false
train optimizer=sgd lr=50 batch=8 epochs=6 seed=5
MODEL
one_line_error "a collapsed embedding stops training" 1 $TG train "$dir/collapse.tg" \
    --data "synth:$dir/data" --out "$dir/col" --threads 1 --progress quiet
check "the collapse stop says so and keeps best.tgc" "grep -q 'collapsed for 3 epochs' '$dir/err' && [ -s '$dir/col/best.tgc' ]"

# Cross-validation end to end: 3 patient-grouped folds, per-fold and pooled metrics,
# one report; a second run resumes (every fold already trained).
$TG cv "$dir/tiny.tg" --data "synth:$dir/pp" --folds 3 --epochs 1 --out "$dir/cv" --threads 1 \
    --progress lines >"$dir/cv.txt" 2>&1
check "cv exits 0" "[ $? -eq 0 ]"
check "cv.csv has 3 folds, mean, sd and pooled rows" \
    "[ \$(grep -c '^[123],' '$dir/cv/cv.csv') -eq 3 ] && grep -q '^pooled,' '$dir/cv/cv.csv'"
check "every image is held out once" "[ \$(awk -F, '/^[0-9]/ { n += \$3 } END { print n }' '$dir/cv/cv.csv') -eq 24 ]"
check "folds keep patients together" "[ \$(grep -c 'none in two splits' '$dir/cv.txt') -eq 3 ]"
check "cv report has the pooled and per-fold ROC curves" "[ \$(grep -c '<svg' '$dir/cv/cv.html') -ge 4 ]"
# Folds from a column (here by patient number), as a published protocol would fix them.
awk -F, '{ sub(/\r$/, "") } NR == 1 { print $0 ",fold"; next }
         { p = $2; sub(/[^0-9]*/, "", p); print $0 "," (p % 3) + 1 }' "$dir/pp/metadata.csv" >"$dir/pp/folds.csv"
spec_folds="csv:$dir/pp/folds.csv,images=$dir/pp/images,image=patientid,label=finding,positive=COVID-19,negative=*,group=patient,fold=fold"
$TG cv "$dir/tiny.tg" --data "$spec_folds" --folds 3 --epochs 1 --out "$dir/cvcol" --threads 1 \
    --progress quiet >/dev/null 2>&1
check "cv with a fold column holds out exactly its folds" \
    "[ \"\$(awk -F, '/^[0-9]/ { printf \"%s \", \$3 }' '$dir/cvcol/cv.csv')\" = \"\$(awk -F, 'NR > 1 { n[\$NF]++ } END { for (f = 1; f <= 3; f++) printf \"%d \", n[f] }' '$dir/pp/folds.csv')\" ]"
one_line_error "cv with a missing model file" 1 $TG cv "$dir/missing.tg" --data "synth:$dir/pp" \
    --out "$dir/cvmissing"
check "cv names the missing model file" "grep -q 'missing.tg: cannot open' '$dir/err'"
check "cv creates no output folder for it" "[ ! -e '$dir/cvmissing' ]"
one_line_error "cv with cv= in the data spec" 1 $TG cv "$dir/tiny.tg" --data "synth:$dir/pp,cv=1/3" \
    --out "$dir/cvspec"
check "cv points at the user's cv= key" "grep -q 'spec:1:[0-9]*: cv=1/3: cross-validation sets the folds' '$dir/err' && [ ! -e '$dir/cvspec' ]"
# The held-out fold is cv's test part: a large --val is not refused over the unused
# default test fraction ("validation 0.86 and test 0.15 leave no image to train on").
$TG cv "$dir/tiny.tg" --data "synth:$dir/data" --folds 3 --val 0.86 --epochs 1 --out "$dir/cvval" \
    --threads 1 --progress quiet >/dev/null 2>"$dir/err"
check "cv --val 0.86 runs (the test fraction is unused)" "[ $? -eq 0 ] && [ -f '$dir/cvval/cv.csv' ]"
# cv takes train's limits (its usage says "as for train").
one_line_error "cv --knn over train's 1000" 2 $TG cv "$dir/tiny.tg" --data "synth:$dir/pp" --knn 1001
one_line_error "cv --epochs over train's 1000000" 2 $TG cv "$dir/tiny.tg" --data "synth:$dir/pp" \
    --epochs 1000001
one_line_error "--folds that do not match the fold column" 1 $TG cv "$dir/tiny.tg" --data "$spec_folds" \
    --folds 4 --epochs 1 --out "$dir/cvbad" --threads 1 --progress quiet
cp "$dir/cv/cv.csv" "$dir/cv1.csv"
$TG cv "$dir/tiny.tg" --data "synth:$dir/pp" --folds 3 --epochs 1 --out "$dir/cv" --threads 1 \
    --progress lines >"$dir/cv2.txt" 2>&1
check "cv resumes: trained folds are not trained again" "[ \$(grep -c 'trained before' '$dir/cv2.txt') -eq 3 ]"
check "cv resumed gives the same metrics" "cmp -s '$dir/cv1.csv' '$dir/cv/cv.csv'"

# Bad flags and bad inputs: one line on stderr, exit 2 for usage, 1 for failures.
one_line_error "unknown command" 2 $TG trian
one_line_error "unknown train flag" 2 $TG train "$dir/tiny.tg" --data "synth:$dir/data" --epohcs 3
one_line_error "bad epochs value" 2 $TG train "$dir/tiny.tg" --data "synth:$dir/data" --epochs x
# The refused argument is named as written: a short option inside a cluster, a long option
# missing its value at the end, a count option with its own name.
one_line_error "short options in a cluster" 2 $TG train "$dir/tiny.tg" --augment -ab
check "the cluster's first unknown option is named" "grep -q \"option '-a'\" '$dir/err'"
one_line_error "a long option missing its value" 2 $TG train "$dir/tiny.tg" --out
check "the option missing its value is named" "grep -q \"option '--out'\" '$dir/err'"
one_line_error "a bad synth count" 2 $TG synth --out "$dir/nosynth" --positive 7x
check "synth names the count option" "grep -q \"^twingrad synth: --positive: expected 0..1000000, got '7x'\" '$dir/err'"
one_line_error "missing --data" 2 $TG train "$dir/tiny.tg"
one_line_error "predict without --reference" 2 $TG predict "$dir/ref/best.tgc" "$dir/data/images/SYN-00001.png"
one_line_error "export without --onnx" 2 $TG export "$dir/ref/best.tgc"
one_line_error "embed without a checkpoint" 2 $TG embed --data "synth:$dir/data"
one_line_error "eval with two checkpoints" 2 $TG eval "$dir/ref/best.tgc" "$dir/ref/last.tgc"
one_line_error "gradcheck without an op" 2 $TG gradcheck
one_line_error "missing model file" 1 $TG train "$dir/none.tg" --data "synth:$dir/data" --out "$dir/x"
printf 'input 32 32 1\nc1: conv2d filters=4 kernal=3\n' >"$dir/typo.tg"
one_line_error "model typo" 1 $TG summary "$dir/typo.tg"
check "model typo names file:line:col" "grep -q 'typo.tg:2:' '$dir/err'"
one_line_error "bad data spec" 1 $TG train "$dir/tiny.tg" --data "nosuch:$dir/data" --out "$dir/y"
check "failed trains leave no run directory" "[ ! -e '$dir/x' ] && [ ! -e '$dir/y' ]"
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
mkdir -p "$dir/fsize" # a failed first run leaves no run directory; a killed one may leave files
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

# OpenMP's wait policy: a short spin, then sleep, unless the user chose one (libgomp
# shows what it read).
env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose $TG --version >"$dir/version" 2>"$dir/err"
check "idle OpenMP threads spin briefly, then sleep, by default" "grep GOMP_SPINCOUNT '$dir/err' | tail -n 1 | grep -q \"'30000'\" && grep -q 'OpenMP wait: spin 30000 times, then sleep' '$dir/version'"
env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=passive OMP_DISPLAY_ENV=verbose $TG --version >"$dir/version" 2>"$dir/err"
check "a user's passive policy is kept" "grep GOMP_SPINCOUNT '$dir/err' | tail -n 1 | grep -q \"'0'\" && grep -q 'OpenMP wait: passive' '$dir/version'"
env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose $TG --version >"$dir/version" 2>"$dir/err"
check "a user's OMP_WAIT_POLICY is kept" "! grep -q \"GOMP_SPINCOUNT = '0'\" '$dir/err' && grep -q 'OpenMP wait: active' '$dir/version'"

finish
