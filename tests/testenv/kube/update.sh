#!/bin/sh
# Pins the Kubernetes API server and etcd that the test environment builds.
#
#   tests/testenv/kube/update.sh v1.36.3 v3.6.16
#
# k8s.io/kubernetes is not meant to be used as a module: its go.mod requires
# the k8s.io/* staging modules at v0.0.0 and replaces them with directories of
# its own repository. We replace each of them with its published version
# (v1.N.P -> v0.N.P), taking the list from that version's own go.mod, then let
# `go mod tidy` resolve the rest. The `tool` lines keep tidy from dropping the
# main packages' dependencies. Needs only the Go module proxy.
set -eu

KUBE=${1:?usage: update.sh KUBERNETES_VERSION ETCD_VERSION (e.g. v1.36.3 v3.6.16)}
ETCD=${2:?usage: update.sh KUBERNETES_VERSION ETCD_VERSION (e.g. v1.36.3 v3.6.16)}
STAGING=v0.${KUBE#v1.}
here=$(cd "$(dirname "$0")" && pwd)
export GOWORK=off GOFLAGS=-mod=mod

kube_mod=$(cd / && go mod download -json "k8s.io/kubernetes@$KUBE" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
[ -f "$kube_mod" ] || { echo "update.sh: cannot download k8s.io/kubernetes@$KUBE" >&2; exit 1; }

{
	printf 'module github.com/chainctl/chainctl-core/tests/testenv/kube/apiserver\n\n'
	printf 'go 1.26.0\n\nrequire k8s.io/kubernetes %s\n\n' "$KUBE"
	printf 'tool k8s.io/kubernetes/cmd/kube-apiserver\n\nreplace (\n'
	# Every "k8s.io/x => ./staging/src/k8s.io/x" line of kubernetes' go.mod.
	awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$kube_mod" | while read -r m; do
		# Some staging modules (sample-cli-plugin) are not served; they are
		# only replaced, never required, so they can be left out.
		if (cd / && go list -m "$m@$STAGING") >/dev/null 2>&1; then
			printf '\t%s => %s %s\n' "$m" "$m" "$STAGING"
		else
			echo "update.sh: $m@$STAGING is not served; leaving it out" >&2
		fi
	done
	printf ')\n'
} >"$here/apiserver/go.mod"
(cd "$here/apiserver" && rm -f go.sum && go mod tidy)

cat >"$here/etcd/go.mod" <<EOF
module github.com/chainctl/chainctl-core/tests/testenv/kube/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 $ETCD

tool go.etcd.io/etcd/server/v3
EOF
(cd "$here/etcd" && rm -f go.sum && go mod tidy)
echo "pinned kube-apiserver $KUBE (staging $STAGING) and etcd $ETCD"
