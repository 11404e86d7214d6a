package main

// The Kubernetes side of the test environment: kube-apiserver and etcd, built
// from the Go module proxy (the modules under kube/ pin them) and cached by
// version, then run on 127.0.0.1 with token auth and RBAC. There is no
// controller-manager, scheduler or kubelet: objects are stored and served,
// but nothing reconciles them (a Deployment never becomes ready).

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// kubeInfo is what a test needs to talk to the API server; part of the
// ready line.
type kubeInfo struct {
	Kubeconfig string `json:"kubeconfig"`
	Server     string `json:"server"`
	Version    string `json:"version"`
	// Context is the current context: user "admin" (system:masters).
	Context string `json:"context"`
	// NobodyContext authenticates as user "nobody", who has no RBAC rights.
	NobodyContext string `json:"nobodyContext"`
	EtcdPID       int    `json:"etcdPid"`
	APIServerPID  int    `json:"apiserverPid"`
}

// binaries are the built kube-apiserver and etcd.
type binaries struct {
	APIServer   string `json:"apiserver"`
	Etcd        string `json:"etcd"`
	KubeVersion string `json:"kubeVersion"`
	EtcdVersion string `json:"etcdVersion"`
}

// kubeCluster is a running etcd + kube-apiserver.
type kubeCluster struct {
	info      kubeInfo
	etcd      *exec.Cmd
	apiserver *exec.Cmd
}

// requiredVersion returns the version of module that goMod requires.
func requiredVersion(goMod, module string) (string, error) {
	data, err := os.ReadFile(goMod)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == module {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("%s does not require %s", goMod, module)
}

// goCommand is $GO, or go from PATH.
func goCommand() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// buildKube returns kube-apiserver and etcd from the cache directory,
// building whichever is missing from the modules in src (tests/testenv/kube)
// and saying so on progress, since a cold build takes minutes.
func buildKube(src, cache string, progress io.Writer) (*binaries, error) {
	kubeVersion, err := requiredVersion(filepath.Join(src, "apiserver", "go.mod"), "k8s.io/kubernetes")
	if err != nil {
		return nil, err
	}
	etcdVersion, err := requiredVersion(filepath.Join(src, "etcd", "go.mod"), "go.etcd.io/etcd/server/v3")
	if err != nil {
		return nil, err
	}
	b := &binaries{
		APIServer:   filepath.Join(cache, "kube-apiserver-"+kubeVersion),
		Etcd:        filepath.Join(cache, "etcd-"+etcdVersion),
		KubeVersion: kubeVersion,
		EtcdVersion: etcdVersion,
	}
	if exists(b.APIServer) && exists(b.Etcd) {
		return b, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	// Two test binaries (or a test run and `testenv up`) may start at once:
	// one builds, the other waits for it.
	lock, err := os.OpenFile(filepath.Join(cache, ".kube-build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(progress, "testenv: waiting for another process that is building kube-apiserver and etcd into %s\n", cache)
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return nil, err
		}
	}

	// The same version keys the Kubernetes build scripts set
	// (hack/lib/version.sh), so /version reports the real version and
	// charts' kubeVersion constraints see it.
	major, minor, _ := strings.Cut(strings.TrimPrefix(kubeVersion, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	ldflags := "-s -w"
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		ldflags += fmt.Sprintf(" -X %[1]s.gitVersion=%[2]s -X %[1]s.gitMajor=%[3]s -X %[1]s.gitMinor=%[4]s"+
			" -X %[1]s.gitTreeState=clean -X %[1]s.gitCommit=module-proxy -X %[1]s.buildDate=1970-01-01T00:00:00Z",
			pkg, kubeVersion, major, minor)
	}
	builds := []struct {
		name, version, dir, pkg, ldflags, dest, estimate string
	}{
		{"etcd", etcdVersion, "etcd", "go.etcd.io/etcd/server/v3", "-s -w", b.Etcd, "1-4 minutes"},
		{"kube-apiserver", kubeVersion, "apiserver", "k8s.io/kubernetes/cmd/kube-apiserver", ldflags, b.APIServer, "5-10 minutes"},
	}
	for _, build := range builds {
		if exists(build.dest) {
			continue
		}
		if err := goBuild(filepath.Join(src, build.dir), build.pkg, build.ldflags, build.dest,
			fmt.Sprintf("%s %s", build.name, build.version), build.estimate, progress); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// goBuild builds pkg with the module in dir (which pins its version) into dest.
func goBuild(dir, pkg, ldflags, dest, what, estimate string, progress io.Writer) error {
	tmp := fmt.Sprintf("%s.%d.tmp", dest, os.Getpid())
	cmd := exec.Command(goCommand(), "build", "-trimpath", "-mod=readonly", "-ldflags", ldflags, "-o", tmp, pkg)
	cmd.Dir = dir
	if err := runGo(cmd, what, filepath.Dir(dest), estimate, progress); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dest)
}

// runGo runs a go build or install that cmd describes, with CGO off and no
// workspace, saying on progress what it builds and, every minute, that it is
// still at it: a cold build takes minutes.
func runGo(cmd *exec.Cmd, what, into, estimate string, progress io.Writer) error {
	start := time.Now()
	fmt.Fprintf(progress, "testenv: building %s from the Go module proxy into %s; the first build takes about %s on 2 cores, later runs reuse it\n",
		what, into, estimate)
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS="), cmd.Env...)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				fmt.Fprintf(progress, "testenv: still building %s (%s so far)\n", what, time.Since(start).Round(time.Second))
			}
		}
	}()
	err := cmd.Run()
	close(done)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("building %s needs Go 1.26 or newer on PATH (or GO=/path/to/go): %w", what, err)
		}
		return fmt.Errorf("building %s in %s failed (%v):\n%s", what, cmd.Dir, err, out.String())
	}
	fmt.Fprintf(progress, "testenv: built %s in %s\n", what, time.Since(start).Round(time.Second))
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// freePort asks the kernel for a free port on 127.0.0.1. Someone else may
// take it before we use it; on loopback in a test run that is unlikely.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startKube starts etcd, then kube-apiserver serving with certFile/keyFile
// (signed by caFile), and returns once /readyz answers 200. Files go in dir.
func startKube(dir string, b *binaries, caFile, certFile, keyFile string) (*kubeCluster, error) {
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	etcdClient := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	etcdPeer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	server := fmt.Sprintf("https://127.0.0.1:%d", ports[2])

	// The service account signing key: the API server will not start
	// without one, though nothing here issues service account tokens.
	saKey, err := writeECKey(filepath.Join(dir, "service-account-key.pem"))
	if err != nil {
		return nil, err
	}
	admin, nobody := randomToken(), randomToken()
	tokens := filepath.Join(dir, "tokens.csv")
	csv := fmt.Sprintf("%s,admin,admin,system:masters\n%s,nobody,nobody\n", admin, nobody)
	if err := os.WriteFile(tokens, []byte(csv), 0o600); err != nil {
		return nil, err
	}

	k := &kubeCluster{}
	k.etcd, err = startChild(dir, "etcd", b.Etcd,
		"--name", "testenv", "--data-dir", filepath.Join(dir, "etcd-data"),
		"--listen-client-urls", etcdClient, "--advertise-client-urls", etcdClient,
		"--listen-peer-urls", etcdPeer, "--initial-advertise-peer-urls", etcdPeer,
		"--initial-cluster", "testenv="+etcdPeer,
		"--unsafe-no-fsync", "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	plain := &http.Client{Timeout: 2 * time.Second}
	if err := waitHTTP(plain, etcdClient+"/health", "", 60*time.Second, k.etcd, filepath.Join(dir, "etcd.log")); err != nil {
		k.stop()
		return nil, fmt.Errorf("etcd did not become healthy: %w", err)
	}

	k.apiserver, err = startChild(dir, "kube-apiserver", b.APIServer,
		"--etcd-servers", etcdClient,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(ports[2]),
		"--tls-cert-file", certFile, "--tls-private-key-file", keyFile,
		"--cert-dir", filepath.Join(dir, "apiserver-certs"),
		"--token-auth-file", tokens, "--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", saKey, "--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range", "10.96.0.0/16",
		// The default reconciler writes 127.0.0.1 into the kubernetes
		// Endpoints, which validation rejects (loopback), every 10 s.
		"--endpoint-reconciler-type", "none",
		"--profiling=false")
	if err != nil {
		k.stop()
		return nil, err
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		k.stop()
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	verified := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	if err := waitHTTP(verified, server+"/readyz", admin, 120*time.Second, k.apiserver, filepath.Join(dir, "kube-apiserver.log")); err != nil {
		k.stop()
		return nil, fmt.Errorf("kube-apiserver did not become ready: %w", err)
	}

	kubeconfig := filepath.Join(dir, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: chainctl-test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    token: %s
- name: nobody
  user:
    token: %s
contexts:
- name: chainctl-test
  context:
    cluster: chainctl-test
    user: admin
- name: chainctl-test-nobody
  context:
    cluster: chainctl-test
    user: nobody
current-context: chainctl-test
`, server, base64.StdEncoding.EncodeToString(caPEM), admin, nobody)
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		k.stop()
		return nil, err
	}
	k.info = kubeInfo{
		Kubeconfig:    kubeconfig,
		Server:        server,
		Version:       b.KubeVersion,
		Context:       "chainctl-test",
		NobodyContext: "chainctl-test-nobody",
		EtcdPID:       k.etcd.Process.Pid,
		APIServerPID:  k.apiserver.Process.Pid,
	}
	return k, nil
}

// startChild runs bin with its output in dir/<name>.log. It gets SIGKILL
// when we die, however we die, and has a process group of its own so a
// terminal's ^C reaches only us (we stop it in order).
func startChild(dir, name, bin string, args ...string) (*exec.Cmd, error) {
	log, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", name, err)
	}
	go func() { _ = cmd.Wait() }()
	return cmd, nil
}

// errExited is waitHTTP's error when the child it waits for exits: at
// start-up that is most often a port that another process took between
// freePort's probe and the child's bind, so startKube's caller retries.
var errExited = errors.New("it exited")

// waitHTTP polls url until it answers 200, the child exits, or timeout.
func waitHTTP(client *http.Client, url, token string, timeout time.Duration, child *exec.Cmd, logFile string) error {
	deadline := time.Now().Add(timeout)
	last := errors.New("no answer yet")
	for time.Now().Before(deadline) {
		if syscall.Kill(child.Process.Pid, 0) != nil { // reaped by startChild's Wait
			return fmt.Errorf("%w; the end of %s:\n%s", errExited, logFile, tail(logFile, 30))
		}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%v after %s; the end of %s:\n%s", last, timeout, logFile, tail(logFile, 30))
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// stop kills the API server, then etcd (in the other order the API server
// hangs retrying etcd). Their data is throwaway, so there is no grace.
func (k *kubeCluster) stop() {
	for _, cmd := range []*exec.Cmd{k.apiserver, k.etcd} {
		if cmd == nil || cmd.Process == nil {
			continue
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		for i := 0; i < 100 && syscall.Kill(cmd.Process.Pid, 0) == nil; i++ {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// writeECKey writes a new P-256 private key to path (PEM) and returns path.
func writeECKey(path string) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	return path, os.WriteFile(path, data, 0o600)
}
