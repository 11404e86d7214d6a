package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// valuesFile is one -f input: a path or URL that Helm reads itself, or
// content the caller already holds (standard input, or a map from the
// library API), with the name messages should use for it.
type valuesFile struct {
	Path    string `json:"path,omitempty"`
	Name    string `json:"name,omitempty"`
	Content []byte `json:"content,omitempty"`
}

// valuesRequest is every way a user gives values, as helm's flags do. They
// are merged by Helm's own values.Options.MergeValues, so the order (files,
// then --set-json, --set, --set-string, --set-file, --set-literal, each kind
// in the order given), the YAML 1.1 reading of files and the types of
// --set values are Helm's.
type valuesRequest struct {
	Files      []valuesFile `json:"files,omitempty"`
	Set        []string     `json:"set,omitempty"`
	SetString  []string     `json:"setString,omitempty"`
	SetFile    []string     `json:"setFile,omitempty"`
	SetJSON    []string     `json:"setJson,omitempty"`
	SetLiteral []string     `json:"setLiteral,omitempty"`
	// MaxFileBytes bounds every values file, --set-file file and values
	// URL read; 0 means defaultMaxValuesFileBytes.
	MaxFileBytes int64 `json:"maxFileBytes,omitempty"`
}

// defaultMaxValuesFileBytes is the default bound on one values input:
// three times Helm's own bound on any one file of a chart (5 MiB, its
// loader's MaxDecompressedFileSize), and far past what a release can hold
// (Helm stores a release in one Secret of at most 1 MiB).
const defaultMaxValuesFileBytes = 16 << 20

// valuesURLTimeout bounds reading a values file from an http(s) URL; Helm's
// getter has no timeout of its own.
const valuesURLTimeout = 60 * time.Second

// helmMaxYAMLDepth is the nesting the YAML parser Helm uses
// (go.yaml.in/yaml/v2) accepts, in flow collections and in block
// indentation alike; deeper input is refused, in time linear in its size.
const helmMaxYAMLDepth = 10000

// limit is the bound in force, kept far from int64's end so that the
// limit+1 reads (and limit + slack) cannot overflow.
func (r valuesRequest) limit() int64 {
	switch {
	case r.MaxFileBytes <= 0:
		return defaultMaxValuesFileBytes
	case r.MaxFileBytes > 1<<50:
		return 1 << 50
	default:
		return r.MaxFileBytes
	}
}

// inlineScheme names the -f inputs as MergeValues sees them: every one is
// handed to Helm through this getter, which reads a path or URL with a
// bound (or returns content the caller already holds), so that Helm's own
// code parses and merges it and its messages name the input as helm's do.
const inlineScheme = "chainctl-inline"

// inlineInput is one -f input behind its inline key.
type inlineInput struct {
	name  string
	read  func() ([]byte, error)
	limit int64
}

type inlineGetter map[string]inlineInput

func (g inlineGetter) Get(url string, _ ...getterOption) (*bytes.Buffer, error) {
	in, ok := g[url]
	if !ok {
		return nil, fmt.Errorf("no inline values named %s", url)
	}
	content, err := in.read()
	if err != nil {
		return nil, err
	}
	if int64(len(content)) > in.limit {
		return nil, tooLarge(in.name, in.limit)
	}
	return bytes.NewBuffer(content), nil
}

// errTooLarge marks a values input refused for its size.
var errTooLarge = errors.New("values input too large")

type valuesTooLargeError struct {
	name  string
	limit int64
}

func (e *valuesTooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %s, the limit for one values input: give smaller "+
		"values (a library caller can raise the limit with ReleaseOptionsBuilder::values_size_limit)",
		e.name, formatBytes(e.limit))
}

func (e *valuesTooLargeError) Unwrap() error { return errTooLarge }

func tooLarge(name string, limit int64) error { return &valuesTooLargeError{name: name, limit: limit} }

// valuesPipeTimeout bounds reading a FIFO or pipe given as a values file
// (helm's -f <(command)) when the call has no deadline of its own, as
// valuesURLTimeout bounds a URL.
const valuesPipeTimeout = valuesURLTimeout

// pipeDeadlineMargin is the most a pipe's read ends before the context's
// deadline (a tenth of what is left, at most this).
const pipeDeadlineMargin = time.Second

// pipePollSlice is the longest one poll of a pipe waits, so that a
// cancelled call ends the wait within it.
const pipePollSlice = 100 * time.Millisecond

// readValuesFile reads a local values file as os.ReadFile would (its
// errors are os.ReadFile's, so messages stay helm's), but never blocks and
// never reads more than limit+1 bytes: the file is opened non-blocking (a
// FIFO with no writer opens at once), what was opened is checked to be a
// regular file or a pipe (no TOCTOU between a stat and the open), and the
// read stops past the limit. A pipe (a FIFO, or helm's -f <(command)) is
// read until its writer closes it, within the context's deadline (else
// valuesPipeTimeout) and until the context is cancelled.
func readValuesFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		// A socket cannot be opened at all (ENXIO): name it.
		if info, serr := os.Stat(path); serr == nil && !info.Mode().IsRegular() {
			return nil, notRegular(path, info.Mode())
		}
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if info.Mode()&os.ModeNamedPipe != 0 {
		return readValuesPipe(ctx, f, path, limit)
	}
	if !info.Mode().IsRegular() {
		return nil, notRegular(path, info.Mode())
	}
	if info.Size() > limit {
		return nil, tooLarge(path, limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(path, limit)
	}
	return data, nil
}

// readValuesPipe reads the pipe f (opened non-blocking) to its end, at
// most limit+1 bytes, polling it rather than blocking in read: on Linux a
// FIFO no writer has opened reads as empty at once, so a named FIFO is
// waited on (POLLIN, or POLLHUP once a writer came and went) before its
// first read, and every EAGAIN waits again, each wait bounded by what is
// left of the deadline. An anonymous pipe (-f <(command) names one, as
// /dev/fd/N) had its writer from the start, so its end of file is read at
// once when that writer is gone.
func readValuesPipe(ctx context.Context, f *os.File, path string, limit int64) ([]byte, error) {
	start := time.Now()
	deadline, ok := ctx.Deadline()
	if ok {
		// End a little before the call does, so that the refusal naming
		// the pipe, not the call's bare timeout, is what the caller sees.
		deadline = deadline.Add(-min(deadline.Sub(start)/10, pipeDeadlineMargin))
	} else {
		deadline = start.Add(valuesPipeTimeout)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var data []byte
	var rerr error
	if cerr := rc.Control(func(fd uintptr) {
		p := pipeRead{ctx: ctx, fd: int(fd), path: path, limit: limit, start: start, deadline: deadline}
		id, anonymous := anonymousPipe(int(fd))
		if anonymous && pipesRead.has(id) {
			rerr = invalidf(inputValuesFile, "values file %s is a pipe this process has already read to its end "+
				"(for a plan, or an earlier values file or file value): a pipe can be read only once; write the "+
				"values to a file, or give them as standard input, \"-\" (read once for the plan and the action "+
				"alike)", path)
			return
		}
		data, rerr = p.read(anonymous)
		if anonymous && rerr == nil {
			pipesRead.add(id)
		}
	}); cerr != nil {
		return nil, cerr
	}
	return data, rerr
}

// pipeID is a pipe's identity: its device and inode.
type pipeID struct{ dev, ino uint64 }

// pipesRead are the anonymous pipes read to their end in this process (at
// most maxPipesRead, the oldest forgotten first). Reading one again would
// find it empty, and a plan and the action after it would see different
// values (helm reads -f <(command) once): the second read is refused.
var pipesRead pipeSet

const maxPipesRead = 4096

type pipeSet struct {
	mu    sync.Mutex
	ids   map[pipeID]bool
	order []pipeID
}

func (s *pipeSet) has(id pipeID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

func (s *pipeSet) add(id pipeID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[pipeID]bool{}
	}
	if s.ids[id] {
		return
	}
	if len(s.order) >= maxPipesRead {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
	s.ids[id] = true
	s.order = append(s.order, id)
}

type pipeRead struct {
	ctx             context.Context
	fd              int
	path            string
	limit           int64
	start, deadline time.Time
}

func (p pipeRead) read(anonymous bool) ([]byte, error) {
	var data []byte
	if p.limit <= defaultMaxValuesFileBytes {
		// One allocation, no doubling garbage: its pages are the OS's
		// fresh zero pages, resident only as they are read into.
		data = make([]byte, 0, p.limit+1)
	}
	// A writer has opened the pipe: its end of file is real.
	opened := anonymous
	wait := !anonymous
	for {
		if wait {
			ready, err := p.wait()
			if err != nil {
				return nil, err
			}
			if !ready {
				waited := time.Since(p.start).Round(time.Millisecond)
				if !opened {
					return nil, errorf(kindInvalidInput, "values file %s is a named pipe (FIFO) that no writer opened "+
						"within %s: start the command that writes it first, or give a file, or - for standard input", p.path, waited)
				}
				return nil, errorf(kindInvalidInput, "values file %s is a pipe whose writer stalled after %d bytes: "+
					"it did not finish within %s", p.path, len(data), waited)
			}
			opened, wait = true, false
		}
		if len(data) == cap(data) {
			data = slices.Grow(data, 64<<10)
		}
		room := min(int64(cap(data)-len(data)), p.limit+1-int64(len(data)))
		n, err := unix.Read(p.fd, data[len(data):len(data)+int(room)])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			wait = true
			continue
		case err != nil:
			return nil, &os.PathError{Op: "read", Path: p.path, Err: err}
		case n == 0:
			return data, nil
		}
		data = data[:len(data)+n]
		if int64(len(data)) > p.limit {
			return nil, tooLarge(p.path, p.limit)
		}
	}
}

// wait polls the pipe until it can be read (false once the deadline has
// passed), in slices of at most pipePollSlice so that a cancelled context
// ends it; a context past its deadline is the deadline passed.
func (p pipeRead) wait() (bool, error) {
	for {
		if err := p.ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return false, fmt.Errorf("reading values file %s: %w", p.path, err)
		}
		left := time.Until(p.deadline)
		if left <= 0 {
			return false, nil
		}
		slice := min(left, pipePollSlice)
		fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int((slice+time.Millisecond-1)/time.Millisecond))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return false, &os.PathError{Op: "poll", Path: p.path, Err: err}
		case n > 0 && fds[0].Revents&unix.POLLNVAL != 0:
			return false, &os.PathError{Op: "poll", Path: p.path, Err: unix.EBADF}
		case n > 0:
			// POLLIN, POLLHUP or POLLERR: the read says which.
			return true, nil
		}
	}
}

func notRegular(path string, mode os.FileMode) error {
	what := "not a regular file"
	switch {
	case mode.IsDir():
		what = "a directory"
	case mode&os.ModeSocket != 0:
		what = "a socket"
	case mode&os.ModeCharDevice != 0:
		what = "a character device"
	case mode&os.ModeDevice != 0:
		what = "a block device"
	}
	return errorf(kindInvalidInput, "values file %s is %s, not a regular file: give a file, a pipe, "+
		"a URL, or - for standard input", path, what)
}

// boundedProviders are the getters MergeValues reads paths and URLs with:
// Helm's own, except that http(s) has a timeout and a size bound, and a
// path Helm would read with os.ReadFile (one whose scheme no getter
// serves; localSchemes lists them) is read by readValuesFile.
func boundedProviders(ctx context.Context, limit int64, localSchemes []string) getterList {
	providers := getterList{
		{
			Schemes: []string{"http", "https"},
			New: func(options ...getterOption) (getterGetter, error) {
				return newHTTPGetter(append(options,
					getterWithTimeout(valuesURLTimeout),
					getterWithTransport(boundedTransport(limit)))...)
			},
		},
		{
			Schemes: localSchemes,
			New: func(...getterOption) (getterGetter, error) {
				return localGetter{ctx, limit}, nil
			},
		},
	}
	return append(providers, helmGetters()...)
}

// localGetter reads local files for Helm's readFile (--set-file, and -f
// files), bounded, a pipe within ctx.
type localGetter struct {
	ctx   context.Context
	limit int64
}

func (g localGetter) Get(path string, _ ...getterOption) (*bytes.Buffer, error) {
	data, err := readValuesFile(g.ctx, path, g.limit)
	if err != nil {
		return nil, err
	}
	return bytes.NewBuffer(data), nil
}

// boundedTransport is Helm's getter transport (no compression, proxies from
// the environment) whose connections fail once they have read more than
// the limit (plus room for headers and TLS framing): Helm's getter reads a
// body whole, and this keeps an endless one from growing memory.
func boundedTransport(limit int64) *http.Transport {
	dialer := &net.Dialer{Timeout: 30 * time.Second}
	return &http.Transport{
		DisableCompression:    true,
		Proxy:                 http.ProxyFromEnvironment,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &boundedConn{Conn: conn, left: limit + 1<<20, limit: limit}, nil
		},
	}
}

type boundedConn struct {
	net.Conn
	left  int64
	limit int64
}

func (c *boundedConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, tooLarge("the values URL's response", c.limit)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= int64(n)
	return n, err
}

// readLikeHelm reads one -f input as Helm's values.readFile does (a URL
// through the getter of its scheme, anything else as a file), through the
// bounded providers.
func readLikeHelm(path string, providers getterList) ([]byte, error) {
	u, err := url.Parse(path)
	if err != nil {
		return nil, err
	}
	g, err := providers.ByScheme(u.Scheme)
	if err != nil {
		return nil, err
	}
	data, err := g.Get(path, getterWithURL(path))
	if err != nil {
		return nil, err
	}
	return data.Bytes(), nil
}

// localSchemes are the URL schemes of the given paths that no getter of
// Helm's serves, "" (a plain path) always among them: Helm reads such a
// path as a file, and so do we, bounded. --set-file paths are found by
// Helm's own parser, with a reader that only records them.
func (r valuesRequest) localSchemes() []string {
	served := map[string]bool{}
	for _, p := range helmGetters() {
		for _, s := range p.Schemes {
			served[s] = true
		}
	}
	served["http"], served["https"] = true, true
	seen := map[string]bool{"": true}
	schemes := []string{""}
	add := func(path string) {
		if u, err := url.Parse(path); err == nil && !served[u.Scheme] && !seen[u.Scheme] {
			seen[u.Scheme] = true
			schemes = append(schemes, u.Scheme)
		}
	}
	for _, f := range r.Files {
		add(f.Path)
	}
	for _, expr := range r.SetFile {
		_ = parseIntoFile(expr, map[string]any{}, func(rs []rune) (any, error) {
			add(string(rs))
			return "", nil
		})
	}
	return schemes
}

// usesStdin says whether a --set-file expression reads standard input
// ("-"), found by Helm's own parser with a reader that only records paths.
func (r valuesRequest) usesStdin() bool {
	found := false
	for _, expr := range r.SetFile {
		_ = parseIntoFile(expr, map[string]any{}, func(rs []rune) (any, error) {
			found = found || strings.TrimSpace(string(rs)) == "-"
			return "", nil
		})
	}
	return found
}

// boundedStdin bounds what Helm's readFile reads from os.Stdin for
// --set-file K=- (it calls io.ReadAll(os.Stdin) itself; -f - is read by the
// library). The first call that needs it puts a pipe in os.Stdin's place,
// fed with at most limit+1 bytes of the real standard input; as with helm,
// standard input is read once, and a later reader finds it empty.
var boundedStdin struct {
	once     sync.Once
	limit    int64
	exceeded atomic.Bool
}

func boundStdin(limit int64) {
	boundedStdin.once.Do(func() {
		r, w, err := os.Pipe()
		if err != nil {
			return
		}
		real := os.Stdin
		boundedStdin.limit = limit
		os.Stdin = r
		go func() {
			// Read whole before handing on: past the limit Helm gets
			// nothing, rather than a copy of all of it.
			var data []byte
			if limit <= defaultMaxValuesFileBytes {
				// One allocation, no doubling garbage.
				buf := make([]byte, limit+1)
				n, _ := io.ReadFull(real, buf)
				data = buf[:n]
			} else {
				data, _ = io.ReadAll(io.LimitReader(real, limit+1))
			}
			if int64(len(data)) > limit {
				boundedStdin.exceeded.Store(true)
			} else {
				_, _ = w.Write(data)
			}
			w.Close()
		}()
	})
}

// mergedValues is the result of merging: the map handed to Helm's action,
// with its native types, and a digest that says whether it changed.
type mergedValues struct {
	values map[string]any
	digest string
}

// merge merges the values as helm does for the same flags; a pipe given as
// a values file is read within ctx.
func (r valuesRequest) merge(ctx context.Context) (mergedValues, error) {
	opts := valueOptions{
		StringValues:  r.SetString,
		Values:        r.Set,
		FileValues:    r.SetFile,
		JSONValues:    r.SetJSON,
		LiteralValues: r.SetLiteral,
	}
	limit := r.limit()
	providers := boundedProviders(ctx, limit, r.localSchemes())
	inline := inlineGetter{}
	for i, f := range r.Files {
		// The trailing slash keeps key 1 from being a prefix of key 10.
		key := fmt.Sprintf("%s://%d/", inlineScheme, i)
		if f.Name == "" && f.Content == nil {
			if strings.TrimSpace(f.Path) == "-" {
				// Helm's own standard input; the library reads it itself.
				opts.ValueFiles = append(opts.ValueFiles, f.Path)
				continue
			}
			path := f.Path
			inline[key] = inlineInput{name: path, limit: limit, read: func() ([]byte, error) {
				return readLikeHelm(path, providers)
			}}
		} else {
			content := f.Content
			inline[key] = inlineInput{name: f.Name, limit: limit, read: func() ([]byte, error) {
				return content, nil
			}}
		}
		opts.ValueFiles = append(opts.ValueFiles, key)
	}
	providers = append(getterList{{
		Schemes: []string{inlineScheme},
		New:     func(...getterOption) (getterGetter, error) { return inline, nil },
	}}, providers...)
	readsStdin := r.usesStdin()
	if readsStdin {
		boundStdin(limit)
	}
	vals, err := opts.MergeValues(providers)
	if err != nil {
		return mergedValues{}, valuesError(err, inline)
	}
	if readsStdin && boundedStdin.exceeded.Load() {
		return mergedValues{}, errorf(kindInvalidInput, "values: failed parsing --set-file data: %v",
			tooLarge("standard input (-)", boundedStdin.limit))
	}
	digest, err := valuesDigest(vals)
	if err != nil {
		return mergedValues{}, err
	}
	return mergedValues{values: vals, digest: digest}, nil
}

// valuesError is MergeValues' error with every inline key replaced by the
// name of its input, and the kind and advice our own refusals carry.
func valuesError(err error, inline inlineGetter) error {
	msg := err.Error()
	for key, in := range inline {
		msg = strings.ReplaceAll(msg, key, in.name)
	}
	var shim *shimError
	if errors.As(err, &shim) || errors.Is(err, errTooLarge) {
		return errorf(kindInvalidInput, "values: %s", msg)
	}
	// yaml.v2's depth refusal is a plain error (no type to test); its text
	// is pinned by TestDeepNestingIsRefusedFastNamingFileAndDepth.
	if strings.Contains(msg, fmt.Sprintf("exceeded max depth of %d", helmMaxYAMLDepth)) {
		return errorf(kindInvalidInput, "values: %s: the values nest deeper than %d levels, "+
			"the most Helm's YAML parser accepts: flatten them", msg, helmMaxYAMLDepth)
	}
	return errorf(kindInvalidInput, "values: %s", msg)
}

// valuesDigest is the sha256 of the values' JSON (map keys sorted, as
// encoding/json writes them): equal values give equal digests.
func valuesDigest(vals map[string]any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(vals); err != nil {
		return "", errorf(kindInvalidInput, "values cannot be digested: %v", err)
	}
	sum := sha256.Sum256(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// opValuesMerge merges values without running any action: their digest,
// and the merged values as JSON for a caller that shows them.
func opValuesMerge(ctx context.Context, req valuesRequest, _ eventSink) (mergeReply, error) {
	merged, err := req.merge(ctx)
	if err != nil {
		return mergeReply{}, err
	}
	return mergeReply{Values: merged.values, Digest: merged.digest}, nil
}
