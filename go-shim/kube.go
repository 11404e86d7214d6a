package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	diskcached "k8s.io/client-go/discovery/cached/disk"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeSettings are helm's kube flags (and their HELM_* variables), resolved
// by the caller: the shim reads no environment.
type kubeSettings struct {
	// Kubeconfig is --kubeconfig: the one file used when set.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// KubeconfigPaths is what client-go would take from KUBECONFIG (or
	// ~/.kube/config): merged by client-go's loading rules.
	KubeconfigPaths []string `json:"kubeconfigPaths,omitempty"`
	Context         string   `json:"context,omitempty"`
	// Namespace is -n (or HELM_NAMESPACE); empty means the context's.
	Namespace     string   `json:"namespace,omitempty"`
	Token         string   `json:"token,omitempty"`
	AsUser        string   `json:"asUser,omitempty"`
	AsGroups      []string `json:"asGroups,omitempty"`
	APIServer     string   `json:"apiServer,omitempty"`
	CAFile        string   `json:"caFile,omitempty"`
	Insecure      bool     `json:"insecureSkipTlsVerify,omitempty"`
	TLSServerName string   `json:"tlsServerName,omitempty"`
	BurstLimit    int      `json:"burstLimit,omitempty"`
	QPS           float32  `json:"qps,omitempty"`
	// CacheDir holds the discovery cache; empty keeps it in memory.
	CacheDir string `json:"cacheDir,omitempty"`

	// ctx, when set, bounds every API server request (see kubeTransport).
	ctx context.Context
}

// helm's defaults (pkg/cli/environment.go).
const helmDefaultBurstLimit = 100

// loader is the kubeconfig loader helm's EnvSettings builds through
// genericclioptions.ConfigFlags, with the file list given explicitly
// instead of read from KUBECONFIG.
func (k kubeSettings) loader() clientcmd.ClientConfig {
	rules := &clientcmd.ClientConfigLoadingRules{
		ExplicitPath:        k.Kubeconfig,
		Precedence:          dedupe(k.KubeconfigPaths),
		DefaultClientConfig: &clientcmd.DefaultClientConfig,
	}
	overrides := &clientcmd.ConfigOverrides{ClusterDefaults: clientcmd.ClusterDefaults}
	overrides.AuthInfo.Token = k.Token
	overrides.AuthInfo.Impersonate = k.AsUser
	overrides.AuthInfo.ImpersonateGroups = k.AsGroups
	overrides.ClusterInfo.Server = k.APIServer
	overrides.ClusterInfo.TLSServerName = k.TLSServerName
	overrides.ClusterInfo.CertificateAuthority = k.CAFile
	overrides.ClusterInfo.InsecureSkipTLSVerify = k.Insecure
	overrides.CurrentContext = k.Context
	overrides.Context.Namespace = k.Namespace
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

func dedupe(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// namespace is helm's: the flag, else the context's, else "default".
func (k kubeSettings) namespace() string {
	return namespaceOf(k.loader())
}

func namespaceOf(loader clientcmd.ClientConfig) string {
	if ns, _, err := loader.Namespace(); err == nil && ns != "" {
		return ns
	}
	return "default"
}

// restGetter is the genericclioptions.RESTClientGetter Helm's actions use,
// configured as helm configures its ConfigFlags.
type restGetter struct {
	settings kubeSettings
	loader   clientcmd.ClientConfig
	// stalled is the first API server request that the call's deadline
	// ended, to say what stalled when the action fails.
	stalled atomic.Pointer[netError]

	mu        sync.Mutex
	discovery discovery.CachedDiscoveryInterface
}

func newRESTGetter(k kubeSettings) *restGetter {
	return &restGetter{settings: k, loader: k.loader()}
}

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return g.loader }

func (g *restGetter) ToRESTConfig() (*rest.Config, error) {
	config, err := g.loader.ClientConfig()
	if err != nil {
		return nil, err
	}
	config.Burst = g.settings.BurstLimit
	if config.Burst == 0 {
		config.Burst = helmDefaultBurstLimit
	}
	config.QPS = g.settings.QPS
	config.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return retrying(rt)
	})
	if ctx := g.settings.ctx; ctx != nil {
		// client-go's requests in Helm v3 mostly carry context.TODO: bind
		// them to the call, so that a stalled API server ends with it.
		config.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return &kubeTransport{ctx: ctx, base: rt, getter: g}
		})
	}
	config.UserAgent = "Helm/" + strings.TrimPrefix(sdkVersion(), "v")
	return config, nil
}

var unsafeCacheChars = regexp.MustCompile(`[^(\w/.)]`)

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.discovery != nil {
		return g.discovery, nil
	}
	config, err := g.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	// helm raises the discovery burst only with a non-default burst limit;
	// otherwise client-go's defaults apply.
	config.Burst, config.QPS = 0, 0
	if b := g.settings.BurstLimit; b != 0 && b != helmDefaultBurstLimit {
		config.Burst = b
	}
	if dir := g.settings.CacheDir; dir != "" {
		host := strings.NewReplacer("https://", "", "http://", "").Replace(config.Host)
		g.discovery, err = diskcached.NewCachedDiscoveryClientForConfig(config,
			filepath.Join(dir, "discovery", unsafeCacheChars.ReplaceAllString(host, "_")),
			filepath.Join(dir, "http"), 6*time.Hour)
	} else {
		var dc *discovery.DiscoveryClient
		dc, err = discovery.NewDiscoveryClientForConfig(config)
		if err == nil {
			g.discovery = memory.NewMemCacheClient(dc)
		}
	}
	return g.discovery, err
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(dc)
	return restmapper.NewShortcutExpander(mapper, dc, nil), nil
}

// caFingerprint digests the certificates of a PEM bundle, in order.
func caFingerprint(pemData []byte) string {
	h := sha256.New()
	found := false
	for {
		var block *pem.Block
		block, pemData = pem.Decode(pemData)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			h.Write(block.Bytes)
			found = true
		}
	}
	if !found {
		return ""
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// opKubeResolve resolves the namespace (helm's rule) and names the context
// and API server the settings select. A kubeconfig that cannot be read is
// an error only for the server; the namespace then defaults as in helm.
func opKubeResolve(_ context.Context, k kubeResolveRequest, _ eventSink) (kubeResolved, error) {
	// One loader: it reads the kubeconfig files once.
	loader := k.loader()
	out := kubeResolved{Namespace: namespaceOf(loader)}
	if raw, err := loader.RawConfig(); err == nil {
		out.Context = raw.CurrentContext
		if k.Context != "" {
			out.Context = k.Context
		}
		if c, ok := raw.Contexts[out.Context]; ok {
			out.Cluster, out.User = c.Cluster, c.AuthInfo
		}
	}
	if config, err := loader.ClientConfig(); err == nil {
		out.Server = config.Host
		if rest.LoadTLSFiles(config) == nil {
			out.CAFingerprint = caFingerprint(config.TLSClientConfig.CAData)
		}
	}
	return out, nil
}

// kubeTransport binds API server requests to a call's context and keeps
// the first one that its deadline ended after it had waited a while (a
// quick poll of --wait that the deadline happens to cut is no stall).
// stallThreshold: a request the deadline ended after this long stalled.
const stallThreshold = time.Second

// recordGrace is how long an action's API server requests outlive its
// Helm timeout, for Helm to record the failed release.
const recordGrace = 500 * time.Millisecond

// cancelGrace is how long an action's API server requests outlive a cancel
// by the caller: Helm, seeing its context end, marks the release failed,
// and needs the API server to do it.
const cancelGrace = 5 * time.Second

// kubeContext bounds the API server requests of a call: they end at
// deadline (none when zero), or cancelGrace after parent ends, whichever
// comes first. Deriving them from parent itself would cut the requests
// Helm makes to record a cancelled action, leaving the release pending.
func kubeContext(parent context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(parent)
	var ctx context.Context
	var cancel context.CancelFunc
	if deadline.IsZero() {
		ctx, cancel = context.WithCancel(base)
	} else {
		ctx, cancel = context.WithDeadline(base, deadline)
	}
	stop := context.AfterFunc(parent, func() { time.AfterFunc(cancelGrace, cancel) })
	return ctx, func() {
		stop()
		cancel()
	}
}

type kubeTransport struct {
	ctx    context.Context
	base   http.RoundTripper
	getter *restGetter
}

func (t *kubeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Query().Get("watch") == "true" {
		// A watch waits by design (hooks, --wait on Jobs): bound, never
		// called a stall.
		resp, _, err := boundRoundTrip(t.ctx, t.base, req)
		return resp, err
	}
	resp, body, err := boundRoundTrip(t.ctx, t.base, req)
	if err != nil {
		var ne *netError
		if errors.As(err, &ne) && ne.timedOut() && ne.waited >= stallThreshold {
			t.getter.stalled.CompareAndSwap(nil, ne)
		}
		return nil, err
	}
	body.fail = func(next func(error) error) func(error) error {
		return func(err error) error {
			wrapped := next(err)
			var ne *netError
			if errors.As(wrapped, &ne) && ne.timedOut() && ne.waited >= stallThreshold {
				t.getter.stalled.CompareAndSwap(nil, ne)
			}
			return wrapped
		}
	}(body.fail)
	return resp, nil
}

// apiServerStall says which API server request stalled when an action ran
// out of time waiting on it; err otherwise.
func apiServerStall(cfg *helmConfig, err error, within string) error {
	g, ok := restGetterOf(cfg)
	if !ok || err == nil {
		return err
	}
	ne := g.stalled.Load()
	if ne == nil {
		return err
	}
	return errorf(kindTimeout, "the API server %s stalled: no progress while %s (%s %s) for %s, %s: check that the cluster is up and reachable, or allow more time",
		ne.host, ne.stage, ne.method, ne.path, ne.waited.Round(100*time.Millisecond), within)
}
