package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi/cached"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	kubeopenapi "k8s.io/kubectl/pkg/util/openapi"
	"k8s.io/kubectl/pkg/validation"
)

// Before Helm sends a manifest, kubectl's Validator asks, kind by kind,
// whether the API server validates fields itself (then the server does, and
// the client does not). cli-runtime's verifier answers by parsing the kind's
// group version OpenAPI v3 document, again for every kind: an install of a
// ConfigMap, a Service and a Deployment into a namespace it creates parses
// the core group's document (about a megabyte of JSON) three times, most of
// the CPU time an install takes. helm does the same in every process.
//
// The shim asks the same question of the same documents, with two savings:
// - a call parses each document it needs once (callSpecs);
// - a yes is kept per API server, under the document's URL, which names the
//   document's hash (the server's /openapi/v3 index gives it): while the
//   server serves the same document, the answer cannot change, and later
//   calls skip the parse. Anything else (no support, a group version not
//   served yet, an error) is asked again by the next call, as helm asks.
//
// fieldValidationIn is cli-runtime's check (supportsQueryParamV3 of
// k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go), which is not
// exported; fieldvalidation_test.go holds the two to the same answers on
// client-go's OpenAPI test documents.

// maxFieldValidationServers bounds the servers remembered; past it the
// cache starts over.
const maxFieldValidationServers = 64

// maxFieldValidationAnswers bounds the answers kept for one server (a
// server's kinds, times the documents it served them from); past it that
// server's start over.
const maxFieldValidationAnswers = 4096

// answerKey is a kind in one document of its server.
type answerKey struct {
	document string
	gvk      schema.GroupVersionKind
}

type fieldValidationCache struct {
	mu      sync.Mutex
	servers map[string]map[answerKey]struct{}
}

func newFieldValidationCache() *fieldValidationCache {
	return &fieldValidationCache{servers: map[string]map[answerKey]struct{}{}}
}

// serverValidates is the process's: the kinds each server validates itself.
var serverValidates = newFieldValidationCache()

func (c *fieldValidationCache) known(server string, key answerKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.servers[server][key]
	return ok
}

func (c *fieldValidationCache) remember(server string, key answerKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	answers, ok := c.servers[server]
	if !ok || len(answers) >= maxFieldValidationAnswers {
		if !ok && len(c.servers) >= maxFieldValidationServers {
			c.servers = map[string]map[answerKey]struct{}{}
		}
		answers = map[answerKey]struct{}{}
		c.servers[server] = answers
	}
	answers[key] = struct{}{}
}

// callSpecs are the documents one call parsed, by URL.
type callSpecs struct {
	mu     sync.Mutex
	parsed map[string]parsedSpec
}

type parsedSpec struct {
	doc *spec3.OpenAPI
	err error
}

// get parses gv's document the first time it is asked for, as client-go's
// openapi3 root does.
func (s *callSpecs) get(gv openapi.GroupVersion) (*spec3.OpenAPI, error) {
	url := gv.ServerRelativeURL()
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.parsed[url]; ok {
		return p.doc, p.err
	}
	var p parsedSpec
	bytes, err := gv.Schema(runtime.ContentTypeJSON)
	if err == nil {
		var doc spec3.OpenAPI
		err = json.Unmarshal(bytes, &doc)
		p.doc = &doc
	}
	p.err = err
	if s.parsed == nil {
		s.parsed = map[string]parsedSpec{}
	}
	s.parsed[url] = p
	return p.doc, p.err
}

// sharedValidation is a kubectl factory whose Validator parses each
// OpenAPI document once per call and keeps its server's yes answers.
type sharedValidation struct {
	cmdutil.Factory
	server string
	cache  *fieldValidationCache
	specs  callSpecs
}

// Validator is kubectl's (cmdutil's factory), built of the same parts but
// cli-runtime's OpenAPI v3 verifier, which is fieldValidationVerifier.
func (f *sharedValidation) Validator(directive string) (validation.Schema, error) {
	if directive == metav1.FieldValidationIgnore {
		return validation.NullSchema{}, nil
	}
	clientSide := validation.ConjunctiveSchema{
		validation.NewSchemaValidation(f),
		validation.NoDoubleKeySchema{},
	}
	dynamicClient, err := f.DynamicClient()
	if err != nil {
		return nil, err
	}
	discoveryClient, err := f.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	param := resource.QueryParamFieldValidation
	primary := &verdicts{next: &fieldValidationVerifier{
		client: cached.NewClient(discoveryClient.OpenAPIV3()),
		finder: resource.NewCRDFinder(resource.CRDFromDynamic(dynamicClient)),
		param:  param,
		specs:  &f.specs,
		server: f.server,
		cache:  f.cache,
	}}
	secondary := resource.NewQueryParamVerifier(dynamicClient, kubeopenapi.NewOpenAPIGetter(discoveryClient), param)
	fallback := resource.NewFallbackQueryParamVerifier(primary, secondary)
	return validation.NewParamVerifyingSchema(clientSide, fallback, directive), nil
}

// verdicts keeps every answer of next for its own lifetime, as kubectl's
// caching verifier does for a Validator.
type verdicts struct {
	mu    sync.Mutex
	next  resource.Verifier
	known map[schema.GroupVersionKind]error
}

func (v *verdicts) HasSupport(gvk schema.GroupVersionKind) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err, ok := v.known[gvk]; ok {
		return err
	}
	err := v.next.HasSupport(gvk)
	if v.known == nil {
		v.known = map[schema.GroupVersionKind]error{}
	}
	v.known[gvk] = err
	return err
}

var namespaceGVK = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}

// fieldValidationVerifier answers as cli-runtime's OpenAPI v3 verifier
// (NewQueryParamVerifierV3) does, from callSpecs and the server's answers.
type fieldValidationVerifier struct {
	client openapi.Client
	finder resource.CRDFinder
	param  resource.VerifiableQueryParam
	specs  *callSpecs
	server string
	cache  *fieldValidationCache
}

func (v *fieldValidationVerifier) HasSupport(gvk schema.GroupVersionKind) error {
	if (gvk == schema.GroupVersionKind{Version: "v1", Kind: "List"}) {
		return resource.NewParamUnsupportedError(gvk, v.param)
	}
	paths, err := v.client.Paths()
	if err != nil {
		return err
	}
	if gv, ok := paths[apiPath(gvk.GroupVersion())]; ok {
		key := answerKey{document: gv.ServerRelativeURL(), gvk: gvk}
		if v.cache.known(v.server, key) {
			return nil
		}
		doc, err := v.specs.get(gv)
		if err != nil {
			return err
		}
		err = fieldValidationIn(doc, gvk, v.param)
		if err == nil {
			v.cache.remember(v.server, key)
		}
		return err
	}
	// Not served: a custom resource is validated as a namespace is.
	if found, _ := v.finder.HasCRD(gvk.GroupKind()); found {
		gv, ok := paths[apiPath(namespaceGVK.GroupVersion())]
		if !ok {
			return fmt.Errorf("the API server's OpenAPI v3 index has no %s", apiPath(namespaceGVK.GroupVersion()))
		}
		doc, err := v.specs.get(gv)
		if err != nil {
			return err
		}
		return fieldValidationIn(doc, namespaceGVK, v.param)
	}
	return resource.NewParamUnsupportedError(gvk, v.param)
}

// apiPath is gv's key in the OpenAPI v3 index: api/v1, apis/apps/v1.
func apiPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// fieldValidationIn says whether doc's PATCH operation of gvk takes the
// query parameter param: nil if it does.
func fieldValidationIn(doc *spec3.OpenAPI, gvk schema.GroupVersionKind, param resource.VerifiableQueryParam) error {
	if doc == nil || doc.Paths == nil {
		return fmt.Errorf("Invalid OpenAPI V3 document") //nolint:staticcheck // cli-runtime's words
	}
	for _, path := range doc.Paths.Paths {
		if path == nil || path.PathProps.Patch == nil {
			continue
		}
		op := path.PathProps.Patch
		if !isOperationOf(op.VendorExtensible.Extensions, gvk) {
			continue
		}
		for _, p := range op.OperationProps.Parameters {
			if p.ParameterProps.Name == string(param) && p.In == "query" {
				return nil
			}
			if ref := p.Refable.Ref.Ref.String(); strings.HasPrefix(ref, "#/parameters/") && doc.Components != nil {
				if global, ok := doc.Components.Parameters[strings.TrimPrefix(ref, "#/parameters/")]; ok && global != nil {
					if global.In == "query" && global.Name == string(param) {
						return nil
					}
				}
			}
		}
		return resource.NewParamUnsupportedError(gvk, param)
	}
	return fmt.Errorf("Path not found for GVK (%s) in OpenAPI V3 doc", gvk) //nolint:staticcheck // cli-runtime's words
}

// isOperationOf says whether an operation's extensions name gvk.
func isOperationOf(extensions spec.Extensions, gvk schema.GroupVersionKind) bool {
	var of map[string]string
	if err := extensions.GetObject("x-kubernetes-group-version-kind", &of); err != nil {
		return false
	}
	return of["group"] == gvk.Group && of["version"] == gvk.Version && of["kind"] == gvk.Kind
}

// sharedFactory is f with the Validator above, for the calls to getter's
// API server; false when f is not kubectl's factory.
func sharedFactory(f any, getter *restGetter) (cmdutil.Factory, bool) {
	full, ok := f.(cmdutil.Factory)
	if !ok {
		return nil, false
	}
	config, err := getter.loader.ClientConfig()
	if err != nil {
		return nil, false
	}
	return &sharedValidation{Factory: full, server: config.Host, cache: serverValidates}, true
}
