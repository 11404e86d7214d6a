package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func startEnv(t *testing.T) (*env, string) {
	t.Helper()
	dir := t.TempDir()
	accessLog := filepath.Join(dir, "access.log")
	e, err := start(options{dir: filepath.Join(dir, "certs"), password: "s3cret", accessLog: accessLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	return e, accessLog
}

func caClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// do sends a request and returns the status and body.
func do(t *testing.T, c *http.Client, method, url string, body []byte, user, pass string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func TestTLSRegistryNeedsBasicAuth(t *testing.T) {
	e, _ := startEnv(t)
	c := caClient(t, e.CAFile)
	url := "https://" + e.TLS + "/v2/"

	status, h, _ := do(t, c, "GET", url, nil, "", "")
	if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("no credentials: status %d, WWW-Authenticate %q; want 401 and a Basic challenge", status, h.Get("WWW-Authenticate"))
	}
	if status, _, _ := do(t, c, "GET", url, nil, e.Username, "wrong"); status != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d, want 401", status)
	}
	if status, _, _ := do(t, c, "GET", url, nil, e.Username, e.Password); status != http.StatusOK {
		t.Errorf("right password: status %d, want 200", status)
	}
	// The certificate also names localhost.
	_, port, _ := net.SplitHostPort(e.TLS)
	if status, _, _ := do(t, c, "GET", "https://localhost:"+port+"/v2/", nil, e.Username, e.Password); status != http.StatusOK {
		t.Errorf("via localhost: status %d, want 200", status)
	}
}

func TestTLSRegistryNeedsTheCA(t *testing.T) {
	e, _ := startEnv(t)
	_, err := http.Get("https://" + e.TLS + "/v2/")
	var unknownCA x509.UnknownAuthorityError
	if !errors.As(err, &unknownCA) {
		t.Fatalf("without the CA: got %v, want an unknown authority error", err)
	}
}

func TestPlainRegistryIsOpen(t *testing.T) {
	e, _ := startEnv(t)
	if status, _, _ := do(t, http.DefaultClient, "GET", "http://"+e.Plain+"/v2/", nil, "", ""); status != http.StatusOK {
		t.Fatalf("status %d, want 200", status)
	}
}

// TestBlobRoundTripAndAccessLog pushes a blob to each registry, reads it
// back, and checks the access log holds exactly those requests (not our
// readiness probes).
func TestBlobRoundTripAndAccessLog(t *testing.T) {
	e, accessLog := startEnv(t)
	c := caClient(t, e.CAFile)
	blob := []byte("chainctl testenv blob")
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(blob))

	for _, r := range []struct{ name, base, user, pass string }{
		{"plain", "http://" + e.Plain, "", ""},
		{"tls", "https://" + e.TLS, e.Username, e.Password},
	} {
		status, h, body := do(t, c, "POST", r.base+"/v2/test/blob/blobs/uploads/", nil, r.user, r.pass)
		if status != http.StatusAccepted {
			t.Fatalf("%s: start upload: status %d: %s", r.name, status, body)
		}
		loc := h.Get("Location")
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		if status, _, body := do(t, c, "PUT", loc+sep+"digest="+digest, blob, r.user, r.pass); status != http.StatusCreated {
			t.Fatalf("%s: finish upload: status %d: %s", r.name, status, body)
		}
		status, _, got := do(t, c, "GET", r.base+"/v2/test/blob/blobs/"+digest, nil, r.user, r.pass)
		if status != http.StatusOK || !bytes.Equal(got, blob) {
			t.Fatalf("%s: get blob: status %d, body %q", r.name, status, got)
		}
	}

	data, err := os.ReadFile(accessLog)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("access log line %q: want 4 fields", line)
		}
		// Upload paths end in a random id; keep what identifies the step.
		if strings.Contains(f[2], "/blobs/uploads/") {
			f[2] = "/v2/test/blob/blobs/uploads/..."
		}
		got = append(got, strings.Join(f, " "))
	}
	var want []string
	for _, name := range []string{"plain", "tls"} {
		want = append(want,
			name+" POST /v2/test/blob/blobs/uploads/... 202",
			name+" PUT /v2/test/blob/blobs/uploads/... 201",
			name+" GET /v2/test/blob/blobs/"+digest+" 200",
		)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("access log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
