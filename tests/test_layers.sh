#!/bin/sh
# The boundaries the build enforces. A folder includes headers only from the
# folders below it (autograd < ops, models, checkpoint, datasets, dist < eval < train <
# cli), and no two source files of the library call each other in a cycle (read
# from the symbols of the compiled objects: file A uses a function file B defines).
set -eu
: "${TG_SRCDIR:?}" "${TG_BUILDDIR:?}"
status=0

allowed() { # folder -> the folders its files may include from
    case $1 in
    autograd) echo "autograd" ;;
    ops | models | datasets) echo "autograd $1" ;;
    checkpoint) echo "autograd checkpoint" ;;
    dist) echo "autograd dist" ;;
    eval) echo "autograd models checkpoint datasets eval" ;;
    export) echo "autograd ops models export" ;;
    train) echo "autograd models checkpoint datasets dist eval train" ;;
    esac
}
for dir in autograd ops models checkpoint datasets dist eval export train; do
    ok=$(allowed $dir)
    for f in "$TG_SRCDIR/$dir"/*.[ch]; do
        for used in $(sed -n 's|^#include "\([a-z]*\)/.*|\1|p' "$f" | sort -u); do
            case " $ok " in
            *" $used "*) ;;
            *) echo "FAIL: $dir/$(basename "$f") includes from $used/, above or beside $dir/"
               status=1 ;;
            esac
        done
    done
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
find "$TG_BUILDDIR" -name 'libtwingrad_la-*.o' | sort >"$tmp/objects"
if [ ! -s "$tmp/objects" ]; then
    echo "FAIL: no library objects under $TG_BUILDDIR"; exit 1
fi
while read -r o; do
    src=$(basename "$o" .o | sed 's/^libtwingrad_la-//')
    nm "$o" | awk -v f="$src" '$2 == "T" { print "D", f, $3 } $1 == "U" { print "U", f, $2 }'
done <"$tmp/objects" >"$tmp/symbols"
awk '$1 == "D" { def[$3] = $2 } $1 == "U" { n++; user[n] = $2; sym[n] = $3 }
     END { for (i = 1; i <= n; i++) if ((sym[i] in def) && def[sym[i]] != user[i])
               print user[i], def[sym[i]] }' "$tmp/symbols" | sort -u >"$tmp/edges"
if ! tsort "$tmp/edges" >/dev/null 2>"$tmp/loops"; then
    echo "FAIL: library files call each other in a cycle:"; sed 's/^/  /' "$tmp/loops"
    status=1
fi
[ "$(wc -l <"$tmp/edges")" -gt 50 ] || { echo "FAIL: too few calls found"; status=1; }
[ $status -eq 0 ] && echo "layers respected; $(wc -l <"$tmp/edges") calls between library files, no cycle"
exit $status
