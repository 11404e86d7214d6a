package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp/syntax"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/cli/output"
)

// listRequest is helm list's flags.
type listRequest struct {
	Kube kubeTarget `json:"kube"`
	// Namespace is the one listed; AllNamespaces lists every one (-A).
	Namespace     string `json:"namespace"`
	AllNamespaces bool   `json:"allNamespaces,omitempty"`
	All           bool   `json:"all,omitempty"`
	Deployed      bool   `json:"deployed,omitempty"`
	Failed        bool   `json:"failed,omitempty"`
	Pending       bool   `json:"pending,omitempty"`
	Superseded    bool   `json:"superseded,omitempty"`
	Uninstalled   bool   `json:"uninstalled,omitempty"`
	Uninstalling  bool   `json:"uninstalling,omitempty"`
	Filter        string `json:"filter,omitempty"`
	Selector      string `json:"selector,omitempty"`
	Max           int    `json:"max,omitempty"`
	Offset        int    `json:"offset,omitempty"`
	ByDate        bool   `json:"byDate,omitempty"`
	Reverse       bool   `json:"reverse,omitempty"`
}

// opList lists releases as `helm list` does, with its flags.
func opList(_ context.Context, request json.RawMessage, sink eventSink) (any, error) {
	var req listRequest
	if err := decode(request, &req); err != nil {
		return nil, err
	}
	namespace := req.Namespace
	if req.AllNamespaces {
		namespace = ""
	}
	cfg, done, err := actionConfig(req.Kube, namespace, sink)
	if err != nil {
		return nil, err
	}
	defer done()
	list := action.NewList(cfg)
	list.AllNamespaces = req.AllNamespaces
	list.All = req.All
	list.Deployed, list.Failed, list.Pending = req.Deployed, req.Failed, req.Pending
	list.Superseded, list.Uninstalled, list.Uninstalling = req.Superseded, req.Uninstalled, req.Uninstalling
	list.Filter = req.Filter
	list.Selector = req.Selector
	list.Limit = req.Max
	if list.Limit == 0 {
		list.Limit = 256
	}
	list.Offset = req.Offset
	list.ByDate = req.ByDate
	list.SortReverse = req.Reverse
	list.SetStateMask()
	rels, err := list.Run()
	var badFilter *syntax.Error
	if errors.As(err, &badFilter) {
		return nil, errorf(kindInvalidInput, "--filter %q is not a regular expression: %v", req.Filter, err)
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
func opGetValues(_ context.Context, request json.RawMessage, sink eventSink) (any, error) {
	return withRelease(request, sink, func(cfg *action.Configuration, r releaseRequest) (any, error) {
		get := action.NewGetValues(cfg)
		get.Version = r.Revision
		get.AllValues = r.AllValues
		vals, err := get.Run(r.Release)
		if err != nil {
			return nil, err
		}
		var text bytes.Buffer
		if err := output.EncodeYAML(&text, vals); err != nil {
			return nil, errorf(kindInternal, "%v", err)
		}
		return map[string]any{"values": vals, "yaml": text.String()}, nil
	})
}
