package config

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/verdict-policy/verdict/pdl"
)

// SectionInfo describes a top-level section of the configuration file that
// another package owns: a front door's settings (pexip, authz, messages),
// the gateway's services and chains, the custom policy load path. The
// owning package registers it from an init function with RegisterSection;
// the file's frame (listen, limits, store, policies) stays in this package.
//
// A section's life at each load is decode, then validate: Decode turns
// the section's node into the value the owner reads back with Section, and
// reports every problem with its position through the Decoder; Validate,
// when set, runs once every section is decoded, for rules that look at
// the rest of the file. Work that needs more than the file (reading
// tables, certificates, the compiled documents) is left to the owner's
// own preparation when it is served.
type SectionInfo struct {
	// Key is the section's top-level key, e.g. "pexip".
	Key string
	// Decode decodes the section's value n (aliases resolved; null when
	// the key is written without a value) for the field named field.
	// It returns the value to keep, or nil to keep none, as when the key
	// is absent.
	Decode func(d *Decoder, n *Node, field string) any
	// Validate, when set, checks the decoded value v against the whole
	// configuration. It runs only for a section the file holds.
	Validate func(d *Decoder, c *Config, v any)
	// WatchPaths, when set, lists the files and directories of the
	// section whose change should reload the configuration. It is asked
	// whether or not the file holds the section (v is then nil), since
	// what it watches may come from elsewhere too (the environment).
	WatchPaths func(c *Config, v any) []string
}

var (
	sectionsMu sync.RWMutex
	sections   = map[string]SectionInfo{}
)

// frameKeys are the top-level keys this package decodes itself.
var frameKeys = []string{"listen", "limits", "store", "policies", "strict", "oidc", "id", "provider_key", "timestamp"}

// RegisterSection makes the top-level key s.Key known. It is called from
// init functions; a key registered twice, a key of the frame, an empty key
// or a missing Decode is a programming error and panics.
func RegisterSection(s SectionInfo) {
	if s.Key == "" || s.Decode == nil {
		panic("config: RegisterSection needs a key and a Decode function")
	}
	if slices.Contains(frameKeys, s.Key) {
		panic(fmt.Sprintf("config: section %q belongs to the file's frame", s.Key))
	}
	sectionsMu.Lock()
	defer sectionsMu.Unlock()
	if _, dup := sections[s.Key]; dup {
		panic(fmt.Sprintf("config: section %q registered twice", s.Key))
	}
	sections[s.Key] = s
}

// registeredSection returns the section registered for key.
func registeredSection(key string) (SectionInfo, bool) {
	sectionsMu.RLock()
	defer sectionsMu.RUnlock()
	s, ok := sections[key]
	return s, ok
}

// SectionKeys returns the registered top-level keys, sorted.
func SectionKeys() []string {
	sectionsMu.RLock()
	defer sectionsMu.RUnlock()
	keys := make([]string, 0, len(sections))
	for k := range sections {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Section returns the value the section key decoded to in c, and whether
// c has one: false when the file does not hold the key, or when the value
// is not a T (which is a programming error of the owner's getter). Owners
// wrap it in a typed getter, e.g. pexip.ConfigOf.
func Section[T any](c *Config, key string) (T, bool) {
	v, ok := c.sections[key].(T)
	return v, ok
}

// SetSection stores v as the value of section key in c, as if the file had
// held it. It is for tests and for programs that build a configuration in
// code; a nil v removes the section.
func (c *Config) SetSection(key string, v any) {
	if v == nil {
		delete(c.sections, key)
		return
	}
	if c.sections == nil {
		c.sections = map[string]any{}
	}
	c.sections[key] = v
}

// Vocabulary registry: a package that defines an attribute vocabulary
// (reTHINK's message attributes) registers it here, so that a document of
// the policies section can name it.
var (
	vocabMu      sync.RWMutex
	vocabularies = map[string]func() pdl.Options{}
)

// RegisterVocabulary makes the attribute vocabulary name known to the
// policies section: a document that names it is compiled with the options
// opts returns. It is called from init functions; a name registered twice
// or an empty one panics.
func RegisterVocabulary(name string, opts func() pdl.Options) {
	if name == "" || opts == nil {
		panic("config: RegisterVocabulary needs a name and options")
	}
	vocabMu.Lock()
	defer vocabMu.Unlock()
	if _, dup := vocabularies[name]; dup {
		panic(fmt.Sprintf("config: vocabulary %q registered twice", name))
	}
	vocabularies[name] = opts
}

// Vocabularies returns the names of the registered vocabularies, sorted.
func Vocabularies() []string {
	vocabMu.RLock()
	defer vocabMu.RUnlock()
	names := make([]string, 0, len(vocabularies))
	for n := range vocabularies {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Vocabulary returns the compile options of the named attribute
// vocabulary, or of none for "", which accepts every attribute name.
func Vocabulary(name string) (pdl.Options, error) {
	if name == "" {
		return pdl.Options{}, nil
	}
	vocabMu.RLock()
	opts, ok := vocabularies[name]
	vocabMu.RUnlock()
	if !ok {
		return pdl.Options{}, fmt.Errorf("unknown vocabulary %q: %s", name, knownVocabularies())
	}
	return opts(), nil
}

func knownVocabularies() string {
	names := Vocabularies()
	if len(names) == 0 {
		return "no vocabulary is known to this program"
	}
	return "known are " + strings.Join(names, ", ")
}
