package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi/openapitest"
	"k8s.io/kube-openapi/pkg/spec3"
)

// countingClient serves client-go's OpenAPI v3 test documents, counting
// the reads of each; suffix changes every document's URL (a new hash).
type countingClient struct {
	openapi.Client
	reads  map[string]int
	suffix string
}

func newCountingClient() *countingClient {
	return &countingClient{Client: openapitest.NewEmbeddedFileClient(), reads: map[string]int{}}
}

func (c *countingClient) Paths() (map[string]openapi.GroupVersion, error) {
	paths, err := c.Client.Paths()
	out := map[string]openapi.GroupVersion{}
	for p, gv := range paths {
		out[p] = countingGV{GroupVersion: gv, path: p, client: c}
	}
	return out, err
}

type countingGV struct {
	openapi.GroupVersion
	path   string
	client *countingClient
}

func (g countingGV) Schema(contentType string) ([]byte, error) {
	g.client.reads[g.path]++
	return g.GroupVersion.Schema(contentType)
}

func (g countingGV) ServerRelativeURL() string {
	return g.GroupVersion.ServerRelativeURL() + g.client.suffix
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// withCRD is a dynamic client whose server has the CRD of example.test's
// Widget.
func withCRD() *dynamicfake.FakeDynamicClient {
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "widgets.example.test"},
		"spec": map[string]any{
			"group": "example.test",
			"names": map[string]any{"kind": "Widget", "plural": "widgets"},
		},
	}}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{crdGVR: "CustomResourceDefinitionList"}, crd)
}

func ourVerifier(client openapi.Client, specs *callSpecs, cache *fieldValidationCache) *fieldValidationVerifier {
	return &fieldValidationVerifier{
		client: client,
		finder: resource.NewCRDFinder(resource.CRDFromDynamic(withCRD())),
		param:  resource.QueryParamFieldValidation,
		specs:  specs,
		server: "https://a",
		cache:  cache,
	}
}

// testKinds are every kind the test documents name, and kinds they do not.
func testKinds(t *testing.T) []schema.GroupVersionKind {
	paths, err := openapitest.NewEmbeddedFileClient().Paths()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[schema.GroupVersionKind]bool{}
	for _, gv := range paths {
		bytes, err := gv.Schema(runtime.ContentTypeJSON)
		if err != nil {
			t.Fatal(err)
		}
		var doc spec3.OpenAPI
		if err := json.Unmarshal(bytes, &doc); err != nil {
			t.Fatal(err)
		}
		for _, path := range doc.Paths.Paths {
			for _, op := range []*spec3.Operation{path.Get, path.Patch, path.Post} {
				if op == nil {
					continue
				}
				var of map[string]string
				if op.Extensions.GetObject("x-kubernetes-group-version-kind", &of) == nil && of["kind"] != "" {
					seen[schema.GroupVersionKind{Group: of["group"], Version: of["version"], Kind: of["kind"]}] = true
				}
			}
		}
	}
	kinds := []schema.GroupVersionKind{
		{Version: "v1", Kind: "List"},
		{Group: "apps", Version: "v1", Kind: "NoSuchKind"},
		{Group: "example.test", Version: "v1", Kind: "Widget"}, // a CRD, not served yet
		{Group: "example.test", Version: "v1", Kind: "Gadget"}, // neither
	}
	for gvk := range seen {
		kinds = append(kinds, gvk)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i].String() < kinds[j].String() })
	return kinds
}

func TestTheVerifierAnswersAsCliRuntimes(t *testing.T) {
	client := newCountingClient()
	theirs := resource.NewQueryParamVerifierV3(withCRD(), client, resource.QueryParamFieldValidation)
	cache := newFieldValidationCache()
	supported, unsupported := 0, 0
	// Twice: the second time, from what the first kept.
	for round := 0; round < 2; round++ {
		ours := ourVerifier(client, &callSpecs{}, cache)
		for _, gvk := range testKinds(t) {
			want, got := theirs.HasSupport(gvk), ours.HasSupport(gvk)
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("round %d, %s: cli-runtime says %v, the shim %v", round, gvk, want, got)
			}
			if round == 0 && want == nil {
				supported++
			} else if round == 0 && resource.IsParamUnsupportedError(want) {
				unsupported++
			}
		}
	}
	t.Logf("%d kinds with field validation, %d without", supported, unsupported)
	if supported == 0 || unsupported == 0 {
		t.Errorf("the test documents gave %d kinds with field validation and %d without: both are needed", supported, unsupported)
	}
}

func TestADocumentIsParsedOncePerCallAndAYesSkipsItLater(t *testing.T) {
	client := newCountingClient()
	cache := newFieldValidationCache()
	kinds := map[string]schema.GroupVersionKind{}
	for _, gvk := range testKinds(t) {
		if gvk.Group == "apps" {
			kinds[gvk.Kind] = gvk
		}
	}
	deployment, missing := kinds["Deployment"], kinds["NoSuchKind"]
	ours := ourVerifier(client, &callSpecs{}, cache)
	var yes []schema.GroupVersionKind
	for _, gvk := range kinds {
		if ours.HasSupport(gvk) == nil {
			yes = append(yes, gvk)
		}
	}
	if len(yes) < 2 {
		t.Fatalf("want two apps/v1 kinds with field validation, have %v", yes)
	}
	if n := client.reads["apis/apps/v1"]; n != 1 {
		t.Errorf("one call read apps/v1 %d times for %d kinds, want once", n, len(kinds))
	}

	// A later call: the yes answers without a read, the others with one.
	later := ourVerifier(client, &callSpecs{}, cache)
	for _, gvk := range yes {
		if err := later.HasSupport(gvk); err != nil {
			t.Errorf("%s: %v", gvk, err)
		}
	}
	if n := client.reads["apis/apps/v1"]; n != 1 {
		t.Errorf("a later call read apps/v1 again for kinds known to be validated (%d reads)", n)
	}
	if later.HasSupport(missing) == nil {
		t.Fatal("a kind apps/v1 does not have is said to be validated")
	}
	if n := client.reads["apis/apps/v1"]; n != 2 {
		t.Errorf("a later call did not ask again about a kind without an answer (%d reads)", n)
	}

	// The server serves a new document (its URL names a new hash).
	client.suffix = "?hash=new"
	if err := ourVerifier(client, &callSpecs{}, cache).HasSupport(deployment); err != nil {
		t.Fatal(err)
	}
	if n := client.reads["apis/apps/v1"]; n != 3 {
		t.Errorf("a new document of apps/v1 was not read (%d reads)", n)
	}
}

func TestTheAnswersRememberedAreBounded(t *testing.T) {
	cache := newFieldValidationCache()
	key := answerKey{document: "apis/apps/v1", gvk: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}}
	for i := 0; i < 10*maxFieldValidationServers; i++ {
		cache.remember(fmt.Sprintf("https://%d", i), key)
		if n := len(cache.servers); n > maxFieldValidationServers {
			t.Fatalf("%d servers remembered, at most %d wanted", n, maxFieldValidationServers)
		}
	}
	if !cache.known(fmt.Sprintf("https://%d", 10*maxFieldValidationServers-1), key) {
		t.Error("the newest server was not remembered")
	}
	for i := 0; i < 3*maxFieldValidationAnswers; i++ {
		cache.remember("https://a", answerKey{document: fmt.Sprint(i), gvk: key.gvk})
		if n := len(cache.servers["https://a"]); n > maxFieldValidationAnswers {
			t.Fatalf("%d answers kept for one server, at most %d wanted", n, maxFieldValidationAnswers)
		}
	}
}
