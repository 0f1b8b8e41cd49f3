// Package examples holds the example configuration and policy documents that
// ship inside the verdict binary. Verdict serves them when it is started
// without a configuration file.
package examples

import (
	"embed"
	"io/fs"
)

//go:embed verdict.yaml rethink/policies.json authz/proxy.yaml authz/authzen.yaml pexip/demo.yaml
var files embed.FS

// ConfigFile is the name of the default configuration inside FS.
const ConfigFile = "verdict.yaml"

// FS returns the embedded examples: verdict.yaml at the root and the policy
// documents it names, at the paths it names them by.
func FS() fs.FS { return files }
