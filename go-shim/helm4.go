//go:build helmv4

// The Helm 4 backend: what the shim does differently with helm.sh/helm/v4
// than with v3 (helm3.go). Built with -tags helmv4 -modfile=go.helm4.mod
// (the cargo feature helm-v4); everything else is shared.

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	ci "helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/cli/output"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/downloader"
	"helm.sh/helm/v4/pkg/getter"
	"helm.sh/helm/v4/pkg/kube"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	"helm.sh/helm/v4/pkg/postrenderer"
	"helm.sh/helm/v4/pkg/registry"
	ri "helm.sh/helm/v4/pkg/release"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	"helm.sh/helm/v4/pkg/strvals"
)

// helmModule is the Helm SDK module linked in.
const helmModule = "helm.sh/helm/v4"

type (
	helmChart      = chart.Chart
	helmChartFile  = common.File
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
	postRenderer   = postrenderer.PostRenderer
	helmHook       = release.Hook
	depManager     = downloader.Manager
	listAction     = action.List
)

var (
	errReleaseNotFound    = driver.ErrReleaseNotFound
	errNoDeployedReleases = driver.ErrNoDeployedReleases

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

// loadChartFiles loads a chart archive or directory as helm 4 does, by its
// apiVersion; Helm 4's actions install v1 and v2 charts only, and say so
// of others in these words.
func loadChartFiles(path string) (*helmChart, error) {
	return v2Chart(loader.Load(path))
}

func loadChartDir(path string) (*helmChart, error) {
	return v2Chart(loader.LoadDir(path))
}

func v2Chart(c ci.Charter, err error) (*helmChart, error) {
	if err != nil {
		return nil, err
	}
	switch ch := c.(type) {
	case *chart.Chart:
		return ch, nil
	case chart.Chart:
		return &ch, nil
	default:
		// helm 4 reads any chart through its accessor (is it installable,
		// are its dependencies there) before its action refuses one of
		// another apiVersion: the same checks, for the same errors.
		return nil, otherChart(c)
	}
}

func otherChart(c ci.Charter) (err error) {
	ac, err := ci.NewAccessor(c)
	if err != nil {
		return err
	}
	if t := ac.MetadataAsMap()["Type"]; t != "" && t != "application" {
		return fmt.Errorf("%s charts are not installable", t)
	}
	defer func() {
		// Helm 4.3's reading of some v3 charts' dependencies panics
		// (index out of range): the chart is refused, the shim lives on.
		if p := recover(); p != nil {
			err = fmt.Errorf("Helm 4 cannot read the dependencies of this chart: %v", p)
		}
	}()
	if req := ac.MetaDependencies(); len(req) > 0 {
		if err := action.CheckDependencies(c, req); err != nil {
			return err
		}
	}
	return errors.New("invalid chart apiVersion (Helm 4 installs charts of apiVersion v1 and v2)")
}

// sdkVersion is the Helm version Helm itself reports (its user agent's).
func sdkVersion() string { return common.DefaultCapabilities.HelmVersion.Version }

// retrying is Helm's retry of requests the API server throttled.
func retrying(rt http.RoundTripper) http.RoundTripper { return &kube.RetryingRoundTripper{Wrapped: rt} }

// checkHelm4Options checks the values of the options only Helm 4 has.
func checkHelm4Options(o helm4Options) error {
	switch o.ServerSide {
	case "", "true", "false", "auto":
	default:
		return invalidf(inputServerSide, "server-side apply must be true, false or auto, not %q", o.ServerSide)
	}
	return checkWaitStrategy(o.WaitStrategy)
}

func checkWaitStrategy(strategy string) error {
	switch strategy {
	case "", "watcher", "hookOnly", "legacy":
		return nil
	default:
		return invalidf(inputWaitStrategy, "unknown wait strategy %q: use watcher, hookOnly or legacy", strategy)
	}
}

// waitStrategy is helm 4's --wait: a strategy when named; else --wait
// alone is the watcher, and no --wait waits for hooks only.
func waitStrategy(wait bool, strategy string) kube.WaitStrategy {
	switch {
	case strategy != "":
		return kube.WaitStrategy(strategy)
	case wait:
		return kube.StatusWatcherStrategy
	default:
		return kube.HookOnlyStrategy
	}
}

// waits says whether an action waited for its resources.
func waits(wait bool, o helm4Options) bool {
	return waitStrategy(wait, o.WaitStrategy) != kube.HookOnlyStrategy
}

// waitOptions are what the helm 4 CLI passes to every wait (its
// defaultCLIWaitOptions), so the wait behaves as helm's.
func waitOptions() []kube.WaitOption {
	return []kube.WaitOption{kube.WithStatusComputeWorkers(8)}
}

// serverSide is the upgrade and rollback setting: "auto" (the method of
// the last revision) unless given.
func serverSide(o helm4Options) string {
	if o.ServerSide == "" {
		return "auto"
	}
	return o.ServerSide
}

func checkDependencies(ch *helmChart) error {
	reqs := make([]ci.Dependency, 0, len(ch.Metadata.Dependencies))
	for _, d := range ch.Metadata.Dependencies {
		reqs = append(reqs, d)
	}
	return action.CheckDependencies(ch, reqs)
}

// newExecPostRenderer refuses: helm 4's --post-renderer names a plugin,
// not an executable.
func newExecPostRenderer(path string, _ []string) (postRenderer, error) {
	return nil, fmt.Errorf("Helm 4 runs post-renderers as plugins, not executables such as %s; this build links Helm 4, which cannot run it (build without the cargo feature helm-v4 to use Helm 3's executable post-renderers)", path)
}

// withRenderMark is the user's post-renderer: Helm 4 reassembles the
// manifest around any post-renderer, so the render is timed, and its
// Secrets learnt, where Helm builds the Kubernetes objects (markingKube).
func withRenderMark(user postRenderer, _ *timer) postRenderer { return user }

// markingKube is a Kubernetes client that notes the render's end at the
// first Build, which Helm calls on the manifest it rendered; the scrubber
// learns the Secrets of every manifest built.
type markingKube struct {
	kube.Interface
	mark *renderMark
}

func (k markingKube) Build(r io.Reader, validate bool) (kube.ResourceList, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	k.mark.at.CompareAndSwap(0, time.Now().UnixNano())
	k.mark.scrubber.addManifest(string(data))
	return k.Interface.Build(bytes.NewReader(data), validate)
}

func (k markingKube) GetWaiterWithOptions(ws kube.WaitStrategy, opts ...kube.WaitOption) (kube.Waiter, error) {
	if c, ok := k.Interface.(kube.InterfaceWaitOptions); ok {
		return c.GetWaiterWithOptions(ws, opts...)
	}
	return k.Interface.GetWaiter(ws)
}

func markRender(cfg *helmConfig, t *timer) {
	cfg.KubeClient = markingKube{Interface: cfg.KubeClient, mark: &t.mark}
}

// sinkLogger is the slog handler of one call's sink.
func sinkLogger(sink eventSink) slog.Handler {
	return sinkHandler{emit: func(level, message string) {
		sink.emit(event{Level: level, Message: message})
	}}
}

// Helm names the field manager of what it applies after the program
// that runs it (its binary's name) unless told: "helm" for the helm CLI.
// The shim names it as helm does, so that a release deployed by either
// tool belongs to the same manager (with server-side apply, another name
// would make every field a conflict between helm and chainctl).
func init() { kube.ManagedFieldsManager = "helm" }

// memoryConfig is the configuration of a memory store: releases kept in
// this process, nothing applied to any cluster.
func memoryConfig(d *memoryDriver, sink eventSink) *helmConfig {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(sinkLogger(sink)))
	cfg.Releases = storage.Init(d)
	cfg.KubeClient = &kubefake.PrintingKubeClient{Out: io.Discard}
	cfg.Capabilities = common.DefaultCapabilities
	return cfg
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
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(sinkLogger(sink)))
	if err := cfg.Init(getter, namespace, storage); err != nil {
		return nil, err
	}
	shareFieldValidation(cfg.KubeClient, getter)
	return cfg, nil
}

func releaseTimes(rel *helmRelease) (first, last, deleted time.Time) {
	return rel.Info.FirstDeployed, rel.Info.LastDeployed, rel.Info.Deleted
}

// v1 is the Helm 4 release of rel: the storage and the actions hand out
// releases behind an interface, of which the shim knows the v1 kind.
func v1(rel ri.Releaser, err error) (*helmRelease, error) {
	if err != nil {
		return nil, err
	}
	switch r := rel.(type) {
	case *release.Release:
		return r, nil
	case release.Release:
		return &r, nil
	case nil:
		return nil, nil
	default:
		return nil, errorf(kindInternal, "Helm returned a release of an unknown kind (%T)", rel)
	}
}

func v1List(rels []ri.Releaser, err error) ([]*helmRelease, error) {
	if err != nil {
		return nil, err
	}
	out := make([]*helmRelease, 0, len(rels))
	for _, r := range rels {
		rel, err := v1(r, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	return out, nil
}

// v1Partial is v1 for an action's result, which Helm may return, partly
// filled, with its error.
func v1Partial(rel ri.Releaser, err error) (*helmRelease, error) {
	out, convErr := v1(rel, nil)
	if err != nil {
		return out, err
	}
	return out, convErr
}

func lastRelease(cfg *helmConfig, name string) (*helmRelease, error) {
	return v1(cfg.Releases.Last(name))
}

func getRelease(cfg *helmConfig, name string, revision int) (*helmRelease, error) {
	return v1(cfg.Releases.Get(name, revision))
}

func dryRunStrategy(mode string) (action.DryRunStrategy, error) {
	switch mode {
	case "", "none":
		return action.DryRunNone, nil
	case "client":
		return action.DryRunClient, nil
	case "server":
		return action.DryRunServer, nil
	default:
		return "", errorf(kindInvalidInput, "unknown dry-run mode %q: use none, client or server", mode)
	}
}

// renderChart renders ch without any cluster, like `helm template`.
func renderChart(ctx context.Context, ch *helmChart, vals map[string]any, o releaseOptions, t *timer, sink eventSink) (*helmRelease, error) {
	if err := checkHelm4Options(o.helm4Options); err != nil {
		return nil, err
	}
	inst := action.NewInstall(action.NewConfiguration(action.ConfigurationSetLogger(sinkLogger(sink))))
	inst.DryRunStrategy = action.DryRunClient
	inst.Replace = true
	inst.IncludeCRDs = true
	inst.ReleaseName = o.Release
	inst.Namespace = o.Namespace
	inst.Description = o.Description
	if err := setInstallFlags(inst, o, t); err != nil {
		return nil, err
	}
	if v := o.KubeVersion; v != "" {
		kv, err := common.ParseKubeVersion(v)
		if err != nil {
			return nil, errorf(kindInvalidInput, "invalid kube version %q: %v", v, err)
		}
		inst.KubeVersion = kv
	}
	inst.APIVersions = common.VersionSet(o.APIVersions)
	return v1Partial(inst.RunWithContext(ctx, ch, vals))
}

func installChart(ctx context.Context, cfg *helmConfig, ch *helmChart, vals map[string]any, o releaseOptions, t *timer) (*helmRelease, error) {
	if err := checkHelm4Options(o.helm4Options); err != nil {
		return nil, err
	}
	dry, err := dryRunStrategy(o.DryRun)
	if err != nil {
		return nil, err
	}
	markRender(cfg, t)
	inst := action.NewInstall(cfg)
	inst.ReleaseName = o.Release
	inst.Namespace = o.Namespace
	inst.CreateNamespace = o.CreateNamespace
	inst.DryRunStrategy = dry
	inst.WaitStrategy = waitStrategy(o.Wait, o.WaitStrategy)
	inst.WaitOptions = waitOptions()
	inst.RollbackOnFailure = o.Atomic
	inst.Timeout = o.timeout()
	inst.Description = o.Description
	// An install has no revision before it: "auto" is helm 4's default, on.
	inst.ServerSideApply = o.ServerSide != "false"
	inst.ForceConflicts = o.ForceConflicts
	if err := setInstallFlags(inst, o, t); err != nil {
		return nil, err
	}
	return v1Partial(inst.RunWithContext(ctx, ch, vals))
}

// setInstallFlags sets what helm's install takes from the same flags as
// the upgrade.
func setInstallFlags(inst *action.Install, o releaseOptions, t *timer) error {
	pr, err := o.postRenderer(t)
	if err != nil {
		return err
	}
	inst.PostRenderer = pr
	inst.SkipCRDs = o.SkipCRDs
	inst.DisableHooks = o.NoHooks
	inst.WaitForJobs = o.WaitForJobs
	inst.ForceReplace = o.Force
	inst.TakeOwnership = o.TakeOwnership
	inst.SkipSchemaValidation = o.SkipSchemaValidation
	inst.Labels = o.Labels
	return nil
}

func upgradeChart(ctx context.Context, cfg *helmConfig, ch *helmChart, vals map[string]any, o releaseOptions, t *timer) (*helmRelease, error) {
	if err := checkHelm4Options(o.helm4Options); err != nil {
		return nil, err
	}
	dry, err := dryRunStrategy(o.DryRun)
	if err != nil {
		return nil, err
	}
	pr, err := o.postRenderer(t)
	if err != nil {
		return nil, err
	}
	markRender(cfg, t)
	up := action.NewUpgrade(cfg)
	up.Namespace = o.Namespace
	up.Install = o.InstallIfMissing
	up.DryRunStrategy = dry
	up.WaitStrategy = waitStrategy(o.Wait, o.WaitStrategy)
	up.WaitOptions = waitOptions()
	up.RollbackOnFailure = o.Atomic
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
	up.ForceReplace = o.Force
	up.ForceConflicts = o.ForceConflicts
	up.ServerSideApply = serverSide(o.helm4Options)
	up.TakeOwnership = o.TakeOwnership
	up.SkipSchemaValidation = o.SkipSchemaValidation
	up.Labels = o.Labels
	up.PostRenderer = pr
	return v1Partial(up.RunWithContext(ctx, o.Release, ch, vals))
}

// releaseHistory is `helm history`: every revision, at most max (0: all).
func releaseHistory(cfg *helmConfig, name string, max int) ([]*helmRelease, error) {
	hist := action.NewHistory(cfg)
	hist.Max = max
	return v1List(hist.Run(name))
}

// currentRelease is `helm status` of a revision (0: the last).
func currentRelease(cfg *helmConfig, name string, revision int) (*helmRelease, error) {
	st := action.NewStatus(cfg)
	st.Version = revision
	return v1(st.Run(name))
}

func rollbackRelease(cfg *helmConfig, req rollbackRequest) error {
	if err := checkHelm4Options(req.helm4Options); err != nil {
		return err
	}
	rb := action.NewRollback(cfg)
	rb.Version = req.Revision
	rb.WaitStrategy = waitStrategy(req.Wait, req.WaitStrategy)
	rb.WaitOptions = waitOptions()
	rb.Timeout = millis(req.TimeoutMs)
	rb.ForceReplace = req.Force
	rb.ForceConflicts = req.ForceConflicts
	rb.ServerSideApply = serverSide(req.helm4Options)
	if req.DryRun {
		rb.DryRunStrategy = action.DryRunClient
	}
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
	un.WaitStrategy = waitStrategy(req.Wait, req.WaitStrategy)
	un.WaitOptions = waitOptions()
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
	rel, err := v1(res.Release, nil)
	return rel, res.Info, err
}

func runList(list *listAction) ([]*helmRelease, error) { return v1List(list.Run()) }

// notingHandler keeps the last record that says something is not ready
// (Helm's legacy wait logs them), then passes every record on.
type notingHandler struct {
	slog.Handler
	w *waitLog
}

func (h notingHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "not ready") {
		msg := r.Message
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "name" || a.Key == "namespace" {
				msg += " " + a.Key + "=" + a.Value.String()
			}
			return true
		})
		h.w.note(msg)
	}
	return h.Handler.Handle(ctx, r)
}

func (h notingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return notingHandler{h.Handler.WithAttrs(attrs), h.w}
}

func (h notingHandler) WithGroup(name string) slog.Handler {
	return notingHandler{h.Handler.WithGroup(name), h.w}
}

// watchWaitLog wraps cfg's logger (and its Kubernetes client's) to keep
// the last record that says what is not ready. Helm 4's watcher says it in
// its error instead ("resource Deployment/ns/name not ready").
func watchWaitLog(cfg *helmConfig) *waitLog {
	w := &waitLog{}
	cfg.SetLogger(notingHandler{cfg.Logger().Handler(), w})
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		kc.SetLogger(notingHandler{kc.Logger().Handler(), w})
	}
	return w
}
