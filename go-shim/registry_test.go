package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	dreg "github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/sirupsen/logrus"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// startRegistry runs a real distribution registry in this process, plain
// HTTP on loopback, and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logrus.SetOutput(io.Discard)
	config := &configuration.Configuration{}
	config.HTTP.Addr = addr
	config.HTTP.DrainTimeout = time.Second
	config.Log.Level = "panic"
	config.Log.AccessLog.Disabled = true
	config.Storage = map[string]configuration.Parameters{"inmemory": map[string]any{}}
	reg, err := dreg.NewRegistry(context.Background(), config)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = reg.ListenAndServe() }()
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("registry at %s did not start", addr)
	return ""
}

func mustOK(t *testing.T, op string, request any) json.RawMessage {
	t.Helper()
	reply := call(t, op, request, time.Minute)
	if !reply.OK {
		t.Fatalf("%s failed: %+v", op, reply.Error)
	}
	return reply.Result
}

func TestPushTagsResolvePull(t *testing.T) {
	host := startRegistry(t)
	tmp := t.TempDir()
	regOpts := registryOptions{PlainHTTP: true, ConfigFile: filepath.Join(tmp, "config.json")}
	repo := host + "/charts/hello"

	for _, version := range []string{"0.1.0", "0.2.0", "1.0.0+build.1"} {
		var pkg struct{ Path string }
		res := mustOK(t, "chart.package", packageRequest{Path: helloChart(t), Version: version, DestDir: tmp})
		_ = json.Unmarshal(res, &pkg)
		// Helm's client maps "+" in the version to "_" in the tag itself.
		mustOK(t, "registry.push", pushRequest{registryRef: registryRef{Ref: repo + ":" + version, Registry: regOpts}, Chart: pkg.Path})
	}

	var tags struct{ Versions []string }
	_ = json.Unmarshal(mustOK(t, "registry.tags", tagsRequest{registryRef: registryRef{Ref: repo, Registry: regOpts}}), &tags)
	if got := strings.Join(tags.Versions, ","); got != "1.0.0+build.1,0.2.0,0.1.0" {
		t.Fatalf("versions %s", got)
	}

	for constraint, want := range map[string]string{"": "1.0.0+build.1", "^0.1": "0.1.0", "<1.0.0": "0.2.0", "0.2.0": "0.2.0"} {
		var matched struct{ Match string }
		_ = json.Unmarshal(mustOK(t, "registry.tags", tagsRequest{registryRef: registryRef{Ref: repo, Registry: regOpts}, Version: &constraint}), &matched)
		if matched.Match != want {
			t.Fatalf("constraint %q matched %q, want %q", constraint, matched.Match, want)
		}
	}
	missing := ">=2.0.0"
	reply := call(t, "registry.tags", tagsRequest{registryRef: registryRef{Ref: repo, Registry: regOpts}, Version: &missing}, time.Minute)
	wantKind(t, reply, kindNotFound)
	if !strings.Contains(reply.Error.Message, "0.2.0") {
		t.Fatalf("no nearest versions in %q", reply.Error.Message)
	}

	var resolved struct{ Digest string }
	_ = json.Unmarshal(mustOK(t, "registry.resolve", resolveRequest{registryRef: registryRef{Ref: repo + ":0.2.0", Registry: regOpts}}), &resolved)
	if !strings.HasPrefix(resolved.Digest, "sha256:") {
		t.Fatalf("digest %q", resolved.Digest)
	}

	for _, ref := range []string{repo + ":0.2.0", repo + "@" + resolved.Digest} {
		dest := filepath.Join(tmp, "pulled.tgz")
		var pulled pullResult
		_ = json.Unmarshal(mustOK(t, "registry.pull", pullRequest{registryRef: registryRef{Ref: ref, Registry: regOpts}, Dest: dest}), &pulled)
		if pulled.ManifestDigest != resolved.Digest || pulled.Chart.Version != "0.2.0" || pulled.Chart.Name != "hello" {
			t.Fatalf("pull of %s: %+v", ref, pulled)
		}
		data, err := os.ReadFile(dest)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("sha256:%x", sha256.Sum256(data)); got != pulled.ChartDigest {
			t.Fatalf("the written archive has digest %s, the registry said %s", got, pulled.ChartDigest)
		}
	}

	wantKind(t, call(t, "registry.pull", pullRequest{registryRef: registryRef{Ref: repo + ":9.9.9", Registry: regOpts}, Dest: filepath.Join(tmp, "x")}, time.Minute), kindNotFound)
	tlsOpts := regOpts
	tlsOpts.PlainHTTP = false
	reply = call(t, "registry.resolve", resolveRequest{registryRef: registryRef{Ref: repo + ":0.2.0", Registry: tlsOpts}}, time.Minute)
	wantKind(t, reply, kindRegistry)
	if reply.Error.Code != codePlainHTTP || reply.Error.Details == nil || reply.Error.Details.Host == "" {
		t.Fatalf("not coded plain_http with its host: %+v", reply.Error)
	}
}

func TestRegistryErrorsNameTheWayOut(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	opts := registryOptions{PlainHTTP: true, ConfigFile: filepath.Join(t.TempDir(), "config.json"), Password: "s3cret-pass", Username: "u"}
	reply := call(t, "registry.tags", tagsRequest{registryRef: registryRef{Ref: addr + "/charts/hello", Registry: opts}}, time.Minute)
	wantKind(t, reply, kindRegistry)
	if !strings.Contains(reply.Error.Message, "connection refused") || strings.Contains(reply.Error.Message, "s3cret-pass") {
		t.Fatalf("message %q", reply.Error.Message)
	}
	reply = call(t, "registry.tags", tagsRequest{registryRef: registryRef{Ref: addr + "/charts/hello", Registry: registryOptions{ConfigFile: "x", CertFile: "a"}}}, time.Minute)
	wantKind(t, reply, kindInvalidInput)
}

// pushBlob uploads content to repo on a plain-HTTP registry (monolithic).
func pushBlob(t *testing.T, host, repo string, content []byte) string {
	t.Helper()
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(content))
	resp, err := http.Post(fmt.Sprintf("http://%s/v2/%s/blobs/uploads/", host, repo), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	location := resp.Header.Get("Location")
	if !strings.HasPrefix(location, "http") {
		location = "http://" + host + location
	}
	sep := "?"
	if strings.Contains(location, "?") {
		sep = "&"
	}
	req, _ := http.NewRequest(http.MethodPut, location+sep+"digest="+digest, bytes.NewReader(content))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("blob upload: %v %v", err, resp)
	}
	resp.Body.Close()
	return digest
}

func TestPullingSomethingThatIsNotAChartNamesItsMediaTypes(t *testing.T) {
	host := startRegistry(t)
	repo := "things/widget"
	config := []byte(`{"kind":"widget"}`)
	layer := []byte("not a chart")
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.example.widget.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.example.widget.layer.v1","digest":%q,"size":%d}]}`,
		pushBlob(t, host, repo, config), len(config), pushBlob(t, host, repo, layer), len(layer))
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://%s/v2/%s/manifests/1.0.0", host, repo), strings.NewReader(manifest))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("manifest upload: %v %v", err, resp)
	}
	resp.Body.Close()

	opts := registryOptions{PlainHTTP: true, ConfigFile: filepath.Join(t.TempDir(), "config.json")}
	reply := call(t, "registry.pull", pullRequest{registryRef: registryRef{Ref: host + "/" + repo + ":1.0.0", Registry: opts}, Dest: filepath.Join(t.TempDir(), "x")}, time.Minute)
	wantKind(t, reply, kindInvalidInput)
	for _, want := range []string{"not a Helm chart", "application/vnd.example.widget.config.v1+json", "application/vnd.cncf.helm.config.v1+json"} {
		if !strings.Contains(reply.Error.Message, want) {
			t.Fatalf("%q missing from %q", want, reply.Error.Message)
		}
	}
}

func TestRegistryErrorsAreClassifiedByStatusNotByText(t *testing.T) {
	answer := func(host string, status int) error {
		u, _ := url.Parse("http://" + host + "/v2/team403/chart/manifests/sha256:4034044010")
		return fmt.Errorf("failed to perform \"FetchReference\" on source: %w", &errcode.ErrorResponse{Method: "GET", URL: u, StatusCode: status})
	}
	for _, host := range []string{"127.0.0.1:40401", "127.0.0.1:40403", "127.0.0.1:40404", "127.0.0.1:5000"} {
		for status, want := range map[int]string{500: kindRegistry, 401: kindAuth, 403: kindAuth, 404: kindNotFound, 429: kindRegistry} {
			var se *shimError
			if !errors.As(registryError(answer(host, status), host, host+"/c", registryOptions{}), &se) || se.kind != want {
				t.Errorf("HTTP %d from %s: kind %v, want %s", status, host, se, want)
			}
		}
	}
}

// stallingListener accepts connections and never answers; closed at the
// end of the test.
func stallingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	t.Cleanup(func() { close(done); ln.Close() })
	return ln.Addr().String()
}

func TestAStalledRegistryEndsBeforeTheDeadlineNamingTheStep(t *testing.T) {
	host := stallingListener(t)
	opts := registryOptions{PlainHTTP: true, ConfigFile: filepath.Join(t.TempDir(), "config.json")}
	start := time.Now()
	reply := call(t, "registry.resolve", resolveRequest{registryRef: registryRef{Ref: host + "/charts/hello:1.0.0", Registry: opts}}, 2*time.Second)
	elapsed := time.Since(start)
	wantKind(t, reply, kindTimeout)
	for _, want := range []string{host, "stalled", "waiting for the response headers", "/v2/charts/hello/manifests/1.0.0"} {
		if !strings.Contains(reply.Error.Message, want) {
			t.Errorf("%q missing from %q", want, reply.Error.Message)
		}
	}
	if elapsed > 2*time.Second {
		t.Errorf("took %s, past the 2s deadline", elapsed)
	}
}

// fakeRegistry serves one manifest for every manifest request and counts
// blob requests, answering them with an endless body.
func fakeRegistry(t *testing.T, manifest []byte) (string, *atomic.Int64) {
	t.Helper()
	var blobs atomic.Int64
	sum := sha256.Sum256(manifest)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/manifests/"):
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", fmt.Sprintf("sha256:%x", sum))
			w.Header().Set("Content-Length", fmt.Sprint(len(manifest)))
			if r.Method == http.MethodGet {
				_, _ = w.Write(manifest)
			}
		case strings.Contains(r.URL.Path, "/blobs/"):
			blobs.Add(1)
			zeros := make([]byte, 1<<16)
			for i := 0; i < 1<<14; i++ { // at most 1 GiB
				if _, err := w.Write(zeros); err != nil {
					return
				}
			}
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), &blobs
}

func TestAManifestDeclaringAHugeLayerIsRefusedBeforeTheLayerIsFetched(t *testing.T) {
	config := `{"name":"hello","version":"1.0.0"}`
	manifest := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":%q,"digest":"sha256:%x","size":%d},`+
		`"layers":[{"mediaType":%q,"digest":"sha256:%064x","size":%d}]}`,
		"application/vnd.cncf.helm.config.v1+json", sha256.Sum256([]byte(config)), len(config),
		"application/vnd.cncf.helm.chart.content.v1.tar+gzip", 1, int64(1)<<40))
	host, blobs := fakeRegistry(t, manifest)
	opts := registryOptions{PlainHTTP: true, ConfigFile: filepath.Join(t.TempDir(), "config.json")}
	ref := fmt.Sprintf("%s/charts/hello@sha256:%x", host, sha256.Sum256(manifest))
	for _, tc := range []struct {
		max  int64
		want string
	}{{0, "100 MiB"}, {1 << 20, "1 MiB"}} {
		reply := call(t, "registry.pull", pullRequest{registryRef: registryRef{Ref: ref, Registry: opts}, Dest: filepath.Join(t.TempDir(), "x"), MaxChartBytes: tc.max}, time.Minute)
		wantKind(t, reply, kindRegistry)
		for _, want := range []string{"1024 GiB", tc.want, "nothing was cached"} {
			if !strings.Contains(reply.Error.Message, want) {
				t.Errorf("%q missing from %q", want, reply.Error.Message)
			}
		}
		if reply.Error.Code != codeChartTooLarge || reply.Error.Details == nil || reply.Error.Details.Limit <= 0 {
			t.Errorf("not coded chart_too_large with its limit: %+v", reply.Error)
		}
	}
	if n := blobs.Load(); n != 0 {
		t.Fatalf("%d blob requests: the layer must not be fetched", n)
	}
}

func TestConnectionErrorsAreClassifiedByType(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:5000/v2/team403/chart/blobs/sha256:4034044010")
	wrapped := func(err error) error {
		return fmt.Errorf("GET %q: %w", u, &netError{host: u.Host, method: "GET", path: u.Path, stage: stageBody, err: err})
	}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for name, tc := range map[string]struct {
		err  error
		kind string
		want string
	}{
		"reset":             {wrapped(reset), kindRegistry, "reset the connection"},
		"unexpected EOF":    {wrapped(io.ErrUnexpectedEOF), kindRegistry, "cut short"},
		"kernel deadline":   {wrapped(os.ErrDeadlineExceeded), kindTimeout, "stalled"},
		"context deadline":  {wrapped(context.DeadlineExceeded), kindTimeout, "reading the response body"},
		"digest":            {fmt.Errorf("copy: %w", content.ErrMismatchedDigest), kindRegistry, "digest mismatch"},
		"header digest":     {&digestMismatchError{what: "the blob", expected: "sha256:aa", got: "sha256:bb"}, kindRegistry, "digest mismatch"},
		"trailing data":     {fmt.Errorf("copy: %w", content.ErrTrailingData), kindRegistry, "more data than the manifest declares"},
		"too large":         {&tooLargeError{what: "blob x", size: -1, limit: 100 << 20}, kindRegistry, "100 MiB"},
		"manifest too long": {&tooLargeError{what: "manifest x", size: -1, limit: maxManifestBytes}, kindRegistry, "not a chart"},
	} {
		for _, host := range []string{"127.0.0.1:40401", "127.0.0.1:40403", "127.0.0.1:40404"} {
			var se *shimError
			if !errors.As(registryError(tc.err, host, host+"/c", registryOptions{}), &se) || se.kind != tc.kind || !strings.Contains(se.message, tc.want) {
				t.Errorf("%s from %s: %+v, want kind %s and %q", name, host, se, tc.kind, tc.want)
			}
		}
	}
}
