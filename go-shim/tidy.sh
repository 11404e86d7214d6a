#!/usr/bin/env bash
# Tidies the shim's two module files, one per Helm SDK: go.mod (Helm 3, the
# default build) and go.helm4.mod (Helm 4, built with -tags helmv4
# -modfile=go.helm4.mod). `go mod tidy` alone would not do: it reads every
# file whatever its build tags, so it would put both SDKs in both files.
# Each file is tidied in a copy of the shim that holds only its own
# backend's files. With --check, it changes nothing and fails if a file is
# not tidy.
set -euo pipefail
cd "$(dirname "$0")"
check=false
[ "${1:-}" = "--check" ] && check=true

tidy() { # modfile sumfile tag-of-the-other-backend
  local mod=$1 sum=$2 other=$3 work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  cp -R . "$work/shim"
  rm -f "$work/shim/go.mod" "$work/shim/go.sum" "$work/shim/go.helm4.mod" "$work/shim/go.helm4.sum"
  cp "$mod" "$work/shim/go.mod"
  if [ -f "$sum" ]; then cp "$sum" "$work/shim/go.sum"; fi
  grep -l "^//go:build $other\$" "$work"/shim/*.go | xargs -r rm -f
  (cd "$work/shim" && go mod tidy)
  if $check; then
    if ! cmp -s "$work/shim/go.mod" "$mod" || ! cmp -s "$work/shim/go.sum" "$sum"; then
      echo "go-shim/$mod or go-shim/$sum is not tidy: run go-shim/tidy.sh" >&2
      diff -u "$mod" "$work/shim/go.mod" >&2 || true
      return 1
    fi
  else
    cp "$work/shim/go.mod" "$mod"
    cp "$work/shim/go.sum" "$sum"
  fi
}

tidy go.mod go.sum helmv4
tidy go.helm4.mod go.helm4.sum '!helmv4'
