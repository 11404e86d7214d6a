//go:build helmv4

package main

import (
	"fmt"

	"helm.sh/helm/v4/pkg/chart/common"
)

// Helm 4 assumes Kubernetes v1.20 in test binaries (testing.Testing), and
// the client-go version it links everywhere else: the tests see what the
// archive sees.
func init() {
	if major, minor, ok := kubeVersionFromClientGo(); ok {
		kv, err := common.ParseKubeVersion(fmt.Sprintf("v%s.%s.0", major, minor))
		if err != nil {
			panic(err)
		}
		common.DefaultCapabilities.KubeVersion = *kv
	}
}
