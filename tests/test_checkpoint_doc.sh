#!/bin/sh
# The reader of docs/checkpoint-format.md's Appendix A, written from the document alone, must
# agree with twingrad's loader on every file: a trained run's checkpoints, the stored fuzz
# reproducers, and a few thousand damaged variants (bytes flipped, records cut, sizes and
# counts changed, sections dropped, repeated or reordered, flags changed, zlib streams
# extended), most of them with every checksum recomputed so the damage reaches the parsers.
# Needs python3; exits 77 (SKIP) without it.
set -u
TG=${TG:-./twingrad}
SRC=${TG_SRCDIR:-.}
VERDICT=${TG_BUILDDIR:-.}/tests/ck_verdict
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
dir=$(mktemp -d /tmp/tg_ckdoc.XXXXXX)
trap 'rm -rf "$dir"' EXIT

# The reader, extracted from the document.
sed -n '/^## Appendix A/,$p' "$SRC/docs/checkpoint-format.md" |
    sed -n '/^```python$/,/^```$/p' | sed '1d;$d' >"$dir/ckdoc.py"
[ -s "$dir/ckdoc.py" ] || { echo "FAIL: no Python reader in Appendix A"; exit 1; }

# Real checkpoints: a short run of a small model (Adam, plateau schedule, batch norm), whose
# parameters and optimizer state (fc: 32 x 48 weights) are large enough to be shuffled.
cat >"$dir/m.tg" <<'MODEL'
input 16 16 1
c1: conv2d filters=2 kernel=3 act=relu
bn: batchnorm
p: maxpool2d size=4
flat: flatten
fc: dense units=48
siamese distance=l2 loss=contrastive margin=1 normalize=true
train optimizer=adam lr=1e-3 batch=4 epochs=1 seed=3 schedule=plateau
MODEL
$TG synth --out "$dir/data" --positive 12 --negative 12 --size 20 --seed 1 >/dev/null &&
    $TG train "$dir/m.tg" --data "synth:$dir/data" --out "$dir/run" --pairs 16 --threads 1 \
        --progress quiet || { echo "FAIL: training the base run"; exit 1; }
mkdir "$dir/files"
cp "$dir/run/last.tgc" "$dir/files/last.tgc"
cp "$SRC"/tests/fuzz/regress/checkpoint/* "$dir/files/" 2>/dev/null

python3 - "$dir" <<'PY' || exit 1
import os, random, struct, sys, zlib
d = sys.argv[1]
random.seed(10)
base = open(os.path.join(d, "files", "last.tgc"), "rb").read()

def shuffle(raw, back=False):  # SHUFFLE's byte planes (bit 2), and back
    m, out = len(raw) // 4, bytearray(raw)
    for j in range(4):
        if back: out[j:4 * m:4] = raw[j * m:(j + 1) * m]
        else: out[j * m:(j + 1) * m] = raw[j:4 * m:4]
    return bytes(out)

def sections(data):
    count = struct.unpack_from("<I", data, 12)[0]
    pos, out = 28, []
    for _ in range(count):
        tag, flags, raw_len, stored_len = struct.unpack_from("<4sIQQ", data, pos)
        body = data[pos + 32:pos + 32 + stored_len]
        raw = zlib.decompress(body) if flags & 1 else body
        out.append([tag, flags, shuffle(raw, back=True) if flags & 4 else raw])
        pos += 32 + stored_len
    return out

def build(secs, raw_delta=None, tail=b"", major=1):
    body = b""
    for i, (tag, flags, raw) in enumerate(secs):
        stored = shuffle(raw) if flags & 4 else raw
        stored = zlib.compress(stored, 6) if flags & 1 else stored
        if raw_delta and raw_delta[0] == i: stored += raw_delta[1]
        raw_len = len(raw) + (raw_delta[2] if raw_delta and raw_delta[0] == i else 0)
        h = tag + struct.pack("<IQQI", flags, raw_len, len(stored), zlib.crc32(raw))
        body += h + struct.pack("<I", zlib.crc32(h)) + stored
    head = b"TGCK" + struct.pack("<HHII", major, 0, 0, len(secs))
    head += struct.pack("<Q", 28 + len(body) + 8 + len(tail))
    head += struct.pack("<I", zlib.crc32(head))
    f = head + body + tail
    return f + b"TGND" + struct.pack("<I", zlib.crc32(f))

def mutate_bytes(b):
    b = bytearray(b)
    op = random.randrange(6)
    i = random.randrange(len(b)) if b else 0
    if op == 0 and b: b[i] ^= 1 << random.randrange(8)
    elif op == 1 and b: b[i] = random.choice((0, 1, 2, 4, 0x7f, 0x80, 0xff))
    elif op == 2: b[i:i] = bytes([random.randrange(256)])
    elif op == 3 and b: del b[i:i + random.randrange(1, 9)]
    elif op == 4: b = b[:i]
    elif op == 5 and len(b) >= 4:  # a count or length field made big
        b[i:i + 4] = struct.pack("<I", random.choice((0, 1, 3, 255, 65535, 2**31, 2**32 - 1)))
    return bytes(b)

secs = sections(base)
if not any(f & 4 for _, f, _ in secs): sys.exit("FAIL: the base run's checkpoint has no shuffled section")
n = 0
def emit(data):
    global n
    with open(os.path.join(d, "files", "m%05d.tgc" % n), "wb") as f: f.write(data)
    n += 1

emit(build(secs))                                   # re-encoded: must still load
emit(build([[t, f & ~1, r] for t, f, r in secs]))   # stored instead of deflated
emit(build([[t, f & ~4, r] for t, f, r in secs]))   # not shuffled
emit(build([[t, f | 4, r] for t, f, r in secs]))    # every section shuffled
for _ in range(2500):
    s = [list(x) for x in secs]
    kind = random.randrange(10)
    k = random.randrange(len(s))
    if kind < 5:
        s[k][2] = mutate_bytes(s[k][2])
        if kind == 4: s[k][2] = mutate_bytes(s[k][2])
        emit(build(s))
    elif kind == 5: emit(build(s[:k] + s[k + 1:]))                       # section dropped
    elif kind == 6: emit(build(s + [s[k]]))                              # section repeated
    elif kind == 7:
        random.shuffle(s)
        s[k][1] ^= random.choice((1, 2, 4, 1 << 31))                     # order and flags
        emit(build(s))
    elif kind == 8:
        s[k][0] = random.choice((b"ZZZZ", b"XTRA", b"meta", b"T\x01NS"))  # unknown tags
        emit(build(s))
    else:
        s[k][1] |= 1                                                     # zlib tail or size
        emit(build(s, raw_delta=(k, random.choice((b"", b"x")), random.choice((0, 1, -1)))))
for _ in range(300):                                                     # raw damage
    emit(mutate_bytes(base))
PY

ls "$dir"/files/* >"$dir/list"
xargs "$VERDICT" <"$dir/list" >"$dir/c.txt"
python3 - "$dir" <<'PY' >"$dir/py.txt" || exit 1
import sys
sys.path.insert(0, sys.argv[1])
import ckdoc
for path in open(sys.argv[1] + "/list").read().split():
    try:
        ckdoc.read_checkpoint(path)
        print("OK")
    except ckdoc.Refused as e:
        print("TG_ERR_" + e.status)
PY
total=$(wc -l <"$dir/list")
ok=$(grep -c '^OK$' "$dir/c.txt")
paste -d' ' "$dir/list" "$dir/c.txt" "$dir/py.txt" | awk '$2 != $3' >"$dir/diff"
if [ -s "$dir/diff" ]; then
    echo "FAIL: the document's reader and twingrad disagree on $(wc -l <"$dir/diff") of $total files:"
    head -n 20 "$dir/diff"
    exit 1
fi
echo "the document's reader agrees with twingrad on all $total files ($ok accepted)"
[ "$ok" -ge 5 ] || { echo "FAIL: too few valid files were checked"; exit 1; }
