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

// shimError is an error that already knows its kind, and maybe its code
// and details (see replyError).
type shimError struct {
	kind    string
	code    string
	details *errorDetails
	message string
}

func (e *shimError) Error() string { return e.message }

func errorf(kind, format string, args ...any) error {
	return &shimError{kind: kind, message: fmt.Sprintf(format, args...)}
}

// codedf is errorf with a code and the details of its fact.
func codedf(kind, code string, details errorDetails, format string, args ...any) error {
	return &shimError{kind: kind, code: code, details: &details, message: fmt.Sprintf(format, args...)}
}

// invalidf is an invalid-input error about one input of the request
// (input* names), so that the caller can say how its user sets it.
func invalidf(input, format string, args ...any) error {
	return codedf(kindInvalidInput, codeInvalidOption, errorDetails{Input: input}, format, args...)
}

// opFunc is one operation: it decodes its request, runs, and returns its
// reply. It must honour ctx and report through sink. Each is a typedOp.
type opFunc interface {
	run(ctx context.Context, request json.RawMessage, sink eventSink) (any, error)
	// newRequest and newReply return pointers to zero values of the
	// operation's request and reply types (for the golden wire tests).
	newRequest() any
	newReply() any
}

// ops is the whole set of operations chainctl_call accepts; each is typed
// (see typed): its request and reply types are in wire.go.
var ops = map[string]opFunc{
	"version":           typed(opVersion),
	"debug.echo":        typed(opEcho),
	"debug.panic":       typed(opPanic),
	"debug.sleep":       typed(opSleep),
	"debug.log":         typed(opDebugLog),
	"runtime.gcPercent": typed(opSetGCPercent),
	"release.render":    typed(opRender),
	"release.install":   typed(opInstall),
	"release.upgrade":   typed(opUpgrade),
	"release.status":    typed(opStatus),
	"release.history":   typed(opHistory),
	"release.rollback":  typed(opRollback),
	"release.uninstall": typed(opUninstall),
	"registry.tags":     typed(opRegistryTags),
	"registry.resolve":  typed(opRegistryResolve),
	"registry.pull":     typed(opRegistryPull),
	"registry.push":     typed(opRegistryPush),
	"registry.login":    typed(opRegistryLogin),
	"registry.logout":   typed(opRegistryLogout),
	"chart.package":     typed(opChartPackage),
	"values.merge":      typed(opValuesMerge),
	"secrets.redact":    typed(opRedactSecrets),
	"kube.resolve":      typed(opKubeResolve),
	"chart.digest":      typed(opChartDigest),
	"release.list":      typed(opList),
	"release.values":    typed(opGetValues),
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

	done := make(chan []byte, 1)
	go func() { done <- run(ctx, op, fn, request, sink) }()

	select {
	case reply := <-done:
		return reply
	case <-ctx.Done():
		// The operation goes on in the background until it notices; its
		// result is dropped.
		return encodeReply(nil, contextError(ctx, op))
	}
}

// run decodes the request, runs the operation and encodes its reply, all
// under the one recover: a panic anywhere in them is an internal error.
func run(ctx context.Context, op string, fn opFunc, request []byte, sink eventSink) (reply []byte) {
	defer func() {
		if p := recover(); p != nil {
			reply = encodeReply(nil, errorf(kindInternal, "the Go shim panicked in %s: %v", op, p))
		}
	}()
	result, err := fn.run(ctx, request, sink)
	if err != nil && ctx.Err() != nil {
		// The operation failed because its context ended: report why.
		err = contextError(ctx, op)
	}
	return encodeReply(result, err)
}

func contextError(ctx context.Context, op string) error {
	if context.Cause(ctx) == errCancelled {
		return errorf(kindCancelled, "%s was cancelled", op)
	}
	return errorf(kindTimeout, "%s did not finish before its deadline", op)
}

// encodeReply is the envelope of result, or of err classified. A result
// that cannot be encoded is an internal error.
func encodeReply(result any, err error) []byte {
	env := replyEnvelope{OK: err == nil}
	if err == nil {
		encoded, merr := json.Marshal(result)
		if merr != nil {
			env.OK = false
			err = errorf(kindInternal, "could not encode the reply: %v", merr)
		} else {
			env.Result = encoded
		}
	}
	if err != nil {
		env.Error = classify(err)
		var f *failure
		if errors.As(err, &f) {
			env.Error.Facts = f.facts
		}
	}
	out, merr := json.Marshal(env)
	if merr != nil {
		// Only the facts can fail to encode here: leave them out.
		env.Error = &replyError{Kind: kindInternal, Message: "could not encode the reply: " + merr.Error()}
		out, _ = json.Marshal(env)
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
