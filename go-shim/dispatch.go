package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Error kinds: the closed set shared with the Rust Error enum.
const (
	kindInvalidInput = "invalid_input"
	kindRegistry     = "registry"
	kindAuth         = "auth"
	kindNotFound     = "not_found"
	kindKube         = "kube"
	kindTimeout      = "timeout"
	kindCancelled    = "cancelled"
	kindInternal     = "internal"
)

// shimError is an error that already knows its kind.
type shimError struct {
	kind    string
	message string
}

func (e *shimError) Error() string { return e.message }

func errorf(kind, format string, args ...any) error {
	return &shimError{kind: kind, message: fmt.Sprintf(format, args...)}
}

// opFunc runs one operation. It must honour ctx and report through sink.
type opFunc func(ctx context.Context, request json.RawMessage, sink eventSink) (any, error)

// ops is the whole set of operations chainctl_call accepts.
var ops = map[string]opFunc{
	"version":           opVersion,
	"debug.echo":        opEcho,
	"debug.panic":       opPanic,
	"debug.sleep":       opSleep,
	"debug.log":         opDebugLog,
	"release.render":    opRender,
	"release.install":   opInstall,
	"release.upgrade":   opUpgrade,
	"release.status":    opStatus,
	"release.history":   opHistory,
	"release.rollback":  opRollback,
	"release.uninstall": opUninstall,
	"registry.tags":     opRegistryTags,
	"registry.resolve":  opRegistryResolve,
	"registry.pull":     opRegistryPull,
	"registry.push":     opRegistryPush,
	"registry.login":    opRegistryLogin,
	"registry.logout":   opRegistryLogout,
	"chart.package":     opChartPackage,
	"values.merge":      opValuesMerge,
	"secrets.redact":    opRedactSecrets,
	"kube.resolve":      opKubeResolve,
	"chart.digest":      opChartDigest,
	"release.list":      opList,
	"release.values":    opGetValues,
}

type replyEnvelope struct {
	OK     bool        `json:"ok"`
	Result any         `json:"result,omitempty"`
	Error  *replyError `json:"error,omitempty"`
}

type replyError struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// Facts is what the operation knew when it failed (for a chart
	// action: the release Helm recorded, the values digest), so that the
	// caller can record them.
	Facts any `json:"facts,omitempty"`
}

// failure is an error with the facts known when it happened.
type failure struct {
	err   error
	facts any
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// calls tracks the calls in flight by id, so that chainctl_cancel can reach
// them. A cancel that arrives before its call has registered is remembered
// and applied when it does.
var calls = struct {
	sync.Mutex
	inflight     map[uint64]context.CancelCauseFunc
	precancelled map[uint64]struct{}
}{inflight: map[uint64]context.CancelCauseFunc{}, precancelled: map[uint64]struct{}{}}

func cancelCall(id uint64) bool {
	calls.Lock()
	defer calls.Unlock()
	if cancel, ok := calls.inflight[id]; ok {
		cancel(errCancelled)
		return true
	}
	calls.precancelled[id] = struct{}{}
	return false
}

// registerCall makes the call cancellable; it fails if id is in use.
func registerCall(id uint64, cancel context.CancelCauseFunc) bool {
	calls.Lock()
	defer calls.Unlock()
	if _, dup := calls.inflight[id]; dup {
		return false
	}
	calls.inflight[id] = cancel
	if _, pre := calls.precancelled[id]; pre {
		delete(calls.precancelled, id)
		cancel(errCancelled)
	}
	return true
}

func unregisterCall(id uint64) {
	calls.Lock()
	delete(calls.inflight, id)
	calls.Unlock()
}

var (
	errCancelled = fmt.Errorf("cancelled by the caller")
	errDeadline  = fmt.Errorf("deadline passed")
)

// dispatch runs op and always returns a JSON reply envelope.
func dispatch(op string, request []byte, callID uint64, timeout time.Duration, sink eventSink) []byte {
	fn, ok := ops[op]
	if !ok {
		return encodeReply(nil, errorf(kindInvalidInput, "unknown operation %q", op))
	}
	if !json.Valid(request) {
		return encodeReply(nil, errorf(kindInvalidInput, "request for %s is not valid JSON", op))
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	if timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, timeout, errDeadline)
		defer stop()
	}
	if callID != 0 {
		if !registerCall(callID, cancel) {
			return encodeReply(nil, errorf(kindInvalidInput, "call id %d is already in use by a call in flight", callID))
		}
		defer unregisterCall(callID)
	}

	if ctx.Err() != nil {
		return encodeReply(nil, contextError(ctx, op))
	}
	defer trackLogSink(sink)()

	type outcome struct {
		result any
		err    error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: errorf(kindInternal, "the Go shim panicked in %s: %v", op, p)}
			}
		}()
		result, err := fn(ctx, request, sink)
		done <- outcome{result, err}
	}()

	select {
	case out := <-done:
		if out.err != nil && ctx.Err() != nil {
			// The operation failed because its context ended: report why.
			return encodeReply(nil, contextError(ctx, op))
		}
		return encodeReply(out.result, out.err)
	case <-ctx.Done():
		// The operation goes on in the background until it notices; its
		// result is dropped.
		return encodeReply(nil, contextError(ctx, op))
	}
}

func contextError(ctx context.Context, op string) error {
	if context.Cause(ctx) == errCancelled {
		return errorf(kindCancelled, "%s was cancelled", op)
	}
	return errorf(kindTimeout, "%s did not finish before its deadline", op)
}

func encodeReply(result any, err error) []byte {
	env := replyEnvelope{OK: err == nil, Result: result}
	if err != nil {
		env.Result = nil
		env.Error = classify(err)
		var f *failure
		if errors.As(err, &f) {
			env.Error.Facts = f.facts
		}
	}
	out, merr := json.Marshal(env)
	if merr != nil {
		out, _ = json.Marshal(replyEnvelope{Error: &replyError{Kind: kindInternal, Message: "could not encode the reply: " + merr.Error()}})
	}
	return out
}

// decode parses a request into v, rejecting unknown fields so that a typo on
// the Rust side fails loudly instead of being ignored.
func decode(request json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(request))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(kindInvalidInput, "malformed request: %v", err)
	}
	return nil
}
