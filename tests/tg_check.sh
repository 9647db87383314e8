# What the shell tests share (sourced, not run): pass/fail counters, a check that
# evaluates a condition, the one-line-error contract, and the closing line that
# automake's log and CI read. Set $dir (a scratch folder) before one_line_error.
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
# check NAME CONDITION: evaluate CONDITION; on failure, also run on_fail if a test defines it.
check() {
    if eval "$2"; then ok; else
        bad "$1"
        if command -v on_fail >/dev/null 2>&1; then on_fail; fi
    fi
}

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

# The closing line ("[label: ]N passed, N failed, 0 skipped") and the exit status.
finish() {
    echo "${1:+$1: }$passed passed, $failed failed, 0 skipped"
    [ "$failed" -eq 0 ]
}
