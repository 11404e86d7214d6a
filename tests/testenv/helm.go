package main

// The helm CLI of the version the shim links, built from the Go module proxy
// and cached by version beside kube-apiserver and etcd. The parity tests and
// the benchmarks compare chainctl with it.

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// helmBinary is the built helm; its JSON form is what build-helm prints.
type helmBinary struct {
	Helm    string `json:"helm"`
	Version string `json:"version"`
	// KubeVersion is what `helm template` assumes for .Capabilities.KubeVersion.
	KubeVersion string `json:"kubeVersion"`
}

// helmStamp records, beside the binary, the Kubernetes version stamped into
// it: client-go can move in go-shim/go.mod while Helm stays.
const helmStamp = "kube-version"

// buildHelm returns helm from the cache directory, building it first if it
// is missing. goMod is go-shim/go.mod: the Helm version is the one it
// requires, and the Kubernetes version stamped into helm is the one of its
// client-go (v0.N goes with v1.N), as Helm's Makefile stamps release builds
// and as go-shim/capabilities.go assumes for the shim.
//
// major is the Helm major version: 3 builds helm.sh/helm/v3, 4 builds
// helm.sh/helm/v4, each at the version go.mod requires of that module.
func buildHelm(goMod, cache string, major int, progress io.Writer) (*helmBinary, error) {
	if major != 3 && major != 4 {
		return nil, fmt.Errorf("there is no Helm %d: build-helm builds Helm 3 or Helm 4", major)
	}
	module := fmt.Sprintf("helm.sh/helm/v%d", major)
	version, err := requiredVersion(goMod, module)
	if err != nil {
		return nil, err
	}
	clientGo, err := requiredVersion(goMod, "k8s.io/client-go")
	if err != nil {
		return nil, err
	}
	parts := strings.Split(strings.TrimPrefix(clientGo, "v"), ".")
	if len(parts) < 2 || parts[0] != "0" {
		return nil, fmt.Errorf("%s requires k8s.io/client-go %s, which is not of the form v0.N.x", goMod, clientGo)
	}
	kubeMinor := parts[1]
	dir := filepath.Join(cache, "helm-"+version)
	h := &helmBinary{
		Helm:        filepath.Join(dir, "helm"),
		Version:     version,
		KubeVersion: fmt.Sprintf("v1.%s.0", kubeMinor),
	}
	current := func() bool {
		stamp, err := os.ReadFile(filepath.Join(dir, helmStamp))
		return err == nil && strings.TrimSpace(string(stamp)) == h.KubeVersion && exists(h.Helm)
	}
	if current() {
		return h, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(cache, ".helm-build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(progress, "testenv: waiting for another process that is building helm into %s\n", dir)
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return nil, err
		}
	}
	if current() { // the other process built it
		return h, nil
	}

	// The flags of benches/cli_vs_helm.py's recipe and Helm's Makefile: the
	// version `helm version` reports, and the Kubernetes version of
	// .Capabilities.KubeVersion (chartutil) and of the deprecation lint rules.
	ldflags := "-s -w -X " + module + "/internal/version.version=" + version
	if major == 3 {
		for _, pkg := range []string{"helm.sh/helm/v3/pkg/chartutil", "helm.sh/helm/v3/pkg/lint/rules"} {
			ldflags += fmt.Sprintf(" -X %[1]s.k8sVersionMajor=1 -X %[1]s.k8sVersionMinor=%[2]s", pkg, kubeMinor)
		}
	}
	// Helm 4 needs no stamp: it reads the Kubernetes version from the
	// client-go of its own build info, as the shim's Helm 4 build does.
	gobin, err := os.MkdirTemp(cache, fmt.Sprintf(".helm-%s.*.tmp", version))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(gobin)
	cmd := exec.Command(goCommand(), "install", "-trimpath", "-ldflags", ldflags, module+"/cmd/helm@"+version)
	// Outside any module: `go install pkg@version` builds with Helm's own
	// go.mod, as a user's `go install` would.
	cmd.Dir = gobin
	cmd.Env = []string{"GOBIN=" + gobin}
	if err := runGo(cmd, "helm "+version, dir, "1-3 minutes", progress); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// The binary first, then the stamp that makes it current: a process that
	// dies in between leaves a binary that the next run rebuilds.
	_ = os.Remove(filepath.Join(dir, helmStamp))
	if err := os.Rename(filepath.Join(gobin, "helm"), h.Helm); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, helmStamp), []byte(h.KubeVersion+"\n"), 0o644); err != nil {
		return nil, err
	}
	return h, nil
}
