package authz

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzEvaluation sends arbitrary bodies to both AuthZEN endpoints: the
// answer is 200 or a 4xx, never a panic or a 5xx.
func FuzzEvaluation(f *testing.F) {
	f.Add(`{}`)
	d := loadDoor(f, nil, nil)
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{EvaluationPath, EvaluationsPath} {
			w := httptest.NewRecorder()
			d.ServeHTTP(w, httptest.NewRequest("POST", path, strings.NewReader(body)))
			if w.Code != 200 && (w.Code < 400 || w.Code >= 500) {
				t.Fatalf("%s: status %d for %q: %s", path, w.Code, body, w.Body.String())
			}
		}
	})
}

// FuzzProxyRequest sends arbitrary original requests through the nginx
// and forward adapters: the answer is an allow or a deny the proxy
// understands, never a 5xx.
func FuzzProxyRequest(f *testing.F) {
	f.Add("GET", "/", "")
	d := loadDoor(f, nil, nil)
	f.Fuzz(func(t *testing.T, method, uri, auth string) {
		for _, path := range []string{NginxPath, ForwardPath} {
			r := httptest.NewRequest("GET", path, nil)
			r.Header = http.Header{"X-Original-Uri": {uri}, "X-Original-Method": {method},
				"X-Forwarded-Uri": {uri}, "X-Forwarded-Method": {method}, "Authorization": {auth}}
			w := httptest.NewRecorder()
			d.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("%s: status %d for %q %q %q", path, w.Code, method, uri, auth)
			}
			if path == NginxPath && w.Code != 200 && w.Code != 401 && w.Code != 403 && w.Code != 400 {
				t.Fatalf("nginx: status %d", w.Code)
			}
		}
	})
}
