package main

// The wire protocol: one request and one reply type per operation, the
// reply envelope and its error. The Rust side's src/wire.rs has the same
// types; the golden files in testdata/wire/ (one per operation, read by
// both sides' tests) fail when a field is renamed on one side only.
//
// Durations are integer milliseconds (timeoutMs).

import (
	"context"
	"encoding/json"
	"math"
	"time"
)

// ---- the envelope ----------------------------------------------------

type replyEnvelope struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *replyError     `json:"error,omitempty"`
}

// replyError is a failed call: its kind (the closed set shared with the
// Rust ErrorKind), a code naming the fact more precisely when the shim
// knows it (codeReleaseNotFound, ...), the structured details of that fact,
// and a message for people.
type replyError struct {
	Kind    string        `json:"kind"`
	Code    string        `json:"code,omitempty"`
	Message string        `json:"message"`
	Details *errorDetails `json:"details,omitempty"`
	// Facts is what the operation knew when it failed (for a chart
	// action: the release Helm recorded, the values digest), so that the
	// caller can record them.
	Facts any `json:"facts,omitempty"`
}

// Error codes: facts more precise than the kind, each with the details
// it fills in.
const (
	// codeReleaseNotFound: the release has no revision (release, namespace).
	codeReleaseNotFound = "release_not_found"
	// codeNoDeployedRelease: an upgrade found no deployed revision
	// (release, namespace).
	codeNoDeployedRelease = "no_deployed_release"
	// codeRevisionNotFound: the release exists, not this revision
	// (release, namespace, revision).
	codeRevisionNotFound = "revision_not_found"
	// codeChartNotFound: the registry has no such repository, tag or
	// digest (reference, host).
	codeChartNotFound = "chart_not_found"
	// codeVersionNotFound: no version matches (reference, version).
	codeVersionNotFound = "version_not_found"
	// codeForbidden: the API server's RBAC refused the request (verb,
	// resource, namespace, as its status says).
	codeForbidden = "forbidden"
	// codeUnauthorized: the API server refused the credentials.
	codeUnauthorized = "unauthorized"
	// codeRegistryAuth: the registry refused the credentials (host).
	codeRegistryAuth = "registry_auth"
	// codeReleasePending: Helm refuses to act on a release whose last
	// revision is pending (release, namespace).
	codeReleasePending = "release_pending"
	// codeLoginNeedsCredentials: registry.login without a username and
	// password (host).
	codeLoginNeedsCredentials = "login_needs_credentials"
	// codeChartTooLarge: a pull refused a chart over the caller's bound
	// (host, reference, limit in bytes).
	codeChartTooLarge = "chart_too_large"
	// codeTLSVerify: the registry's certificate did not verify (host,
	// reference, caFile when one was given).
	codeTLSVerify = "tls_verify"
	// codePlainHTTP: the registry speaks plain HTTP (host, reference).
	codePlainHTTP = "plain_http"
	// codeInvalidOption: an input of the request is wrong (input, one of
	// the input* names).
	codeInvalidOption = "invalid_option"
)

// The inputs a codeInvalidOption names: the library's options (the Rust
// chainctl_core::Input, camelCase), never a CLI's flags, so that each
// front end can say how its own user sets them.
const (
	inputKubeconfig        = "kubeconfig"
	inputValuesFile        = "valuesFile"
	inputDependencyUpdate  = "dependencyUpdate"
	inputListFilter        = "listFilter"
	inputRegistryConfig    = "registryConfig"
	inputClientCertificate = "clientCertificate"
	inputServerSide        = "serverSide"
	inputForceConflicts    = "forceConflicts"
	inputWaitStrategy      = "waitStrategy"
)

// errorDetails are the structured facts of an error; which are set
// depends on its code.
type errorDetails struct {
	Release   string `json:"release,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Revision  int    `json:"revision,omitempty"`
	Reference string `json:"reference,omitempty"`
	Version   string `json:"version,omitempty"`
	Host      string `json:"host,omitempty"`
	Verb      string `json:"verb,omitempty"`
	Resource  string `json:"resource,omitempty"`
	CAFile    string `json:"caFile,omitempty"`
	Limit     int64  `json:"limit,omitempty"`
	Input     string `json:"input,omitempty"`
}

// ---- typed operations -------------------------------------------------

// typedOp is an operation taking a Req and replying a Rep.
type typedOp[Req, Rep any] func(context.Context, Req, eventSink) (Rep, error)

// typed makes an operation of fn (its types inferred).
func typed[Req, Rep any](fn func(context.Context, Req, eventSink) (Rep, error)) opFunc {
	return typedOp[Req, Rep](fn)
}

// run decodes the request into Req (unknown fields refused), checks it
// when Req has a check method, and runs the operation. Decoding runs
// inside dispatch's recover, as the operation and the encoding do.
func (fn typedOp[Req, Rep]) run(ctx context.Context, request json.RawMessage, sink eventSink) (any, error) {
	var req Req
	if err := decode(request, &req); err != nil {
		return nil, err
	}
	if c, ok := any(&req).(interface{ check() error }); ok {
		if err := c.check(); err != nil {
			return nil, err
		}
	}
	rep, err := fn(ctx, req, sink)
	if err != nil {
		return nil, err
	}
	return rep, nil
}

func (typedOp[Req, Rep]) newRequest() any { return new(Req) }
func (typedOp[Req, Rep]) newReply() any   { return new(Rep) }

// ---- version and debug.* ----------------------------------------------

type versionRequest struct{}

type versionReply struct {
	ABI  int    `json:"abi"`
	Helm string `json:"helm"`
	Go   string `json:"go"`
}

// echoMessage is debug.echo's request and reply: any JSON, returned as is.
type echoMessage = json.RawMessage

type panicRequest struct{}

type sleepRequest struct {
	Millis int64 `json:"millis"`
}

type sleepReply struct {
	Slept int64 `json:"slept"`
}

type debugLogRequest struct {
	Stdlib      string `json:"stdlib,omitempty"`
	KlogInfo    string `json:"klogInfo,omitempty"`
	KlogWarning string `json:"klogWarning,omitempty"`
	KlogError   string `json:"klogError,omitempty"`
}

type emptyReply struct{}

// ---- release.render, release.install, release.upgrade -----------------

// releaseOptions mirrors chainctl_core::ReleaseOptions on the wire.
type releaseOptions struct {
	Release          string        `json:"release"`
	Namespace        string        `json:"namespace"`
	Values           valuesRequest `json:"values"`
	CreateNamespace  bool          `json:"createNamespace"`
	DryRun           string        `json:"dryRun"`
	Wait             bool          `json:"wait"`
	TimeoutMs        int64         `json:"timeoutMs"`
	Atomic           bool          `json:"atomic"`
	InstallIfMissing bool          `json:"installIfMissing"`
	Description      string        `json:"description,omitempty"`
	ReuseValues      bool          `json:"reuseValues"`
	ResetValues      bool          `json:"resetValues"`
	// Helm 3.14+: reset to the chart's values, then reuse the last release's.
	ResetThenReuseValues bool              `json:"resetThenReuseValues,omitempty"`
	HistoryMax           int               `json:"historyMax"`
	SkipCRDs             bool              `json:"skipCrds,omitempty"`
	NoHooks              bool              `json:"noHooks,omitempty"`
	WaitForJobs          bool              `json:"waitForJobs,omitempty"`
	CleanupOnFail        bool              `json:"cleanupOnFail,omitempty"`
	Force                bool              `json:"force,omitempty"`
	TakeOwnership        bool              `json:"takeOwnership,omitempty"`
	SkipSchemaValidation bool              `json:"skipSchemaValidation,omitempty"`
	Labels               map[string]string `json:"labels,omitempty"`
	PostRenderer         string            `json:"postRenderer,omitempty"`
	PostRendererArgs     []string          `json:"postRendererArgs,omitempty"`
	DependencyUpdate     dependencyUpdate  `json:"dependencyUpdate"`
	// For client-only renders, as helm template's flags.
	APIVersions []string `json:"apiVersions,omitempty"`
	KubeVersion string   `json:"kubeVersion,omitempty"`
	helm4Options
}

// helm4Options are what only Helm 4 has. Empty fields are the backend's
// default: on Helm 4, server-side apply (install: true; upgrade and
// rollback: "auto", the method of the release's last revision) and the
// wait strategy that Wait chooses (watcher, else hookOnly); on Helm 3,
// client-side apply and Helm 3's polling wait. The Helm 3 backend refuses
// any value that asks for what Helm 3 does not do (checkHelm4Options).
type helm4Options struct {
	// ServerSide is "true", "false" or "auto".
	ServerSide     string `json:"serverSide,omitempty"`
	ForceConflicts bool   `json:"forceConflicts,omitempty"`
	// WaitStrategy is "watcher", "hookOnly" or "legacy".
	WaitStrategy string `json:"waitStrategy,omitempty"`
}

type dependencyUpdate struct {
	Enabled          bool   `json:"enabled"`
	RepositoryConfig string `json:"repositoryConfig,omitempty"`
	RepositoryCache  string `json:"repositoryCache,omitempty"`
}

type chartRef struct {
	Path string `json:"path"`
}

// chartRequest is the request of release.render, release.install and
// release.upgrade.
type chartRequest struct {
	Kube    kubeTarget     `json:"kube"`
	Chart   chartRef       `json:"chart"`
	Options releaseOptions `json:"options"`
}

func (r *chartRequest) check() error {
	if r.Options.Release == "" || r.Options.Namespace == "" {
		return errorf(kindInvalidInput, "malformed request: release and namespace are required")
	}
	if r.Options.TimeoutMs < 0 {
		return errorf(kindInvalidInput, "malformed request: timeoutMs must not be negative")
	}
	return nil
}

type chartMetaDTO struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	AppVersion string `json:"appVersion,omitempty"`
}

type hookDTO struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	Path     string   `json:"path"`
	Events   []string `json:"events"`
	Manifest string   `json:"manifest"`
}

// releaseDTO is chainctl_core::ReleaseInfo on the wire.
type releaseDTO struct {
	Name          string       `json:"name"`
	Namespace     string       `json:"namespace"`
	Revision      int          `json:"revision"`
	Status        string       `json:"status"`
	Description   string       `json:"description,omitempty"`
	Chart         chartMetaDTO `json:"chart"`
	FirstDeployed string       `json:"firstDeployed,omitempty"`
	LastDeployed  string       `json:"lastDeployed,omitempty"`
	Deleted       string       `json:"deleted,omitempty"`
	Notes         string       `json:"notes,omitempty"`
	Manifest      string       `json:"manifest,omitempty"`
	Hooks         []hookDTO    `json:"hooks,omitempty"`
}

// phaseTimes says where the time of an action went, in milliseconds.
type phaseTimes struct {
	Load   int64 `json:"loadMs"`
	Render int64 `json:"renderMs"`
	Apply  int64 `json:"applyMs"`
}

// actionResult is the reply of release.render, release.install and
// release.upgrade.
type actionResult struct {
	Release      releaseDTO `json:"release"`
	Installed    bool       `json:"installed"`
	Phases       phaseTimes `json:"phases"`
	ValuesDigest string     `json:"valuesDigest"`
}

// actionFacts is what a failed install or upgrade knew (see failure).
type actionFacts struct {
	Release      *releaseDTO `json:"release,omitempty"`
	Installed    bool        `json:"installed"`
	ValuesDigest string      `json:"valuesDigest,omitempty"`
}

// ---- release.status, .history, .rollback, .uninstall, .values, .list --

// releaseRef names a release on a cluster: the start of every request on
// one release.
type releaseRef struct {
	Kube      kubeTarget `json:"kube"`
	Release   string     `json:"release"`
	Namespace string     `json:"namespace"`
}

func (r *releaseRef) check() error {
	if r.Release == "" || r.Namespace == "" {
		return errorf(kindInvalidInput, "malformed request: release and namespace are required")
	}
	return nil
}

// statusRequest: revision 0 is the current one.
type statusRequest struct {
	releaseRef
	Revision int `json:"revision,omitempty"`
}

type historyRequest struct {
	releaseRef
	Max int `json:"max,omitempty"`
}

type rollbackRequest struct {
	releaseRef
	// Revision 0 is the one before the current one.
	Revision   int   `json:"revision,omitempty"`
	Wait       bool  `json:"wait,omitempty"`
	TimeoutMs  int64 `json:"timeoutMs,omitempty"`
	Force      bool  `json:"force,omitempty"`
	DryRun     bool  `json:"dryRun,omitempty"`
	NoHooks    bool  `json:"noHooks,omitempty"`
	HistoryMax int   `json:"historyMax,omitempty"`
	helm4Options
}

type uninstallRequest struct {
	releaseRef
	KeepHistory    bool   `json:"keepHistory,omitempty"`
	Wait           bool   `json:"wait,omitempty"`
	TimeoutMs      int64  `json:"timeoutMs,omitempty"`
	Description    string `json:"description,omitempty"`
	DryRun         bool   `json:"dryRun,omitempty"`
	NoHooks        bool   `json:"noHooks,omitempty"`
	IgnoreNotFound bool   `json:"ignoreNotFound,omitempty"`
	Cascade        string `json:"cascade,omitempty"`
	// WaitStrategy is as in helm4Options.
	WaitStrategy string `json:"waitStrategy,omitempty"`
}

type uninstallResult struct {
	Release releaseDTO `json:"release"`
	Info    string     `json:"info,omitempty"`
}

type getValuesRequest struct {
	releaseRef
	Revision  int  `json:"revision,omitempty"`
	AllValues bool `json:"all,omitempty"`
}

type getValuesReply struct {
	Values map[string]any `json:"values"`
	YAML   string         `json:"yaml"`
}

// listRequest is helm list's flags.
type listRequest struct {
	Kube kubeTarget `json:"kube"`
	// Namespace is the one listed; AllNamespaces lists every one (-A).
	Namespace     string `json:"namespace"`
	AllNamespaces bool   `json:"allNamespaces,omitempty"`
	All           bool   `json:"all,omitempty"`
	Deployed      bool   `json:"deployed,omitempty"`
	Failed        bool   `json:"failed,omitempty"`
	Pending       bool   `json:"pending,omitempty"`
	Superseded    bool   `json:"superseded,omitempty"`
	Uninstalled   bool   `json:"uninstalled,omitempty"`
	Uninstalling  bool   `json:"uninstalling,omitempty"`
	Filter        string `json:"filter,omitempty"`
	Selector      string `json:"selector,omitempty"`
	Max           int    `json:"max,omitempty"`
	Offset        int    `json:"offset,omitempty"`
	ByDate        bool   `json:"byDate,omitempty"`
	Reverse       bool   `json:"reverse,omitempty"`
}

// ---- registry.* --------------------------------------------------------

// registryRef names a repository or artifact, host/path/chart with
// ":tag" or "@sha256:..." where the operation needs one, and how to reach
// its registry: the start of every registry request.
type registryRef struct {
	Ref      string          `json:"ref"`
	Registry registryOptions `json:"registry"`
}

func (r *registryRef) check() error {
	if r.Ref == "" {
		return errorf(kindInvalidInput, "malformed request: ref is required")
	}
	return nil
}

type tagsRequest struct {
	registryRef
	// Version is an exact version or a semver constraint to match against
	// the tags, with Helm's own rules ("" is the newest); absent: no match.
	Version *string `json:"version,omitempty"`
}

type tagsReply struct {
	Versions []string `json:"versions"`
	Match    string   `json:"match,omitempty"`
}

type resolveRequest struct {
	registryRef
}

type resolveReply struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
}

type pullRequest struct {
	registryRef
	// Dest is the file the chart archive is written to.
	Dest string `json:"dest"`
	// MaxChartBytes bounds the chart archive a pull accepts (0: Helm's
	// 100 MiB); a manifest declaring more is refused before the layer is
	// fetched, and a body longer than that is cut.
	MaxChartBytes int64 `json:"maxChartBytes,omitempty"`
}

func (r *pullRequest) check() error {
	if err := r.registryRef.check(); err != nil {
		return err
	}
	if r.Dest == "" {
		return errorf(kindInvalidInput, "malformed request: dest is required")
	}
	if r.MaxChartBytes < 0 {
		return errorf(kindInvalidInput, "malformed request: maxChartBytes must not be negative")
	}
	return nil
}

type pullResult struct {
	ManifestDigest string       `json:"manifestDigest"`
	ChartDigest    string       `json:"chartDigest"`
	ChartSize      int64        `json:"chartSize"`
	Chart          chartMetaDTO `json:"chart"`
}

type pushRequest struct {
	registryRef
	// Chart is the packaged chart (.tgz) to upload.
	Chart string `json:"chart"`
}

type pushReply struct {
	Ref            string `json:"ref"`
	ManifestDigest string `json:"manifestDigest"`
	ChartDigest    string `json:"chartDigest"`
}

// loginRequest: Ref is the registry host[:port].
type loginRequest struct {
	registryRef
}

type logoutRequest struct {
	registryRef
}

// credentialsReply is what registry.login and registry.logout changed.
type credentialsReply struct {
	Host       string `json:"host"`
	ConfigFile string `json:"configFile"`
}

// ---- chart.*, values.merge, secrets.redact, kube.resolve ----------------

type packageRequest struct {
	Path    string `json:"path"`
	Version string `json:"version,omitempty"`
	DestDir string `json:"destDir"`
}

type packageReply struct {
	Path    string `json:"path"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

type digestRequest = chartRef

type digestReply struct {
	Digest string `json:"digest"`
}

type mergeReply struct {
	Values map[string]any `json:"values"`
	Digest string         `json:"digest"`
}

type redactRequest struct {
	Manifests []string `json:"manifests"`
}

type redactReply struct {
	Manifests []string `json:"manifests"`
}

// kubeResolveRequest is the kube settings alone (no storage).
type kubeResolveRequest = kubeSettings

// kubeResolved is what the kubeconfig says of the target, as helm reads it.
type kubeResolved struct {
	Namespace string `json:"namespace"`
	Context   string `json:"context,omitempty"`
	// Cluster and User name the kubeconfig entries the context uses.
	Cluster string `json:"cluster,omitempty"`
	User    string `json:"user,omitempty"`
	Server  string `json:"server,omitempty"`
	// CAFingerprint is the sha256 of the DER of the CA certificates the
	// server is verified with (absent: none given, the system's are used).
	CAFingerprint string `json:"caFingerprint,omitempty"`
}

// millis is a wire duration (milliseconds), saturating at the longest
// Duration.
func millis(ms int64) time.Duration {
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}

// ---- runtime.gcPercent ---------------------------------------------------

type gcPercentRequest struct {
	Percent int `json:"percent"`
}

type gcPercentReply struct {
	Previous int `json:"previous"`
}
