package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// registryOptions mirrors the Rust registry settings. Credentials come in
// explicitly or from ConfigFile (Helm's registry/config.json, which
// `helm registry login` writes); they are never echoed back.
type registryOptions struct {
	PlainHTTP             bool   `json:"plainHttp,omitempty"`
	InsecureSkipTLSVerify bool   `json:"insecureSkipTlsVerify,omitempty"`
	CAFile                string `json:"caFile,omitempty"`
	CertFile              string `json:"certFile,omitempty"`
	KeyFile               string `json:"keyFile,omitempty"`
	Username              string `json:"username,omitempty"`
	Password              string `json:"password,omitempty"`
	ConfigFile            string `json:"configFile,omitempty"`
}

// tlsConfig builds the client TLS settings: verified by default, with an
// extra CA, a client certificate, or (only when asked) no verification.
func (o registryOptions) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: o.InsecureSkipTLSVerify} //nolint:gosec // only on the user's explicit request
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, errorf(kindInvalidInput, "cannot read the CA file %s: %v", o.CAFile, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errorf(kindInvalidInput, "the CA file %s holds no PEM certificate", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, invalidf(inputClientCertificate, "a client certificate needs both its certificate file and its key file")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, errorf(kindInvalidInput, "cannot load the client certificate %s / key %s: %v", o.CertFile, o.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// newRegistryClient builds Helm's registry client for one call: its HTTP
// transport is bound to ctx and bounds what the registry sends (see
// newCallTransport), since Helm v3's client methods take no context.
func newRegistryClient(ctx context.Context, o registryOptions, maxChart int64) (*helmRegistry, *callTransport, error) {
	tlsConf, err := o.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	if o.ConfigFile == "" {
		return nil, nil, errorf(kindInvalidInput, "malformed request: registry configFile is required")
	}
	transport := newCallTransport(ctx, tlsConf, maxChart)
	opts := []registryOption{
		registryEnableCache(true),
		registryWriter(io.Discard),
		registryCredentials(o.ConfigFile),
		registryHTTPClient(&http.Client{Transport: transport}),
	}
	if o.PlainHTTP {
		opts = append(opts, registryPlainHTTP())
	}
	if o.Username != "" || o.Password != "" {
		opts = append(opts, registryBasicAuth(o.Username, o.Password))
	}
	client, err := newRegistry(opts...)
	if err != nil {
		// Building the client reads only the config file.
		return nil, nil, invalidf(inputRegistryConfig, "the registry config file %s cannot be used: %v", o.ConfigFile, err)
	}
	return client, transport, nil
}

// registryError turns what the registry client returns into a kind and a
// message that says which option may help. The password is never in it.
func registryError(err error, host, ref string, o registryOptions) error {
	var se *shimError
	if errors.As(err, &se) {
		return err
	}
	msg := err.Error()
	var tooLarge *tooLargeError
	var mismatch *digestMismatchError
	var netErr *netError
	if errors.As(err, &tooLarge) {
		if tooLarge.limit == maxManifestBytes {
			return errorf(kindRegistry, "%s refused: %v; nothing was cached (a Helm chart's manifest and config are a few KiB: this is not a chart, or the registry is broken)", host, tooLarge)
		}
		// The ceiling is the caller's: raising it is the caller's advice.
		return codedf(kindRegistry, codeChartTooLarge, errorDetails{Host: host, Reference: ref, Limit: tooLarge.limit},
			"%s refused: %v; nothing was cached", host, tooLarge)
	}
	if errors.As(err, &mismatch) || errors.Is(err, content.ErrMismatchedDigest) {
		what := msg
		if mismatch != nil {
			what = mismatch.Error()
		}
		return errorf(kindRegistry, "digest mismatch from %s: %s; the content is corrupt or was altered on the way, and nothing was cached: pull again, and if it persists check the registry or what is between it and you", host, what)
	}
	if errors.Is(err, content.ErrTrailingData) {
		return errorf(kindRegistry, "%s sent more data than the manifest declares (%s): refused, nothing was cached", host, msg)
	}
	if errors.As(err, &netErr) {
		switch {
		case netErr.timedOut():
			return errorf(kindTimeout, "%s stalled: no progress while %s (%s %s) before the deadline: check that the registry is up and reachable, or allow more time", netErr.host, netErr.stage, netErr.method, netErr.path)
		case errors.Is(netErr.ctxErr, context.Canceled):
			return errorf(kindCancelled, "%s: cancelled while %s (%s %s)", netErr.host, netErr.stage, netErr.method, netErr.path)
		case errors.Is(err, syscall.ECONNRESET):
			return errorf(kindRegistry, "%s reset the connection while %s (%s %s): try again; if it persists, check the registry and any proxy in between", netErr.host, netErr.stage, netErr.method, netErr.path)
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			return errorf(kindRegistry, "%s closed the connection early while %s (%s %s): the answer was cut short; nothing was cached, try again", netErr.host, netErr.stage, netErr.method, netErr.path)
		}
	}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	// What the registry answered, by HTTP status: never by searching the
	// message, which holds the host, port, repository and digest.
	var resp *errcode.ErrorResponse
	status := 0
	if errors.As(err, &resp) {
		status = resp.StatusCode
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden || errors.Is(err, auth.ErrBasicCredentialNotFound):
		return codedf(kindAuth, codeRegistryAuth, errorDetails{Host: host, Reference: ref},
			"%s refused the credentials (or none were given): %s", host, msg)
	case status == http.StatusNotFound || errors.Is(err, errdef.ErrNotFound):
		return codedf(kindNotFound, codeChartNotFound, errorDetails{Host: host, Reference: ref}, "%s: %s", host, msg)
	case status == http.StatusTooManyRequests:
		return errorf(kindRegistry, "%s is rate-limiting requests (HTTP 429): wait and try again (%s)", host, msg)
	case status != 0:
		return errorf(kindRegistry, "%s answered HTTP %d: %s", host, status, msg)
	case errors.As(err, &dnsErr):
		return errorf(kindRegistry, "unknown host %s: check the reference (%s)", host, msg)
	case errors.Is(err, syscall.ECONNREFUSED):
		return errorf(kindRegistry, "cannot connect to %s: connection refused; is the registry running, and is the port right?", host)
	case errors.As(err, &certErr) || errors.As(err, &unknownAuthority) || errors.As(err, &hostnameErr):
		d := errorDetails{Host: host, Reference: ref, CAFile: o.CAFile}
		if o.CAFile != "" {
			return codedf(kindRegistry, codeTLSVerify, d, "TLS verification of %s failed with the CA file %s: check that it holds the CA that signed the registry's certificate (%s)", host, o.CAFile, msg)
		}
		return codedf(kindRegistry, codeTLSVerify, d, "TLS verification of %s failed: its certificate is not signed by a CA this system trusts (%s)", host, msg)
	case errors.As(err, &recordErr) || strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		// net/http has no type for the second: its words are the only sign.
		return codedf(kindRegistry, codePlainHTTP, errorDetails{Host: host, Reference: ref}, "%s speaks plain HTTP, not HTTPS (%s)", host, msg)
	default:
		return errorf(kindRegistry, "%s: %s", host, msg)
	}
}

// registryClient builds a registry client bound to ctx (which should come
// from withOpDeadline); it returns the host of ref too.
func registryClient(ctx context.Context, ref registryRef, maxChartBytes int64) (*helmRegistry, string, *callTransport, error) {
	client, transport, err := newRegistryClient(ctx, ref.Registry, maxChartBytes)
	if err != nil {
		return nil, "", nil, err
	}
	host, _, _ := strings.Cut(ref.Ref, "/")
	return client, host, transport, nil
}

// opRegistryTags lists a repository's chart versions, newest first (tags
// that are not semver are left out, and "_" reads as "+", as Helm does).
func opRegistryTags(ctx context.Context, req tagsRequest, _ eventSink) (tagsReply, error) {
	ctx, cancel := withOpDeadline(ctx)
	defer cancel()
	client, host, _, err := registryClient(ctx, req.registryRef, 0)
	if err != nil {
		return tagsReply{}, err
	}
	tags, err := client.Tags(req.Ref)
	if err != nil {
		return tagsReply{}, registryError(err, host, req.Ref, req.Registry)
	}
	out := tagsReply{Versions: tags}
	if req.Version != nil {
		match, err := matchingTag(tags, *req.Version)
		if err != nil {
			return tagsReply{}, codedf(kindNotFound, codeVersionNotFound, errorDetails{Reference: req.Ref, Version: *req.Version, Host: host},
				"no version of %s matches %q; available: %s", req.Ref, *req.Version, nearest(tags, 5))
		}
		out.Match = match
	}
	return out, nil
}

// nearest lists up to n of the newest versions, for "not found" messages.
func nearest(versions []string, n int) string {
	if len(versions) == 0 {
		return "none"
	}
	if len(versions) > n {
		return strings.Join(versions[:n], ", ") + ", ..."
	}
	return strings.Join(versions, ", ")
}

// opRegistryResolve resolves a tag (or digest) to its manifest descriptor:
// one manifest request, no blobs.
func opRegistryResolve(ctx context.Context, req resolveRequest, _ eventSink) (resolveReply, error) {
	ctx, cancel := withOpDeadline(ctx)
	defer cancel()
	client, host, _, err := registryClient(ctx, req.registryRef, 0)
	if err != nil {
		return resolveReply{}, err
	}
	desc, err := client.Resolve(req.Ref)
	if err != nil {
		return resolveReply{}, registryError(err, host, req.Ref, req.Registry)
	}
	return resolveReply{Digest: desc.Digest.String(), MediaType: desc.MediaType, Size: desc.Size}, nil
}

// opRegistryPull downloads a chart and writes its archive to dest. The
// caller (the Rust cache) verifies the digest and moves it into place.
func opRegistryPull(ctx context.Context, req pullRequest, sink eventSink) (pullResult, error) {
	ctx, cancel := withOpDeadline(ctx)
	defer cancel()
	client, host, transport, err := registryClient(ctx, req.registryRef, req.MaxChartBytes)
	if err != nil {
		return pullResult{}, err
	}
	progress(sink, "pull", "pulling %s", req.Ref)
	res, err := client.Pull(req.Ref)
	if err != nil {
		// Helm's "not a chart" errors have no type; the manifest the
		// transport read says it instead.
		if m := transport.manifestSeen(); m != nil && !m.isChart() {
			return pullResult{}, errorf(kindInvalidInput, "%s is not a Helm chart: %s", req.Ref, m.describe())
		}
		return pullResult{}, registryError(err, host, req.Ref, req.Registry)
	}
	if err := writeNoFollow(req.Dest, res.Chart.Data); err != nil {
		return pullResult{}, errorf(kindInternal, "cannot write the pulled chart to %s: %v", req.Dest, err)
	}
	out := pullResult{ManifestDigest: res.Manifest.Digest, ChartDigest: res.Chart.Digest, ChartSize: res.Chart.Size}
	if meta := res.Chart.Meta; meta != nil {
		out.Chart = chartMetaDTO{Name: meta.Name, Version: meta.Version, AppVersion: meta.AppVersion}
	}
	return out, nil
}

// opRegistryPush uploads a packaged chart (.tgz) as host/path/name:version.
func opRegistryPush(ctx context.Context, req pushRequest, _ eventSink) (pushReply, error) {
	ctx, cancel := withOpDeadline(ctx)
	defer cancel()
	client, host, _, err := registryClient(ctx, req.registryRef, 0)
	if err != nil {
		return pushReply{}, err
	}
	data, err := os.ReadFile(req.Chart)
	if err != nil {
		return pushReply{}, errorf(kindInvalidInput, "cannot read the chart archive %s: %v", req.Chart, err)
	}
	res, err := client.Push(data, req.Ref, registryPushStrict(true))
	if err != nil {
		return pushReply{}, registryError(err, host, req.Ref, req.Registry)
	}
	return pushReply{Ref: res.Ref, ManifestDigest: res.Manifest.Digest, ChartDigest: res.Chart.Digest}, nil
}

// opChartPackage packages a chart directory into destDir, optionally with
// another version, like `helm package --version`.
func opChartPackage(_ context.Context, req packageRequest, _ eventSink) (packageReply, error) {
	ch, err := loadChartDir(req.Path)
	if err != nil {
		return packageReply{}, errorf(kindInvalidInput, "chart %s is not a valid Helm chart directory: %v", req.Path, err)
	}
	if req.Version != "" {
		ch.Metadata.Version = req.Version
	}
	if err := os.MkdirAll(req.DestDir, 0o755); err != nil {
		return packageReply{}, errorf(kindInvalidInput, "cannot create %s: %v", req.DestDir, err)
	}
	path, err := saveChart(ch, req.DestDir)
	if err != nil {
		return packageReply{}, errorf(kindInvalidInput, "cannot package %s: %v", req.Path, err)
	}
	abs, _ := filepath.Abs(path)
	return packageReply{Path: abs, Name: ch.Metadata.Name, Version: ch.Metadata.Version}, nil
}

// opRegistryLogin checks credentials against the registry and stores them
// in the registry config file, as `helm registry login` does, so a login
// with either tool serves both. Ref is the registry host[:port].
func opRegistryLogin(ctx context.Context, req loginRequest, _ eventSink) (credentialsReply, error) {
	ctx, cancel := withOpDeadline(ctx)
	defer cancel()
	client, host, _, err := registryClient(ctx, req.registryRef, 0)
	if err != nil {
		return credentialsReply{}, err
	}
	if req.Registry.Username == "" || req.Registry.Password == "" {
		return credentialsReply{}, codedf(kindInvalidInput, codeLoginNeedsCredentials, errorDetails{Host: host},
			"registry login to %s needs a username and a password", host)
	}
	opts := []loginOption{
		loginBasicAuth(req.Registry.Username, req.Registry.Password),
		loginPlainText(req.Registry.PlainHTTP),
	}
	if err := client.Login(host, opts...); err != nil {
		return credentialsReply{}, registryError(err, host, req.Ref, req.Registry)
	}
	return credentialsReply{Host: host, ConfigFile: req.Registry.ConfigFile}, nil
}

// opRegistryLogout removes the stored credentials of a registry host.
func opRegistryLogout(ctx context.Context, req logoutRequest, _ eventSink) (credentialsReply, error) {
	ctx, cancel := withOpDeadline(ctx)
	defer cancel()
	client, host, _, err := registryClient(ctx, req.registryRef, 0)
	if err != nil {
		return credentialsReply{}, err
	}
	if err := client.Logout(host); err != nil {
		// oras's credential stores report a missing entry as text only
		// (the native keychain's "credentials not found"): no type exists.
		if strings.Contains(err.Error(), "not found") {
			return credentialsReply{}, errorf(kindNotFound, "no credentials for %s in %s", host, req.Registry.ConfigFile)
		}
		return credentialsReply{}, errorf(kindRegistry, "cannot remove the credentials of %s: %v", host, err)
	}
	return credentialsReply{Host: host, ConfigFile: req.Registry.ConfigFile}, nil
}

// writeNoFollow writes data to path (the caller's temporary file, or a new
// one), never through a symlink planted there.
func writeNoFollow(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
