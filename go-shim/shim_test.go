package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type testReply struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  *replyError     `json:"error"`
}

func call(t *testing.T, op string, request any, timeout time.Duration) testReply {
	t.Helper()
	var body []byte
	switch r := request.(type) {
	case string:
		body = []byte(r)
	default:
		var err error
		if body, err = json.Marshal(r); err != nil {
			t.Fatal(err)
		}
	}
	var reply testReply
	if err := json.Unmarshal(dispatch(op, body, 0, timeout, nopSink{}), &reply); err != nil {
		t.Fatalf("reply is not JSON: %v", err)
	}
	return reply
}

func wantKind(t *testing.T, reply testReply, kind string) {
	t.Helper()
	if reply.OK || reply.Error == nil || reply.Error.Kind != kind {
		t.Fatalf("want error kind %s, got %+v (error %+v)", kind, reply, reply.Error)
	}
}

func TestUnknownOpAndMalformedRequestsAreInvalidInput(t *testing.T) {
	wantKind(t, call(t, "no.such.op", "{}", 0), kindInvalidInput)
	wantKind(t, call(t, "debug.echo", "{oops", 0), kindInvalidInput)
	wantKind(t, call(t, "debug.sleep", `{"millis":1,"extra":2}`, 0), kindInvalidInput)
	wantKind(t, call(t, "release.status", `{"kube":{"storage":"memory","memoryStore":"m"}}`, 0), kindInvalidInput)
	wantKind(t, call(t, "release.status", `{"kube":{"storage":"sql"},"release":"a","namespace":"b"}`, 0), kindInvalidInput)
}

func TestPanicsAreRecovered(t *testing.T) {
	reply := call(t, "debug.panic", "{}", 0)
	wantKind(t, reply, kindInternal)
	if !strings.Contains(reply.Error.Message, "debug.panic was called") || strings.Contains(reply.Error.Message, "goroutine") {
		t.Fatalf("message %q", reply.Error.Message)
	}
}

func TestDeadlineAndCancellation(t *testing.T) {
	start := time.Now()
	wantKind(t, call(t, "debug.sleep", `{"millis":20000}`, 50*time.Millisecond), kindTimeout)
	if time.Since(start) > 10*time.Second {
		t.Fatalf("the deadline was not honoured")
	}

	const id = 4242
	done := make(chan []byte)
	go func() { done <- dispatch("debug.sleep", []byte(`{"millis":20000}`), id, 0, nopSink{}) }()
	time.Sleep(50 * time.Millisecond)
	cancelCall(id) // whether or not the call has registered yet
	var reply testReply
	if err := json.Unmarshal(<-done, &reply); err != nil {
		t.Fatal(err)
	}
	wantKind(t, reply, kindCancelled)

	// A cancel that arrives before its call registers still cancels it.
	cancelCall(4343)
	var early testReply
	_ = json.Unmarshal(dispatch("debug.sleep", []byte(`{"millis":20000}`), 4343, 0, nopSink{}), &early)
	wantKind(t, early, kindCancelled)
}

func TestDuplicateCallIDsAreRefused(t *testing.T) {
	const id = 777
	go dispatch("debug.sleep", []byte(`{"millis":300}`), id, 0, nopSink{})
	deadline := time.Now().Add(5 * time.Second)
	for {
		calls.Lock()
		_, registered := calls.inflight[id]
		calls.Unlock()
		if registered || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var reply testReply
	_ = json.Unmarshal(dispatch("debug.echo", []byte(`{}`), id, 0, nopSink{}), &reply)
	wantKind(t, reply, kindInvalidInput)
}

func TestConcurrentEchoes(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				want := fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)
				reply := call(t, "debug.echo", want, time.Minute)
				if !reply.OK || string(reply.Result) != want {
					t.Errorf("got %s, want %s", reply.Result, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

type recordingSink struct {
	mu     sync.Mutex
	events []event
}

func (s *recordingSink) emit(e event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

func helloChart(t *testing.T) string {
	path, err := filepath.Abs("../examples/charts/hello")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReleaseLifecycleInMemory(t *testing.T) {
	kube := kubeTarget{Storage: "memory", MemoryStore: t.Name()}
	chartReq := func(greeting string) chartRequest {
		return chartRequest{Kube: kube, Chart: chartRef{Path: helloChart(t)}, Options: releaseOptions{
			Release: "hello", Namespace: "demo", DryRun: "none", TimeoutMs: 60000,
			Values: valuesRequest{Set: []string{"greeting=" + greeting}},
		}}
	}
	revision := func(reply testReply) int {
		t.Helper()
		if !reply.OK {
			t.Fatalf("call failed: %+v", reply.Error)
		}
		var out struct {
			Release  releaseDTO `json:"release"`
			Revision int        `json:"revision"`
		}
		_ = json.Unmarshal(reply.Result, &out)
		if out.Release.Revision != 0 {
			return out.Release.Revision
		}
		return out.Revision
	}

	sink := &recordingSink{}
	body, _ := json.Marshal(chartReq("one"))
	var installed testReply
	_ = json.Unmarshal(dispatch("release.install", body, 0, time.Minute, sink), &installed)
	if got := revision(installed); got != 1 {
		t.Fatalf("install revision %d", got)
	}
	if len(sink.events) == 0 {
		t.Fatalf("no progress events")
	}
	if got := revision(call(t, "release.upgrade", chartReq("two"), time.Minute)); got != 2 {
		t.Fatalf("upgrade revision %d", got)
	}
	rel := releaseRef{Kube: kube, Release: "hello", Namespace: "demo"}
	if got := revision(call(t, "release.rollback", rollbackRequest{releaseRef: rel, Revision: 1, TimeoutMs: 60000}, time.Minute)); got != 3 {
		t.Fatalf("rollback revision %d", got)
	}
	hist := call(t, "release.history", rel, time.Minute)
	var revisions []releaseDTO
	_ = json.Unmarshal(hist.Result, &revisions)
	var statuses []string
	for _, r := range revisions {
		statuses = append(statuses, fmt.Sprintf("%d:%s", r.Revision, r.Status))
	}
	if strings.Join(statuses, ",") != "1:superseded,2:superseded,3:deployed" {
		t.Fatalf("history %v", statuses)
	}
	if reply := call(t, "release.uninstall", rel, time.Minute); !reply.OK {
		t.Fatalf("uninstall: %+v", reply.Error)
	}
	gone := call(t, "release.status", statusRequest{releaseRef: rel, Revision: 1}, time.Minute)
	wantKind(t, gone, kindNotFound)
	if gone.Error.Code != codeReleaseNotFound || gone.Error.Details == nil || gone.Error.Details.Release != "hello" {
		t.Fatalf("status of an uninstalled release: %+v", gone.Error)
	}
}

func TestRenderReportsTemplateErrorsAsInvalidInput(t *testing.T) {
	req := chartRequest{Kube: kubeTarget{Storage: "memory", MemoryStore: t.Name()}, Chart: chartRef{Path: helloChart(t)},
		Options: releaseOptions{Release: "hello", Namespace: "demo", Values: valuesRequest{Set: []string{"service.port=0"}}}}
	reply := call(t, "release.render", req, time.Minute)
	wantKind(t, reply, kindInvalidInput)
	if !strings.Contains(reply.Error.Message, "port") {
		t.Fatalf("message %q", reply.Error.Message)
	}
	req.Chart.Path = "/nonexistent/chart"
	wantKind(t, call(t, "release.render", req, time.Minute), kindInvalidInput)
}

// An invalid input the shim finds names which input of the request it was
// (code invalid_option, details.input), so that the caller can say how its
// user sets it; the message names no CLI flag.
func TestInvalidInputNamesTheInput(t *testing.T) {
	kube := kubeTarget{Storage: "memory", MemoryStore: t.Name()}
	reply := call(t, "release.list", listRequest{Kube: kube, Namespace: "demo", Filter: "web("}, time.Minute)
	wantKind(t, reply, kindInvalidInput)
	if reply.Error.Code != codeInvalidOption || reply.Error.Details == nil || reply.Error.Details.Input != inputListFilter {
		t.Fatalf("a bad list filter: %+v (details %+v)", reply.Error, reply.Error.Details)
	}
	if strings.Contains(reply.Error.Message, "--") {
		t.Fatalf("the message names a flag: %q", reply.Error.Message)
	}
	reg := registryRef{Ref: "127.0.0.1:1/charts/hello", Registry: registryOptions{CertFile: "cert.pem"}}
	reply = call(t, "registry.tags", tagsRequest{registryRef: reg}, time.Minute)
	wantKind(t, reply, kindInvalidInput)
	if reply.Error.Code != codeInvalidOption || reply.Error.Details.Input != inputClientCertificate {
		t.Fatalf("a certificate without its key: %+v", reply.Error)
	}
}
