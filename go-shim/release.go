package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/yaml"
)

// postRenderer is the user's post-renderer (helm's --post-renderer) if
// any, with the mark that times the render (withRenderMark).
func (o releaseOptions) postRenderer(t *timer) (postRenderer, error) {
	var user postRenderer
	if o.PostRenderer != "" {
		var err error
		if user, err = newExecPostRenderer(o.PostRenderer, o.PostRendererArgs); err != nil {
			return nil, errorf(kindInvalidInput, "post-renderer %s: %v", o.PostRenderer, err)
		}
	}
	return withRenderMark(user, t), nil
}

func (o releaseOptions) timeout() time.Duration {
	return millis(o.TimeoutMs)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func toDTO(rel *helmRelease, withManifest bool) releaseDTO {
	dto := releaseDTO{Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Version}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		dto.Chart = chartMetaDTO{Name: rel.Chart.Metadata.Name, Version: rel.Chart.Metadata.Version, AppVersion: rel.Chart.Metadata.AppVersion}
	}
	if rel.Info != nil {
		dto.Status = releaseStatus(rel)
		dto.Description = releaseDescription(rel)
		first, last, deleted := releaseTimes(rel)
		dto.FirstDeployed = formatTime(first)
		dto.LastDeployed = formatTime(last)
		dto.Deleted = formatTime(deleted)
		dto.Notes = rel.Info.Notes
	}
	if withManifest {
		dto.Manifest = rel.Manifest
		for _, h := range rel.Hooks {
			dto.Hooks = append(dto.Hooks, hookDTO{Name: h.Name, Kind: h.Kind, Path: h.Path, Events: hookEvents(h), Manifest: h.Manifest})
		}
	}
	return dto
}

// dependencyUpdate is helm's --dependency-update, with the repository
// files helm would use.

// loadChart loads and checks a chart directory or archive; with
// dependency update, a chart missing dependencies has them fetched into
// its charts/ (and Chart.lock written), as helm install does.
func loadChart(path string, deps dependencyUpdate, sink eventSink) (*helmChart, error) {
	if path == "" {
		return nil, errorf(kindInvalidInput, "no chart path was given")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, errorf(kindInvalidInput, "chart %s cannot be read: %v", path, err)
	}
	ch, err := loadChartFiles(path)
	if err != nil {
		return nil, errorf(kindInvalidInput, "chart %s is not a valid Helm chart: %v", path, err)
	}
	if ch.Metadata.Type != "" && ch.Metadata.Type != "application" {
		// helm's words (cmd/helm/install.go, checkIfInstallable).
		return nil, errorf(kindInvalidInput, "chart %s: %s charts are not installable", path, ch.Metadata.Type)
	}
	if req := ch.Metadata.Dependencies; req != nil {
		if err := checkDependencies(ch); err != nil {
			if !deps.Enabled {
				return nil, invalidf(inputDependencyUpdate, "chart %s is missing dependencies (run `helm dependency build %s`, or update them with the action): %v", path, path, err)
			}
			for _, d := range req {
				if strings.HasPrefix(d.Repository, "oci://") {
					return nil, errorf(kindInvalidInput, "chart %s: dependency %s is in an OCI registry, which a dependency update does not fetch yet: run `helm dependency build %s` first", path, d.Name, path)
				}
			}
			progress(sink, "load", "updating the dependencies of %s", path)
			if err := updateDependencies(path, deps, progressWriter{sink, "load"}); err != nil {
				return nil, errorf(kindInvalidInput, "chart %s: updating its dependencies failed: %v", path, err)
			}
			if ch, err = loadChartFiles(path); err != nil {
				return nil, errorf(kindInvalidInput, "chart %s: failed reloading chart after repo update: %v", path, err)
			}
		}
	}
	return ch, nil
}

// renderMark is a post-renderer that changes nothing and notes when Helm
// finished rendering, which splits the time of an action into render and apply.
// The scrubber, if any, learns the Secrets of the rendered manifest.
type renderMark struct {
	at       atomic.Int64
	scrubber *scrubber
}

func (m *renderMark) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	m.at.Store(time.Now().UnixNano())
	m.scrubber.addManifest(rendered.String())
	return rendered, nil
}

func (m *renderMark) done() bool { return m.at.Load() != 0 }

// timer measures the phases of one action.
type timer struct {
	start, loaded time.Time
	mark          renderMark
}

func (t *timer) phases(end time.Time) phaseTimes {
	p := phaseTimes{Load: t.loaded.Sub(t.start).Milliseconds()}
	if at := t.mark.at.Load(); at != 0 {
		rendered := time.Unix(0, at)
		p.Render = rendered.Sub(t.loaded).Milliseconds()
		p.Apply = end.Sub(rendered).Milliseconds()
	} else {
		p.Render = end.Sub(t.loaded).Milliseconds()
	}
	return p
}

// isClusterError tells errors from talking to the cluster apart from errors
// in the chart or values, which Helm reports as plain errors while rendering.
func isClusterError(err error) bool {
	var status apierrors.APIStatus
	var urlErr *url.Error
	var netErr *net.OpError
	return errors.As(err, &status) || errors.As(err, &urlErr) || errors.As(err, &netErr) ||
		strings.Contains(err.Error(), "Kubernetes cluster unreachable")
}

// actionError gives an action's failure its kind: a failure before rendering
// finished that did not come from the cluster is a problem with the chart or
// the values.
func actionError(err error, t *timer, what string) error {
	var se *shimError
	if errors.As(err, &se) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	switch msg := err.Error(); {
	case strings.Contains(msg, "cannot re-use a name that is still in use"):
		return errorf(kindInvalidInput, "%s: %v: the release already exists in this namespace; upgrade it instead, or choose another name", what, err)
	}
	if !t.mark.done() && !isClusterError(err) && !errors.Is(err, errReleaseNotFound) && !errors.Is(err, errNoDeployedReleases) {
		return errorf(kindInvalidInput, "%s: %v", what, err)
	}
	return err
}

// loadChartAndValues loads the chart of req and merges its values, as helm
// does before every install, upgrade or template.
func loadChartAndValues(ctx context.Context, req chartRequest, sink eventSink) (*helmChart, mergedValues, error) {
	// helm merges the values before it loads the chart, so a command
	// with both wrong reports the values.
	vals, err := req.Options.Values.merge(ctx)
	if err != nil {
		return nil, mergedValues{}, err
	}
	progress(sink, "load", "loading chart %s", req.Chart.Path)
	ch, err := loadChart(req.Chart.Path, req.Options.DependencyUpdate, sink)
	if err != nil {
		return nil, mergedValues{}, err
	}
	return ch, vals, nil
}

// chartScrubber is the scrubber of a chart action, knowing the values as
// typed; it learns the merged values and the rendered Secrets as the action
// goes.
func chartScrubber(o releaseOptions) *scrubber {
	s := newScrubber(o.Release, o.Namespace)
	v := o.Values
	for _, exprs := range [][]string{v.Set, v.SetString, v.SetJSON, v.SetLiteral} {
		s.addSetExpressions(exprs...)
	}
	return s
}

// opRender renders a chart without any cluster, like `helm template`.
func opRender(ctx context.Context, req chartRequest, sink eventSink) (_ actionResult, err error) {
	s := chartScrubber(req.Options)
	defer func() { err = s.redact(err) }()
	sink = scrubbingSink{sink, s}
	t := &timer{start: time.Now()}
	t.mark.scrubber = s
	ch, vals, err := loadChartAndValues(ctx, req, sink)
	if err != nil {
		return actionResult{}, err
	}
	s.addValues(vals.values)
	t.loaded = time.Now()
	progress(sink, "render", "rendering %s for release %s", ch.Metadata.Name, req.Options.Release)
	rel, err := renderChart(ctx, ch, vals.values, req.Options, t, sink)
	if err != nil {
		var se *shimError
		if errors.As(err, &se) {
			return actionResult{}, err
		}
		return actionResult{}, errorf(kindInvalidInput, "rendering chart %s failed: %v", ch.Metadata.Name, err)
	}
	return actionResult{Release: toDTO(rel, true), Phases: t.phases(time.Now()), ValuesDigest: vals.digest}, nil
}

func opInstall(ctx context.Context, req chartRequest, sink eventSink) (actionResult, error) {
	return runChartAction(ctx, req, sink, false)
}

func opUpgrade(ctx context.Context, req chartRequest, sink eventSink) (actionResult, error) {
	return runChartAction(ctx, req, sink, true)
}

// runChartAction installs, or upgrades (installing first when asked to and
// the release has no history), the chart of req.
//
// Its error, its facts and its events are scrubbed of the values (see
// scrubber).
func runChartAction(ctx context.Context, req chartRequest, sink eventSink, upgrade bool) (_ actionResult, err error) {
	o := req.Options
	s := chartScrubber(o)
	defer func() { err = s.redact(err) }()
	sink = scrubbingSink{sink, s}
	// Helm's timeout bounds the whole action: Helm sees this context end
	// and marks the release failed itself. Its API server requests may run
	// a little longer (recordGrace), for Helm to record the failure, and
	// with --atomic or --cleanup-on-fail another timeout, for the rollback
	// or the clean-up; a request still stalled then ends, so a stalled API
	// server ends the call. The caller's deadline, later still, is only
	// the last resort.
	if o.timeout() > 0 {
		kubeWindow := o.timeout() + recordGrace
		if o.Atomic || o.CleanupOnFail {
			kubeWindow += o.timeout()
		}
		if kubeWindow > o.timeout() { // else too long for a Duration: no bound
			kubeCtx, cancelKube := kubeContext(ctx, time.Now().Add(kubeWindow))
			defer cancelKube()
			req.Kube.ctx = kubeCtx
		}
	}
	ctx, detach := actionContext(ctx, o.timeout())
	defer detach()
	t := &timer{start: time.Now()}
	t.mark.scrubber = s
	ch, vals, err := loadChartAndValues(ctx, req, sink)
	if err != nil {
		return actionResult{}, err
	}
	s.addValues(vals.values)
	t.loaded = time.Now()
	cfg, done, err := actionConfig(req.Kube, o.Namespace, sink)
	if err != nil {
		return actionResult{}, err
	}
	defer done()
	waiting := watchWaitLog(cfg)

	install := !upgrade
	if upgrade && o.InstallIfMissing {
		if _, err := releaseHistory(cfg, o.Release, 1); errors.Is(err, errReleaseNotFound) {
			progress(sink, "resolve", "release %s has no history in namespace %s: installing it", o.Release, o.Namespace)
			install = true
		} else if err != nil {
			return actionResult{}, err
		}
	}

	var rel *helmRelease
	// A failure after the values were merged carries what Helm knew: the
	// values digest, and the release revision it recorded, if any.
	fail := func(err error) error {
		facts := actionFacts{ValuesDigest: vals.digest, Installed: install}
		s.addRelease(rel)
		if rel == nil && !install {
			// --reuse-values merges the last revision's values in.
			if last, lerr := lastRelease(cfg, o.Release); lerr == nil {
				s.addRelease(last)
			}
		}
		if rel != nil {
			dto := toDTO(rel, true)
			facts.Release = &dto
		}
		return &failure{err: err, facts: facts}
	}
	what := "installing " + o.Release
	if install {
		progress(sink, "apply", "installing %s %s as %s in namespace %s", ch.Metadata.Name, ch.Metadata.Version, o.Release, o.Namespace)
		rel, err = installChart(ctx, cfg, ch, vals.values, o, t)
		if err != nil {
			return actionResult{}, fail(apiServerStall(cfg, waitError(actionError(pendingError(err, releaseRef{Release: o.Release, Namespace: o.Namespace}, what), t, what), o, waiting, rel, what), "within the timeout of "+o.timeout().String()))
		}
	} else {
		what = "upgrading " + o.Release
		progress(sink, "apply", "upgrading %s to %s %s in namespace %s", o.Release, ch.Metadata.Name, ch.Metadata.Version, o.Namespace)
		rel, err = upgradeChart(ctx, cfg, ch, vals.values, o, t)
		if err != nil {
			if errors.Is(err, errNoDeployedReleases) || errors.Is(err, errReleaseNotFound) {
				return actionResult{}, fail(codedf(kindNotFound, codeNoDeployedRelease, errorDetails{Release: o.Release, Namespace: o.Namespace},
					"release %q has no deployed revision in namespace %q: install it first, or upgrade with install-if-missing", o.Release, o.Namespace))
			}
			return actionResult{}, fail(apiServerStall(cfg, waitError(actionError(pendingError(err, releaseRef{Release: o.Release, Namespace: o.Namespace}, what), t, what), o, waiting, rel, what), "within the timeout of "+o.timeout().String()))
		}
	}
	return actionResult{Release: toDTO(rel, true), Installed: install, Phases: t.phases(time.Now()), ValuesDigest: vals.digest}, nil
}

// actionContext is the context Helm's install or upgrade runs in: it ends
// at the timeout (none when zero), or when parent ends while the action
// runs, and never because the action returned (detach). Helm's install and
// upgrade watch their context in a goroutine that, when it ends, fails the
// release, and with --atomic rolls it back or uninstalls it; when the end
// races the action's success (a context ended as the call returns), that
// goroutine may pick the end, and undo a release Helm reported deployed.
func actionContext(parent context.Context, timeout time.Duration) (context.Context, func()) {
	base := context.WithoutCancel(parent)
	var ctx context.Context
	var cancel context.CancelFunc
	if timeout > 0 {
		// Ended by its timer at the deadline: by then Helm's watcher has
		// long seen the action end.
		ctx, cancel = context.WithTimeout(base, timeout)
	} else {
		ctx, cancel = context.WithCancel(base)
	}
	stop := context.AfterFunc(parent, cancel)
	return ctx, func() { stop() }
}

// withRelease runs f with the action configuration of ref's release,
// its API server requests bound to ctx (when it can end), ending just
// before the call's deadline so that the error names the API server
// request that stalled.
func withRelease[R any](ctx context.Context, ref releaseRef, sink eventSink, f func(*helmConfig) (R, error)) (R, error) {
	var zero R
	if ctx.Done() != nil {
		kubeCtx, cancel := kubeContext(ctx, opDeadline(ctx))
		defer cancel()
		ref.Kube.ctx = kubeCtx
	}
	cfg, done, err := actionConfig(ref.Kube, ref.Namespace, sink)
	if err != nil {
		return zero, err
	}
	defer done()
	out, err := f(cfg)
	if errors.Is(err, errReleaseNotFound) {
		return zero, codedf(kindNotFound, codeReleaseNotFound, errorDetails{Release: ref.Release, Namespace: ref.Namespace},
			"release %q not found in namespace %q", ref.Release, ref.Namespace)
	}
	if err != nil {
		// A request that timed out after waiting (the call's deadline, or
		// client-go's own TLS-handshake timeout) is named as the stall.
		return zero, apiServerStall(cfg, err, "before it timed out")
	}
	return out, nil
}

func opStatus(ctx context.Context, req statusRequest, sink eventSink) (releaseDTO, error) {
	return withRelease(ctx, req.releaseRef, sink, func(cfg *helmConfig) (releaseDTO, error) {
		if req.Revision > 0 {
			if err := revisionExists(cfg, req.releaseRef, req.Revision); err != nil {
				return releaseDTO{}, err
			}
		}
		rel, err := currentRelease(cfg, req.Release, req.Revision)
		if err != nil {
			return releaseDTO{}, err
		}
		return toDTO(rel, true), nil
	})
}

// revisionExists is nil when the release has that revision; a release
// with others says so (codeRevisionNotFound), one with none is
// ErrReleaseNotFound.
func revisionExists(cfg *helmConfig, ref releaseRef, revision int) error {
	_, err := getRelease(cfg, ref.Release, revision)
	if !errors.Is(err, errReleaseNotFound) {
		return err
	}
	if _, lerr := lastRelease(cfg, ref.Release); lerr != nil {
		return errReleaseNotFound
	}
	return codedf(kindNotFound, codeRevisionNotFound, errorDetails{Release: ref.Release, Namespace: ref.Namespace, Revision: revision},
		"release %q has no revision %d in namespace %q", ref.Release, revision, ref.Namespace)
}

func opHistory(ctx context.Context, req historyRequest, sink eventSink) ([]releaseDTO, error) {
	return withRelease(ctx, req.releaseRef, sink, func(cfg *helmConfig) ([]releaseDTO, error) {
		rels, err := releaseHistory(cfg, req.Release, req.Max)
		if err != nil {
			return nil, err
		}
		sort.Slice(rels, func(i, j int) bool { return rels[i].Version < rels[j].Version })
		// helm history --max keeps the newest revisions; no max keeps all.
		if req.Max > 0 && len(rels) > req.Max {
			rels = rels[len(rels)-req.Max:]
		}
		out := make([]releaseDTO, 0, len(rels))
		for _, r := range rels {
			out = append(out, toDTO(r, false))
		}
		return out, nil
	})
}

// opRollback rolls back; its error and events are scrubbed of the values
// of the revision it leaves and the one it returns to.
func opRollback(ctx context.Context, req rollbackRequest, sink eventSink) (releaseDTO, error) {
	s := newScrubber()
	out, err := withRelease(ctx, req.releaseRef, scrubbingSink{sink, s}, func(cfg *helmConfig) (releaseDTO, error) {
		s.addPublic(req.Release, req.Namespace)
		if last, err := lastRelease(cfg, req.Release); err == nil {
			s.addRelease(last)
			target := req.Revision
			if target <= 0 {
				target = last.Version - 1
			}
			if prev, err := getRelease(cfg, req.Release, target); err == nil {
				s.addRelease(prev)
			}
		}
		if req.Revision > 0 {
			if err := revisionExists(cfg, req.releaseRef, req.Revision); err != nil {
				return releaseDTO{}, err
			}
		}
		progress(sink, "apply", "rolling back %s to revision %d", req.Release, req.Revision)
		if err := rollbackRelease(cfg, req); err != nil {
			return releaseDTO{}, pendingError(err, req.releaseRef, "rolling back "+req.Release)
		}
		rel, err := currentRelease(cfg, req.Release, 0)
		if err != nil {
			return releaseDTO{}, err
		}
		return toDTO(rel, true), nil
	})
	return out, s.redact(err)
}

func opUninstall(ctx context.Context, req uninstallRequest, sink eventSink) (uninstallResult, error) {
	return withRelease(ctx, req.releaseRef, sink, func(cfg *helmConfig) (uninstallResult, error) {
		progress(sink, "apply", "uninstalling %s", req.Release)
		rel, info, err := uninstallRelease(cfg, req)
		if err != nil {
			return uninstallResult{}, err
		}
		out := uninstallResult{Info: info}
		if rel != nil {
			out.Release = toDTO(rel, false)
		}
		// No release and no error: --ignore-not-found found nothing.
		return out, nil
	})
}

// pendingError is err, coded codeReleasePending when it is Helm's refusal
// to act on a release whose last revision is pending. Helm's error has no
// exported type or value (action.errPending is unexported): its text is
// the only sign.
//
// The release's last revision is pending-*: a state of the cluster, which
// the Rust side explains with the revision and the way out.
func pendingError(err error, ref releaseRef, what string) error {
	if err == nil || !strings.Contains(err.Error(), "another operation (install/upgrade/rollback) is in progress") {
		return err
	}
	return codedf(kindKube, codeReleasePending, errorDetails{Release: ref.Release, Namespace: ref.Namespace}, "%s: %v", what, err)
}

// waitLog remembers the last thing Helm's wait said was not ready, to name
// it when the wait times out.
type waitLog struct {
	mu   sync.Mutex
	last string
}

func (w *waitLog) note(line string) {
	w.mu.Lock()
	w.last = line
	w.mu.Unlock()
}

func (w *waitLog) lastNotReady() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// waitError says what a timed-out --wait was waiting for.
func waitError(err error, o releaseOptions, w *waitLog, rel *helmRelease, what string) error {
	if !(waits(o.Wait, o.helm4Options) || o.Atomic) || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	pending := ""
	if last := w.lastNotReady(); last != "" {
		pending = " (last check: " + strings.TrimSuffix(last, ".") + ")"
	} else if rel != nil {
		// Helm's check says nothing about a Deployment that has no
		// ReplicaSet yet (no controller has seen it): name the workloads.
		if workloads := workloadsIn(rel.Manifest); len(workloads) > 0 {
			pending = " (it waits for the pods of " + strings.Join(workloads, ", ") + ": check that the cluster can schedule and run them)"
		}
	}
	return errorf(kindTimeout, "%s: the release's resources were not ready within %s%s: %v",
		what, o.timeout(), pending, err)
}

// workloadsIn lists the resources of a manifest whose readiness depends on
// pods, as "Kind name".
func workloadsIn(manifest string) []string {
	var out []string
	for _, doc := range splitManifests(manifest) {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if yaml.Unmarshal([]byte(doc), &obj) != nil {
			continue
		}
		switch obj.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", "Job", "PersistentVolumeClaim":
			out = append(out, obj.Kind+" "+obj.Metadata.Name)
		}
	}
	sort.Strings(out)
	return out
}
