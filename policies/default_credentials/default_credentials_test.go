package defaultcredentials_test

import (
	"fmt"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	defaultcredentials "github.com/verdict-policy/verdict/policies/default_credentials"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

func TestDefaultCredentials(t *testing.T) {
	const userKey = `{"auth_type": "user_key", "user_key": "anon-key"}`
	const appID = `{"auth_type": "app_id_and_app_key", "app_id": "anon-app", "app_key": "anon-secret"}`
	tests := []struct {
		name    string
		config  string
		target  string
		headers map[string]string
		want    map[string]any // nil: nothing shared
	}{
		{"user_key: none in the request", userKey, "/x", nil, map[string]any{"user_key": "anon-key"}},
		{"user_key: query argument kept", userKey, "/x?user_key=mine", nil, nil},
		{"user_key: header kept", userKey, "/x", map[string]string{"user_key": "mine"}, nil},
		{"user_key: empty argument is none", userKey, "/x?user_key=", nil, map[string]any{"user_key": "anon-key"}},
		{"user_key: other arguments", userKey, "/x?a=1&user_keys=2", nil, map[string]any{"user_key": "anon-key"}},
		{"app_id: none in the request", appID, "/x", nil, map[string]any{"app_id": "anon-app", "app_key": "anon-secret"}},
		{"app_id: query argument kept", appID, "/x?app_id=a&app_key=b", nil, nil},
		{"app_id: header kept", appID, "/x", map[string]string{"app_id": "a"}, nil},
		{"app_id: a user_key is not an app_id", appID, "/x?user_key=k", nil, map[string]any{"app_id": "anon-app", "app_key": "anon-secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := policytest.Build(t, policytest.Entry(defaultcredentials.Name, tt.config))
			r := httptest.NewRequest("GET", "http://api.test"+tt.target, nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			res := policytest.Run(ch, r, "192.0.2.1", nil, 0)
			if !res.Proxied {
				t.Fatalf("the request did not go on: %d", res.Status)
			}
			got, ok := res.Context.Get(defaultcredentials.ContextKey)
			if tt.want == nil {
				if ok {
					t.Fatalf("shared %v for a request with credentials", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("shared %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"no auth_type", `{}`, "auth_type"},
		{"bad auth_type", `{"auth_type": "oauth"}`, "auth_type"},
		{"user_key missing", `{"auth_type": "user_key"}`, "user_key"},
		{"app_key missing", `{"auth_type": "app_id_and_app_key", "app_id": "a"}`, "app_key"},
		{"empty user_key", `{"auth_type": "user_key", "user_key": ""}`, "user_key"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(defaultcredentials.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
