// Package manifest reads chain policy manifests, the apicast-policy.json
// shape (name, summary, description, version, configuration schema), and
// validates policy configurations against their schema, naming the field
// of every problem. It does not build policies; package chain does.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	neturl "net/url"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Manifest describes a chain policy.
type Manifest struct {
	Schema      string `json:"$schema,omitempty"`
	Name        string `json:"name"`
	Summary     string `json:"summary,omitempty"`
	Description any    `json:"description,omitempty"` // a string or a list of lines
	Version     string `json:"version"`
	// Configuration is the JSON Schema of the policy's configuration.
	Configuration json.RawMessage `json:"configuration,omitempty"`
	// Phases lists the phases the policy acts in, for documentation.
	Phases []string `json:"phases,omitempty"`
	// Order holds APIcast's placement hints (before/after), kept as written.
	Order json.RawMessage `json:"order,omitempty"`

	schema *jsonschema.Schema
}

// Parse reads a manifest and compiles its configuration schema.
func Parse(data []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Name == "" || m.Version == "" {
		return nil, errors.New("manifest: name and version are required")
	}
	if len(m.Configuration) > 0 {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(m.Configuration))
		if err != nil {
			return nil, fmt.Errorf("manifest %s: configuration schema: %w", m.Name, err)
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft7)
		url := "verdict:///policies/" + neturl.PathEscape(m.Name) + "/" + neturl.PathEscape(m.Version) + "/configuration.json"
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("manifest %s: configuration schema: %w", m.Name, err)
		}
		if m.schema, err = c.Compile(url); err != nil {
			return nil, fmt.Errorf("manifest %s: configuration schema: %w", m.Name, err)
		}
	}
	return &m, nil
}

// MustParse is Parse for manifests embedded in the binary; it panics on a
// bad one, a programming error found at start-up.
func MustParse(data []byte) *Manifest {
	m, err := Parse(data)
	if err != nil {
		panic(err)
	}
	return m
}

// Validate checks a configuration against the manifest's schema. The
// error lists every problem, each naming its field as a dotted path.
func (m *Manifest) Validate(config json.RawMessage) error {
	if m.schema == nil {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(config))
	if err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	err = m.schema.Validate(v)
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	var lines []string
	collect(verr, &lines)
	sort.Strings(lines)
	lines = dedupe(lines)
	return errors.New(strings.Join(lines, "; "))
}

var printer = message.NewPrinter(language.English)

// collect gathers the leaf problems of a validation error.
func collect(e *jsonschema.ValidationError, out *[]string) {
	if len(e.Causes) == 0 {
		field := strings.Join(e.InstanceLocation, ".")
		if field == "" {
			field = "(configuration)"
		}
		*out = append(*out, field+": "+e.ErrorKind.LocalizedString(printer))
		return
	}
	for _, c := range e.Causes {
		collect(c, out)
	}
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
