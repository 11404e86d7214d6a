#!/bin/sh
# Bounded runs of the shim's Go fuzz targets, for .ci/run:
#
#   go-shim/fuzz.sh            # each target for 5s
#   FUZZTIME=10m go-shim/fuzz.sh FuzzValuesMerge
#
# go test -fuzz takes one target per invocation, so each runs in turn. The
# first pays for an instrumented build of the shim and Helm (minutes on a
# cold cache; later runs reuse it). A failure leaves the input under
# testdata/fuzz/<target>/, which plain `go test` then replays as a test:
# fix the bug and commit the input as a regression case. Standard input is
# /dev/null: --set-file K=- reads it, and must find it ended.
set -eu
cd "$(dirname "$0")"
fuzztime=${FUZZTIME:-5s}
parallel=${FUZZ_PARALLEL:-1}
targets=${*:-FuzzDispatch FuzzValuesMerge}
for target in $targets; do
	echo "fuzz.sh: $target for $fuzztime"
	CGO_ENABLED=1 go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" \
		-fuzzminimizetime "${FUZZMINIMIZETIME:-10s}" -parallel "$parallel" -timeout 0 . </dev/null
done
