package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Bounds on what a registry may send, and how long each step may take.
const (
	// defaultMaxChartBytes is Helm's own ceiling on a chart archive
	// (pkg/chart/loader.MaxDecompressedChartSize), applied here while the
	// archive streams instead of after it is in memory.
	defaultMaxChartBytes int64 = 100 << 20
	// maxManifestBytes bounds a manifest, a config blob and an index, as
	// oras does (its defaultMaxMetadataBytes).
	maxManifestBytes int64 = 4 << 20
	// The transport's own step timeouts; the call's deadline, usually
	// shorter, ends every step too.
	dialTimeout           = 30 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 30 * time.Second
	// opDeadlineMargin ends a network operation this much before the call's
	// deadline, so that its own error (naming the host and the step that
	// stalled) is the reply, not the dispatcher's generic one.
	opDeadlineMargin = 300 * time.Millisecond
)

// netStage is the step of an HTTP exchange that was under way.
type netStage string

const (
	stageConnect netStage = "connecting"
	stageTLS     netStage = "in the TLS handshake"
	stageHeaders netStage = "waiting for the response headers"
	stageBody    netStage = "reading the response body"
)

// netError is a failed HTTP exchange with the host and the step it was in.
// It wraps the transport's error, which keeps its Go type for errors.Is/As.
type netError struct {
	host   string
	method string
	path   string
	stage  netStage
	// deadline is set when the call's context had ended: the step stalled
	// until the deadline (or the caller cancelled).
	ctxErr error
	err    error
	// waited is how long the request had been under way.
	waited time.Duration
}

func (e *netError) Error() string {
	return fmt.Sprintf("%s %s on %s: %s: %v", e.method, e.path, e.host, e.stage, e.err)
}

func (e *netError) Unwrap() error { return e.err }

// timedOut says whether the exchange ended by a deadline: the call's, or a
// step timeout of the transport or the kernel.
func (e *netError) timedOut() bool {
	if errors.Is(e.ctxErr, context.DeadlineExceeded) || errors.Is(e.err, context.DeadlineExceeded) ||
		errors.Is(e.err, os.ErrDeadlineExceeded) || errors.Is(e.err, errDeadline) {
		return true
	}
	var ne net.Error
	return errors.As(e.err, &ne) && ne.Timeout()
}

// tooLargeError: the registry declared or sent more than a bound allows.
type tooLargeError struct {
	what  string
	size  int64 // -1: unknown, the bound was reached while streaming
	limit int64
}

func (e *tooLargeError) Error() string {
	if e.size < 0 {
		return fmt.Sprintf("%s is larger than the limit of %s", e.what, formatBytes(e.limit))
	}
	return fmt.Sprintf("%s is %s, more than the limit of %s", e.what, formatBytes(e.size), formatBytes(e.limit))
}

// digestMismatchError: content or a Docker-Content-Digest header that does
// not match the digest it was asked for by.
type digestMismatchError struct {
	what     string
	expected string
	got      string
}

func (e *digestMismatchError) Error() string {
	return fmt.Sprintf("%s has digest %s, but %s was asked for", e.what, e.got, e.expected)
}

// formatBytes names a size for messages: in GiB, MiB or KiB when exact.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// opDeadline is when a network operation under ctx ends: opDeadlineMargin
// before ctx's deadline when it is long enough to spare it, else ctx's
// deadline itself (zero when ctx has none).
func opDeadline(ctx context.Context) time.Time {
	deadline, ok := ctx.Deadline()
	if !ok || time.Until(deadline) < 2*opDeadlineMargin {
		return deadline
	}
	return deadline.Add(-opDeadlineMargin)
}

// withOpDeadline ends ctx at opDeadline.
func withOpDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline := opDeadline(ctx)
	if deadline.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline)
}

// newCallTransport is the HTTP transport of one registry call: every
// request is bound to ctx (Helm v3's registry client passes
// context.Background to oras), each step has a timeout, and what a
// registry sends is bounded: manifests by maxManifestBytes and checked
// against maxChart before any layer is fetched, blobs by maxChart while
// they stream.
func newCallTransport(ctx context.Context, tlsConf *tls.Config, maxChart int64) *callTransport {
	if maxChart <= 0 {
		maxChart = defaultMaxChartBytes
	}
	// As before these bounds: no proxy from the environment, HTTP/1.1.
	base := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		IdleConnTimeout:       30 * time.Second,
		MaxIdleConnsPerHost:   4,
	}
	// The transport lives for one call: its idle connections go with it.
	context.AfterFunc(ctx, base.CloseIdleConnections)
	return &callTransport{ctx: ctx, base: base, maxChart: maxChart}
}

type callTransport struct {
	ctx      context.Context
	base     *http.Transport
	maxChart int64
	// first is the first manifest the call read, for saying what an
	// artifact is when it is not a chart.
	first atomic.Pointer[seenManifest]
}

// seenManifest is what a manifest says of its artifact's type.
type seenManifest struct {
	MediaType string `json:"mediaType"`
	Config    *struct {
		MediaType string `json:"mediaType"`
		Size      int64  `json:"size"`
	} `json:"config"`
	Layers []struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	} `json:"layers"`
	Manifests []struct {
		Digest string `json:"digest"`
		Size   int64  `json:"size"`
	} `json:"manifests"`
}

func (t *callTransport) manifestSeen() *seenManifest { return t.first.Load() }

// isChart: a Helm chart's config and chart layer, as Helm's Pull wants them.
func (m *seenManifest) isChart() bool {
	if m.Config == nil || m.Config.MediaType != registryConfigMedia {
		return false
	}
	for _, l := range m.Layers {
		if l.MediaType == registryChartMedia || l.MediaType == registryOldChartMedia {
			return true
		}
	}
	return false
}

func (m *seenManifest) describe() string {
	if m.Config == nil {
		if len(m.Manifests) > 0 {
			return fmt.Sprintf("it is an index of %d manifests (media type %q); a Helm chart is one manifest with config %q and a layer %q",
				len(m.Manifests), m.MediaType, registryConfigMedia, registryChartMedia)
		}
		return fmt.Sprintf("its manifest (media type %q) has no config; a Helm chart has config %q and a layer %q", m.MediaType, registryConfigMedia, registryChartMedia)
	}
	layers := make([]string, 0, len(m.Layers))
	for _, l := range m.Layers {
		layers = append(layers, l.MediaType)
	}
	return fmt.Sprintf("its config has media type %q and its layers %q; a Helm chart has config %q and a layer %q",
		m.Config.MediaType, layers, registryConfigMedia, registryChartMedia)
}

// boundRoundTrip sends req through base bound to ctx (and to the request's
// own context): its errors are *netError, naming the host and the step,
// and its body is a *boundedBody (without a limit until one is set).
func boundRoundTrip(ctx context.Context, base http.RoundTripper, req *http.Request) (*http.Response, *boundedBody, error) {
	callCtx := ctx
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(req.Context(), cancel)
	release := func() { stop(); cancel() }

	var stage atomic.Value
	stage.Store(stageConnect)
	trace := &httptrace.ClientTrace{
		TLSHandshakeStart: func() { stage.Store(stageTLS) },
		GotConn:           func(httptrace.GotConnInfo) { stage.Store(stageHeaders) },
	}
	started := time.Now()
	fail := func(st netStage, err error) error {
		return &netError{host: req.URL.Host, method: req.Method, path: req.URL.Path, stage: st, ctxErr: callCtx.Err(), err: err, waited: time.Since(started)}
	}
	resp, err := base.RoundTrip(req.Clone(httptrace.WithClientTrace(ctx, trace)))
	if err != nil {
		release()
		return nil, nil, fail(stage.Load().(netStage), err)
	}
	body := &boundedBody{rc: resp.Body, release: release, fail: func(err error) error { return fail(stageBody, err) }, limit: -1}
	resp.Body = body
	return resp, body, nil
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, body, err := boundRoundTrip(t.ctx, t.base, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || req.Method != http.MethodGet {
		// Error documents and HEAD answers are small; oras bounds what it
		// reads of them.
		return resp, nil
	}
	kind, ref := registryPath(req.URL.Path)
	if want := resp.Header.Get("Docker-Content-Digest"); want != "" && isDigest(ref) && want != ref {
		resp.Body.Close()
		return nil, &digestMismatchError{what: fmt.Sprintf("the %s %s answered by %s (its Docker-Content-Digest header)", kind, req.URL.Path, req.URL.Host), expected: ref, got: want}
	}
	switch kind {
	case "manifest":
		return t.checkManifest(req, resp, ref)
	case "blob":
		if resp.ContentLength > t.maxChart {
			resp.Body.Close()
			return nil, &tooLargeError{what: fmt.Sprintf("blob %s of %s", ref, req.URL.Host), size: resp.ContentLength, limit: t.maxChart}
		}
		body.limit = t.maxChart
		body.what = fmt.Sprintf("blob %s of %s", ref, req.URL.Host)
	}
	return resp, nil
}

// checkManifest reads a manifest (bounded), checks its digest when it was
// asked for by one, and refuses one that declares a blob larger than the
// bounds before anything of that blob is fetched.
func (t *callTransport) checkManifest(req *http.Request, resp *http.Response, ref string) (*http.Response, error) {
	what := fmt.Sprintf("the manifest %s of %s", ref, req.URL.Host)
	if resp.ContentLength > maxManifestBytes {
		resp.Body.Close()
		return nil, &tooLargeError{what: what, size: resp.ContentLength, limit: maxManifestBytes}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestBytes+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxManifestBytes {
		return nil, &tooLargeError{what: what, size: -1, limit: maxManifestBytes}
	}
	if isDigest(ref) && strings.HasPrefix(ref, "sha256:") {
		sum := sha256.Sum256(data)
		if got := "sha256:" + hex.EncodeToString(sum[:]); got != ref {
			return nil, &digestMismatchError{what: what, expected: ref, got: got}
		}
	}
	var m seenManifest
	// A manifest that is no JSON object is left to oras to refuse.
	if json.Unmarshal(data, &m) == nil {
		t.first.CompareAndSwap(nil, &m)
		if m.Config != nil && m.Config.Size > maxManifestBytes {
			return nil, &tooLargeError{what: what + " declares a config blob that", size: m.Config.Size, limit: maxManifestBytes}
		}
		var total int64
		for _, l := range m.Layers {
			if l.Size > t.maxChart || l.Size < 0 {
				return nil, &tooLargeError{what: fmt.Sprintf("%s declares a layer (%s) that", what, l.Digest), size: l.Size, limit: t.maxChart}
			}
			total += l.Size
			if total > t.maxChart {
				return nil, &tooLargeError{what: what + " declares layers that together", size: total, limit: t.maxChart}
			}
		}
		for _, c := range m.Manifests {
			if c.Size > maxManifestBytes || c.Size < 0 {
				return nil, &tooLargeError{what: fmt.Sprintf("%s lists a manifest (%s) that", what, c.Digest), size: c.Size, limit: maxManifestBytes}
			}
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	return resp, nil
}

// registryPath splits /v2/<name>/manifests/<ref> and /v2/<name>/blobs/<digest>.
func registryPath(path string) (kind, ref string) {
	if i := strings.LastIndex(path, "/manifests/"); i >= 0 {
		return "manifest", path[i+len("/manifests/"):]
	}
	if i := strings.LastIndex(path, "/blobs/"); i >= 0 && !strings.Contains(path[i:], "/uploads") {
		return "blob", path[i+len("/blobs/"):]
	}
	return "", ""
}

func isDigest(ref string) bool {
	algo, hexPart, ok := strings.Cut(ref, ":")
	return ok && algo != "" && hexPart != ""
}

// boundedBody wraps a response body: its errors name the host and the
// step, it stops at limit bytes (when limit >= 0), and closing it releases
// the request's context.
type boundedBody struct {
	rc      io.ReadCloser
	release func()
	fail    func(error) error
	limit   int64
	what    string
	read    int64
	closed  atomic.Bool
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.limit >= 0 {
		if b.read >= b.limit {
			// One byte more tells a body that ends here from one that
			// goes on.
			var one [1]byte
			n, err := b.rc.Read(one[:])
			if n > 0 {
				return 0, &tooLargeError{what: b.what, size: -1, limit: b.limit}
			}
			return 0, b.wrap(err)
		}
		if rest := b.limit - b.read; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	n, err := b.rc.Read(p)
	b.read += int64(n)
	return n, b.wrap(err)
}

func (b *boundedBody) wrap(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return b.fail(err)
}

func (b *boundedBody) Close() error {
	err := b.rc.Close()
	if b.closed.CompareAndSwap(false, true) {
		b.release()
	}
	return err
}
