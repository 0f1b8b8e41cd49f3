// Package config owns the frame of Verdict's configuration file: reading
// it (YAML or JSON, APIcast's bare {"services": [...]} file included),
// the position-tracking Decoder that names the file, line, column and
// field of every Problem, the listen, limits, store and policies keys,
// resolving the paths the file names, compiling its policy documents, and
// the reload rules (a file that holds nothing is refused).
//
// Every other top-level key belongs to the package it configures, which
// registers it from init with RegisterSection, decodes and validates it
// through the Decoder, and reads it back with Section: pexip, authz,
// rethink (messages), gateway (services, policy_chain, gateway) and
// script (policy_load_path). Attribute vocabularies register the same way
// (RegisterVocabulary). This package imports none of them and serves
// nothing; the server package puts a loaded configuration to work.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/examples"
)

// Defaults for the fields a configuration file may leave out.
const (
	DefaultPolicyAddr   = "127.0.0.1:3000"
	DefaultAdminAddr    = "127.0.0.1:9421"
	DefaultMaxBodyBytes = 1 << 20
)

// Config is a loaded and validated configuration. Build one with Load,
// Parse or Default; the zero value is not useful.
type Config struct {
	// Listen holds the addresses the server binds.
	Listen Listen
	// Limits bounds what a client may send.
	Limits Limits
	// Store selects where shared state lives.
	Store Store
	// Policies lists the named policy documents, in file order.
	Policies []Policy
	// APIcast is set when the file is an APIcast configuration file: a
	// JSON object with services and no key but APIcast's (services, oidc,
	// id, provider_key, timestamp) and strict.
	APIcast bool
	// Lenient is set for an APIcast file without strict: true. It is
	// loaded as APIcast loads it: what APIcast tolerates is a warning
	// (Decoder.Warnf) rather than a problem, and the gateway leaves out of
	// a chain a policy it cannot build.
	Lenient bool
	// Warnings are the problems a lenient file was loaded with, each with
	// its position.
	Warnings Problems

	// File is the configuration file as it was named to Load or Parse.
	File string
	// Embedded is true for the built-in default configuration, whose policy
	// files are read from the binary rather than from disk.
	Embedded bool

	dir  string // relative policy paths resolve against it
	fsys fs.FS  // nil for the operating system's file system

	// sections holds the decoded value of each registered section the
	// file holds, by key (see Section).
	sections map[string]any
}

// Listen holds the listener addresses, each host:port.
type Listen struct {
	// Policy is the address of the decision endpoints (/v1/decide).
	Policy string
	// Admin is the address of /metrics, /healthz, /readyz and /v1/reload.
	Admin string
	// GRPC is the address of the gRPC services (Envoy ext_authz); empty
	// means no gRPC listener.
	GRPC string
	// Gateway is the address of the API gateway; empty means
	// DefaultGatewayAddr (see Config.GatewayAddr).
	Gateway string
}

// Limits bounds the requests the server accepts.
type Limits struct {
	// MaxBodyBytes is the largest request body accepted; larger ones get 413.
	MaxBodyBytes int64
	// Policy, Gateway, Admin and GRPC bound each listener's connections
	// and request bodies (limits.policy, limits.gateway, ...). The admin
	// and gRPC listeners take only MaxConnections.
	Policy, Gateway, Admin, GRPC ListenerLimits
}

// ListenerLimits bounds what one listener accepts. A zero field is unset:
// the server applies its default.
type ListenerLimits struct {
	// MaxConnections is the most connections the listener holds open at
	// once. Unset, the server derives it from the process's open-file
	// limit (admin: DefaultAdminConnections).
	MaxConnections int
	// BodyTimeout is how long a request body may send nothing before it
	// is answered 408 (DefaultBodyTimeout).
	BodyTimeout time.Duration
	// BodyMinRate, when set, is the least average rate in bytes a second
	// at which a request body must arrive once BodyTimeout is spent.
	BodyMinRate int64
}

// Listener limit defaults and bounds.
const (
	DefaultBodyTimeout      = 60 * time.Second
	DefaultAdminConnections = 64
	MaxConnectionsLimit     = 10_000_000
)

// Policy names one policy document of the configuration.
type Policy struct {
	// Name is the document's name, as clients ask for it.
	Name string
	// Path is the file or directory as written in the configuration. A
	// directory means every .json, .yaml and .yml file in it, in name
	// order, compiled together as one document.
	Path string
	// Vocabulary names the attribute vocabulary the document is checked
	// against: "rethink", or empty for none.
	Vocabulary string
	// Line and Column locate the entry in the configuration file.
	Line, Column int
}

// Problem is one configuration error with its position in the file.
type Problem struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	// Field is the dotted path of the offending field, e.g. listen.admin.
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error formats p as file:line:column: field: message.
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
		if p.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Column))
		}
	}
	if p.Field != "" {
		b.WriteString(": ")
		b.WriteString(p.Field)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// Problems lists every problem found while loading a configuration or
// compiling its documents. Each element is a Problem or a pdl.Problem.
type Problems []error

// Error joins the problems, one a line.
func (ps Problems) Error() string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Error()
	}
	return strings.Join(parts, "\n")
}

// Unwrap returns the problems, so errors.As finds a Problem or pdl.Problem.
func (ps Problems) Unwrap() []error { return ps }

// Load reads and validates the configuration file at file. Policy paths in
// it are resolved against the file's directory; the policy files themselves
// are read by Compile. A configuration error is returned as Problems.
func Load(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(file, data)
}

// Parse validates a configuration held in memory as if it had been read
// from file, which names it in problems and anchors its relative paths.
func Parse(file string, data []byte) (*Config, error) {
	c, err := parse(file, data)
	if err != nil {
		return nil, err
	}
	c.dir = filepath.Dir(file)
	return c, nil
}

// Default returns the built-in configuration: the listeners on their
// default loopback addresses and the reTHINK example rules as the document
// "rethink", read from the files embedded in the binary. The file is
// written for the whole program: a section whose owner this program does
// not link (a test binary of one front door) is left out rather than
// refused.
func Default() (*Config, error) {
	fsys := examples.FS()
	data, err := fs.ReadFile(fsys, examples.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("read embedded config: %w", err)
	}
	c, _, err := decodeConfig(examples.ConfigFile, data, true)
	if err != nil {
		return nil, fmt.Errorf("embedded config: %w", err)
	}
	c.Embedded = true
	c.fsys = fsys
	c.dir = "."
	return c, nil
}

// Reload reads c's configuration again from where it came from: its file,
// or the binary for the built-in default. Unlike Load, it refuses a file
// that holds no configuration (empty, only blanks and comments, or null):
// that is almost always a file caught in the middle of being written, and
// loading it would drop every service and document at once.
func (c *Config) Reload() (*Config, error) {
	if c.Embedded {
		return Default()
	}
	data, err := os.ReadFile(c.File)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if blank(data) {
		return nil, Problems{noConfiguration(c.File)}
	}
	cfg, empty, err := decodeConfig(c.File, data, false)
	if err != nil {
		return nil, err
	}
	if empty {
		return nil, Problems{noConfiguration(c.File)}
	}
	cfg.dir = filepath.Dir(c.File)
	return cfg, nil
}

// blank reports whether every line of data is empty, white space or a
// comment. YAML itself would refuse some of those (a tab on a line of its
// own), which would hide that the file is simply empty.
func blank(data []byte) bool {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}

// noConfiguration is the problem of a reload that finds an empty file.
func noConfiguration(file string) Problem {
	return Problem{File: file, Message: "the file holds no configuration (it is empty, or only blanks and comments); " +
		"the running configuration stays. Replace a configuration in one step: write a new file and rename it over the old one"}
}

// PolicyPath returns where the files of p are read from: p.Path resolved
// against the configuration file's directory.
func (c *Config) PolicyPath(p Policy) string {
	if c.fsys != nil {
		return path.Clean(p.Path)
	}
	if filepath.IsAbs(p.Path) {
		return filepath.Clean(p.Path)
	}
	return filepath.Join(c.dir, p.Path)
}

// WatchPaths returns the files and directories whose change should trigger a
// reload: the configuration file and every policy file and directory. The
// built-in default has none.
func (c *Config) WatchPaths() []string {
	if c.Embedded {
		return nil
	}
	paths := []string{c.File}
	for _, p := range c.Policies {
		paths = append(paths, c.PolicyPath(p))
	}
	for _, key := range SectionKeys() {
		if s, _ := registeredSection(key); s.WatchPaths != nil {
			paths = append(paths, s.WatchPaths(c, c.sections[key])...)
		}
	}
	return paths
}

// parse decodes and validates data. Every problem is collected before
// giving up, so one run reports all of them.
func parse(file string, data []byte) (*Config, error) {
	c, _, err := decodeConfig(file, data, false)
	return c, err
}

// decodeConfig is parse that also reports whether data holds no
// configuration at all: no YAML document, or a null one. Such a file
// takes every default. builtin skips the sections no package registered,
// for the built-in configuration only.
func decodeConfig(file string, data []byte, builtin bool) (c *Config, empty bool, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, false, Problems{syntaxProblem(file, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, false, Problems{Problem{File: file, Line: extra.Line, Column: extra.Column,
			Message: "the file holds more than one YAML document"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, false, Problems{syntaxProblem(file, err)}
	}
	empty = root.Kind != yaml.DocumentNode || len(root.Content) == 0 || IsNull(Resolve(root.Content[0]))

	c = &Config{
		Listen: Listen{Policy: DefaultPolicyAddr, Admin: DefaultAdminAddr},
		Limits: Limits{MaxBodyBytes: DefaultMaxBodyBytes},
		Store:  Store{Backend: "memory"},
		File:   file,
	}
	d := &Decoder{file: file, skipUnregistered: builtin}
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		d.config(root.Content[0], c)
	}
	if len(d.problems) > 0 {
		return nil, false, d.problems
	}
	return c, empty, nil
}

// syntaxProblem turns a YAML parse error into a Problem, lifting the line
// number out of the message when it has one.
func syntaxProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{File: file, Message: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				p.Line, p.Message = n, tail
			}
		}
	}
	p.Message = "syntax error: " + p.Message
	return p
}

// DataPath resolves a path named in the configuration (a table file, an
// avatar directory, a certificate) against the configuration file's
// directory.
func (c *Config) DataPath(p string) string {
	if c.fsys != nil {
		return path.Clean(p)
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(c.dir, p)
}

// ReadData reads a file named in the configuration, from disk or, for the
// built-in default, from the binary.
func (c *Config) ReadData(p string) ([]byte, error) {
	if c.fsys != nil {
		return fs.ReadFile(c.fsys, c.DataPath(p))
	}
	return os.ReadFile(c.DataPath(p))
}

// DataFS returns a file system rooted at a directory named in the
// configuration.
func (c *Config) DataFS(p string) (fs.FS, error) {
	if c.fsys != nil {
		return fs.Sub(c.fsys, c.DataPath(p))
	}
	return os.DirFS(c.DataPath(p)), nil
}

// DefaultGatewayAddr is the gateway listener's address when listen.gateway
// is not given.
const DefaultGatewayAddr = "127.0.0.1:8080"

// GatewayAddr returns the gateway listener's address.
func (c *Config) GatewayAddr() string {
	if c.Listen.Gateway == "" {
		return DefaultGatewayAddr
	}
	return c.Listen.Gateway
}
