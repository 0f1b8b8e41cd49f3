package tokenintrospection

import (
	"encoding/json"
	"testing"

	"github.com/verdict-policy/verdict/chain"
)

// FuzzParseAnswer feeds arbitrary introspection answers: only a JSON
// object whose active member is true is active.
func FuzzParseAnswer(f *testing.F) {
	f.Add(`{"active": true, "exp": 1800000000}`)
	f.Add(`{"active": "true"}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, body string) {
		a, err := parseAnswer([]byte(body))
		if err != nil {
			if a.active {
				t.Fatal("active with an error")
			}
			return
		}
		var doc map[string]any
		if json.Unmarshal([]byte(body), &doc) != nil || doc["active"] != true {
			if a.active {
				t.Fatalf("%q read as active", body)
			}
		}
	})
}

// FuzzKeyMaterial feeds arbitrary embedded keys: they are read or refused,
// never a panic.
func FuzzKeyMaterial(f *testing.F) {
	f.Add("data:application/x-x509-ca-cert;name=rsa.pem;base64,LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=")
	f.Add("data:,-----BEGIN%20PRIVATE%20KEY-----")
	f.Fuzz(func(t *testing.T, s string) {
		data, err := parseDataURL(s)
		if err != nil {
			return
		}
		if k, err := parseRSAKey(data); err == nil && k == nil {
			t.Fatal("nil key without an error")
		}
	})
}

// FuzzConfig builds the policy from arbitrary configurations: a bad one is
// an error, never a panic. Requests are not sent, as a configuration may
// name any host.
func FuzzConfig(f *testing.F) {
	f.Add(`{"auth_type": "client_id+client_secret", "client_id": "a", "client_secret": "b", "introspection_url": "http://127.0.0.1:1/i", "max_cached_tokens": 5}`)
	f.Add(`{"auth_type": "private_key_jwt", "client_id": "a", "introspection_url": "http://127.0.0.1:1/i", "client_jwt_assertion_audience": "x", "certificate_type": "embedded", "certificate": "data:,x"}`)
	f.Fuzz(func(t *testing.T, config string) {
		_, err := chain.Build([]chain.Entry{{Name: Name, Configuration: json.RawMessage(config)}}, chain.Env{Dir: t.TempDir()})
		if err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}
