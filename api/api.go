// Package api holds the OpenAPI 3.1 documents of Verdict's HTTP APIs,
// embedded in the binary and served on the admin listener under
// /openapi/: policy.yaml describes the policy listener (decisions,
// reTHINK messages, proxy authorization, AuthZEN, Pexip), admin.yaml the
// admin listener. The endpoints themselves live in their own packages;
// this package's tests hold the documents to what a running server
// answers, and the configuration file's JSON Schema
// (docs/config.schema.json) to what the loader accepts.
package api

import (
	"embed"
	"net/http"
	"strconv"
	"strings"

	"github.com/verdict-policy/verdict/internal/reply"
)

//go:embed policy.yaml admin.yaml
var documents embed.FS

// Prefix is the path under which Handler serves the documents.
const Prefix = "/openapi/"

// Names lists the documents, as they are named under Prefix.
func Names() []string { return []string{"policy.yaml", "admin.yaml"} }

// Document returns the named document (policy.yaml or admin.yaml), or
// false when there is none of that name.
func Document(name string) ([]byte, bool) {
	if strings.ContainsAny(name, "/\\") {
		return nil, false
	}
	data, err := documents.ReadFile(name)
	return data, err == nil
}

// Handler serves GET and HEAD of Prefix + NAME for every document of
// Names, as application/yaml; other names get 404 and other methods 405,
// each with Verdict's JSON error.
func Handler() http.Handler { return handler{} }

type handler struct{}

func (handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	data, found := Document(name)
	if !ok || !found {
		reply.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		reply.MethodNotAllowed(w, r, "GET, HEAD")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/yaml")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}
