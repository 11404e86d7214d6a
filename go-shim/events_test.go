package main

import (
	"encoding/json"
	"io"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/klog/v2"
)

// captureStderr runs fn with os.Stderr redirected and returns what was
// written to it.
func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	fn()
	os.Stderr = saved
	w.Close()
	out, _ := io.ReadAll(r)
	return string(out)
}

func TestGoLogAndKlogLinesBecomeEventsOfTheCallsInFlight(t *testing.T) {
	sink := &recordingSink{}
	stderr := captureStderr(t, func() {
		reply := dispatch("debug.log", []byte(`{"stdlib":"warning: skipped value for x: Not a table.",`+
			`"klogInfo":"an info line","klogWarning":"Warning: policy/v1beta1 is deprecated",`+
			`"klogError":"an error line"}`), 0, time.Minute, sink)
		var env testReply
		if err := json.Unmarshal(reply, &env); err != nil || !env.OK {
			t.Fatalf("reply %s", reply)
		}
		// Helm's own std logger calls and structured klog calls too.
		stop := trackLogSink(sink)
		log.Printf("[INFO] Missing required value: %s", "x")
		klog.InfoS("structured", "key", "value")
		klog.Background().Info("Warning: spec.foo: deprecated")
		klog.ErrorS(io.EOF, "structured error")
		stop()
		// After its call, a sink hears nothing more.
		log.Print("warning: after the call")
		klog.Warning("after the call")
	})
	if stderr != "" {
		t.Fatalf("raw lines reached stderr: %q", stderr)
	}
	want := []event{
		{Level: "warn", Message: "skipped value for x: Not a table."},
		{Level: "debug", Message: "an info line"},
		{Level: "warn", Message: "policy/v1beta1 is deprecated"},
		{Level: "warn", Message: "an error line"},
		{Level: "debug", Message: "[INFO] Missing required value: x"},
		{Level: "debug", Message: `"structured" key="value"`},
		{Level: "warn", Message: "spec.foo: deprecated"},
		{Level: "warn", Message: `"structured error" err="EOF"`},
	}
	got := sink.events
	if len(got) != len(want) {
		t.Fatalf("events %+v", got)
	}
	for i := range want {
		// klog's structured calls format their message in their own way;
		// what matters is that the words arrive at the right level.
		exact := i < 5 && got[i].Message == want[i].Message
		loose := i >= 5 && strings.Contains(got[i].Message, strings.Trim(strings.Fields(want[i].Message)[0], `"`))
		if got[i].Level != want[i].Level || !(exact || loose) {
			t.Fatalf("event %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, e := range got {
		if klogHeader.MatchString(e.Message + " ") {
			t.Fatalf("klog header kept: %q", e.Message)
		}
	}
}

func TestLogRoutingIsInstalledAtStart(t *testing.T) {
	if _, ok := log.Writer().(stdLogWriter); !ok {
		t.Fatalf("the standard logger writes to %T", log.Writer())
	}
	if log.Flags() != 0 {
		t.Fatalf("log flags %d", log.Flags())
	}
}
