package authz

import (
	"io/fs"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/examples"
	"github.com/verdict-policy/verdict/internal/outcome"
)

// uncarried says, per adapter, which obligations its protocol cannot
// carry, and what to do instead.
var uncarried = map[string]map[string]string{
	"nginx": {
		outcome.RemoveRequestHeader: `nginx keeps the client's headers; clear them with proxy_set_header NAME ""`,
		outcome.Redirect:            "nginx turns a 302 from auth_request into 500; redirect with error_page 401 in nginx",
		outcome.DenyBody:            "nginx answers a denial with its own error page",
		outcome.SetResponseHeader:   "nginx passes only WWW-Authenticate, and only with a 401",
	},
	"forward": {
		outcome.RemoveRequestHeader: "forward auth replaces only the headers listed in authResponseHeaders / copy_headers",
	},
}

// warnUncarried logs, once per load, every obligation used in doc that the
// adapter's protocol cannot carry, and for nginx every fixed denyStatus
// other than 401 and 403. The adapter ignores them at run time.
func (d *Door) warnUncarried(cfg *config.Config, doc config.Document, adapter string) {
	limits := uncarried[adapter]
	if limits == nil {
		return
	}
	used := map[string][]any{}
	for _, src := range doc.Sources {
		var data []byte
		var err error
		if cfg.Embedded {
			data, err = fs.ReadFile(examples.FS(), src)
		} else {
			data, err = os.ReadFile(src)
		}
		if err != nil {
			continue // the document compiled from these bytes a moment ago
		}
		var root any
		if yaml.Unmarshal(data, &root) == nil {
			collectObligations(root, used)
		}
	}
	names := make([]string, 0, len(used))
	for name := range used {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if why, ok := limits[name]; ok {
			d.logger.Warn("authz: obligation ignored by this adapter", "adapter", adapter,
				"document", doc.Name, "obligation", name, "why", why)
		}
	}
	if adapter == "nginx" {
		for _, v := range used[outcome.DenyStatus] {
			if n, err := outcome.ParseStatus(v); err == nil && n != 401 && n != 403 {
				d.logger.Warn("authz: denyStatus becomes 403 for nginx", "adapter", adapter,
					"document", doc.Name, "status", n, "why", "nginx turns any status but 401 and 403 into 500")
			}
		}
	}
}

// collectObligations records the parameters of every obligation found
// under an "obligations" key, at rule level (name: params) and at policy
// and set level (permit/deny: {name: params}).
func collectObligations(v any, used map[string][]any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "obligations" {
				if m, ok := e.(map[string]any); ok {
					for name, params := range m {
						if inner, ok := params.(map[string]any); ok && (name == "permit" || name == "deny") {
							for n, p := range inner {
								used[n] = append(used[n], p)
							}
							continue
						}
						used[name] = append(used[name], params)
					}
				}
				continue
			}
			collectObligations(e, used)
		}
	case []any:
		for _, e := range x {
			collectObligations(e, used)
		}
	}
}
