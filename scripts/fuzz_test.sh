#!/usr/bin/env bash
# Tests scripts/fuzz.sh's decision: a failing input written or a failing test
# fails the run; the fuzz coordinator's "context deadline exceeded" with no
# failing input (golang/go#75804) does not. Run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/fuzz.sh

failures=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect NAME WANT RC OUTPUT [NEW]: fuzz_verdict on go test's exit code RC,
# its OUTPUT and the failing inputs NEW must return WANT (pass or fail).
expect() {
	local name=$1 want=$2 rc=$3 output=$4 new=${5:-} got=pass
	printf '%s\n' "$output" >"$tmp/out"
	fuzz_verdict "$rc" "$tmp/out" "$new" >/dev/null || got=fail
	if [ "$got" != "$want" ]; then
		echo "FAIL: $name: $got, want $want"
		failures=$((failures + 1))
	else
		echo "ok:   $name"
	fi
}

deadline='fuzz: elapsed: 3s, execs: 40304 (13431/sec), new interesting: 104 (total: 108)
fuzz: elapsed: 5s, execs: 40304 (0/sec), new interesting: 104 (total: 108)
--- FAIL: FuzzScanner (5.20s)
    context deadline exceeded
FAIL
exit status 1
FAIL	github.com/jetlog/jetlog/services/gateway/forward	5.202s'

expect "passed" pass 0 'fuzz: elapsed: 2s, execs: 9000 (4500/sec)
PASS
ok  	example.com/p	2.1s'
expect "the coordinator's deadline alone" pass 1 "$deadline"
expect "the deadline, but a failing input was written" fail 1 "$deadline" "testdata/fuzz/FuzzScanner/4f2a"
expect "a failing input with a passing exit code" fail 0 "ok  	example.com/p	2.1s" "testdata/fuzz/FuzzX/1"
expect "the target's own deadline error (file:line)" fail 1 '--- FAIL: FuzzScanner (5.20s)
    scanner_test.go:80: context deadline exceeded
FAIL
exit status 1
FAIL	example.com/p	5.2s'
expect "a seed input fails" fail 1 '--- FAIL: FuzzX (0.00s)
    --- FAIL: FuzzX/seed#0 (0.00s)
        x_test.go:9: boom
FAIL
exit status 1
FAIL	example.com/p	0.1s'
expect "a crasher found" fail 1 '--- FAIL: FuzzX (0.31s)
    --- FAIL: FuzzX (0.00s)
        x_test.go:9: boom

    Failing input written to testdata/fuzz/FuzzX/771e938e4458e983
    To re-run:
    go test -run=FuzzX/771e938e4458e983
FAIL
exit status 1
FAIL	example.com/p	0.4s'
expect "the deadline and a panic" fail 1 "panic: runtime error: index out of range
$deadline"
expect "the deadline twice" fail 1 "$deadline
$deadline"
expect "a build failure" fail 1 '# example.com/p [example.com/p.test]
./x_test.go:3:1: syntax error: non-declaration statement outside function body
FAIL	example.com/p [build failed]'

# The real thing, on a module of its own: a target that passes, one whose
# seed fails, and one the fuzzer breaks, which writes its input.
mkdir -p "$tmp/demo"
cat >"$tmp/demo/go.mod" <<'EOF'
module example.com/demo

go 1.26
EOF
cat >"$tmp/demo/demo_test.go" <<'EOF'
package demo

import "testing"

func FuzzFine(f *testing.F) {
	f.Add([]byte("a"))
	f.Fuzz(func(t *testing.T, b []byte) {})
}

func FuzzSeedFails(f *testing.F) {
	f.Add([]byte("seed"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if string(b) == "seed" {
			t.Fatal("the seed fails")
		}
	})
}

func FuzzBreaks(f *testing.F) {
	f.Add([]byte("a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4 {
			t.Fatalf("%d bytes", len(b))
		}
	})
}
EOF
run() {
	local name=$1 want=$2 target=$3 budget=$4 got=pass
	(cd "$tmp/demo" && GOWORK=off GOFLAGS= fuzz_target . "$target" "$budget") >"$tmp/log" 2>&1 || got=fail
	if [ "$got" != "$want" ]; then
		echo "FAIL: $name: $got, want $want"
		sed 's/^/      /' "$tmp/log"
		failures=$((failures + 1))
	else
		echo "ok:   $name"
	fi
}
run "go test: a fine target" pass FuzzFine 5000x
run "go test: a failing seed" fail FuzzSeedFails 5000x
run "go test: a failing input found" fail FuzzBreaks 1000000x
if ! ls "$tmp/demo/testdata/fuzz/FuzzBreaks/"* >/dev/null 2>&1 || ! grep -q "failing input written:" "$tmp/log"; then
	echo "FAIL: the failing input is not in testdata/fuzz/FuzzBreaks or not reported"
	failures=$((failures + 1))
fi

if [ "$failures" -gt 0 ]; then
	echo "scripts/fuzz.sh: $failures failure(s)"
	exit 1
fi
echo "scripts/fuzz.sh: decisions as expected"
