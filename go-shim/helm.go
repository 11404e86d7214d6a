package main

import "io"

// What the shim does with either Helm SDK the same way, through the names
// helm3.go and helm4.go give the SDK's types and functions.

func releaseStatus(rel *helmRelease) string { return rel.Info.Status.String() }

func hookEvents(h *helmHook) []string {
	events := make([]string, 0, len(h.Events))
	for _, e := range h.Events {
		events = append(events, e.String())
	}
	return events
}

// restGetterOf is the getter cfg was built with, if it is ours.
func restGetterOf(cfg *helmConfig) (*restGetter, bool) {
	g, ok := cfg.RESTClientGetter.(*restGetter)
	return g, ok
}

// updateDependencies fetches the missing dependencies of the chart at path
// into its charts/, as helm's --dependency-update.
func updateDependencies(path string, deps dependencyUpdate, out io.Writer) error {
	man := &depManager{
		Out:              out,
		ChartPath:        path,
		Getters:          helmGetters(),
		RepositoryConfig: deps.RepositoryConfig,
		RepositoryCache:  deps.RepositoryCache,
	}
	return man.Update()
}

// listReleases is `helm list` with its flags.
func listReleases(cfg *helmConfig, req listRequest) ([]*helmRelease, error) {
	list := newList(cfg)
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
	return runList(list)
}

// releaseValues is `helm get values`.
func releaseValues(cfg *helmConfig, r getValuesRequest) (map[string]any, error) {
	get := newGetValues(cfg)
	get.Version = r.Revision
	get.AllValues = r.AllValues
	return get.Run(r.Release)
}
