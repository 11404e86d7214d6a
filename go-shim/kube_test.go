package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

const kubeconfigA = `apiVersion: v1
kind: Config
current-context: second
clusters:
- name: a
  cluster: {server: "https://a.example:6443"}
users:
- name: u
  user: {token: t}
contexts:
- name: first
  context: {cluster: a, user: u, namespace: from-first}
- name: bare
  context: {cluster: a, user: u}
`

const kubeconfigB = `apiVersion: v1
kind: Config
current-context: first
clusters:
- name: b
  cluster: {server: "https://b.example:6443"}
users:
- name: u
  user: {token: t}
contexts:
- name: second
  context: {cluster: b, user: u, namespace: from-second}
`

func TestNamespaceAndContextFollowHelmAndClientGo(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for path, text := range map[string]string{a: kubeconfigA, b: kubeconfigB} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name     string
		settings kubeSettings
		ns, ctx  string
		server   string
	}{
		// The first file that sets current-context wins; the context is
		// found in the second file (client-go's merge).
		{"merged, current context from the first file", kubeSettings{KubeconfigPaths: []string{a, b}}, "from-second", "second", "https://b.example:6443"},
		{"merged in the other order", kubeSettings{KubeconfigPaths: []string{b, a}}, "from-first", "first", "https://a.example:6443"},
		{"the namespace flag wins", kubeSettings{KubeconfigPaths: []string{a, b}, Namespace: "flag"}, "flag", "second", "https://b.example:6443"},
		{"--kube-context picks another context", kubeSettings{KubeconfigPaths: []string{a, b}, Context: "first"}, "from-first", "first", "https://a.example:6443"},
		{"a context without a namespace: default", kubeSettings{KubeconfigPaths: []string{a}, Context: "bare"}, "default", "bare", "https://a.example:6443"},
		// a names current-context "second", which only b defines.
		{"--kubeconfig alone ignores the list", kubeSettings{Kubeconfig: a, KubeconfigPaths: []string{b}}, "default", "second", ""},
		{"no kubeconfig at all: client-go's defaults", kubeSettings{}, "default", "", "http://localhost:8080"},
		{"--kube-apiserver overrides the server", kubeSettings{KubeconfigPaths: []string{a}, Context: "first", APIServer: "https://c.example"}, "from-first", "first", "https://c.example"},
	}
	for _, c := range cases {
		if got := c.settings.namespace(); got != c.ns {
			t.Errorf("%s: namespace %q, want %q", c.name, got, c.ns)
		}
		r, err := opKubeResolve(nil, c.settings, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Namespace != c.ns || r.Context != c.ctx || r.Server != c.server {
			t.Errorf("%s: resolved %+v, want ns %q context %q server %q", c.name, r, c.ns, c.ctx, c.server)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
