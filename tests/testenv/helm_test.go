package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// helmCache writes a go.mod pinning Helm and client-go, and a cache holding
// a "built" helm stamped with stamp (none if empty); it returns both paths.
func helmCache(t *testing.T, goMod, stamp string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	mod := filepath.Join(dir, "go.mod")
	if err := os.WriteFile(mod, []byte(goMod), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	bin := filepath.Join(cache, "helm-v3.99.1")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "helm"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if stamp != "" {
		if err := os.WriteFile(filepath.Join(bin, helmStamp), []byte(stamp+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Any build attempt fails at once.
	t.Setenv("GO", filepath.Join(dir, "no-such-go"))
	return mod, cache
}

const pinned = "module x\n\ngo 1.26\n\nrequire (\n\thelm.sh/helm/v3 v3.99.1\n)\n\nrequire k8s.io/client-go v0.41.2 // indirect\n"

func TestBuildHelmFindsTheCachedBinary(t *testing.T) {
	mod, cache := helmCache(t, pinned, "v1.41.0")
	h, err := buildHelm(mod, cache, 3, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := helmBinary{Helm: filepath.Join(cache, "helm-v3.99.1", "helm"), Version: "v3.99.1", KubeVersion: "v1.41.0"}
	if *h != want {
		t.Fatalf("got %+v, want %+v", *h, want)
	}
}

func TestBuildHelmRebuildsWhenTheKubeVersionMoved(t *testing.T) {
	for _, stamp := range []string{"v1.40.0", ""} {
		mod, cache := helmCache(t, pinned, stamp)
		var progress strings.Builder
		_, err := buildHelm(mod, cache, 3, &progress)
		if err == nil || !strings.Contains(err.Error(), "building helm v3.99.1") {
			t.Fatalf("stamp %q: want a build (failing for want of Go), got %v", stamp, err)
		}
		if !strings.Contains(progress.String(), "building helm v3.99.1") {
			t.Fatalf("stamp %q: the build was not announced: %q", stamp, progress.String())
		}
	}
}

func TestBuildHelmNeedsHelmAndClientGo(t *testing.T) {
	for _, goMod := range []string{
		"module x\n\nrequire k8s.io/client-go v0.41.2\n",
		"module x\n\nrequire helm.sh/helm/v3 v3.99.1\n",
		"module x\n\nrequire (\n\thelm.sh/helm/v3 v3.99.1\n\tk8s.io/client-go v1.0.0\n)\n",
	} {
		mod, cache := helmCache(t, goMod, "v1.41.0")
		if _, err := buildHelm(mod, cache, 3, io.Discard); err == nil {
			t.Fatalf("go.mod %q: want an error", goMod)
		}
	}
}

func TestBuildHelmFindsACachedHelm4(t *testing.T) {
	pinned4 := "module x\n\ngo 1.26\n\nrequire (\n\thelm.sh/helm/v3 v3.99.1\n\thelm.sh/helm/v4 v4.98.7\n)\n\nrequire k8s.io/client-go v0.41.2 // indirect\n"
	mod, cache := helmCache(t, pinned4, "v1.41.0")
	// helmCache stamped helm-v3.99.1; a Helm 4 is looked for beside it.
	if err := os.Rename(filepath.Join(cache, "helm-v3.99.1"), filepath.Join(cache, "helm-v4.98.7")); err != nil {
		t.Fatal(err)
	}
	h, err := buildHelm(mod, cache, 4, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := helmBinary{Helm: filepath.Join(cache, "helm-v4.98.7", "helm"), Version: "v4.98.7", KubeVersion: "v1.41.0"}
	if *h != want {
		t.Fatalf("got %+v, want %+v", *h, want)
	}
	if _, err := buildHelm(mod, cache, 5, io.Discard); err == nil || !strings.Contains(err.Error(), "Helm 5") {
		t.Fatalf("major 5: want an error naming it, got %v", err)
	}
}
