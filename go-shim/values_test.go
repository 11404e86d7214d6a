package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestValuesMergeKeepsHelmTypesAndOrder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "v.yaml")
	if err := os.WriteFile(file, []byte("enabled: no\nmode: 0644\nport: 8080\nwho: file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	req := valuesRequest{
		Files:     []valuesFile{{Path: file}, {Name: "-", Content: []byte("who: stdin\ncount: 1_000\nn: x\n")}},
		Set:       []string{"tag=20230101,who=set"},
		SetString: []string{"s=1"},
		SetJSON:   []string{"who=\"json\""},
	}
	merged, err := req.merge(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v := merged.values
	// YAML 1.1 scalars in files, as Helm reads them.
	if v["enabled"] != false || v["mode"] != float64(420) || v["count"] != float64(1000) || v["false"] != "x" {
		t.Fatalf("file scalars: %#v", v)
	}
	// --set integers are int64; --set wins over --set-json (Helm's order by kind).
	if v["tag"] != int64(20230101) || v["who"] != "set" || v["s"] != "1" || v["port"] != float64(8080) {
		t.Fatalf("set values: %#v", v)
	}
	if !strings.HasPrefix(merged.digest, "sha256:") || len(merged.digest) != 71 {
		t.Fatalf("digest %q", merged.digest)
	}
	again, _ := req.merge(context.Background())
	if again.digest != merged.digest {
		t.Fatalf("digest not stable: %s then %s", merged.digest, again.digest)
	}
}

func TestValuesErrorsNameTheInputAsGiven(t *testing.T) {
	_, err := valuesRequest{Files: []valuesFile{{Name: "-", Content: []byte("a: [")}}}.merge(context.Background())
	if err == nil || !strings.Contains(err.Error(), "failed to parse -:") || strings.Contains(err.Error(), inlineScheme) {
		t.Fatalf("error %v", err)
	}
	_, err = valuesRequest{Set: []string{"a"}}.merge(context.Background())
	if err == nil || !strings.Contains(err.Error(), `key "a" has no value`) {
		t.Fatalf("error %v", err)
	}
	_, err = valuesRequest{Files: []valuesFile{{Path: "/nonexistent/v.yaml"}}}.merge(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/v.yaml") {
		t.Fatalf("error %v", err)
	}
}

// mergeErr merges req and returns its error, which must be invalid input.
func mergeErr(t *testing.T, req valuesRequest) string {
	t.Helper()
	_, err := req.merge(context.Background())
	var shim *shimError
	if err == nil || !errors.As(err, &shim) || shim.kind != kindInvalidInput {
		t.Fatalf("want an invalid-input error, got %v", err)
	}
	return err.Error()
}

func wantContains(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Fatalf("%q does not contain %q", got, w)
		}
	}
}

func TestValuesFilesThatAreNotRegularFilesAreRefusedWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "sock.yaml")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cases := map[string]string{
		"/dev/zero": "a character device",
		dir:         "a directory",
		sock:        "a socket",
	}
	for path, what := range cases {
		start := time.Now()
		msg := mergeErr(t, valuesRequest{Files: []valuesFile{{Path: path}}})
		wantContains(t, msg, "values file "+path+" is "+what, "not a regular file")
		msg = mergeErr(t, valuesRequest{SetFile: []string{"k=" + path}})
		wantContains(t, msg, "failed parsing --set-file data", path+" is "+what)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%s took %v", path, d)
		}
	}
}

// mkfifo makes a named pipe in a fresh directory.
func mkfifo(t *testing.T) string {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), "values.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	return fifo
}

// writeFIFO opens fifo for writing (which waits for the reader) and hands
// it to write, closing it after; the returned channel closes when done.
func writeFIFO(t *testing.T, fifo string, write func(*os.File)) <-chan struct{} {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		write(w)
	}()
	return done
}

func TestValuesPipesAreReadAsHelmReadsThem(t *testing.T) {
	fifo := mkfifo(t)
	writeFIFO(t, fifo, func(w *os.File) {
		_, _ = w.Write([]byte("a: 1\n"))
		time.Sleep(200 * time.Millisecond) // a writer that pauses is waited on
		_, _ = w.Write([]byte("b: two\n"))
	})
	merged, err := valuesRequest{Files: []valuesFile{{Path: fifo}}}.merge(context.Background())
	if err != nil || fmt.Sprint(merged.values["a"]) != "1" || merged.values["b"] != "two" {
		t.Fatalf("%#v %v", merged.values, err)
	}
	writeFIFO(t, fifo, func(w *os.File) { _, _ = w.Write([]byte("blob")) })
	merged, err = valuesRequest{SetFile: []string{"k=" + fifo}}.merge(context.Background())
	if err != nil || merged.values["k"] != "blob" {
		t.Fatalf("%#v %v", merged.values, err)
	}

	// -f <(command) is an anonymous pipe, named /dev/fd/N: what its writer
	// left is read, and a writer gone having written nothing is empty
	// values at once, as helm reads it.
	for _, content := range []string{"c: 3\n", ""} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(content))
		w.Close()
		start := time.Now()
		path := fmt.Sprintf("/dev/fd/%d", r.Fd())
		merged, err = valuesRequest{Files: []valuesFile{{Path: path}}}.merge(context.Background())
		if err != nil || time.Since(start) > 2*time.Second {
			t.Fatalf("%q: %v in %v", content, err, time.Since(start))
		}
		if content != "" && fmt.Sprint(merged.values["c"]) != "3" {
			t.Fatalf("%#v", merged.values)
		}
		// Read again (a plan, then its action) it would be empty: refused.
		msg := mergeErr(t, valuesRequest{SetFile: []string{"k=" + path}})
		wantContains(t, msg, path+" is a pipe this process has already read to its end")
		r.Close()
	}
}

func TestValuesPipesEndAtTheDeadlineTheLimitOrTheCancel(t *testing.T) {
	fifo := mkfifo(t)
	timeout := func(d time.Duration) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		t.Cleanup(cancel)
		return ctx
	}
	// No writer: refused at the deadline, naming the file.
	start := time.Now()
	_, err := valuesRequest{Files: []valuesFile{{Path: fifo}}}.merge(timeout(300 * time.Millisecond))
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Fatalf("took %v: %v", d, err)
	}
	if err == nil {
		t.Fatal("a FIFO with no writer merged")
	}
	wantContains(t, err.Error(), "values file "+fifo+" is a named pipe (FIFO) that no writer opened within")

	// A writer that stalls: refused at the deadline, saying how far it got.
	release := make(chan struct{})
	done := writeFIFO(t, fifo, func(w *os.File) {
		_, _ = w.Write([]byte("a: 1\n"))
		<-release
	})
	_, err = valuesRequest{SetFile: []string{"k=" + fifo}}.merge(timeout(300 * time.Millisecond))
	close(release)
	<-done
	if err == nil {
		t.Fatal("a stalled FIFO merged")
	}
	wantContains(t, err.Error(), "--set-file", fifo+" is a pipe whose writer stalled after 5 bytes")

	// An endless writer: cut one byte past the limit.
	stop := make(chan struct{})
	done = writeFIFO(t, fifo, func(w *os.File) {
		chunk := []byte(strings.Repeat("x", 4096))
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := w.Write(chunk); err != nil {
				return // the reader closed: EPIPE
			}
		}
	})
	_, err = valuesRequest{Files: []valuesFile{{Path: fifo}}, MaxFileBytes: 1 << 20}.merge(timeout(10 * time.Second))
	close(stop)
	<-done
	if err == nil {
		t.Fatal("an endless FIFO merged")
	}
	wantContains(t, err.Error(), fifo+" is larger than 1 MiB")

	// Cancelled: ends within a poll slice, with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	_, err = valuesRequest{Files: []valuesFile{{Path: fifo}}}.merge(ctx)
	if d := time.Since(start); d > 2*time.Second || !strings.Contains(fmt.Sprint(err), "context canceled") {
		t.Fatalf("took %v: %v", d, err)
	}
}

func TestValuesFilesPastTheLimitAreRefused(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("a: "+strings.Repeat("x", 2000)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := mergeErr(t, valuesRequest{Files: []valuesFile{{Path: big}}, MaxFileBytes: 1024})
	wantContains(t, msg, big+" is larger than 1 KiB, the limit for one values input", "values_size_limit")
	msg = mergeErr(t, valuesRequest{SetFile: []string{"k=" + big}, MaxFileBytes: 1024})
	wantContains(t, msg, "--set-file", big+" is larger than 1 KiB")
	msg = mergeErr(t, valuesRequest{Files: []valuesFile{{Name: "-", Content: make([]byte, 1025)}}, MaxFileBytes: 1024})
	wantContains(t, msg, "- is larger than 1 KiB")
	// At the limit is fine, and the default takes ordinary files.
	merged, err := valuesRequest{Files: []valuesFile{{Path: big}}, MaxFileBytes: 2004}.merge(context.Background())
	if err != nil || len(merged.values["a"].(string)) != 2000 {
		t.Fatalf("%v %v", merged.values, err)
	}
	if _, err := (valuesRequest{Files: []valuesFile{{Path: big}}, SetFile: []string{"k=" + big}}).merge(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The largest limit a caller can give reads the file, not nothing.
	merged, err = valuesRequest{Files: []valuesFile{{Path: big}}, MaxFileBytes: math.MaxInt64}.merge(context.Background())
	if err != nil || len(merged.values["a"].(string)) != 2000 {
		t.Fatalf("%v %v", merged.values, err)
	}
}

func TestValuesURLsAreBoundedWhileStreaming(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small.yaml" {
			fmt.Fprint(w, "from: url\n")
			return
		}
		// An endless body: only the bound ends it.
		chunk := []byte("a: " + strings.Repeat("x", 4096) + "\n")
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	merged, err := valuesRequest{Files: []valuesFile{{Path: srv.URL + "/small.yaml"}}}.merge(context.Background())
	if err != nil || merged.values["from"] != "url" {
		t.Fatalf("%v %v", merged.values, err)
	}
	start := time.Now()
	msg := mergeErr(t, valuesRequest{Files: []valuesFile{{Path: srv.URL + "/endless.yaml"}}, MaxFileBytes: 64 << 10})
	wantContains(t, msg, "larger than 64 KiB")
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestManyInlineInputsKeepTheirOwnNames(t *testing.T) {
	var req valuesRequest
	for i := 0; i < 12; i++ {
		content := "ok: 1\n"
		if i == 10 {
			content = "bad: ["
		}
		req.Files = append(req.Files, valuesFile{Name: fmt.Sprintf("input-%d", i), Content: []byte(content)})
	}
	msg := mergeErr(t, req)
	wantContains(t, msg, "failed to parse input-10:")
}

func TestMissingValuesFileKeepsHelmsMessage(t *testing.T) {
	msg := mergeErr(t, valuesRequest{Files: []valuesFile{{Path: "/nonexistent/v.yaml"}}})
	wantContains(t, msg, "values: open /nonexistent/v.yaml: no such file or directory")
}

func TestDeepNestingIsRefusedFastNamingFileAndDepth(t *testing.T) {
	const n = 100000
	cases := map[string]string{
		"brackets": strings.Repeat("[", n),
		"braces":   "a: " + strings.Repeat("{a: ", n),
		"mixed":    "a: " + strings.Repeat("[{a: ", n/2),
		"dashes":   strings.Repeat("- ", n) + "x\n",
		// One space per level: past Helm's depth only past the default size
		// limit, which is raised for this case.
		"indent": indentedMaps(helmMaxYAMLDepth + 10),
	}
	for name, content := range cases {
		start := time.Now()
		msg := mergeErr(t, valuesRequest{Files: []valuesFile{{Name: name + ".yaml", Content: []byte(content)}}, MaxFileBytes: 64 << 20})
		wantContains(t, msg, "failed to parse "+name+".yaml", "deeper than 10000 levels")
		// Linear: milliseconds for 100k levels. The indented case is 50 MB
		// of spaces, and takes its time to scan.
		limit := time.Second
		if name == "indent" {
			limit = 20 * time.Second
		}
		if d := time.Since(start); d > limit {
			t.Fatalf("%s: refused after %v", name, d)
		}
	}
	msg := mergeErr(t, valuesRequest{Files: []valuesFile{{Name: "indent.yaml", Content: []byte(cases["indent"])}}})
	wantContains(t, msg, "indent.yaml is larger than 16 MiB")
	// Helm's limit itself is accepted, as helm accepts it.
	ok := "a: " + strings.Repeat("[", helmMaxYAMLDepth-1) + strings.Repeat("]", helmMaxYAMLDepth-1)
	if _, err := (valuesRequest{Files: []valuesFile{{Name: "ok", Content: []byte(ok)}}}).merge(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// indentedMaps nests depth block mappings, each one space deeper.
func indentedMaps(depth int) string {
	var b strings.Builder
	for i := 0; i < depth; i++ {
		b.WriteString(strings.Repeat(" ", i))
		b.WriteString("a:\n")
	}
	return b.String()
}
