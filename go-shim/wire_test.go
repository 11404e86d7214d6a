package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// The golden test: testdata/wire/<op>.json holds a request and a reply
// (every field set); the request decodes strictly into the operation's Go
// request type and encodes back to the same JSON, and so does the reply
// into its reply type. The Rust side (src/wire.rs) reads the same files,
// so a field renamed on one side only fails one of the two tests.

type goldenFile struct {
	Request json.RawMessage `json:"request"`
	Reply   json.RawMessage `json:"reply"`
}

func readGolden(t *testing.T, name string) goldenFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "wire", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if g.Request == nil || g.Reply == nil {
		t.Fatalf("%s: a golden file has a request and a reply", name)
	}
	return g
}

// roundTrip decodes want strictly into v and checks that v encodes back to
// the same JSON.
func roundTrip(t *testing.T, op, part string, want json.RawMessage, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(want))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: the golden %s does not decode into %T: %v", op, part, v, err)
	}
	got, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	_ = json.Unmarshal(got, &a)
	_ = json.Unmarshal(want, &b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("%s: the %s encodes otherwise than the golden file says (a field renamed, dropped or added on one side?)\n got %s\nwant %s", op, part, got, want)
	}
}

func TestEveryOpMatchesItsGoldenFile(t *testing.T) {
	for name, op := range ops {
		g := readGolden(t, name)
		roundTrip(t, name, "request", g.Request, op.newRequest())
		roundTrip(t, name, "reply", g.Reply, op.newReply())
	}
}

func TestEveryGoldenFileIsAnOp(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "wire"))
	if err != nil {
		t.Fatal(err)
	}
	var files, names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !strings.HasPrefix(n, "_") {
			files = append(files, n)
		}
	}
	for name := range ops {
		names = append(names, name)
	}
	sort.Strings(files)
	sort.Strings(names)
	if !reflect.DeepEqual(files, names) {
		t.Fatalf("golden files %v, ops %v", files, names)
	}
}

// The error envelope: kind, code, details (every field set) and facts.
func TestTheErrorReplyMatchesItsGoldenFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "wire", "_error.json"))
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		OK    bool `json:"ok"`
		Error struct {
			replyError
			Facts actionFacts `json:"facts"`
		} `json:"error"`
	}
	roundTrip(t, "_error", "envelope", data, &env)
	if env.OK || env.Error.Code != codeForbidden || env.Error.Facts.Release == nil {
		t.Fatalf("decoded %+v", env)
	}
}

// A panic while encoding the reply is recovered like one in the operation.
func TestAPanicWhileEncodingIsRecovered(t *testing.T) {
	ops["test.panicky-reply"] = typed(func(_ context.Context, _ emptyReply, _ eventSink) (panickyReply, error) {
		return panickyReply{}, nil
	})
	defer delete(ops, "test.panicky-reply")
	reply := call(t, "test.panicky-reply", "{}", time.Minute)
	wantKind(t, reply, kindInternal)
	if !strings.Contains(reply.Error.Message, "panicked in test.panicky-reply") {
		t.Fatalf("message %q", reply.Error.Message)
	}
}

type panickyReply struct{}

func (panickyReply) MarshalJSON() ([]byte, error) { panic("cannot encode") }

// A request that does not fit the operation's type is invalid input, and
// its check runs before the operation does.
func TestRequestsAreDecodedAndCheckedBeforeTheOpRuns(t *testing.T) {
	ran := false
	ops["test.checked"] = typed(func(_ context.Context, _ pullRequest, _ eventSink) (emptyReply, error) {
		ran = true
		return emptyReply{}, nil
	})
	defer delete(ops, "test.checked")
	wantKind(t, call(t, "test.checked", `{"ref":"r","registry":{},"dest":"d","typo":1}`, time.Minute), kindInvalidInput)
	wantKind(t, call(t, "test.checked", `{"ref":"r","registry":{}}`, time.Minute), kindInvalidInput)
	if ran {
		t.Fatal("the operation ran on a request that does not fit")
	}
	if reply := call(t, "test.checked", `{"ref":"r","registry":{},"dest":"d"}`, time.Minute); !reply.OK {
		t.Fatalf("%+v", reply.Error)
	}
	if !ran {
		t.Fatal("the operation did not run")
	}
}

func TestDurationsCrossAsMilliseconds(t *testing.T) {
	if got := millis(1500); got != 1500*time.Millisecond {
		t.Fatalf("millis(1500) = %v", got)
	}
	if got := millis(1 << 62); got != time.Duration(1<<63-1) {
		t.Fatalf("a huge timeout saturates, got %v", got)
	}
}
