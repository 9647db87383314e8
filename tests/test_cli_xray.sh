#!/bin/sh
# Real chest X-rays (JPEG with EXIF, PNG, up to 3000x2500) through the twingrad command: the
# Figure 1 sample in this project's ../shared (or $TG_SHARED_DIR). When it is absent the test
# exits 77, which automake reports as SKIP, so a run without the data is visible as such.
set -u
TG=${TG:-./twingrad}
SRC=${TG_SRCDIR:-.}
fig1="${TG_SHARED_DIR:-$SRC/../shared}/data/figure1-covid-chestxray"
if [ ! -f "$fig1/metadata.csv" ]; then
    echo "SKIP: $fig1 is absent"
    exit 77
fi
dir=$(mktemp -d /tmp/tg_xray.XXXXXX)
trap 'rm -rf "$dir"' EXIT
. "$SRC/tests/tg_check.sh"

cat >"$dir/tiny.tg" <<'MODEL'
input 32 32 1
c1: conv2d filters=4 kernel=3 act=relu
p1: maxpool2d size=2
s1: sepconv2d filters=8 kernel=3 act=relu
bn: batchnorm
p2: global_avgpool
fc: dense units=8
siamese distance=l2 loss=contrastive margin=1 normalize=true
train optimizer=adam lr=3e-3 batch=8 epochs=1 seed=5
MODEL
$TG train "$dir/tiny.tg" --out "$dir/fig1" --epochs 1 --progress lines \
    --data "csv:$fig1/metadata.csv,image=patientid,label=finding,positive=COVID-19,negative=*" \
    >"$dir/fig1.txt" 2>&1
check "train on the Figure 1 X-rays" "[ $? -eq 0 ] && [ -s '$dir/fig1/best.tgc' ]"
check "the load summary counts 40 images, 15 left out for an empty finding" \
    "grep -q 'loaded 40 images' '$dir/fig1.txt' && grep -q '15 with an empty label' '$dir/fig1.txt'"

finish
