package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v2"
)

// up starts the whole environment in the background, for people who want
// to try chainctl against a real API server, and prints where it is.
func up(args []string) int {
	fs := flag.NewFlagSet("testenv up", flag.ExitOnError)
	dir := fs.String("dir", filepath.Join(defaultCache(), "env"), "directory for the kubeconfig, certificates, logs and data")
	kubeSrc := fs.String("kube-src", "kube", "the modules that pin kube-apiserver and etcd (tests/testenv/kube)")
	binCache := fs.String("bin-cache", defaultCache(), "where kube-apiserver and etcd are built, by version")
	_ = fs.Parse(args)

	if e, err := running(*dir); err == nil {
		fmt.Printf("the test environment is already up (pid %d)\n", e.PID)
		describe(*dir, e)
		return 0
	}
	// Build in the foreground, so the progress messages reach the terminal.
	if _, err := buildKube(*kubeSrc, *binCache, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "testenv up:", err)
		return 1
	}
	_ = os.RemoveAll(*dir)
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "testenv up:", err)
		return 1
	}
	password := randomToken()
	if err := os.WriteFile(filepath.Join(*dir, "registry-password"), []byte(password+"\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "testenv up:", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv up:", err)
		return 1
	}
	envFile := filepath.Join(*dir, "env.json")
	stdout, err := os.OpenFile(envFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv up:", err)
		return 1
	}
	logPath := filepath.Join(*dir, "testenv.log")
	stderr, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv up:", err)
		return 1
	}
	cmd := exec.Command(self, "-dir", *dir, "-password", password, "-kube",
		"-kube-src", *kubeSrc, "-bin-cache", *binCache, "-detached")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A session of its own: it outlives this command and the terminal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv up:", err)
		return 1
	}
	_ = stdout.Close()
	_ = stderr.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if e, err := running(*dir); err == nil {
			fmt.Printf("the test environment is up (pid %d)\n", e.PID)
			describe(*dir, e)
			return 0
		}
		select {
		case err := <-exited:
			fmt.Fprintf(os.Stderr, "testenv up: the environment exited during start-up (%v):\n%s\n", err, tail(logPath, 40))
			return 1
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			fmt.Fprintf(os.Stderr, "testenv up: not ready after 3 minutes; stopped it. Its log:\n%s\n", tail(logPath, 40))
			return 1
		}
	}
}

// running reads the ready line `up` saved and checks its process is alive.
func running(dir string) (*env, error) {
	data, err := os.ReadFile(filepath.Join(dir, "env.json"))
	if err != nil {
		return nil, err
	}
	var e env
	if err := json.Unmarshal(bytes.TrimSpace(data), &e); err != nil {
		return nil, err
	}
	if e.PID <= 0 || syscall.Kill(e.PID, 0) != nil {
		return nil, fmt.Errorf("process %d is not running", e.PID)
	}
	return &e, nil
}

func describe(dir string, e *env) {
	fmt.Printf("  kubeconfig:      %s\n", e.Kube.Kubeconfig)
	fmt.Printf("  API server:      %s (Kubernetes %s; context %s is admin, %s has no rights)\n",
		e.Kube.Server, e.Kube.Version, e.Kube.Context, e.Kube.NobodyContext)
	fmt.Printf("  registry:        %s (plain HTTP, no auth: pass --plain-http)\n", e.Plain)
	fmt.Printf("  TLS registry:    %s (--ca-file %s, user %s, password in %s)\n",
		e.TLS, e.CAFile, e.Username, filepath.Join(dir, "registry-password"))
	fmt.Printf("  logs:            %s\n", filepath.Join(dir, "kube"))
	fmt.Printf("try:\n  cargo run --example chainctl -- app install --bundle examples/charts/hello --release hello --namespace demo --create-namespace --kubeconfig %s --confirm\n", e.Kube.Kubeconfig)
	fmt.Printf("stop it with:\n  go -C tests/testenv run . down\n")
}

// down stops what `up` started and removes its directory.
func down(args []string) int {
	fs := flag.NewFlagSet("testenv down", flag.ExitOnError)
	dir := fs.String("dir", filepath.Join(defaultCache(), "env"), "the directory `testenv up` used")
	_ = fs.Parse(args)
	e, err := running(*dir)
	if err != nil {
		_ = os.RemoveAll(*dir)
		fmt.Println("the test environment is not running")
		return 0
	}
	_ = syscall.Kill(e.PID, syscall.SIGTERM)
	for i := 0; i < 300 && syscall.Kill(e.PID, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if syscall.Kill(e.PID, 0) == nil {
		_ = syscall.Kill(e.PID, syscall.SIGKILL) // its children go with it (Pdeathsig)
	}
	_ = os.RemoveAll(*dir)
	fmt.Printf("stopped the test environment (pid %d)\n", e.PID)
	return 0
}

// buildKubeCommand builds (or finds) the binaries and prints their paths as
// JSON; progress goes to stderr. The Rust harness runs it with stderr on
// the terminal, so the first build is not a silent ten minutes.
func buildKubeCommand(args []string) int {
	fs := flag.NewFlagSet("testenv build-kube", flag.ExitOnError)
	kubeSrc := fs.String("kube-src", "kube", "the modules that pin kube-apiserver and etcd (tests/testenv/kube)")
	binCache := fs.String("bin-cache", defaultCache(), "where kube-apiserver and etcd are built, by version")
	_ = fs.Parse(args)
	b, err := buildKube(*kubeSrc, *binCache, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv build-kube:", err)
		return 1
	}
	line, _ := json.Marshal(b)
	fmt.Printf("%s\n", line)
	return 0
}

// buildHelmCommand builds (or finds) the helm CLI of the version go-shim
// links and prints where it is as JSON; progress goes to stderr, as for
// build-kube.
func buildHelmCommand(args []string) int {
	fs := flag.NewFlagSet("testenv build-helm", flag.ExitOnError)
	goMod := fs.String("go-mod", "", "the go.mod that pins helm.sh/helm/v3 or /v4 and k8s.io/client-go (default: the shim's of that major, go-shim/go.mod or go-shim/go.helm4.mod)")
	binCache := fs.String("bin-cache", defaultCache(), "where helm is built, by version")
	major := fs.Int("major", 3, "the Helm major version: 3 (helm.sh/helm/v3) or 4 (helm.sh/helm/v4), at the version go.mod requires")
	_ = fs.Parse(args)
	if *goMod == "" {
		name := "go.mod"
		if *major == 4 {
			name = "go.helm4.mod"
		}
		*goMod = filepath.Join("..", "..", "go-shim", name)
	}
	h, err := buildHelm(*goMod, *binCache, *major, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv build-helm:", err)
		return 1
	}
	line, _ := json.Marshal(h)
	fmt.Printf("%s\n", line)
	return 0
}

// The part of a kubeconfig that get understands.
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Contexts       []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
	Clusters []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server                   string `yaml:"server"`
			CertificateAuthority     string `yaml:"certificate-authority"`
			CertificateAuthorityData string `yaml:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Token                 string `yaml:"token"`
			ClientCertificate     string `yaml:"client-certificate"`
			ClientCertificateData string `yaml:"client-certificate-data"`
			ClientKey             string `yaml:"client-key"`
			ClientKeyData         string `yaml:"client-key-data"`
		} `yaml:"user"`
	} `yaml:"users"`
}

// get GETs an API path with a kubeconfig's credentials (token or client
// certificate) and prints {"status": N, "body": ...}. Tests use it to see
// what really is in the cluster, beside what Helm reports.
func get(args []string) int {
	fs := flag.NewFlagSet("testenv get", flag.ExitOnError)
	path := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	context := fs.String("context", "", "context (default: the current one)")
	method := fs.String("method", http.MethodGet, "the HTTP method (PATCH with -data sends a server-side apply)")
	data := fs.String("data", "", "a file whose content is the request body")
	contentType := fs.String("content-type", "application/apply-patch+yaml", "the body's content type, with -data")
	_ = fs.Parse(args)
	if fs.NArg() != 1 || !strings.HasPrefix(fs.Arg(0), "/") {
		fmt.Fprintln(os.Stderr, "usage: testenv get [-kubeconfig FILE] [-context NAME] [-method M -data FILE [-content-type T]] /api/PATH[?QUERY]")
		return 2
	}
	var body []byte
	if *data != "" {
		var err error
		if body, err = os.ReadFile(*data); err != nil {
			fmt.Fprintln(os.Stderr, "testenv get:", err)
			return 1
		}
	}
	status, body, err := kubeRequest(*path, *context, *method, fs.Arg(0), *contentType, body)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv get:", err)
		return 1
	}
	if !json.Valid(body) {
		body, _ = json.Marshal(string(body))
	}
	line, _ := json.Marshal(map[string]any{"status": status, "body": json.RawMessage(body)})
	fmt.Printf("%s\n", line)
	return 0
}

func kubeGet(path, context, apiPath string) (int, []byte, error) {
	return kubeRequest(path, context, http.MethodGet, apiPath, "", nil)
}

// kubeRequest sends one request to the API server of a kubeconfig's
// context, as its user; body, when not nil, has contentType.
func kubeRequest(path, context, method, apiPath, contentType string, body []byte) (int, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, err
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	if context == "" {
		context = kc.CurrentContext
	}
	var clusterName, userName string
	for _, c := range kc.Contexts {
		if c.Name == context {
			clusterName, userName = c.Context.Cluster, c.Context.User
		}
	}
	if clusterName == "" {
		return 0, nil, fmt.Errorf("%s has no context %q", path, context)
	}
	base := filepath.Dir(path)
	file := func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(base, name)
		}
		return os.ReadFile(name)
	}
	pick := func(inline, name string) ([]byte, error) {
		if inline != "" {
			return base64.StdEncoding.DecodeString(inline)
		}
		if name != "" {
			return file(name)
		}
		return nil, nil
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	var server, token string
	for _, c := range kc.Clusters {
		if c.Name != clusterName {
			continue
		}
		server = c.Cluster.Server
		tlsConf.InsecureSkipVerify = c.Cluster.InsecureSkipTLSVerify
		ca, err := pick(c.Cluster.CertificateAuthorityData, c.Cluster.CertificateAuthority)
		if err != nil {
			return 0, nil, err
		}
		if ca != nil {
			tlsConf.RootCAs = x509.NewCertPool()
			tlsConf.RootCAs.AppendCertsFromPEM(ca)
		}
	}
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		token = u.User.Token
		cert, err := pick(u.User.ClientCertificateData, u.User.ClientCertificate)
		if err != nil {
			return 0, nil, err
		}
		key, err := pick(u.User.ClientKeyData, u.User.ClientKey)
		if err != nil {
			return 0, nil, err
		}
		if cert != nil && key != nil {
			pair, err := tls.X509KeyPair(cert, key)
			if err != nil {
				return 0, nil, err
			}
			tlsConf.Certificates = []tls.Certificate{pair}
		}
	}
	if server == "" {
		return 0, nil, errors.New("no server for context " + context)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(server, "/")+apiPath, reader)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}
