package threescale

import (
	"net/url"
	"strings"
	"testing"
)

func testService(t *testing.T, cfg ServiceConfig) *Service {
	t.Helper()
	c, err := NewClient(ClientOptions{Endpoint: "http://backend.example"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewService(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func usageOf(pairs ...any) Usage {
	var u Usage
	for i := 0; i < len(pairs); i += 2 {
		u.Add(pairs[i].(string), int64(pairs[i+1].(int)))
	}
	return u
}

func TestAuthQuery(t *testing.T) {
	v1 := testService(t, ServiceConfig{ID: "42", Version: VersionUserKey, AuthValue: "tok"})
	v2 := testService(t, ServiceConfig{ID: "42", Version: VersionAppID, AuthType: ProviderKey, AuthValue: "pk"})
	oauth := testService(t, ServiceConfig{ID: "7", Version: VersionOAuth, AuthValue: "t&k=1"})
	cases := []struct {
		name string
		req  Request
		code int
		want string
	}{
		{"user_key with a service token",
			Request{Service: v1, Credentials: Credentials{UserKey: "foo"}, Usage: usageOf("hits", 2)}, 0,
			"service_token=tok&service_id=42&usage%5Bhits%5D=2&user_key=foo"},
		{"app_id and app_key with a provider key",
			Request{Service: v2, Credentials: Credentials{AppID: "a1", AppKey: "k1"}, Usage: usageOf("hits", 1)}, 0,
			"provider_key=pk&service_id=42&usage%5Bhits%5D=1&app_id=a1&app_key=k1"},
		{"app_id without a key sends no app_key",
			Request{Service: v2, Credentials: Credentials{AppID: "a1"}, Usage: usageOf("hits", 1)}, 0,
			"provider_key=pk&service_id=42&usage%5Bhits%5D=1&app_id=a1"},
		{"metrics in name order whatever the order they were added in",
			Request{Service: v1, Credentials: Credentials{UserKey: "k"}, Usage: usageOf("updates", 1, "hits", 3, "searches", 2)}, 0,
			"service_token=tok&service_id=42&usage%5Bhits%5D=3&usage%5Bsearches%5D=2&usage%5Bupdates%5D=1&user_key=k"},
		{"escaping of values and metric names",
			Request{Service: v1, Credentials: Credentials{UserKey: "a b&c=d/é+%"}, Usage: usageOf("my metric[x]", 1)}, 0,
			"service_token=tok&service_id=42&usage%5Bmy%20metric%5Bx%5D%5D=1&user_key=a%20b%26c%3Dd%2F%C3%A9%2B%25"},
		{"unreserved characters stay",
			Request{Service: v1, Credentials: Credentials{UserKey: "AZaz09-._~"}, Usage: usageOf("h", 1)}, 0,
			"service_token=tok&service_id=42&usage%5Bh%5D=1&user_key=AZaz09-._~"},
		{"response code and referrer",
			Request{Service: v1, Credentials: Credentials{UserKey: "k"}, Usage: usageOf("hits", 1), Referrer: "example.org"}, 503,
			"service_token=tok&service_id=42&usage%5Bhits%5D=1&user_key=k&log%5Bcode%5D=503&referrer=example.org"},
		{"oauth client id, token escaped",
			Request{Service: oauth, Credentials: Credentials{AppID: "client"}, Usage: usageOf("hits", 1)}, 0,
			"service_token=t%26k%3D1&service_id=7&usage%5Bhits%5D=1&app_id=client"},
		{"native oauth access token",
			Request{Service: oauth, Credentials: Credentials{AccessToken: "at"}, Usage: usageOf("hits", 1)}, 0,
			"service_token=t%26k%3D1&service_id=7&usage%5Bhits%5D=1&access_token=at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendAuthQuery(nil, &tc.req, tc.code))
			if got != tc.want {
				t.Fatalf("query\n got %s\nwant %s", got, tc.want)
			}
			// What a server decodes is what was meant.
			q, err := url.ParseQuery(got)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range tc.req.Usage.Deltas() {
				if q.Get("usage["+d.Metric+"]") == "" {
					t.Errorf("usage[%s] does not decode", d.Metric)
				}
			}
			if k := tc.req.Credentials.UserKey; k != "" && q.Get("user_key") != k {
				t.Errorf("user_key decodes to %q, want %q", q.Get("user_key"), k)
			}
		})
	}
}

func TestUsageAdd(t *testing.T) {
	var u Usage
	u.Add("hits", 1)
	u.Add("b", 2)
	u.Add("hits", 2)
	u.Add("a", 0)  // nothing to add
	u.Add("c", -1) // nor a negative on its own
	if got := u.String(); got != "usage%5Bb%5D=2&usage%5Bhits%5D=3" {
		t.Fatalf("usage %s", got)
	}
	u.Add("b", -2) // falls to zero: removed, as APIcast merges
	if u.Len() != 1 || u.Get("b") != 0 || u.Get("hits") != 3 {
		t.Fatalf("after removal: %s", u.String())
	}
	c := u.Clone()
	u.Reset()
	if u.Len() != 0 || c.Get("hits") != 3 {
		t.Fatalf("reset changed the clone: %s", c.String())
	}
}

func TestAuthKeysDoNotCollide(t *testing.T) {
	v2 := testService(t, ServiceConfig{ID: "1", Version: VersionAppID, AuthValue: "t"})
	other := testService(t, ServiceConfig{ID: "1:a", Version: VersionAppID, AuthValue: "t"})
	reqs := []Request{
		{Service: v2, Credentials: Credentials{AppID: "a:b", AppKey: "c"}, Usage: usageOf("hits", 1)},
		{Service: v2, Credentials: Credentials{AppID: "a", AppKey: "b:c"}, Usage: usageOf("hits", 1)},
		{Service: v2, Credentials: Credentials{AppID: "a", AppKey: "b"}, Usage: usageOf("hits", 1)},
		{Service: v2, Credentials: Credentials{AppID: "a", AppKey: "b"}, Usage: usageOf("hits", 2)},
		{Service: v2, Credentials: Credentials{AppID: "a", AppKey: "b"}, Usage: usageOf("hits", 1, "x", 1)},
		{Service: v2, Credentials: Credentials{AppID: "a", AppKey: "b"}, Usage: usageOf("hits", 1), Referrer: "r"},
		{Service: v2, Credentials: Credentials{AppID: "a&app_key=b"}, Usage: usageOf("hits", 1)},
		{Service: other, Credentials: Credentials{AppID: "b"}, Usage: usageOf("hits", 1)},
		{Service: v2, Credentials: Credentials{AppID: "a:b"}, Usage: usageOf("hits", 1)},
	}
	seen := map[string]int{}
	for i := range reqs {
		k := string(appendAuthKey(nil, &reqs[i]))
		if j, dup := seen[k]; dup {
			t.Fatalf("requests %d and %d share the key %q", j, i, k)
		}
		seen[k] = i
	}
}

func TestReportBody(t *testing.T) {
	txs := []Transaction{
		{Credentials: Credentials{UserKey: "k 1"}, Usage: usageOf("hits", 3, "a", 1)},
		{Credentials: Credentials{AppID: "id"}, Usage: usageOf("hits", 1), ResponseCode: 200},
	}
	var b []byte
	for i := range txs {
		b = appendTransaction(b, i, &txs[i])
	}
	want := "transactions%5B0%5D%5Buser_key%5D=k%201&transactions%5B0%5D%5Busage%5D%5Ba%5D=1&transactions%5B0%5D%5Busage%5D%5Bhits%5D=3" +
		"&transactions%5B1%5D%5Bapp_id%5D=id&transactions%5B1%5D%5Busage%5D%5Bhits%5D=1&transactions%5B1%5D%5Blog%5D%5Bcode%5D=200"
	if string(b) != want {
		t.Fatalf("body\n got %s\nwant %s", b, want)
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if form.Get("transactions[0][user_key]") != "k 1" || form.Get("transactions[0][usage][hits]") != "3" {
		t.Fatalf("decoded form %v", form)
	}
}

func TestChunks(t *testing.T) {
	var txs []Transaction
	for range 700 {
		txs = append(txs, Transaction{Credentials: Credentials{UserKey: "k"}, Usage: usageOf("hits", 1, "x", 1)})
	}
	parts := chunks(txs)
	n := 0
	for _, p := range parts {
		params := 0
		for _, tx := range p {
			params += 1 + tx.Usage.Len()
		}
		if params > maxReportParams {
			t.Fatalf("a report of %d parameters", params)
		}
		n += len(p)
	}
	if n != len(txs) || len(parts) != 3 {
		t.Fatalf("%d transactions in %d reports", n, len(parts))
	}
}

func TestBatchMembersRoundTrip(t *testing.T) {
	for _, k := range []batchKey{
		{kind: credUserKey, id: "a&m=b", metric: "hits"},
		{kind: credAppID, id: "id:1", metric: "m&m=x"},
		{kind: credAccessToken, id: "tok %", metric: "é"},
	} {
		got, err := parseMember(k.member())
		if err != nil || got != k {
			t.Errorf("%+v: round trip %+v, %v", k, got, err)
		}
	}
	for _, bad := range []string{"", "user_key=a", "nobody=a&m=b", "user_key=&m=b", "user_key=a&m=%zz"} {
		if _, err := parseMember(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseSettings(t *testing.T) {
	if v, err := ParseVersion(""); err != nil || v != VersionUserKey {
		t.Errorf("empty version: %v %v", v, err)
	}
	if v, err := ParseVersion("oauth"); err != nil || v != VersionOAuth || v.String() != "oauth" {
		t.Errorf("oauth: %v %v", v, err)
	}
	if _, err := ParseVersion("3"); err == nil || !strings.Contains(err.Error(), "backend_version") {
		t.Errorf("version 3: %v", err)
	}
	if a, err := ParseAuthType("provider_key"); err != nil || a != ProviderKey {
		t.Errorf("provider_key: %v %v", a, err)
	}
	if _, err := ParseAuthType("basic"); err == nil || !strings.Contains(err.Error(), "backend_authentication_type") {
		t.Errorf("basic: %v", err)
	}
	for _, n := range []string{"strict", "resilient", "allow", "none"} {
		m, err := ParseCacheMode(n)
		if err != nil || m.String() != n {
			t.Errorf("%s: %v %v", n, m, err)
		}
	}
	if _, err := ParseCacheMode("lru"); err == nil {
		t.Error("lru parsed")
	}
	c, _ := NewClient(ClientOptions{Endpoint: "http://b"})
	for name, cfg := range map[string]ServiceConfig{
		"no id":      {Version: VersionUserKey, AuthValue: "t"},
		"no value":   {ID: "1", Version: VersionUserKey},
		"no version": {ID: "1", AuthValue: "t"},
	} {
		if _, err := NewService(cfg, c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewService(ServiceConfig{ID: "1", Version: VersionUserKey, AuthValue: "t"}, nil); err == nil {
		t.Error("no client: accepted")
	}
}
