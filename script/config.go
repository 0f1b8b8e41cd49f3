package script

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/config"
)

// LoadPathEnv names the environment variable that replaces the
// configuration's policy_load_path: directories separated by ':'.
const LoadPathEnv = "VERDICT_POLICY_LOAD_PATH"

// LoadPath says where custom (Lua) chain policies are found and how
// they run. It is policy_load_path in the file, either a list of
// directories, a string of directories separated by ':', or a mapping:
//
//	policy_load_path:
//	  paths: [policies, /opt/verdict/policies]
//	  budget: 200ms       # time one phase call may take
//	  instructions: 1000000  # Lua instructions one phase call may run
//	  max_bytes: 1048576  # largest string the library builds for a script
//	  pool_size: 256      # idle Lua states kept in reserve per policy instance
type LoadPath struct {
	// Paths lists the directories as written, each holding NAME/VERSION
	// folders.
	Paths []string
	// Budget bounds the time of one phase call; zero means the runtime's
	// default.
	Budget time.Duration
	// Instructions bounds the Lua instructions of one phase call; zero
	// means the runtime's default.
	Instructions int
	// MaxBytes bounds the strings built for a script; zero means the
	// runtime's default.
	MaxBytes int
	// PoolSize is the number of idle Lua states kept in reserve per policy instance;
	// zero means the runtime's default.
	PoolSize int
	// Line and Column locate the field in the configuration file.
	Line, Column int
}

// LoadPathKey is the top-level key of the load path section.
const LoadPathKey = "policy_load_path"

func init() {
	config.RegisterSection(config.SectionInfo{Key: LoadPathKey, Decode: decodeLoadPath, WatchPaths: watchPaths})
}

// LoadPathOf returns the policy_load_path section of cfg; its zero value
// when the file has none.
func LoadPathOf(cfg *config.Config) LoadPath {
	lp, _ := config.Section[*LoadPath](cfg, LoadPathKey)
	if lp == nil {
		return LoadPath{}
	}
	return *lp
}

// Dirs returns the directories custom policies are loaded from, in
// order: those of VERDICT_POLICY_LOAD_PATH when it is not empty (relative to
// the working directory), else those of the file, resolved against the
// file's directory.
func Dirs(cfg *config.Config) []string {
	if env := os.Getenv(LoadPathEnv); env != "" {
		return splitPaths(env)
	}
	if cfg.Embedded {
		return nil // the built-in configuration names none
	}
	paths := LoadPathOf(cfg).Paths
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		out = append(out, cfg.DataPath(p))
	}
	return out
}

// splitPaths splits a ':'-separated list of directories, skipping empty
// elements.
func splitPaths(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ":") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, filepath.Clean(p))
		}
	}
	return out
}

func decodeLoadPath(d *config.Decoder, n *config.Node, field string) any {
	lp := &LoadPath{Line: n.Line, Column: n.Column}
	paths := func(v *config.Node, f string) {
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag == "!!str":
			lp.Paths = splitPaths(v.Value)
			if len(lp.Paths) == 0 {
				d.Errorf(v, f, "names no directory")
			}
		case v.Kind == yaml.SequenceNode:
			for i, e := range v.Content {
				s, ok := d.Str(config.Resolve(e), config.Join(f, strconv.Itoa(i)))
				if !ok {
					continue
				}
				if strings.TrimSpace(s) == "" {
					d.Errorf(e, config.Join(f, strconv.Itoa(i)), "an empty directory name")
					continue
				}
				lp.Paths = append(lp.Paths, s)
			}
		default:
			d.Errorf(v, f, "must be a list of directories, or a string of them separated by ':', not %s", config.KindName(v))
		}
	}
	positive := func(v *config.Node, f string, dst *int) {
		var x int
		if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || v.Decode(&x) != nil || x <= 0 {
			d.Errorf(v, f, "must be a whole number above 0, not %s", describe(v))
			return
		}
		*dst = x
	}
	if n.Kind != yaml.MappingNode {
		paths(n, field)
		return lp
	}
	d.Fields(n, field, map[string]func(*config.Node, string){
		"paths": paths,
		"budget": func(v *config.Node, f string) {
			s, ok := d.Str(v, f)
			if !ok {
				return
			}
			dur, err := time.ParseDuration(s)
			if err != nil || dur <= 0 {
				d.Errorf(v, f, "must be a duration above 0 such as 50ms, not %q", s)
				return
			}
			if dur > time.Minute {
				d.Errorf(v, f, "must be at most 1m, not %s", dur)
				return
			}
			lp.Budget = dur
		},
		"instructions": func(v *config.Node, f string) { positive(v, f, &lp.Instructions) },
		"max_bytes":    func(v *config.Node, f string) { positive(v, f, &lp.MaxBytes) },
		"pool_size":    func(v *config.Node, f string) { positive(v, f, &lp.PoolSize) },
	})
	return lp
}

func describe(v *config.Node) string {
	if v.Kind == yaml.ScalarNode {
		return strconv.Quote(v.Value)
	}
	return config.KindName(v)
}

// maxWatchedPolicyFiles bounds how many custom policy files are watched.
const maxWatchedPolicyFiles = 10000

// watchPaths lists the files of the custom policies on the load path (Lua
// sources and manifests, at any depth), so that editing one reloads the
// configuration. It is asked whether or not the file has the section: the
// load path may come from the environment alone.
func watchPaths(cfg *config.Config, _ any) []string {
	var out []string
	for _, dir := range Dirs(cfg) {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || len(out) >= maxWatchedPolicyFiles {
				return filepath.SkipDir
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".lua") || d.Name() == "apicast-policy.json") {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}
