/*
 * chainctl.h: the C ABI between the Go shim (go-shim/, built as a c-archive)
 * and the Rust crate chainctl-core. This file is the contract: the Rust
 * bindings in src/ffi/bindings.rs are generated from it, and the cgo preamble
 * of go-shim/export.go includes it, so a Go export whose prototype differs
 * from the one declared here fails to compile.
 *
 * Protocol
 * - chainctl_call runs one operation. `op` names it ("release.install",
 *   "version", ...); `request_json` is a UTF-8 JSON object. Both strings are
 *   borrowed for the duration of the call and never modified (they are
 *   `char *`, not `const char *`, only because cgo cannot export const
 *   parameters).
 * - The reply is a malloc'd, NUL-terminated UTF-8 JSON object, never NULL:
 *     {"ok":true,"result":<any>}
 *     {"ok":false,"error":{"kind":"<kind>","message":"<text>",
 *                          "code":"<code>","details":{...},"facts":{...}}}
 *   where <kind> is one of: invalid_input, conflicting_sources, registry,
 *   auth, not_found, kube, timeout, cancelled, state, internal; "code",
 *   "details" and "facts" are present when known. Each operation's request
 *   and result, and the codes, are typed in go-shim/wire.go and
 *   src/wire.rs (golden files: go-shim/testdata/wire/); durations in a
 *   request are integer milliseconds ("timeoutMs").
 *   The caller frees it with chainctl_free and nothing else.
 * - `call_id` is chosen by the caller, unique among calls in flight (0 means
 *   "cannot be cancelled"). chainctl_cancel(call_id) from any thread makes
 *   that call return the "cancelled" kind as soon as possible.
 * - `timeout_ms` > 0 bounds the call: when it passes, the call returns the
 *   "timeout" kind. 0 means no deadline.
 * - `on_event`, when not NULL, receives log and progress events as JSON
 *   objects ({"level":"debug|info|warn","phase":"...","message":"..."}),
 *   borrowed for the duration of the callback, on whatever thread runs the
 *   call, and only before chainctl_call returns. `user_data` is passed back
 *   unchanged.
 * - Every function may be called from many threads at once. A Go panic never
 *   crosses this boundary: it comes back as the "internal" kind.
 */
#ifndef CHAINCTL_H
#define CHAINCTL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this ABI; bumped on any incompatible change. */
#define CHAINCTL_ABI_VERSION 1

/* Receives one event; `event_json` is borrowed for the callback's duration. */
typedef void (*chainctl_event_fn)(void *user_data, char *event_json);

/* Runs `op` with `request_json`; returns a reply to free with chainctl_free. */
char *chainctl_call(char *op, char *request_json, uint64_t call_id,
                    int64_t timeout_ms, chainctl_event_fn on_event,
                    void *user_data);

/* Cancels the call in flight with `call_id`; returns 1 if one was found. */
int chainctl_cancel(uint64_t call_id);

/* Frees a reply returned by chainctl_call. NULL is ignored. */
void chainctl_free(char *reply);

/* Replies handed out by chainctl_call and not yet freed (leak checks). */
int64_t chainctl_outstanding_replies(void);

/* The ABI version the shim was built with (CHAINCTL_ABI_VERSION). */
int chainctl_abi_version(void);

#ifdef __cplusplus
}
#endif

#endif /* CHAINCTL_H */
