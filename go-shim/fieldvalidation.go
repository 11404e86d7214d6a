package main

import (
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/openapi/cached"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/openapi"
	"k8s.io/kubectl/pkg/validation"
)

// Before Helm sends a manifest, kubectl's Validator asks whether the API
// server validates fields itself, kind by kind, by reading the server's
// OpenAPI document of the kind's group version: a parse of a megabyte of
// JSON for the core group. Its answers live as long as the Validator, and
// Helm builds one for each manifest (the release's, a created namespace's),
// so an install parses the core group twice. helm pays it once per process;
// a program that links the shim would pay it on every call.
//
// The shim keeps what it learns per API server: a kind the server was
// found to validate itself stays known for fieldValidationTTL. Only that
// answer is kept across calls. Any other (the server does not validate the
// kind, or the kind is not served yet, as before its CRD is installed) is
// asked again by the next call, as helm asks.

// fieldValidationTTL is how long a kind stays known to be validated by its
// server.
const fieldValidationTTL = 15 * time.Minute

// maxFieldValidationServers bounds the servers remembered; past it the
// cache starts over.
const maxFieldValidationServers = 64

type fieldValidationCache struct {
	mu      sync.Mutex
	servers map[string]map[schema.GroupVersionKind]time.Time
}

var serverValidates = &fieldValidationCache{servers: map[string]map[schema.GroupVersionKind]time.Time{}}

func (c *fieldValidationCache) known(server string, gvk schema.GroupVersionKind, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.servers[server][gvk]
	return ok && now.Sub(at) < fieldValidationTTL
}

func (c *fieldValidationCache) remember(server string, gvk schema.GroupVersionKind, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kinds, ok := c.servers[server]
	if !ok {
		if len(c.servers) >= maxFieldValidationServers {
			c.servers = map[string]map[schema.GroupVersionKind]time.Time{}
		}
		kinds = map[schema.GroupVersionKind]time.Time{}
		c.servers[server] = kinds
	}
	kinds[gvk] = now
}

// sharedValidation is a kubectl factory whose Validator remembers, across
// calls, the kinds server validates itself.
type sharedValidation struct {
	cmdutil.Factory
	server string
	cache  *fieldValidationCache
}

func withSharedValidation(f cmdutil.Factory, server string) cmdutil.Factory {
	return &sharedValidation{Factory: f, server: server, cache: serverValidates}
}

// Validator is kubectl's (cmdutil's factory), built of the same parts, with
// the answers of its field validation verifier shared as said above.
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
	primary := &verdicts{next: resource.NewQueryParamVerifierV3(dynamicClient, cached.NewClient(discoveryClient.OpenAPIV3()), param)}
	secondary := resource.NewQueryParamVerifier(dynamicClient, openapi.NewOpenAPIGetter(discoveryClient), param)
	verifier := &sharedVerdicts{next: resource.NewFallbackQueryParamVerifier(primary, secondary), server: f.server, cache: f.cache}
	return validation.NewParamVerifyingSchema(clientSide, verifier, directive), nil
}

// verdicts keeps every answer of next for its own lifetime, as kubectl's
// caching verifier does.
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

// sharedVerdicts answers from cache the kinds server is known to validate,
// and asks next the others.
type sharedVerdicts struct {
	next   resource.Verifier
	server string
	cache  *fieldValidationCache
}

func (v *sharedVerdicts) HasSupport(gvk schema.GroupVersionKind) error {
	if v.cache.known(v.server, gvk, time.Now()) {
		return nil
	}
	err := v.next.HasSupport(gvk)
	if err == nil {
		v.cache.remember(v.server, gvk, time.Now())
	}
	return err
}

// sharedFactory is f with a Validator that shares its answers among the
// calls to getter's API server; false when f is not kubectl's factory.
func sharedFactory(f any, getter *restGetter) (cmdutil.Factory, bool) {
	full, ok := f.(cmdutil.Factory)
	if !ok {
		return nil, false
	}
	config, err := getter.loader.ClientConfig()
	if err != nil {
		return nil, false
	}
	return withSharedValidation(full, config.Host), true
}
