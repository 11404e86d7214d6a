package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	merged, err := req.merge()
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
	again, _ := req.merge()
	if again.digest != merged.digest {
		t.Fatalf("digest not stable: %s then %s", merged.digest, again.digest)
	}
}

func TestValuesErrorsNameTheInputAsGiven(t *testing.T) {
	_, err := valuesRequest{Files: []valuesFile{{Name: "-", Content: []byte("a: [")}}}.merge()
	if err == nil || !strings.Contains(err.Error(), "failed to parse -:") || strings.Contains(err.Error(), inlineScheme) {
		t.Fatalf("error %v", err)
	}
	_, err = valuesRequest{Set: []string{"a"}}.merge()
	if err == nil || !strings.Contains(err.Error(), `key "a" has no value`) {
		t.Fatalf("error %v", err)
	}
	_, err = valuesRequest{Files: []valuesFile{{Path: "/nonexistent/v.yaml"}}}.merge()
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/v.yaml") {
		t.Fatalf("error %v", err)
	}
}
