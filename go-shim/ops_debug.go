package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"time"
)

// helmVersion is the version of the Helm module (helmModule) linked into
// this archive.
func helmVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == helmModule {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func opVersion(_ context.Context, _ versionRequest, _ eventSink) (versionReply, error) {
	return versionReply{ABI: abiVersion, Helm: helmVersion(), Go: runtime.Version()}, nil
}

// opEcho returns its request: the cheapest round trip, for FFI tests.
func opEcho(_ context.Context, request echoMessage, sink eventSink) (echoMessage, error) {
	sink.emit(event{Level: "debug", Phase: "echo", Message: "echo"})
	return request, nil
}

// opPanic panics, to prove a panic never crosses the boundary.
func opPanic(_ context.Context, _ panicRequest, _ eventSink) (emptyReply, error) {
	panic("debug.panic was called")
}

// opSleep waits, honouring cancellation and deadlines, for FFI tests.
func opSleep(ctx context.Context, req sleepRequest, _ eventSink) (sleepReply, error) {
	select {
	case <-time.After(millis(req.Millis)):
		return sleepReply{Slept: req.Millis}, nil
	case <-ctx.Done():
		return sleepReply{}, ctx.Err()
	}
}
