package main

import (
	"os"
	"sync"
)

// kubeTarget says which cluster, and which release storage, a call uses.
// Everything is explicit: the shim reads nothing from the environment.
type kubeTarget struct {
	kubeSettings
	// Storage is Helm's release driver: "secret" (Helm's default),
	// "configmap", or "memory" (releases kept in this process, nothing
	// applied to any cluster: for tests).
	Storage     string `json:"storage"`
	MemoryStore string `json:"memoryStore,omitempty"`
}

// memoryStore is one named in-memory release store; calls on it take turns
// because Helm's memory driver keeps its namespace as mutable state.
type memoryStore struct {
	mu     sync.Mutex
	driver *memoryDriver
}

var (
	memoryStoresMu sync.Mutex
	memoryStores   = map[string]*memoryStore{}
)

func lookupMemoryStore(name string) *memoryStore {
	memoryStoresMu.Lock()
	defer memoryStoresMu.Unlock()
	store, ok := memoryStores[name]
	if !ok {
		store = &memoryStore{driver: newMemory()}
		memoryStores[name] = store
	}
	return store
}

// actionConfig builds Helm's shared action configuration for target and
// namespace. The returned release function must be called when done.
func actionConfig(target kubeTarget, namespace string, sink eventSink) (*helmConfig, func(), error) {
	switch target.Storage {
	case "memory":
		if target.MemoryStore == "" {
			return nil, nil, errorf(kindInvalidInput, "storage \"memory\" needs a memoryStore name")
		}
		store := lookupMemoryStore(target.MemoryStore)
		store.mu.Lock()
		store.driver.SetNamespace(namespace)
		return memoryConfig(store.driver, sink), store.mu.Unlock, nil
	case "secret", "configmap":
		if target.Kubeconfig == "" && !anyExists(target.KubeconfigPaths) && target.APIServer == "" {
			return nil, nil, invalidf(inputKubeconfig, "no kubeconfig was given")
		}
		settings := target.kubeSettings
		settings.Namespace = namespace
		// Building the client config only reads files: an error here is
		// the kubeconfig's (no such context, a malformed file), which Helm
		// would report later as "cluster unreachable".
		// The getter's loader keeps the config it builds: the files are
		// read once.
		getter := newRESTGetter(settings)
		if _, err := getter.loader.ClientConfig(); err != nil {
			return nil, nil, errorf(kindInvalidInput, "kubeconfig: %v", err)
		}
		cfg, err := clusterConfig(getter, namespace, target.Storage, sink)
		if err != nil {
			return nil, nil, err
		}
		return cfg, func() {}, nil
	default:
		return nil, nil, errorf(kindInvalidInput, "unknown release storage %q: use secret, configmap or memory", target.Storage)
	}
}

// anyExists says whether one of paths names a file; client-go skips the
// others.
func anyExists(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}
