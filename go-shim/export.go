// Package main is the Go half of chainctl-core: a c-archive exporting the C ABI
// declared in ../include/chainctl.h. The exports below only move bytes across
// the boundary; everything else lives in ordinary Go code that the go tests
// drive directly.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#include <stdlib.h>
#include "chainctl.h"

// cgo cannot call a C function pointer directly; this bridge does.
static inline void chainctl_emit(chainctl_event_fn fn, void *user_data, char *event_json) {
	if (fn != NULL) {
		fn(user_data, event_json);
	}
}
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// outstanding counts replies handed out by chainctl_call and not yet freed.
var outstanding atomic.Int64

// abiVersion is CHAINCTL_ABI_VERSION from the header.
const abiVersion = C.CHAINCTL_ABI_VERSION

//export chainctl_call
func chainctl_call(op *C.char, requestJSON *C.char, callID C.uint64_t, timeoutMs C.int64_t, onEvent C.chainctl_event_fn, userData unsafe.Pointer) *C.char {
	var sink eventSink = nopSink{}
	var bridge *cEventSink
	if onEvent != nil {
		bridge = &cEventSink{fn: onEvent, userData: userData}
		sink = bridge
	}
	var opName, request string
	if op != nil {
		opName = C.GoString(op)
	}
	if requestJSON != nil {
		request = C.GoString(requestJSON)
	}
	reply := dispatch(opName, []byte(request), uint64(callID), time.Duration(int64(timeoutMs))*time.Millisecond, sink)
	if bridge != nil {
		// After this, events from work still running in the background (a call
		// that timed out) are dropped: the Rust callback is gone once we return.
		bridge.close()
	}
	outstanding.Add(1)
	return C.CString(string(reply))
}

//export chainctl_cancel
func chainctl_cancel(callID C.uint64_t) C.int {
	if cancelCall(uint64(callID)) {
		return 1
	}
	return 0
}

//export chainctl_free
func chainctl_free(reply *C.char) {
	if reply == nil {
		return
	}
	outstanding.Add(-1)
	C.free(unsafe.Pointer(reply))
}

//export chainctl_outstanding_replies
func chainctl_outstanding_replies() C.int64_t {
	return C.int64_t(outstanding.Load())
}

//export chainctl_abi_version
func chainctl_abi_version() C.int {
	return C.int(abiVersion)
}

// cEventSink forwards events to the caller's C callback until closed. The
// mutex makes close wait for a callback in progress, so the callback never
// runs after chainctl_call has returned.
type cEventSink struct {
	mu       sync.Mutex
	fn       C.chainctl_event_fn
	userData unsafe.Pointer
}

func (s *cEventSink) emit(ev event) {
	payload := C.CString(string(ev.marshal()))
	defer C.free(unsafe.Pointer(payload))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fn != nil {
		C.chainctl_emit(s.fn, s.userData, payload)
	}
}

func (s *cEventSink) close() {
	s.mu.Lock()
	s.fn = nil
	s.mu.Unlock()
}

func main() {}
