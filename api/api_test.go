package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	tests := []struct {
		name, method, path string
		status             int
		contentType, body  string
	}{
		{"policy document", "GET", "/openapi/policy.yaml", 200, "application/yaml", "title: Verdict policy listener"},
		{"admin document", "GET", "/openapi/admin.yaml", 200, "application/yaml", "title: Verdict admin listener"},
		{"head", "HEAD", "/openapi/admin.yaml", 200, "application/yaml", ""},
		{"unknown document", "GET", "/openapi/other.yaml", 404, "application/json", `"not_found"`},
		{"the embedding's own files only", "GET", "/openapi/../api.go", 404, "application/json", `"not_found"`},
		{"a directory", "GET", "/openapi/", 404, "application/json", `"not_found"`},
		{"wrong method", "POST", "/openapi/policy.yaml", 405, "application/json", `"method_not_allowed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Handler().ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.status || rec.Header().Get("Content-Type") != tt.contentType {
				t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, rec.Code, rec.Header().Get("Content-Type"), tt.status, tt.contentType)
			}
			if !strings.Contains(rec.Body.String(), tt.body) || tt.method == "HEAD" && rec.Body.Len() > 0 {
				t.Errorf("%s %s: body %q, want it to hold %q", tt.method, tt.path, rec.Body.String(), tt.body)
			}
			if tt.status == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", rec.Header().Get("Allow"))
			}
		})
	}
}
