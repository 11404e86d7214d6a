package main

import (
	"context"
	"encoding/json"
	"runtime"
	"runtime/debug"
	"time"
)

type versionResult struct {
	ABI  int    `json:"abi"`
	Helm string `json:"helm"`
	Go   string `json:"go"`
}

// helmVersion is the version of helm.sh/helm/v3 linked into this archive.
func helmVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "helm.sh/helm/v3" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func opVersion(_ context.Context, _ json.RawMessage, _ eventSink) (any, error) {
	return versionResult{ABI: abiVersion, Helm: helmVersion(), Go: runtime.Version()}, nil
}

// opEcho returns its request: the cheapest round trip, for FFI tests.
func opEcho(_ context.Context, request json.RawMessage, sink eventSink) (any, error) {
	sink.emit(event{Level: "debug", Phase: "echo", Message: "echo"})
	return request, nil
}

// opPanic panics, to prove a panic never crosses the boundary.
func opPanic(_ context.Context, _ json.RawMessage, _ eventSink) (any, error) {
	panic("debug.panic was called")
}

type sleepRequest struct {
	Millis int64 `json:"millis"`
}

// opSleep waits, honouring cancellation and deadlines, for FFI tests.
func opSleep(ctx context.Context, request json.RawMessage, _ eventSink) (any, error) {
	var req sleepRequest
	if err := decode(request, &req); err != nil {
		return nil, err
	}
	select {
	case <-time.After(time.Duration(req.Millis) * time.Millisecond):
		return map[string]int64{"slept": req.Millis}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
