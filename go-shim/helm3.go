//go:build !helmv4

// The Helm 3 backend: what the shim does differently with helm.sh/helm/v3
// than with v4 (helm4.go). Everything else is shared and names the SDK
// only through the types, values and functions defined here.

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/output"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/kube"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"helm.sh/helm/v3/pkg/strvals"
)

// helmModule is the Helm SDK module linked in.
const helmModule = "helm.sh/helm/v3"

type (
	helmChart      = chart.Chart
	helmChartFile  = chart.File
	helmRelease    = release.Release
	helmConfig     = action.Configuration
	helmRegistry   = registry.Client
	registryOption = registry.ClientOption
	loginOption    = registry.LoginOption
	getterOption   = getter.Option
	getterGetter   = getter.Getter
	getterList     = getter.Providers
	valueOptions   = values.Options
	memoryDriver   = driver.Memory
	postRenderer   = postrender.PostRenderer
	helmHook       = release.Hook
	depManager     = downloader.Manager
	listAction     = action.List
)

var (
	errReleaseNotFound    = driver.ErrReleaseNotFound
	errNoDeployedReleases = driver.ErrNoDeployedReleases

	loadChartFiles = loader.Load
	loadChartDir   = loader.LoadDir
	saveChart      = chartutil.Save
	splitManifests = releaseutil.SplitManifests
	parseIntoFile  = strvals.ParseIntoFile
	encodeYAML     = output.EncodeYAML
	newMemory      = driver.NewMemory
	newList        = action.NewList
	newGetValues   = action.NewGetValues

	newRegistry           = registry.NewClient
	registryEnableCache   = registry.ClientOptEnableCache
	registryWriter        = registry.ClientOptWriter
	registryCredentials   = registry.ClientOptCredentialsFile
	registryHTTPClient    = registry.ClientOptHTTPClient
	registryPlainHTTP     = registry.ClientOptPlainHTTP
	registryBasicAuth     = registry.ClientOptBasicAuth
	registryPushStrict    = registry.PushOptStrictMode
	loginBasicAuth        = registry.LoginOptBasicAuth
	loginPlainText        = registry.LoginOptPlainText
	matchingTag           = registry.GetTagMatchingVersionOrConstraint
	newHTTPGetter         = getter.NewHTTPGetter
	getterWithURL         = getter.WithURL
	getterWithTimeout     = getter.WithTimeout
	getterWithTransport   = getter.WithTransport
	helmGetters           = func() getterList { return getter.Getters() }
	registryConfigMedia   = registry.ConfigMediaType
	registryChartMedia    = registry.ChartLayerMediaType
	registryOldChartMedia = registry.LegacyChartLayerMediaType
)

// sdkVersion is the Helm version Helm itself reports (its user agent's).
func sdkVersion() string { return chartutil.DefaultCapabilities.HelmVersion.Version }

// retrying is Helm's retry of requests the API server throttled.
func retrying(rt http.RoundTripper) http.RoundTripper { return &kube.RetryingRoundTripper{Wrapped: rt} }

// checkHelm4Options refuses what only Helm 4 does: Helm 3 applies on the
// client and waits by polling.
func checkHelm4Options(o helm4Options) error {
	switch o.ServerSide {
	case "", "false":
	default:
		return invalidf(inputServerSide, "server-side apply (%q) needs Helm 4: this build links Helm 3, which applies on the client; build chainctl-core with the cargo feature helm-v4", o.ServerSide)
	}
	if o.ForceConflicts {
		return invalidf(inputForceConflicts, "force-conflicts is an option of server-side apply, which needs Helm 4: build chainctl-core with the cargo feature helm-v4")
	}
	return checkWaitStrategy(o.WaitStrategy)
}

func checkWaitStrategy(strategy string) error {
	switch strategy {
	case "", "legacy":
		return nil
	case "watcher", "hookOnly":
		return invalidf(inputWaitStrategy, "the %s wait strategy needs Helm 4: this build links Helm 3, whose wait polls (legacy); build chainctl-core with the cargo feature helm-v4", strategy)
	default:
		return invalidf(inputWaitStrategy, "unknown wait strategy %q: use watcher, hookOnly or legacy", strategy)
	}
}

func checkDependencies(ch *helmChart) error {
	return action.CheckDependencies(ch, ch.Metadata.Dependencies)
}

func newExecPostRenderer(path string, args []string) (postRenderer, error) {
	return postrender.NewExec(path, args...)
}

// withRenderMark puts the mark that times the render after the user's
// post-renderer (or alone): Helm 3 runs it on the rendered manifest.
func withRenderMark(user postRenderer, t *timer) postRenderer {
	if user == nil {
		return &t.mark
	}
	return chainedRenderer{user, &t.mark}
}

type chainedRenderer []postRenderer

func (c chainedRenderer) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	var err error
	for _, r := range c {
		if in, err = r.Run(in); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// Helm names the field manager of what it applies after the program
// that runs it (its binary's name) unless told: "helm" for the helm CLI.
// The shim names it as helm does, so that a release deployed by either
// tool belongs to the same manager (with server-side apply, another name
// would make every field a conflict between helm and chainctl).
func init() { kube.ManagedFieldsManager = "helm" }

// Helm's release builds stamp the Kubernetes version that `helm template`
// assumes from the client-go they link (client-go v0.N goes with Kubernetes
// v1.N); a plain module build of Helm 3 keeps a placeholder of v1.20 (Helm
// 4 reads client-go's version itself). Do the same here, so charts with a
// kubeVersion constraint render as they do with helm.
func init() {
	if major, minor, ok := kubeVersionFromClientGo(); ok {
		chartutil.DefaultCapabilities.KubeVersion = chartutil.KubeVersion{
			Version: fmt.Sprintf("v%s.%s.0", major, minor),
			Major:   major,
			Minor:   minor,
		}
	}
}

// memoryConfig is the configuration of a memory store: releases kept in
// this process, nothing applied to any cluster.
func memoryConfig(d *memoryDriver, sink eventSink) *helmConfig {
	return &action.Configuration{
		Releases:     storage.Init(d),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          helmLog(sink),
	}
}

// shareFieldValidation gives Helm's kube client a factory whose Validator
// shares what it learns with the other calls to the same API server
// (fieldvalidation.go).
func shareFieldValidation(kc kube.Interface, getter *restGetter) {
	if c, ok := kc.(*kube.Client); ok {
		if f, ok := sharedFactory(c.Factory, getter); ok {
			c.Factory = f
		}
	}
}

// clusterConfig is the configuration of a cluster's release storage.
func clusterConfig(getter *restGetter, namespace, storage string, sink eventSink) (*helmConfig, error) {
	cfg := new(action.Configuration)
	if err := cfg.Init(getter, namespace, storage, helmLog(sink)); err != nil {
		return nil, err
	}
	shareFieldValidation(cfg.KubeClient, getter)
	return cfg, nil
}

func releaseTimes(rel *helmRelease) (first, last, deleted time.Time) {
	return rel.Info.FirstDeployed.Time, rel.Info.LastDeployed.Time, rel.Info.Deleted.Time
}

func lastRelease(cfg *helmConfig, name string) (*helmRelease, error) {
	return cfg.Releases.Last(name)
}

func getRelease(cfg *helmConfig, name string, revision int) (*helmRelease, error) {
	return cfg.Releases.Get(name, revision)
}

func dryRunFlags(mode string) (bool, string, error) {
	switch mode {
	case "", "none":
		return false, "none", nil
	case "client", "server":
		return true, mode, nil
	default:
		return false, "", errorf(kindInvalidInput, "unknown dry-run mode %q: use none, client or server", mode)
	}
}

// renderChart renders ch without any cluster, like `helm template`.
func renderChart(ctx context.Context, ch *helmChart, vals map[string]any, o releaseOptions, t *timer, sink eventSink) (*helmRelease, error) {
	if err := checkHelm4Options(o.helm4Options); err != nil {
		return nil, err
	}
	inst := action.NewInstall(&action.Configuration{Log: helmLog(sink)})
	inst.ClientOnly = true
	inst.DryRun = true
	inst.DryRunOption = "client"
	inst.Replace = true
	inst.IncludeCRDs = true
	inst.ReleaseName = o.Release
	inst.Namespace = o.Namespace
	inst.Description = o.Description
	if err := setInstallFlags(inst, o, t); err != nil {
		return nil, err
	}
	if v := o.KubeVersion; v != "" {
		kv, err := chartutil.ParseKubeVersion(v)
		if err != nil {
			return nil, errorf(kindInvalidInput, "invalid kube version %q: %v", v, err)
		}
		inst.KubeVersion = kv
	}
	inst.APIVersions = chartutil.VersionSet(o.APIVersions)
	return inst.RunWithContext(ctx, ch, vals)
}

func installChart(ctx context.Context, cfg *helmConfig, ch *helmChart, vals map[string]any, o releaseOptions, t *timer) (*helmRelease, error) {
	if err := checkHelm4Options(o.helm4Options); err != nil {
		return nil, err
	}
	dry, mode, err := dryRunFlags(o.DryRun)
	if err != nil {
		return nil, err
	}
	inst := action.NewInstall(cfg)
	inst.ReleaseName = o.Release
	inst.Namespace = o.Namespace
	inst.CreateNamespace = o.CreateNamespace
	inst.DryRun, inst.DryRunOption = dry, mode
	inst.Wait = o.Wait
	inst.Atomic = o.Atomic
	inst.Timeout = o.timeout()
	inst.Description = o.Description
	if err := setInstallFlags(inst, o, t); err != nil {
		return nil, err
	}
	return inst.RunWithContext(ctx, ch, vals)
}

// setInstallFlags sets what helm's install (and upgrade --install, which
// copies them onto its install) take from the same flags.
func setInstallFlags(inst *action.Install, o releaseOptions, t *timer) error {
	pr, err := o.postRenderer(t)
	if err != nil {
		return err
	}
	inst.PostRenderer = pr
	inst.SkipCRDs = o.SkipCRDs
	inst.DisableHooks = o.NoHooks
	inst.WaitForJobs = o.WaitForJobs
	inst.Force = o.Force
	inst.TakeOwnership = o.TakeOwnership
	inst.SkipSchemaValidation = o.SkipSchemaValidation
	inst.Labels = o.Labels
	return nil
}

func upgradeChart(ctx context.Context, cfg *helmConfig, ch *helmChart, vals map[string]any, o releaseOptions, t *timer) (*helmRelease, error) {
	if err := checkHelm4Options(o.helm4Options); err != nil {
		return nil, err
	}
	dry, mode, err := dryRunFlags(o.DryRun)
	if err != nil {
		return nil, err
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = o.Namespace
	up.Install = o.InstallIfMissing
	up.DryRun, up.DryRunOption = dry, mode
	up.Wait = o.Wait
	up.Atomic = o.Atomic
	up.Timeout = o.timeout()
	up.Description = o.Description
	up.ReuseValues = o.ReuseValues
	up.ResetValues = o.ResetValues
	up.ResetThenReuseValues = o.ResetThenReuseValues
	up.MaxHistory = o.HistoryMax
	up.SkipCRDs = o.SkipCRDs
	up.DisableHooks = o.NoHooks
	up.WaitForJobs = o.WaitForJobs
	up.CleanupOnFail = o.CleanupOnFail
	up.Force = o.Force
	up.TakeOwnership = o.TakeOwnership
	up.SkipSchemaValidation = o.SkipSchemaValidation
	up.Labels = o.Labels
	pr, err := o.postRenderer(t)
	if err != nil {
		return nil, err
	}
	up.PostRenderer = pr
	return up.RunWithContext(ctx, o.Release, ch, vals)
}

// releaseHistory is `helm history`: every revision, oldest first, at most
// max (0: all).
func releaseHistory(cfg *helmConfig, name string, max int) ([]*helmRelease, error) {
	hist := action.NewHistory(cfg)
	hist.Max = max
	return hist.Run(name)
}

// currentRelease is `helm status` of a revision (0: the last).
func currentRelease(cfg *helmConfig, name string, revision int) (*helmRelease, error) {
	st := action.NewStatus(cfg)
	st.Version = revision
	return st.Run(name)
}

func rollbackRelease(cfg *helmConfig, req rollbackRequest) error {
	if err := checkHelm4Options(req.helm4Options); err != nil {
		return err
	}
	rb := action.NewRollback(cfg)
	rb.Version = req.Revision
	rb.Wait = req.Wait
	rb.Timeout = millis(req.TimeoutMs)
	rb.Force = req.Force
	rb.DryRun = req.DryRun
	rb.DisableHooks = req.NoHooks
	rb.MaxHistory = req.HistoryMax
	return rb.Run(req.Release)
}

// uninstallRelease uninstalls; a nil release with no error is an
// --ignore-not-found that found nothing.
func uninstallRelease(cfg *helmConfig, req uninstallRequest) (*helmRelease, string, error) {
	if err := checkWaitStrategy(req.WaitStrategy); err != nil {
		return nil, "", err
	}
	un := action.NewUninstall(cfg)
	un.KeepHistory = req.KeepHistory
	un.Wait = req.Wait
	un.Timeout = millis(req.TimeoutMs)
	un.Description = req.Description
	un.DryRun = req.DryRun
	un.DisableHooks = req.NoHooks
	un.IgnoreNotFound = req.IgnoreNotFound
	un.DeletionPropagation = req.Cascade
	if un.DeletionPropagation == "" {
		un.DeletionPropagation = "background"
	}
	res, err := un.Run(req.Release)
	if err != nil || res == nil {
		return nil, "", err
	}
	return res.Release, res.Info, nil
}

func runList(list *listAction) ([]*helmRelease, error) { return list.Run() }

// watchWaitLog wraps cfg's logger (and its Kubernetes client's, which
// reports readiness) to keep the last "... is not ready: ..." line.
func watchWaitLog(cfg *helmConfig) *waitLog {
	w := &waitLog{}
	next := cfg.Log
	logf := func(format string, args ...any) {
		// Helm's readiness checks put the words in the format itself:
		// only those lines are formatted here (next formats every line).
		if strings.Contains(format, " is not ready: ") {
			w.note(fmt.Sprintf(format, args...))
		}
		if next != nil {
			next(format, args...)
		}
	}
	cfg.Log = logf
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		kc.Log = logf
	}
	return w
}

// waits says whether an action waited for its resources.
func waits(wait bool, o helm4Options) bool { return wait }
