package main

import (
	"bytes"
	"context"
	"errors"
	"regexp/syntax"
)

// opList lists releases as `helm list` does, with its flags.
func opList(_ context.Context, req listRequest, sink eventSink) ([]releaseDTO, error) {
	namespace := req.Namespace
	if req.AllNamespaces {
		namespace = ""
	}
	cfg, done, err := actionConfig(req.Kube, namespace, sink)
	if err != nil {
		return nil, err
	}
	defer done()
	rels, err := listReleases(cfg, req)
	var badFilter *syntax.Error
	if errors.As(err, &badFilter) {
		return nil, invalidf(inputListFilter, "the list filter %q is not a regular expression: %v", req.Filter, err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]releaseDTO, 0, len(rels))
	for _, r := range rels {
		out = append(out, toDTO(r, false))
	}
	return out, nil
}

// opGetValues is `helm get values`: the values a revision was deployed
// with (user-supplied, or with --all every computed value), as JSON and
// as the YAML helm prints.
func opGetValues(_ context.Context, r getValuesRequest, sink eventSink) (getValuesReply, error) {
	return withRelease(context.Background(), r.releaseRef, sink, func(cfg *helmConfig) (getValuesReply, error) {
		vals, err := releaseValues(cfg, r)
		if err != nil {
			return getValuesReply{}, err
		}
		var text bytes.Buffer
		if err := encodeYAML(&text, vals); err != nil {
			return getValuesReply{}, errorf(kindInternal, "%v", err)
		}
		return getValuesReply{Values: vals, YAML: text.String()}, nil
	})
}
