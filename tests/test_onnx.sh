#!/bin/sh
# ONNX export checked by a real runtime: for each model, a tiny training run (so batch
# norm has running statistics of its own), `twingrad export`, Debian's ONNX checker
# (python3-onnx, full check with shape inference), then ONNX Runtime (onnxruntime-node,
# installed by `npm ci --ignore-scripts` in tests/onnx) on the same prepared images as
# `twingrad embed`: the largest absolute difference of the embeddings must be <= 1e-4.
# Skips (exit 77) where node, the runtime or python3-onnx is missing.
set -u
TG=${TG:-./twingrad}
SRC=${TG_SRCDIR:-.}
ONNX_DIR="$SRC/tests/onnx"
PY=/usr/bin/python3

if ! command -v node >/dev/null 2>&1; then
    echo "SKIP: node is not installed"; exit 77
fi
if ! (cd "$ONNX_DIR" && node -e "require('onnxruntime-node')") >/dev/null 2>&1; then
    echo "SKIP: onnxruntime-node is not installed (cd tests/onnx && npm ci --ignore-scripts)"; exit 77
fi
if ! "$PY" -c "import onnx" >/dev/null 2>&1; then
    echo "SKIP: python3-onnx is not installed"; exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tg_onnx.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$TG" synth --out "$work/synth" --positive 24 --negative 16 --size 64 --seed 5 >/dev/null ||
    fail "synth"

# model file, its input C,H,W
for spec in "$SRC/models/siamese_xray.tg:1,150,150" "$SRC/models/siamese_small.tg:1,64,64" \
            "$SRC/models/fashion_mnist.tg:1,28,28" "$ONNX_DIR/all_ops.tg:1,21,21"; do
    model=${spec%:*}
    shape=${spec##*:}
    name=$(basename "$model" .tg)
    run="$work/$name"
    "$TG" train "$model" --data "synth:$work/synth" --out "$run" --epochs 1 --batch 4 --pairs 8 \
        --val 0.2 --test 0.2 --progress quiet >"$run.train.log" 2>&1 ||
        { cat "$run.train.log"; fail "$name: training"; }
    "$TG" export "$run/best.tgc" --onnx "$run.onnx" || fail "$name: export"
    "$TG" embed "$run/best.tgc" --data "synth:$work/synth" --out "$run.csv" \
        --tensors "$run.f32" || fail "$name: embed"
    "$PY" -c "import onnx, sys; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True)" \
        "$run.onnx" || fail "$name: the ONNX checker rejects the file"
    # batch 7 does not divide the 40 images: the last batch is smaller (dynamic batch)
    node "$ONNX_DIR/run_onnx.js" --model "$run.onnx" --input "$run.f32" --shape "$shape" \
        --batch 7 --compare "$run.csv" --tol 1e-4 || fail "$name: ONNX Runtime disagrees with twingrad embed"
done

# Errors: a missing checkpoint, an unwritable output; neither leaves a file behind.
if "$TG" export "$work/none.tgc" --onnx "$work/x.onnx" 2>"$work/err"; then fail "missing checkpoint accepted"; fi
grep -q "none.tgc" "$work/err" || fail "missing checkpoint: message does not name it"
if "$TG" export "$work/siamese_small/best.tgc" --onnx "$work/no/such/dir/x.onnx" 2>"$work/err"; then
    fail "unwritable path accepted"
fi
grep -q "cannot write the ONNX file" "$work/err" || fail "unwritable path: unclear message"
if "$TG" export "$work/siamese_small/best.tgc" 2>/dev/null; then fail "export without --onnx accepted"; fi
echo "PASS: ONNX export of 4 models matches ONNX Runtime"
