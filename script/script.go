// Package script runs custom chain policies written in Lua, the APIcast
// way: a policy is a folder NAME/VERSION on a load path holding init.lua
// and apicast-policy.json. It owns finding and compiling those folders,
// the sandbox the code runs in (a confined require, no file system, no
// network, a time budget per phase call), the apicast.policy module, the
// ngx subset and cjson, and the policy_load_path section of the
// configuration file (LoadPath), which it registers with package config.
// Chains, phases and the request context belong to package chain;
// manifests and their schemas to package manifest.
package script

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/manifest"
)

// Defaults for Options left at zero.
const (
	DefaultBudget       = 200 * time.Millisecond
	DefaultInstructions = 1_000_000
	DefaultMaxBytes     = 1 << 20
	DefaultPoolSize     = 256
)

// Options tune the runtime of custom policies.
type Options struct {
	// Instructions bounds the Lua instructions one phase call may run,
	// and Budget its time; loading a policy and running its new get ten
	// times as many instructions and at least a second. A call over
	// either is stopped and fails the request closed, as any policy
	// error. The instruction count is exact and does not depend on the
	// machine's load; the time catches the few instructions that are slow
	// on their own, such as concatenating huge strings.
	Instructions int64
	Budget       time.Duration
	// MaxBytes bounds the strings the library builds for a script
	// (string.rep, ngx.say output, request bodies read with
	// ngx.req.read_body).
	MaxBytes int
	// PoolSize is how many idle Lua states a policy instance keeps in
	// reserve across garbage collections. Idle states wait in a per-core
	// pool first; those left there through two collections go to the
	// reserve, up to PoolSize, and the others are closed.
	PoolSize int
	// Logger receives ngx.log lines when a request carries no logger.
	Logger *slog.Logger

	watch *watchdog // shared by every state of one runtime
}

func (o Options) withDefaults() Options {
	if o.Budget <= 0 {
		o.Budget = DefaultBudget
	}
	if o.Instructions <= 0 {
		o.Instructions = DefaultInstructions
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.PoolSize <= 0 {
		o.PoolSize = DefaultPoolSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.watch == nil {
		o.watch = newWatchdog(o.Budget)
	}
	return o
}

// The files of a policy folder.
const (
	EntryFile    = "init.lua"
	ManifestFile = "apicast-policy.json"
)

// Resolver returns the function chain.Env.Resolve wants: it finds a
// policy NAME at VERSION as the folder NAME/VERSION under the first
// directory of loadPath that has it. Every call to Resolver starts a new
// cache, so each configuration load reads and compiles the files afresh
// and shares the compiled chunks between every instance and state of
// that load.
func Resolver(loadPath []string, opts Options) func(name, version string) (chain.Factory, bool) {
	opts = opts.withDefaults()
	var mu sync.Mutex
	found := map[string]*folder{}
	return func(name, version string) (chain.Factory, bool) {
		if !validSegment(name) || !validSegment(version) {
			return chain.Factory{}, false
		}
		key := name + "@" + version
		mu.Lock()
		defer mu.Unlock()
		f, ok := found[key]
		if !ok {
			f = locate(loadPath, name, version)
			if f == nil {
				return chain.Factory{}, false
			}
			found[key] = f
		}
		return f.factory(opts), true
	}
}

// Find reports where the policy NAME at VERSION is on loadPath, or "".
func Find(loadPath []string, name, version string) string {
	if !validSegment(name) || !validSegment(version) {
		return ""
	}
	if f := locate(loadPath, name, version); f != nil {
		return f.dir
	}
	return ""
}

// validSegment accepts a policy name or version usable as one path
// element: no separators, no dot-dot, nothing hidden.
func validSegment(s string) bool {
	if s == "" || s == "." || s == ".." || strings.HasPrefix(s, ".") {
		return false
	}
	return !strings.ContainsAny(s, "/\\\x00:")
}

func locate(loadPath []string, name, version string) *folder {
	for _, dir := range loadPath {
		d := filepath.Join(dir, name, version)
		if st, err := os.Stat(filepath.Join(d, EntryFile)); err == nil && st.Mode().IsRegular() {
			return &folder{name: name, version: version, dir: d}
		}
	}
	return nil
}

// folder is one policy found on the load path, with its manifest and the
// chunks compiled from its files, shared by every instance of this load.
type folder struct {
	name, version, dir string

	once     sync.Once
	manifest *manifest.Manifest
	raw      json.RawMessage
	err      error

	mu     sync.Mutex
	protos map[string]*lua.FunctionProto // by module file, relative to dir
	re     regexCache
}

func (f *folder) load() error {
	f.once.Do(func() {
		data, err := os.ReadFile(filepath.Join(f.dir, ManifestFile))
		if err != nil {
			f.err = fmt.Errorf("policy %s %s: %w", f.name, f.version, err)
			return
		}
		m, err := manifest.Parse(data)
		if err != nil {
			f.err = fmt.Errorf("%s: %w", filepath.Join(f.dir, ManifestFile), err)
			return
		}
		if m.Version != f.version {
			f.err = fmt.Errorf("%s: the manifest's version is %q but the folder's is %q",
				filepath.Join(f.dir, ManifestFile), m.Version, f.version)
			return
		}
		f.manifest, f.raw = m, data
		f.protos = map[string]*lua.FunctionProto{}
	})
	return f.err
}

func (f *folder) factory(opts Options) chain.Factory {
	fac := chain.Factory{Name: f.name, Version: f.version}
	if err := f.load(); err != nil {
		fac.New = func(json.RawMessage, chain.Env) (chain.Policy, error) { return nil, err }
		return fac
	}
	fac.Manifest = f.raw
	fac.Validate = f.manifest.Validate
	fac.New = func(config json.RawMessage, env chain.Env) (chain.Policy, error) {
		return newPolicy(f, config, env, opts)
	}
	return fac
}

// errNoModule marks a module file that is not in the folder.
var errNoModule = errors.New("no such module")

// proto returns the compiled chunk of the module file rel (a slash path
// inside the folder), compiling it on first use. The folder is opened as
// an os.Root, so neither dot-dot nor a symbolic link leads out of it.
func (f *folder) proto(rel string) (*lua.FunctionProto, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.protos[rel]; ok {
		return p, nil
	}
	root, err := os.OpenRoot(f.dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	data, err := root.ReadFile(rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errNoModule
		}
		return nil, err
	}
	p, err := compile(string(data), f.name+"/"+f.version+"/"+rel)
	if err != nil {
		return nil, err
	}
	f.protos[rel] = p
	return p, nil
}

// compile parses and compiles a chunk; name appears in error positions.
func compile(src, name string) (*lua.FunctionProto, error) {
	chunk, err := parse.Parse(strings.NewReader(src), name)
	if err != nil {
		// The parser's message names the file and the position already.
		return nil, errors.New(strings.Join(strings.Fields(err.Error()), " "))
	}
	p, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

//go:embed lib
var libFS embed.FS

// library holds the shared Lua modules Verdict provides to every policy,
// compiled once when the package is initialised, by module name.
var library = mustCompileLibrary()

func mustCompileLibrary() map[string]*lua.FunctionProto {
	out := map[string]*lua.FunctionProto{}
	err := fs.WalkDir(libFS, "lib", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".lua") {
			return err
		}
		data, err := libFS.ReadFile(p)
		if err != nil {
			return err
		}
		mod := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(p, "lib/"), ".lua"), "/", ".")
		proto, err := compile(string(data), mod)
		if err != nil {
			return err
		}
		out[mod] = proto
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("script: shared library: %v", err))
	}
	return out
}
