// Command testenv runs what chainctl-core's integration tests talk to, on
// 127.0.0.1 with ports chosen by the kernel:
//
//   - two OCI registries (distribution, the registry Helm's own tests use),
//     in this process with in-memory storage: "plain" (plain HTTP, no auth)
//     and "tls" (HTTPS with a CA generated per run, htpasswd basic auth);
//   - with -kube, a Kubernetes API server: etcd and kube-apiserver, built
//     from the Go module proxy by version (see kube/ and kube.go), with a
//     serving certificate from the same CA, token auth and RBAC, and a
//     kubeconfig written to -dir.
//
// When everything answers it prints one line of JSON (see env) to stdout,
// then runs until stdin reaches EOF or it gets SIGINT/SIGTERM. The test
// harness keeps our stdin open, so we die with the process that spawned us;
// etcd and kube-apiserver die with us (Pdeathsig), however we die.
//
// Subcommands, for people and for the harness:
//
//	testenv up          start everything in the background; print the kubeconfig and registries
//	testenv down        stop what `up` started
//	testenv build-kube  build (or find) kube-apiserver and etcd; print their paths as JSON
//	testenv build-helm  build (or find) the helm CLI of the version go-shim links; print its path as JSON
//	testenv get PATH    GET an API path with a kubeconfig's credentials; print {"status","body"}
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// Username is the one user of the TLS registry's htpasswd file.
const Username = "chainctl"

type options struct {
	dir       string // receives ca.pem, server.pem, server-key.pem, htpasswd
	password  string // Username's password on the TLS registry
	accessLog string // if set, one line per request is appended here
	kube      bool   // also run etcd and kube-apiserver
	kubeSrc   string // tests/testenv/kube: the modules that pin them
	binCache  string // where built kube binaries are kept, by version
}

// env is the running environment; its JSON form is the line we print.
type env struct {
	Plain    string `json:"plain"`
	TLS      string `json:"tls"`
	CAFile   string `json:"caFile"`
	Username string `json:"username"`
	Password string `json:"password"`
	// PID is ours: `testenv down` signals it.
	PID  int       `json:"pid"`
	Kube *kubeInfo `json:"kube,omitempty"`

	servers []*http.Server
	cluster *kubeCluster
	log     *os.File
	logging atomic.Bool // off during our own readiness probes
}

func main() {
	if len(os.Args) > 1 {
		commands := map[string]func([]string) int{
			"up": up, "down": down, "build-kube": buildKubeCommand, "build-helm": buildHelmCommand, "get": get, "measure": measure,
		}
		if run, ok := commands[os.Args[1]]; ok {
			os.Exit(run(os.Args[2:]))
		}
	}
	serve(os.Args[1:])
}

// defaultCache is where built binaries are kept: the user cache directory,
// not the repository, so fresh clones and `cargo clean` reuse them.
func defaultCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "chainctl-testenv")
}

func serve(args []string) {
	var opts options
	fs := flag.NewFlagSet("testenv", flag.ExitOnError)
	fs.StringVar(&opts.dir, "dir", "", "directory for ca.pem, the server certificate and htpasswd (required)")
	fs.StringVar(&opts.password, "password", "", "password of user "+Username+" on the TLS registry (required)")
	fs.StringVar(&opts.accessLog, "access-log", "", "append a line \"REGISTRY METHOD PATH STATUS\" per HTTP request to this file")
	fs.BoolVar(&opts.kube, "kube", false, "also run etcd and kube-apiserver, and write DIR/kubeconfig")
	fs.StringVar(&opts.kubeSrc, "kube-src", "kube", "the modules that pin kube-apiserver and etcd (tests/testenv/kube)")
	fs.StringVar(&opts.binCache, "bin-cache", defaultCache(), "where kube-apiserver and etcd are built, by version")
	rmDir := fs.Bool("rm-dir", false, "remove -dir when exiting on EOF or a signal")
	detached := fs.Bool("detached", false, "ignore stdin: run until SIGINT or SIGTERM (for `testenv up`)")
	_ = fs.Parse(args)
	if opts.dir == "" || opts.password == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: testenv -dir DIR -password PASSWORD [-access-log FILE] [-kube] [-rm-dir] [-detached]\n       testenv up|down|build-kube|build-helm|get ...")
		os.Exit(2)
	}

	e, err := start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		if *rmDir {
			_ = os.RemoveAll(opts.dir)
		}
		os.Exit(1)
	}
	line, _ := json.Marshal(e)
	if _, err := fmt.Printf("%s\n", line); err != nil {
		e.close()
		os.Exit(1)
	}

	done := make(chan struct{}, 2)
	if !*detached {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			done <- struct{}{}
		}()
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	select {
	case <-done:
	case <-signals:
	}
	e.close()
	if *rmDir {
		_ = os.RemoveAll(opts.dir)
	}
}

// start starts both registries and returns once both answer on /v2/.
func start(opts options) (*env, error) {
	// distribution logs every 401 and 404 at error level; test output must
	// stay quiet, and our own failures are reported by start's error.
	logrus.SetOutput(io.Discard)
	logrus.SetLevel(logrus.PanicLevel)

	if err := os.MkdirAll(opts.dir, 0o700); err != nil {
		return nil, err
	}
	e := &env{
		CAFile:   filepath.Join(opts.dir, "ca.pem"),
		Username: Username,
		Password: opts.password,
		PID:      os.Getpid(),
	}
	serverCert, err := writeCerts(opts.dir)
	if err != nil {
		return nil, err
	}
	htpasswd := filepath.Join(opts.dir, "htpasswd")
	hash, err := bcrypt.GenerateFromPassword([]byte(opts.password), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(htpasswd, fmt.Appendf(nil, "%s:%s\n", Username, hash), 0o600); err != nil {
		return nil, err
	}
	var logw io.Writer
	if opts.accessLog != "" {
		if e.log, err = os.OpenFile(opts.accessLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return nil, err
		}
		logw = &lockedWriter{w: e.log}
	}

	if e.Plain, err = e.serve("plain", newConfig(nil), nil, logw); err != nil {
		e.close()
		return nil, err
	}
	auth := configuration.Auth{"htpasswd": configuration.Parameters{"realm": "chainctl-test", "path": htpasswd}}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}
	if e.TLS, err = e.serve("tls", newConfig(auth), tlsConf, logw); err != nil {
		e.close()
		return nil, err
	}
	if err := e.waitReady(); err != nil {
		e.close()
		return nil, err
	}
	if opts.kube {
		bins, err := buildKube(opts.kubeSrc, opts.binCache, os.Stderr)
		if err != nil {
			e.close()
			return nil, err
		}
		e.cluster, err = startKubeRetrying(filepath.Join(opts.dir, "kube"), bins, e.CAFile,
			filepath.Join(opts.dir, "server.pem"), filepath.Join(opts.dir, "server-key.pem"))
		if err != nil {
			e.close()
			return nil, err
		}
		e.Kube = &e.cluster.info
	}
	e.logging.Store(true)
	return e, nil
}

// startKube's attempts when etcd or the API server exits at start-up.
const kubeAttempts = 3

// startKubeRetrying runs startKube in a fresh dir, again with new ports
// when a child exits while starting (a port taken between probe and bind,
// on a busy machine), at most kubeAttempts times. A child that is up but
// never ready is not retried: that is not a race, and it took minutes.
func startKubeRetrying(dir string, b *binaries, caFile, certFile, keyFile string) (*kubeCluster, error) {
	for attempt := 1; ; attempt++ {
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		k, err := startKube(dir, b, caFile, certFile, keyFile)
		if err == nil || !errors.Is(err, errExited) || attempt == kubeAttempts {
			return k, err
		}
		fmt.Fprintf(os.Stderr, "testenv: attempt %d of %d: %v\ntestenv: starting again with new ports\n", attempt, kubeAttempts, err)
	}
}

func newConfig(auth configuration.Auth) *configuration.Configuration {
	config := &configuration.Configuration{
		Storage: configuration.Storage{
			"inmemory": configuration.Parameters{},
			"delete":   configuration.Parameters{"enabled": true},
		},
		Auth: auth,
	}
	// Without a secret distribution generates one and warns about it.
	config.HTTP.Secret = "chainctl-testenv"
	return config
}

// serve runs one registry on a kernel-chosen port of 127.0.0.1 and returns
// its host:port. We serve handlers.NewApp with our own http.Server rather
// than registry.NewRegistry: that one picks its own listener (so we could not
// learn the port), registers process-global health checks (so it cannot run
// twice in one process) and has no hook for a per-registry access log.
func (e *env) serve(name string, config *configuration.Configuration, tlsConf *tls.Config, logw io.Writer) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	var handler http.Handler = handlers.NewApp(context.Background(), config)
	if logw != nil {
		handler = accessLog(name, logw, &e.logging, handler)
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 30 * time.Second,
		// e.g. "TLS handshake error": expected when tests probe failures.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	e.servers = append(e.servers, srv)
	go func() {
		if tlsConf != nil {
			_ = srv.ServeTLS(ln, "", "")
		} else {
			_ = srv.Serve(ln)
		}
	}()
	return ln.Addr().String(), nil
}

// waitReady checks that both registries answer on /v2/ as expected: the
// plain one with 200, the TLS one (verified against our CA) with 401.
func (e *env) waitReady() error {
	pem, err := os.ReadFile(e.CAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	defer client.CloseIdleConnections()
	checks := []struct {
		url  string
		want int
	}{
		{"http://" + e.Plain + "/v2/", http.StatusOK},
		{"https://" + e.TLS + "/v2/", http.StatusUnauthorized},
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, c := range checks {
		for {
			resp, err := client.Get(c.url)
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == c.want {
					break
				}
				err = fmt.Errorf("status %d, want %d", resp.StatusCode, c.want)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("GET %s: %w", c.url, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func (e *env) close() {
	if e.cluster != nil {
		e.cluster.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, srv := range e.servers {
		_ = srv.Shutdown(ctx)
	}
	if e.log != nil {
		_ = e.log.Close()
	}
}

// writeCerts writes a fresh CA (ca.pem) and a server certificate signed by it
// for 127.0.0.1, ::1 and localhost (server.pem, server-key.pem) into dir.
func writeCerts(dir string) (tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "chainctl testenv CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}

	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	files := []struct {
		name string
		data []byte
	}{
		{"ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})},
		{"server.pem", certPEM},
		{"server-key.pem", keyPEM},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return tls.Certificate{}, err
		}
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// accessLog writes "NAME METHOD PATH STATUS" for each request while on is
// true (PATH escaped, without the query). The line is
// written when the status is set, before any byte of the response leaves,
// so a client that has its response can count on finding the line.
func accessLog(name string, w io.Writer, on *atomic.Bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !on.Load() {
			next.ServeHTTP(rw, r)
			return
		}
		lw := &logWriter{ResponseWriter: rw, log: func(status int) {
			_, _ = fmt.Fprintf(w, "%s %s %s %d\n", name, r.Method, r.URL.EscapedPath(), status)
		}}
		next.ServeHTTP(lw, r)
		lw.logOnce(http.StatusOK) // a handler that wrote nothing answers 200
	})
}

type logWriter struct {
	http.ResponseWriter
	log    func(status int)
	logged bool
}

func (l *logWriter) logOnce(status int) {
	if !l.logged {
		l.logged = true
		l.log(status)
	}
}

func (l *logWriter) WriteHeader(status int) {
	if status >= 200 { // 1xx responses are interim; the final status follows
		l.logOnce(status)
	}
	l.ResponseWriter.WriteHeader(status)
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.logOnce(http.StatusOK)
	return l.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Flush and friends.
func (l *logWriter) Unwrap() http.ResponseWriter { return l.ResponseWriter }
