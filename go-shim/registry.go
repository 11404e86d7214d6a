package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
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
		return nil, errorf(kindInvalidInput, "a client certificate needs both --cert-file and --key-file")
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

func newRegistryClient(o registryOptions) (*registry.Client, error) {
	tlsConf, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	if o.ConfigFile == "" {
		return nil, errorf(kindInvalidInput, "malformed request: registry configFile is required")
	}
	opts := []registry.ClientOption{
		registry.ClientOptEnableCache(true),
		registry.ClientOptWriter(io.Discard),
		registry.ClientOptCredentialsFile(o.ConfigFile),
		registry.ClientOptHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}),
	}
	if o.PlainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	if o.Username != "" || o.Password != "" {
		opts = append(opts, registry.ClientOptBasicAuth(o.Username, o.Password))
	}
	client, err := registry.NewClient(opts...)
	if err != nil {
		// Building the client reads only the config file.
		return nil, errorf(kindInvalidInput, "the registry config file %s cannot be used: %v (fix it, move it aside, or pass another with --registry-config)", o.ConfigFile, err)
	}
	return client, nil
}

// registryError turns what the registry client returns into a kind and a
// message that says which option may help. The password is never in it.
func registryError(err error, host string, o registryOptions) error {
	var se *shimError
	if errors.As(err, &se) {
		return err
	}
	msg := err.Error()
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
		return errorf(kindAuth, "%s refused the credentials (or none were given): log in with `chainctl registry login %s` or pass --username and --password-stdin (%s)", host, host, msg)
	case status == http.StatusNotFound || errors.Is(err, errdef.ErrNotFound):
		return errorf(kindNotFound, "%s: %s", host, msg)
	case status == http.StatusTooManyRequests:
		return errorf(kindRegistry, "%s is rate-limiting requests (HTTP 429): wait and try again (%s)", host, msg)
	case status != 0:
		return errorf(kindRegistry, "%s answered HTTP %d: %s", host, status, msg)
	case errors.As(err, &dnsErr):
		return errorf(kindRegistry, "unknown host %s: check the reference (%s)", host, msg)
	case errors.Is(err, syscall.ECONNREFUSED):
		return errorf(kindRegistry, "cannot connect to %s: connection refused; is the registry running, and is the port right?", host)
	case errors.As(err, &certErr) || errors.As(err, &unknownAuthority) || errors.As(err, &hostnameErr):
		if o.CAFile != "" {
			return errorf(kindRegistry, "TLS verification of %s failed with the CA file %s: check that it holds the CA that signed the registry's certificate, or pass --insecure-skip-tls-verify (%s)", host, o.CAFile, msg)
		}
		return errorf(kindRegistry, "TLS verification of %s failed: pass --ca-file with the CA that signed its certificate, or --insecure-skip-tls-verify to skip verification (%s)", host, msg)
	case errors.As(err, &recordErr) || strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		// net/http has no type for the second: its words are the only sign.
		return errorf(kindRegistry, "%s speaks plain HTTP, not HTTPS: pass --plain-http (%s)", host, msg)
	default:
		return errorf(kindRegistry, "%s: %s", host, msg)
	}
}

// registryRequest names a repository or artifact: host/path/chart, with
// ":tag" or "@sha256:..." where the operation needs one.
type registryRequest struct {
	Ref      string          `json:"ref"`
	Registry registryOptions `json:"registry"`
	Dest     string          `json:"dest,omitempty"`
	// Version, for registry.tags: an exact version or a semver constraint
	// to match against the tags, with Helm's own rules ("" is the newest).
	Version *string `json:"version,omitempty"`
	Chart   string  `json:"chart,omitempty"`
}

func decodeRegistryRequest(request json.RawMessage) (registryRequest, *registry.Client, string, error) {
	var req registryRequest
	if err := decode(request, &req); err != nil {
		return req, nil, "", err
	}
	if req.Ref == "" {
		return req, nil, "", errorf(kindInvalidInput, "malformed request: ref is required")
	}
	client, err := newRegistryClient(req.Registry)
	if err != nil {
		return req, nil, "", err
	}
	host, _, _ := strings.Cut(req.Ref, "/")
	return req, client, host, nil
}

// opRegistryTags lists a repository's chart versions, newest first (tags
// that are not semver are left out, and "_" reads as "+", as Helm does).
func opRegistryTags(_ context.Context, request json.RawMessage, _ eventSink) (any, error) {
	req, client, host, err := decodeRegistryRequest(request)
	if err != nil {
		return nil, err
	}
	tags, err := client.Tags(req.Ref)
	if err != nil {
		return nil, registryError(err, host, req.Registry)
	}
	out := map[string]any{"versions": tags}
	if req.Version != nil {
		match, err := registry.GetTagMatchingVersionOrConstraint(tags, *req.Version)
		if err != nil {
			return nil, errorf(kindNotFound, "no version of %s matches %q; available: %s", req.Ref, *req.Version, nearest(tags, 5))
		}
		out["match"] = match
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
func opRegistryResolve(_ context.Context, request json.RawMessage, _ eventSink) (any, error) {
	req, client, host, err := decodeRegistryRequest(request)
	if err != nil {
		return nil, err
	}
	desc, err := client.Resolve(req.Ref)
	if err != nil {
		return nil, registryError(err, host, req.Registry)
	}
	return map[string]any{"digest": desc.Digest.String(), "mediaType": desc.MediaType, "size": desc.Size}, nil
}

type pullResult struct {
	ManifestDigest string       `json:"manifestDigest"`
	ChartDigest    string       `json:"chartDigest"`
	ChartSize      int64        `json:"chartSize"`
	Chart          chartMetaDTO `json:"chart"`
}

// opRegistryPull downloads a chart and writes its archive to dest. The
// caller (the Rust cache) verifies the digest and moves it into place.
func opRegistryPull(_ context.Context, request json.RawMessage, sink eventSink) (any, error) {
	req, client, host, err := decodeRegistryRequest(request)
	if err != nil {
		return nil, err
	}
	if req.Dest == "" {
		return nil, errorf(kindInvalidInput, "malformed request: dest is required")
	}
	progress(sink, "pull", "pulling %s", req.Ref)
	res, err := client.Pull(req.Ref)
	if err != nil {
		if strings.Contains(err.Error(), "minimum number of descriptors") || strings.Contains(err.Error(), "media type") {
			return nil, errorf(kindInvalidInput, "%s is not a Helm chart: %s", req.Ref, describeArtifact(req.Ref, req.Registry))
		}
		return nil, registryError(err, host, req.Registry)
	}
	if err := os.WriteFile(req.Dest, res.Chart.Data, 0o600); err != nil {
		return nil, errorf(kindInternal, "cannot write the pulled chart to %s: %v", req.Dest, err)
	}
	out := pullResult{ManifestDigest: res.Manifest.Digest, ChartDigest: res.Chart.Digest, ChartSize: res.Chart.Size}
	if meta := res.Chart.Meta; meta != nil {
		out.Chart = chartMetaDTO{Name: meta.Name, Version: meta.Version, AppVersion: meta.AppVersion}
	}
	return out, nil
}

// opRegistryPush uploads a packaged chart (.tgz) as host/path/name:version.
func opRegistryPush(_ context.Context, request json.RawMessage, _ eventSink) (any, error) {
	req, client, host, err := decodeRegistryRequest(request)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(req.Chart)
	if err != nil {
		return nil, errorf(kindInvalidInput, "cannot read the chart archive %s: %v", req.Chart, err)
	}
	res, err := client.Push(data, req.Ref, registry.PushOptStrictMode(true))
	if err != nil {
		return nil, registryError(err, host, req.Registry)
	}
	return map[string]string{"ref": res.Ref, "manifestDigest": res.Manifest.Digest, "chartDigest": res.Chart.Digest}, nil
}

type packageRequest struct {
	Path    string `json:"path"`
	Version string `json:"version,omitempty"`
	DestDir string `json:"destDir"`
}

// opChartPackage packages a chart directory into destDir, optionally with
// another version, like `helm package --version`.
func opChartPackage(_ context.Context, request json.RawMessage, _ eventSink) (any, error) {
	var req packageRequest
	if err := decode(request, &req); err != nil {
		return nil, err
	}
	ch, err := loader.LoadDir(req.Path)
	if err != nil {
		return nil, errorf(kindInvalidInput, "chart %s is not a valid Helm chart directory: %v", req.Path, err)
	}
	if req.Version != "" {
		ch.Metadata.Version = req.Version
	}
	if err := os.MkdirAll(req.DestDir, 0o755); err != nil {
		return nil, errorf(kindInvalidInput, "cannot create %s: %v", req.DestDir, err)
	}
	path, err := chartutil.Save(ch, req.DestDir)
	if err != nil {
		return nil, errorf(kindInvalidInput, "cannot package %s: %v", req.Path, err)
	}
	abs, _ := filepath.Abs(path)
	return map[string]string{"path": abs, "name": ch.Metadata.Name, "version": ch.Metadata.Version}, nil
}

// opRegistryLogin checks credentials against the registry and stores them
// in the registry config file, as `helm registry login` does, so a login
// with either tool serves both. Ref is the registry host[:port].
func opRegistryLogin(_ context.Context, request json.RawMessage, _ eventSink) (any, error) {
	req, client, host, err := decodeRegistryRequest(request)
	if err != nil {
		return nil, err
	}
	if req.Registry.Username == "" || req.Registry.Password == "" {
		return nil, errorf(kindInvalidInput, "registry login needs a username and a password (--username, and --password-stdin or CHAINCTL_REGISTRY_PASSWORD)")
	}
	opts := []registry.LoginOption{
		registry.LoginOptBasicAuth(req.Registry.Username, req.Registry.Password),
		registry.LoginOptPlainText(req.Registry.PlainHTTP),
	}
	if err := client.Login(host, opts...); err != nil {
		return nil, registryError(err, host, req.Registry)
	}
	return map[string]string{"host": host, "configFile": req.Registry.ConfigFile}, nil
}

// opRegistryLogout removes the stored credentials of a registry host.
func opRegistryLogout(_ context.Context, request json.RawMessage, _ eventSink) (any, error) {
	req, client, host, err := decodeRegistryRequest(request)
	if err != nil {
		return nil, err
	}
	if err := client.Logout(host); err != nil {
		if strings.Contains(err.Error(), "not found") {
			return nil, errorf(kindNotFound, "no credentials for %s in %s", host, req.Registry.ConfigFile)
		}
		return nil, errorf(kindRegistry, "cannot remove the credentials of %s: %v", host, err)
	}
	return map[string]string{"host": host, "configFile": req.Registry.ConfigFile}, nil
}

// describeArtifact names the media types of what ref points at, for the
// error when it is not a Helm chart. It is only called after a pull failed,
// so it costs nothing on the way that works.
func describeArtifact(ref string, o registryOptions) string {
	unknown := "Helm found no chart layer in it"
	repo, err := remote.NewRepository(ref)
	if err != nil {
		return unknown
	}
	tlsConf, err := o.tlsConfig()
	if err != nil {
		return unknown
	}
	authClient := &auth.Client{Client: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}}
	if o.Username != "" {
		authClient.Credential = auth.StaticCredential(repo.Reference.Registry, auth.Credential{Username: o.Username, Password: o.Password})
	}
	repo.Client = authClient
	repo.PlainHTTP = o.PlainHTTP
	ctx := context.Background()
	_, body, err := repo.FetchReference(ctx, repo.Reference.Reference)
	if err != nil {
		return unknown
	}
	defer body.Close()
	var manifest ocispec.Manifest
	if err := json.NewDecoder(io.LimitReader(body, 4<<20)).Decode(&manifest); err != nil {
		return unknown
	}
	layers := make([]string, 0, len(manifest.Layers))
	for _, l := range manifest.Layers {
		layers = append(layers, l.MediaType)
	}
	return fmt.Sprintf("its config has media type %q and its layers %q; a Helm chart has config %q and a layer %q",
		manifest.Config.MediaType, layers, registry.ConfigMediaType, registry.ChartLayerMediaType)
}
