package main

import (
	"runtime/debug"
	"strings"
)

// kubeVersionFromClientGo is the Kubernetes version of the client-go
// linked in (client-go v0.N goes with Kubernetes v1.N), as Helm's release
// builds stamp it (Helm 3) or read it (Helm 4).
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
