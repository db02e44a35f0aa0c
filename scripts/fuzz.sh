#!/usr/bin/env bash
# Runs every Go fuzz target of the workspace.
#
#   scripts/fuzz.sh          each target for its execution budget in
#                            scripts/fuzz-budgets.txt (what `make fuzz` and CI run)
#   scripts/fuzz.sh 500000x  that many executions of every target
#   scripts/fuzz.sh 2m       that long each, for a longer local run
#
# CI runs execution budgets (-fuzztime Nx), not durations: Go 1.26's fuzz
# coordinator can fail a target with a bare "context deadline exceeded" at
# the end of a duration on a loaded machine, with no failing input
# (golang/go#75804, fixed in Go 1.27); a budget never sets that deadline.
#
# A target fails the run when it writes a failing input (a new file under
# its package's testdata/fuzz/<Target>/: commit it as a regression case with
# the fix) or when its test fails any other way. The coordinator's deadline
# message alone, with no failing input, is reported and does not fail it.
set -euo pipefail

# Budget for a target missing from the budgets file.
default_budget=20000x
# The budget or duration given on the command line, for every target.
fuzz_override=

# fuzz_verdict decides a target's outcome from go test's exit code, the file
# holding its output and the failing inputs it wrote (newline-separated,
# empty for none). It prints the reason and returns 0 to pass, 1 to fail.
fuzz_verdict() {
	local rc=$1 out=$2 new=$3
	if [ -n "$new" ]; then
		echo "failing input written:"
		printf '  %s\n' $new
		return 1
	fi
	if [ "$rc" -eq 0 ]; then
		return 0
	fi
	if deadline_only "$out"; then
		echo "go test failed with only the fuzz coordinator's \"context deadline exceeded\" and wrote no failing input (golang/go#75804): not a defect"
		return 0
	fi
	echo "go test failed:"
	return 1
}

# deadline_only reports whether go test's output in file $1 fails on nothing
# but the coordinator's message: one "--- FAIL: Fuzz…" of the target itself
# (not of a seed input), followed only by the unprefixed line "context
# deadline exceeded" (a test's own t.Fatal(err) would carry file:line), no
# failing input, no panic, no race.
deadline_only() {
	awk '
		/^--- FAIL: Fuzz[A-Za-z0-9_]* \(/ { fails++; infail = 1; next }
		/^(---|    ---) FAIL: / { other++ }
		/Failing input written to|^panic: |DATA RACE/ { other++ }
		infail && /^FAIL$|^exit status |^FAIL\t|^ok / { infail = 0; next }
		infail && /^    context deadline exceeded$/ { deadline++; next }
		infail && NF > 0 { other++ }
		END { exit !(fails == 1 && deadline == 1 && other == 0) }
	' "$1"
}

# budget_of prints the budget of target in package dir pkgdir: the first
# argument of the script, else the budgets file's line "<pkgdir> <target> <N>x".
budget_of() {
	local pkgdir=$1 target=$2 b
	if [ -n "$fuzz_override" ]; then
		echo "$fuzz_override"
		return
	fi
	b=$(awk -v p="$pkgdir" -v t="$target" '!/^#/ && $1 == p && $2 == t { print $3; exit }' scripts/fuzz-budgets.txt)
	if [ -z "$b" ]; then
		echo "fuzz: no budget for $pkgdir $target in scripts/fuzz-budgets.txt; using $default_budget" >&2
		b=$default_budget
	fi
	echo "$b"
}

# fuzz_target runs one target of the package in directory pkgdir (relative
# to the current directory, inside a Go module) for budget and applies
# fuzz_verdict; it returns 0 to pass, 1 to fail.
fuzz_target() {
	local pkgdir=$1 target=$2 budget=$3 corpus before after new rc out start minimize=()
	corpus="$pkgdir/testdata/fuzz/$target"
	if [[ $budget == *x ]]; then
		# Go minimizes each new corpus entry for up to 60 s by default, which
		# alone can outlast a short budget; a crasher is still written.
		minimize=(-fuzzminimizetime 1000x)
	fi
	before=$(ls "$corpus" 2>/dev/null | sort || true)
	out=$(mktemp)
	start=$SECONDS
	rc=0
	(cd "$pkgdir" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" "${minimize[@]}" -timeout 30m .) >"$out" 2>&1 || rc=$?
	after=$(ls "$corpus" 2>/dev/null | sort || true)
	new=$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | sed "/^\$/d; s|^|$corpus/|")
	local verdict status=0
	verdict=$(fuzz_verdict "$rc" "$out" "$new") || status=$?
	echo "   $(grep -o 'execs: [0-9]*' "$out" | tail -1 || true) in $((SECONDS - start))s"
	if [ -n "$verdict" ]; then
		echo "   $verdict"
	fi
	if [ "$status" -ne 0 ]; then
		tail -40 "$out"
	fi
	rm -f "$out"
	return "$status"
}

main() {
	cd "$(dirname "$0")/.."
	case "${1:-}" in
	"") ;;
	*[0-9]x | *[0-9]ns | *[0-9]us | *[0-9]ms | *[0-9]s | *[0-9]m | *[0-9]h) fuzz_override=$1 ;;
	*)
		echo "usage: scripts/fuzz.sh [Nx | duration]" >&2
		return 2
		;;
	esac
	local failed=() mod pkgs pkg target budget dir
	for mod in libs services/* cmd/* examples loadtest; do
		[ -f "$mod/go.mod" ] || continue
		pkgs=$(cd "$mod" && { grep -rl --include='*_test.go' '^func Fuzz' . || true; } | xargs -r -n1 dirname | sort -u)
		for pkg in $pkgs; do
			dir="$mod/${pkg#./}"
			dir=${dir%/.}
			for target in $(grep -h '^func Fuzz' "$dir"/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do
				budget=$(budget_of "$dir" "$target")
				echo "== fuzz $dir $target ($budget)"
				fuzz_target "$dir" "$target" "$budget" || failed+=("$dir $target")
			done
		done
	done
	if [ ${#failed[@]} -gt 0 ]; then
		printf 'fuzz: failed: %s\n' "${failed[@]}" >&2
		return 1
	fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
