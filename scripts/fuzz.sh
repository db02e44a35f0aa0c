#!/usr/bin/env bash
# Runs every Go fuzz target of the workspace for a short time (default 10s
# each): `scripts/fuzz.sh 1m` for longer. A failure leaves its input under
# the package's testdata/fuzz/ to commit as a regression case.
set -euo pipefail
cd "$(dirname "$0")/.."
time="${1:-10s}"
for mod in libs services/* cmd/*; do
	[ -f "$mod/go.mod" ] || continue
	pkgs=$(cd "$mod" && { grep -rl --include='*_test.go' '^func Fuzz' . || true; } | xargs -r -n1 dirname | sort -u)
	for pkg in $pkgs; do
		for target in $(cd "$mod" && grep -h '^func Fuzz' "$pkg"/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do
			echo "== fuzz $mod/${pkg#./} $target ($time)"
			out=$(cd "$mod" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "$pkg" 2>&1) || {
				printf '%s\n' "$out" | tail -40 >&2
				exit 1
			}
		done
	done
done
