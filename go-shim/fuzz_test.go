package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fuzzOps are the ops FuzzDispatch drives, with how their requests are made
// safe: a chart op always loads the example chart and uses the in-memory
// release store and fake cluster (fuzzKube), so nothing leaves the process.
// Left out: the registry ops and chart.package, which reach hosts or write
// files named by the request; their decoding is the shared decode() that
// every op here goes through too.
var fuzzOps = map[string]bool{
	"version":           false,
	"debug.echo":        false,
	"debug.panic":       false,
	"debug.sleep":       false,
	"debug.log":         false,
	"values.merge":      false,
	"kube.resolve":      false,
	"chart.digest":      false,
	"release.render":    true,
	"release.install":   true,
	"release.upgrade":   true,
	"release.status":    true,
	"release.history":   true,
	"release.rollback":  true,
	"release.uninstall": true,
	"release.list":      true,
	"release.values":    true,
}

const fuzzStore = "fuzz"

var fuzzKube = json.RawMessage(`{"storage":"memory","memoryStore":"` + fuzzStore + `"}`)

// fuzzSafeRequest pins what would reach outside the process: the cluster
// (always the in-memory store), the chart (always the example chart), post
// renderers and dependency updates (removed). Requests that are not a JSON
// object go through unchanged: they must be refused by decoding.
func fuzzSafeRequest(request []byte, chart string) []byte {
	var obj map[string]json.RawMessage
	if json.Unmarshal(request, &obj) != nil {
		return request
	}
	obj["kube"] = fuzzKube
	if _, ok := obj["chart"]; ok {
		obj["chart"] = json.RawMessage(`{"path":` + mustQuote(chart) + `}`)
	}
	if raw, ok := obj["options"]; ok {
		var opts map[string]json.RawMessage
		if json.Unmarshal(raw, &opts) == nil {
			delete(opts, "postRenderer")
			delete(opts, "postRendererArgs")
			delete(opts, "dependencyUpdate")
			obj["options"], _ = json.Marshal(opts)
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return request
	}
	return out
}

func mustQuote(s string) string {
	out, _ := json.Marshal(s)
	return string(out)
}

// reachesOut says whether a request names something the fuzzer must not
// fetch: a URL (values files, --set-file) that would go to the network.
func reachesOut(request []byte) bool {
	lower := bytes.ToLower(request)
	return bytes.Contains(lower, []byte("http")) || bytes.Contains(lower, []byte("oci:"))
}

var replyKinds = map[string]bool{
	kindInvalidInput: true, kindRegistry: true, kindAuth: true, kindNotFound: true,
	kindKube: true, kindTimeout: true, kindCancelled: true, kindInternal: true,
}

// checkEnvelope fails unless reply is the envelope the Rust side decodes.
func checkEnvelope(t *testing.T, op string, reply []byte) {
	t.Helper()
	var env struct {
		OK     *bool            `json:"ok"`
		Result json.RawMessage  `json:"result"`
		Error  *json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(reply, &env); err != nil || env.OK == nil {
		t.Fatalf("%s: reply is not an envelope: %q (%v)", op, reply, err)
	}
	if *env.OK {
		if env.Error != nil {
			t.Fatalf("%s: ok reply with an error: %s", op, reply)
		}
		return
	}
	var e replyError
	if env.Error == nil || json.Unmarshal(*env.Error, &e) != nil {
		t.Fatalf("%s: failed reply without an error: %s", op, reply)
	}
	if !replyKinds[e.Kind] || e.Message == "" {
		t.Fatalf("%s: error kind %q message %q", op, e.Kind, e.Message)
	}
	if strings.Contains(e.Message, "goroutine ") {
		t.Fatalf("%s: a Go stack trace in the message: %s", op, e.Message)
	}
	if e.Kind == kindInternal && op != "debug.panic" {
		t.Fatalf("%s: internal error for a request: %s", op, e.Message)
	}
}

// hangWatch turns an input that runs too long into a crash the fuzzer
// records (a hang is a finding, as a panic is), after writing every
// goroutine's stack and the input to a file in the temporary directory.
var hangWatch struct {
	once  sync.Once
	mu    sync.Mutex
	input string
	start time.Time
}

func watchForHangs(limit time.Duration) {
	hangWatch.once.Do(func() {
		go func() {
			for range time.Tick(time.Second) {
				hangWatch.mu.Lock()
				input, start := hangWatch.input, hangWatch.start
				hangWatch.mu.Unlock()
				if start.IsZero() || time.Since(start) < limit {
					continue
				}
				stacks := make([]byte, 8<<20)
				stacks = stacks[:runtime.Stack(stacks, true)]
				path := filepath.Join(os.TempDir(), fmt.Sprintf("chainctl-fuzz-hang-%d.txt", os.Getpid()))
				_ = os.WriteFile(path, append([]byte(input+"\n\n"), stacks...), 0o600)
				panic(fmt.Sprintf("an input ran for more than %v (stacks in %s): %.300s", limit, path, input))
			}
		}()
	})
}

func watching(input string) func() {
	hangWatch.mu.Lock()
	hangWatch.input, hangWatch.start = input, time.Now()
	hangWatch.mu.Unlock()
	return func() {
		hangWatch.mu.Lock()
		hangWatch.start = time.Time{}
		hangWatch.mu.Unlock()
	}
}

func resetFuzzStore() {
	memoryStoresMu.Lock()
	delete(memoryStores, fuzzStore)
	memoryStoresMu.Unlock()
}

// FuzzDispatch: whatever op name and request bytes arrive, dispatch returns
// a valid reply envelope, in bounded time, without panicking the process.
func FuzzDispatch(f *testing.F) {
	chart, err := filepath.Abs("../examples/charts/hello")
	if err != nil {
		f.Fatal(err)
	}
	kube := `{"storage":"memory","memoryStore":"fuzz"}`
	chartReq := `{"kube":` + kube + `,"chart":{"path":"x"},"options":{"release":"web","namespace":"prod",` +
		`"values":{"files":[{"name":"-","content":"cmVwbGljYXM6IDIK"}],"set":["image.tag=v1,a[0]=x"],` +
		`"setString":["s=007"],"setJson":["j={\"k\":[1,2]}"],"setLiteral":["l=a,b"]},` +
		`"createNamespace":true,"dryRun":"client","wait":false,"timeoutMs":300000,"atomic":false,` +
		`"installIfMissing":true,"reuseValues":false,"resetValues":false,"historyMax":10,` +
		`"labels":{"team":"a"},"skipCrds":true,"apiVersions":["v1"],"kubeVersion":"1.31.0"}}`
	// Each release op takes its own fields (unknown ones are refused).
	rel := `{"kube":` + kube + `,"release":"web","namespace":"prod"`
	relReq := map[string]string{
		"release.status":    rel + `,"revision":1}`,
		"release.history":   rel + `,"max":5}`,
		"release.rollback":  rel + `,"revision":1,"wait":true,"timeoutMs":60000,"historyMax":3}`,
		"release.uninstall": rel + `,"keepHistory":true,"timeoutMs":60000,"cascade":"background"}`,
		"release.values":    rel + `,"revision":1,"all":true}`,
	}
	seeds := [][2]string{
		{"version", `{}`},
		{"debug.echo", `{"hello":["world",1,null]}`},
		{"debug.panic", `{}`},
		{"debug.sleep", `{"millis":1}`},
		{"debug.log", `{"stdlib":"a line","klogWarning":"a warning"}`},
		{"values.merge", `{"files":[{"name":"-","content":"YTogMQo="}],"set":["b=2"],"maxFileBytes":1024}`},
		{"kube.resolve", `{"kubeconfig":"/nonexistent","context":"c","namespace":"n"}`},
		{"chart.digest", `{"path":"/nonexistent"}`},
		{"release.render", chartReq},
		{"release.install", chartReq},
		{"release.upgrade", strings.Replace(chartReq, `"client"`, `"none"`, 1)},
		{"release.status", relReq["release.status"]},
		{"release.history", relReq["release.history"]},
		{"release.rollback", relReq["release.rollback"]},
		{"release.uninstall", relReq["release.uninstall"]},
		{"release.list", `{"kube":` + kube + `,"namespace":"prod","allNamespaces":true,"filter":"w.*","max":3}`},
		{"release.values", relReq["release.values"]},
		{"no.such.op", `{}`},
		{"release.install", `{oops`},
		{"debug.sleep", `{"millis":"x"}`},
	}
	for _, s := range seeds {
		f.Add(s[0], []byte(s[1]))
	}
	const timeout = 2 * time.Second
	watchForHangs(15 * time.Second)
	f.Fuzz(func(t *testing.T, op string, request []byte) {
		defer watching(fmt.Sprintf("%q %q", op, request))()
		chartOp, known := fuzzOps[op]
		if _, exists := ops[op]; exists && !known {
			t.Skip("op left out of fuzzing: it reaches hosts or writes files")
		}
		if reachesOut(request) {
			t.Skip("request names a URL")
		}
		if chartOp {
			request = fuzzSafeRequest(request, chart)
			resetFuzzStore()
		}
		start := time.Now()
		reply := dispatch(op, request, 0, timeout, nopSink{})
		if d := time.Since(start); d > timeout+time.Second {
			t.Fatalf("%s took %v", op, d)
		}
		checkEnvelope(t, op, reply)
	})
}

// FuzzValuesMerge: any values file content and --set* expressions are
// merged or refused as invalid input, never a panic or another kind.
func FuzzValuesMerge(f *testing.F) {
	f.Add([]byte("replicas: 2\nimage:\n  tag: v1\nenabled: no\nmode: 0644\n"), "a.b=1,c[0]=x", "s=007", `j={"k":[1,2]}`, "l=a,b={c}", "")
	f.Add([]byte("{a: [1, {b: c}]}\n"), "tags={a,b}", "", "", "", "")
	f.Add([]byte("a: &x {b: 1}\nc: *x\n<<: *x\n"), "x[2].y=null", "n=1e3", `{"top":true}`, "k=", "")
	f.Add([]byte("- 1\n- 2\n"), `a\.b=c`, "", "", "", "f=/nonexistent")
	f.Add([]byte("a: \"\\u00e9\"\nb: !!binary aGVsbG8=\n"), "a=", "b=", "c=[]", "d", "")
	f.Add([]byte(strings.Repeat("[", 200)), "a[65536]=1", "", "", "", "f=/dev/zero")
	watchForHangs(15 * time.Second)
	f.Fuzz(func(t *testing.T, file []byte, set, setString, setJSON, setLiteral, setFile string) {
		defer watching(fmt.Sprintf("%q %q %q %q %q %q", file, set, setString, setJSON, setLiteral, setFile))()
		if reachesOut([]byte(setFile)) {
			t.Skip("--set-file names a URL")
		}
		req := valuesRequest{
			Files:        []valuesFile{{Name: "fuzz.yaml", Content: file}},
			Set:          nonEmpty(set),
			SetString:    nonEmpty(setString),
			SetJSON:      nonEmpty(setJSON),
			SetLiteral:   nonEmpty(setLiteral),
			SetFile:      nonEmpty(setFile),
			MaxFileBytes: 1 << 20,
		}
		if req.usesStdin() {
			t.Skip("--set-file reads standard input")
		}
		merged, err := req.merge(context.Background())
		if err != nil {
			var shim *shimError
			if !errors.As(err, &shim) || shim.kind != kindInvalidInput {
				t.Fatalf("not invalid input: %#v", err)
			}
			return
		}
		if !strings.HasPrefix(merged.digest, "sha256:") {
			t.Fatalf("digest %q", merged.digest)
		}
		// What merged must travel as the values.merge reply does.
		if _, err := json.Marshal(merged.values); err != nil {
			t.Fatalf("merged values do not encode: %v", err)
		}
	})
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
