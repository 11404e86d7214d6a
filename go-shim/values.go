package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
)

// valuesFile is one -f input: a path or URL that Helm reads itself, or
// content the caller already holds (standard input, or a map from the
// library API), with the name messages should use for it.
type valuesFile struct {
	Path    string `json:"path,omitempty"`
	Name    string `json:"name,omitempty"`
	Content []byte `json:"content,omitempty"`
}

// valuesRequest is every way a user gives values, as helm's flags do. They
// are merged by Helm's own values.Options.MergeValues, so the order (files,
// then --set-json, --set, --set-string, --set-file, --set-literal, each kind
// in the order given), the YAML 1.1 reading of files and the types of
// --set values are Helm's.
type valuesRequest struct {
	Files      []valuesFile `json:"files,omitempty"`
	Set        []string     `json:"set,omitempty"`
	SetString  []string     `json:"setString,omitempty"`
	SetFile    []string     `json:"setFile,omitempty"`
	SetJSON    []string     `json:"setJson,omitempty"`
	SetLiteral []string     `json:"setLiteral,omitempty"`
}

// inlineScheme names content passed in the request, so that it reaches
// MergeValues through Helm's getter mechanism like any URL and is read by
// Helm's code like any file.
const inlineScheme = "chainctl-inline"

type inlineGetter map[string][]byte

func (g inlineGetter) Get(url string, _ ...getter.Option) (*bytes.Buffer, error) {
	content, ok := g[url]
	if !ok {
		return nil, fmt.Errorf("no inline values named %s", url)
	}
	return bytes.NewBuffer(content), nil
}

// mergedValues is the result of merging: the map handed to Helm's action,
// with its native types, and a digest that says whether it changed.
type mergedValues struct {
	values map[string]any
	digest string
}

// merge merges the values as helm does for the same flags.
func (r valuesRequest) merge() (mergedValues, error) {
	opts := values.Options{
		StringValues:  r.SetString,
		Values:        r.Set,
		FileValues:    r.SetFile,
		JSONValues:    r.SetJSON,
		LiteralValues: r.SetLiteral,
	}
	inline := inlineGetter{}
	names := map[string]string{}
	for i, f := range r.Files {
		if f.Name == "" && f.Content == nil {
			opts.ValueFiles = append(opts.ValueFiles, f.Path)
			continue
		}
		key := fmt.Sprintf("%s://%d", inlineScheme, i)
		inline[key] = f.Content
		names[key] = f.Name
		opts.ValueFiles = append(opts.ValueFiles, key)
	}
	providers := append(getter.Getters(), getter.Provider{
		Schemes: []string{inlineScheme},
		New:     func(...getter.Option) (getter.Getter, error) { return inline, nil },
	})
	vals, err := opts.MergeValues(providers)
	if err != nil {
		msg := err.Error()
		for key, name := range names {
			msg = strings.ReplaceAll(msg, key, name)
		}
		return mergedValues{}, errorf(kindInvalidInput, "values: %s", msg)
	}
	digest, err := valuesDigest(vals)
	if err != nil {
		return mergedValues{}, err
	}
	return mergedValues{values: vals, digest: digest}, nil
}

// valuesDigest is the sha256 of the values' JSON (map keys sorted, as
// encoding/json writes them): equal values give equal digests.
func valuesDigest(vals map[string]any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(vals); err != nil {
		return "", errorf(kindInvalidInput, "values cannot be digested: %v", err)
	}
	sum := sha256.Sum256(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// opValuesMerge merges values without running any action: their digest,
// and the merged values as JSON for a caller that shows them.
func opValuesMerge(_ context.Context, request json.RawMessage, _ eventSink) (any, error) {
	var req valuesRequest
	if err := decode(request, &req); err != nil {
		return nil, err
	}
	merged, err := req.merge()
	if err != nil {
		return nil, err
	}
	return struct {
		Values map[string]any `json:"values"`
		Digest string         `json:"digest"`
	}{merged.values, merged.digest}, nil
}
