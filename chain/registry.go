package chain

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"

	"github.com/verdict-policy/verdict/pdl"
	"github.com/verdict-policy/verdict/store"
)

// Env is what a policy may use when it is built: the process's services
// that do not belong in its configuration.
type Env struct {
	// Logger is the logger of the chain's service.
	Logger *slog.Logger
	// ServiceID is the service whose chain is being built; empty for the
	// global chain.
	ServiceID string
	// Service describes that service; nil for the global chain.
	Service *Service
	// Document returns a compiled policy document by name.
	Document func(name string) (*pdl.Document, bool)
	// Dir is the directory of the configuration file: relative file paths
	// in a policy's configuration resolve against it. Empty means the
	// working directory.
	Dir string
	// Resolve finds policies that are not builtin, such as custom Lua
	// policies on a load path; it is consulted when the registry has no
	// factory for a name and version. Nil means builtin policies only.
	Resolve func(name, version string) (Factory, bool)
	// Store is the process's shared store (counters, tables), as the
	// configuration's store section selects it; nil when the program
	// gives none, and a policy that needs one keeps its own in memory.
	Store store.Store
}

// Factory builds one kind of policy.
type Factory struct {
	// Name and Version identify the policy in a chain entry; builtin
	// policies have version "builtin".
	Name, Version string
	// Manifest is the policy's manifest as JSON (apicast-policy.json shape).
	Manifest json.RawMessage
	// Validate checks a configuration against the manifest's schema. Nil
	// accepts any configuration.
	Validate func(config json.RawMessage) error
	// New builds a policy from its configuration (null when absent).
	New func(config json.RawMessage, env Env) (Policy, error)
}

// Path resolves a file path from a policy's configuration: absolute paths
// stay as they are, relative ones are taken from the configuration file's
// directory.
func (e Env) Path(p string) string {
	if p == "" || e.Dir == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(e.Dir, p)
}

// BuiltinVersion is the version of every builtin policy.
const BuiltinVersion = "builtin"

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

func key(name, version string) string { return name + "@" + version }

// Register adds a policy factory. It is meant for init functions and
// panics on a duplicate or malformed registration, a programming error.
func Register(f Factory) {
	if f.Name == "" || f.Version == "" || f.New == nil {
		panic(fmt.Sprintf("chain: bad registration %q version %q", f.Name, f.Version))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	k := key(f.Name, f.Version)
	if _, dup := registry[k]; dup {
		panic(fmt.Sprintf("chain: policy %s version %s registered twice", f.Name, f.Version))
	}
	registry[k] = f
}

// Lookup returns the factory of a policy.
func Lookup(name, version string) (Factory, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	f, ok := registry[key(name, version)]
	return f, ok
}

// Registered lists every registered factory, sorted by name and version.
func Registered() []Factory {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]Factory, 0, len(registry))
	for _, f := range registry {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Version < out[j].Version
	})
	return out
}
