package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"helm.sh/helm/v3/pkg/chartutil"
)

// Helm's release builds stamp the Kubernetes version that `helm template`
// assumes from the client-go they link (client-go v0.N goes with Kubernetes
// v1.N); a plain module build keeps a placeholder of v1.20. Do the same here,
// so charts with a kubeVersion constraint render as they do with helm.
func init() {
	if major, minor, ok := kubeVersionFromClientGo(); ok {
		chartutil.DefaultCapabilities.KubeVersion = chartutil.KubeVersion{
			Version: fmt.Sprintf("v%s.%s.0", major, minor),
			Major:   major,
			Minor:   minor,
		}
	}
}

func kubeVersionFromClientGo() (major, minor string, ok bool) {
	info, found := debug.ReadBuildInfo()
	if !found {
		return "", "", false
	}
	for _, dep := range info.Deps {
		if dep.Path != "k8s.io/client-go" {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(dep.Version, "v"), ".")
		if len(parts) < 2 || parts[0] != "0" {
			return "", "", false
		}
		return "1", parts[1], true
	}
	return "", "", false
}
