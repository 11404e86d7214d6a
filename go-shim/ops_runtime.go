package main

import (
	"context"
	"runtime/debug"
)

// opSetGCPercent sets the Go collector's target (debug.SetGCPercent; a
// negative percent turns it off) and returns the one it replaces. It is
// process-wide: a program that links the library chooses it, the library
// never does (GOGC, read by the Go runtime at start-up, is the default).
func opSetGCPercent(_ context.Context, req gcPercentRequest, _ eventSink) (gcPercentReply, error) {
	return gcPercentReply{Previous: debug.SetGCPercent(req.Percent)}, nil
}
