#!/bin/sh
# Plugins from the command: the example plugin (examples/.libs/triplet_ops.so) lists its
# ops, passes `gradcheck --all`, and trains models/siamese_cosine.tg, whose checkpoint
# then needs the plugin to be evaluated; a missing plugin, a shared object that is not a
# plugin and one whose op clashes with a built-in are clear errors.
set -u
TG=${TG:-./twingrad}
SRC=${TG_SRCDIR:-.}
B=${TG_BUILDDIR:-.}
PLUGIN="$B/examples/.libs/triplet_ops.so"
work=$(mktemp -d "${TMPDIR:-/tmp}/tg_plugin.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect_error() { # expect_error PATTERN COMMAND...: exit 1 and PATTERN on stderr
    pattern=$1
    shift
    "$@" >"$work/out" 2>"$work/err"
    code=$?
    [ $code -eq 1 ] || { cat "$work/err"; fail "'$*' exited $code, expected 1"; }
    grep -q -- "$pattern" "$work/err" || { cat "$work/err"; fail "'$*': no '$pattern' in the message"; }
}

[ -f "$PLUGIN" ] || fail "the example plugin was not built: $PLUGIN"

"$TG" --plugin "$PLUGIN" ops >"$work/ops" || fail "ops with the plugin"
grep -q "^cosine_distance .*\[plugin triplet_ops\]" "$work/ops" || fail "ops does not list cosine_distance"
grep -q "^triplet_margin .*\[plugin triplet_ops\]" "$work/ops" || fail "ops does not list triplet_margin"
"$TG" ops | grep -q cosine_distance && fail "cosine_distance listed without the plugin"

# --plugin after the command works too; every registered op, the plugin's included
"$TG" gradcheck --plugin "$PLUGIN" --all >"$work/gc" || { cat "$work/gc"; fail "gradcheck --all"; }
grep -q "^cosine_distance" "$work/gc" && grep -q "^triplet_margin" "$work/gc" ||
    fail "gradcheck --all skipped the plugin's ops"

"$TG" synth --out "$work/synth" --positive 12 --negative 12 --size 64 --seed 2 >/dev/null || fail synth
expect_error "needs plugin 'triplet_ops', which is not loaded" \
    "$TG" train "$SRC/models/siamese_cosine.tg" --data "synth:$work/synth" --out "$work/run"
"$TG" --plugin "$PLUGIN" train "$SRC/models/siamese_cosine.tg" --data "synth:$work/synth" \
    --out "$work/run" --epochs 1 --batch 4 --pairs 8 --progress quiet >"$work/train" 2>&1 ||
    { cat "$work/train"; fail "training with the plugin"; }
# the checkpoint's model text names the plugin
expect_error "best.tgc (its model text):6:8: the model needs plugin 'triplet_ops'" \
    "$TG" eval "$work/run/best.tgc"
"$TG" --plugin="$PLUGIN" eval "$work/run/best.tgc" --report "$work/eval.html" >/dev/null ||
    fail "eval with the plugin"
"$TG" --plugin "$PLUGIN" export "$work/run/best.tgc" --onnx "$work/t.onnx" >/dev/null ||
    fail "export of a model whose head uses a plugin op"

expect_error "cannot load it" "$TG" --plugin "$work/libmissing.so" ops
expect_error "no twingrad_plugin_init function" "$TG" --plugin "$B/tests/plugins/.libs/no_entry.so" ops
expect_error "'relu' is already registered, as a built-in op" \
    "$TG" --plugin "$B/tests/plugins/.libs/clash.so" ops
"$TG" --plugin 2>/dev/null
[ $? -eq 2 ] || fail "--plugin without a path: expected exit 2"
echo "PASS: plugins from the command"
