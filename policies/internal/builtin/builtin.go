// Package builtin registers the builtin chain policies with the chain
// registry: name, version "builtin", manifest, a validator from the
// manifest's configuration schema, and the constructor.
package builtin

import (
	"encoding/json"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/manifest"
)

// Register registers the builtin policy name. manifestJSON is its
// apicast-policy.json; a manifest that does not parse is a programming
// error and panics at init.
func Register(name string, manifestJSON []byte, newPolicy func(json.RawMessage, chain.Env) (chain.Policy, error)) {
	m := manifest.MustParse(manifestJSON)
	chain.Register(chain.Factory{
		Name:     name,
		Version:  chain.BuiltinVersion,
		Manifest: manifestJSON,
		Validate: m.Validate,
		New:      newPolicy,
	})
}

// Simple is Register for a constructor that needs only the configuration.
func Simple[P any](name string, manifestJSON []byte, newPolicy func(json.RawMessage) (P, error)) {
	Register(name, manifestJSON, func(cfg json.RawMessage, _ chain.Env) (chain.Policy, error) {
		p, err := newPolicy(cfg)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return p, nil
	})
}
