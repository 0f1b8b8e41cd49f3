package rethink

import (
	"context"
	"testing"
)

// attributeEnforcer returns an enforcer for hjiang-rethink.com whose
// registry cache knows both users' Connector hyperties.
func attributeEnforcer(t *testing.T) *Enforcer {
	t.Helper()
	c := newClock()
	e, err := New(compile(t, permitAll), Config{
		Domain: "hjiang-rethink.com", DomainRegistry: registry, UseSSL: true,
		Now: c.Now, State: NewMemoryState(0, c.Now),
	})
	if err != nil {
		t.Fatal(err)
	}
	register(t, e, 101, chiangRuntime, chiangHyperty, chiangUser, 3600)
	register(t, e, 102, johenRuntime, johenHyperty, johenUser, 3600)
	return e
}

// node is what every message shares: the node's configuration and clock.
var node = map[string]any{
	"time": "10:30:15", "date": "2026-11-24", "weekday": "Tuesday",
	"domain": "hjiang-rethink.com", "domainRegistry": registry, "port": "9090", "useSSL": true,
}

func TestAttributesOfSpecMessages(t *testing.T) {
	chiangEntry := map[string]any{
		"userID": chiangUser, "hypertyID": chiangHyperty, "runtime": chiangRuntime, "descriptor": connector,
		"resources": []any{"audio", "video"}, "dataSchemes": []any{"connection"}, "status": "live", "expires": 3600,
	}
	tests := []struct {
		name string
		dir  Direction
		msg  string
		want map[string]any // every attribute not listed is missing
	}{
		{
			name: "address allocation request (PCP1)",
			msg: `{"id": 1, "type": "create",
			  "from": "` + chiangRuntime + `/address-allocation",
			  "to": "domain://msg-node.hjiang-rethink.com/address-allocation",
			  "body": {"value": {"number": 1}, "auth": false}}`,
			want: map[string]any{
				"msgType": "addressAllocation", "actType": "create", "msgId": 1,
				"msgFrom": chiangRuntime + "/address-allocation", "msgTo": "domain://msg-node.hjiang-rethink.com/address-allocation",
				"msgDirection": "ingress", "srcScheme": "runtime", "dstScheme": "domain",
				"srcSPDomain": "hjiang-rethink.com", "dstSPDomain": "msg-node.hjiang-rethink.com",
				"srcRuntime": chiangRuntime, "srcUsername": "chiang.zju@gmail.com",
				"auth": false, "valueNumber": 1, "bodyValue": map[string]any{"number": 1},
				"addrAllastMin": 1, "isInterDomain": false,
			},
		},
		{
			name: "hyperty registration (PCP2)",
			msg: `{"id": 5, "type": "create", "from": "` + chiangRuntime + `/registry/", "to": "` + registry + `",
			  "body": {"value": {"user": "` + chiangUser + `", "descriptor": "` + connector + `",
			    "url": "` + chiangHyperty + `", "expires": 3600, "resources": ["audio", "video"],
			    "dataSchemes": ["connection"], "runtime": "` + chiangRuntime + `", "status": "live"},
			    "policy": "policy", "auth": false}}`,
			want: map[string]any{
				"msgType": "registration", "actType": "create", "msgId": 5,
				"msgFrom": chiangRuntime + "/registry/", "msgTo": registry, "msgDirection": "ingress",
				"srcScheme": "runtime", "dstScheme": "domain",
				"srcSPDomain": "hjiang-rethink.com", "dstSPDomain": "registry.hjiang-rethink.com",
				"srcRuntime": chiangRuntime, "srcUsername": "chiang.zju@gmail.com", "auth": false,
				"valueResources": []any{"audio", "video"}, "valueExpires": 3600, "valueDescriptor": connector,
				"valueUser": chiangUser,
				"bodyValue": map[string]any{"user": chiangUser, "descriptor": connector, "url": chiangHyperty,
					"expires": 3600, "resources": []any{"audio", "video"}, "dataSchemes": []any{"connection"},
					"runtime": chiangRuntime, "status": "live"},
				"userRegistries": []any{chiangEntry},
				"addrAllastMin":  0, "isInterDomain": false,
			},
		},
		{
			name: "discovery read (PCP4)",
			msg: `{"id": 3, "type": "read", "from": "` + johenHyperty + `", "to": "` + registry + `",
			  "body": {"resource": "` + chiangUser + `", "criteria": {"resources": ["audio"], "dataSchemes": ["connection"]}}}`,
			want: map[string]any{
				"msgType": "registration", "actType": "read", "msgId": 3,
				"msgFrom": johenHyperty, "msgTo": registry, "msgDirection": "ingress",
				"srcScheme": "hyperty", "dstScheme": "domain",
				"srcSPDomain": "hjiang-rethink.com", "dstSPDomain": "registry.hjiang-rethink.com",
				"srcHyperty": johenHyperty, "srcRuntime": johenRuntime, "srcUsername": "he.johen@gmail.com",
				"resource": chiangUser, "addrAllastMin": 0, "isInterDomain": false,
			},
		},
		{
			name: "registry search reply (PCP5)",
			dir:  Egress,
			msg: `{"id": 3, "type": "response", "from": "` + registry + `", "to": "` + johenHyperty + `",
			  "body": {"code": 200, "value": {"` + chiangHyperty + `": {
			    "resources": ["audio", "video"], "dataSchemes": ["connection"], "descriptor": "` + connector + `",
			    "hypertyID": "` + chiangHyperty + `", "userID": "` + chiangUser + `", "status": "live",
			    "expires": 3600, "runtime": "` + chiangRuntime + `"}}}}`,
			want: map[string]any{
				"msgType": "registration", "actType": "response", "msgId": 3,
				"msgFrom": registry, "msgTo": johenHyperty, "msgDirection": "egress",
				"srcScheme": "domain", "dstScheme": "hyperty",
				"srcSPDomain": "registry.hjiang-rethink.com", "dstSPDomain": "hjiang-rethink.com",
				"dstHyperty": johenHyperty, "dstRuntime": johenRuntime, "dstUsername": "he.johen@gmail.com",
				"valueUser": chiangUser, "bodyValue": map[string]any{chiangHyperty: chiangEntry},
				"addrAllastMin": 0, "isInterDomain": false,
			},
		},
		{
			name: "subscription to a data object (PCP13)",
			msg: `{"id": 20, "type": "subscribe", "from": "` + chiangRuntime + `/sm",
			  "to": "connection://hjiang-rethink.com/e8fef4d4-88c7-4c59-b01a-8322356ae8e9/subscription",
			  "body": {"subscriber": "` + chiangHyperty + `", "mutualAuthentication": true,
			    "identity": {"userProfile": {"username": "chiang.zju@gmail.com"}, "idp": "google.com"}}}`,
			want: map[string]any{
				"msgType": "subscription", "actType": "subscribe", "msgId": 20,
				"msgFrom": chiangRuntime + "/sm", "msgTo": "connection://hjiang-rethink.com/e8fef4d4-88c7-4c59-b01a-8322356ae8e9/subscription",
				"msgDirection": "ingress", "srcScheme": "runtime", "dstScheme": "connection",
				"srcSPDomain": "hjiang-rethink.com", "dstSPDomain": "hjiang-rethink.com",
				"srcRuntime": chiangRuntime, "srcUsername": "chiang.zju@gmail.com",
				"srcIDP": "google.com", "srcIDPDomain": "gmail.com", "addrAllastMin": 0, "isInterDomain": false,
			},
		},
		{
			name: "data-object status update (PCP24)",
			msg: `{"id": 32, "type": "update",
			  "from": "connection://hjiang-rethink.com/e8fef4d4-88c7-4c59-b01a-8322356ae8e9",
			  "to": "connection://hjiang-rethink.com/e8fef4d4-88c7-4c59-b01a-8322356ae8e9/changes",
			  "body": {"version": 26, "source": "` + johenHyperty + `", "attribute": "status", "value": "checking",
			    "identity": {"userProfile": {"username": "he.johen@gmail.com"}, "idp": "google.com", "assertion": "x"},
			    "auth": true}}`,
			want: map[string]any{
				"actType": "update", "msgId": 32,
				"msgFrom":      "connection://hjiang-rethink.com/e8fef4d4-88c7-4c59-b01a-8322356ae8e9",
				"msgTo":        "connection://hjiang-rethink.com/e8fef4d4-88c7-4c59-b01a-8322356ae8e9/changes",
				"msgDirection": "ingress", "srcScheme": "connection", "dstScheme": "connection",
				"srcSPDomain": "hjiang-rethink.com", "dstSPDomain": "hjiang-rethink.com",
				"srcUsername": "he.johen@gmail.com", "srcIDP": "google.com", "srcIDPDomain": "gmail.com",
				"auth": true, "bodyValue": "checking",
				"addrAllastMin": 0, "isInterDomain": false,
			},
		},
		{
			name: "message from another domain's hyperty, no body",
			msg:  `{"id": 0, "type": "create", "from": "hyperty://other.org/1234/extra", "to": "` + chiangHyperty + `"}`,
			want: map[string]any{
				"actType": "create", "msgId": 0, "msgFrom": "hyperty://other.org/1234/extra", "msgTo": chiangHyperty,
				"msgDirection": "ingress", "srcScheme": "hyperty", "dstScheme": "hyperty",
				"srcSPDomain": "other.org", "dstSPDomain": "hjiang-rethink.com",
				"srcHyperty": "hyperty://other.org/1234", "dstHyperty": chiangHyperty,
				"dstRuntime": chiangRuntime, "dstUsername": "chiang.zju@gmail.com",
				"addrAllastMin": 0, "isInterDomain": true,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := attributeEnforcer(t)
			m := msg(t, tt.msg)
			a := new(attributes)
			a.reset(e, context.Background(), m, tt.dir, nil)
			a.record()
			for _, name := range attributeNames {
				got, err := a.Attribute(name)
				if err != nil {
					t.Errorf("%s: error %v", name, err)
					continue
				}
				want, ok := tt.want[name]
				if !ok {
					want = node[name]
				}
				if jsonText(got) != jsonText(want) {
					t.Errorf("%s = %s, want %s", name, jsonText(got), jsonText(want))
				}
			}
			for name := range tt.want {
				if !IsAttribute(name) {
					t.Errorf("the test names %q, which is not an attribute", name)
				}
			}
		})
	}
}

func TestAttributeOverrides(t *testing.T) {
	e := attributeEnforcer(t)
	m := msg(t, `{"id": 1, "type": "update", "from": "hyperty://hjiang-rethink.com/x", "to": "hyperty://hjiang-rethink.com/y"}`)
	a := new(attributes)
	a.reset(e, context.Background(), m, Ingress, map[string]any{"srcUsername": "alice@example.com", "weekday": "Sunday"})
	for name, want := range map[string]any{"srcUsername": "alice@example.com", "weekday": "Sunday", "actType": "update"} {
		if got, _ := a.Attribute(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct{ from, to, want string }{
		{"runtime://d/u/registry/", "domain://registry.d/", "registration"},
		{"domain://registry.d/", "hyperty://d/h", "registration"},
		{"runtime://d/u/address-allocation", "domain://msg-node.d/address-allocation", "addressAllocation"},
		{"runtime://d/u/address-allocation", "domain://msg-node.d/object-address-allocation", ""},
		{"runtime://d/u/sm", "domain://msg-node.d/object-address-allocation", "dataSync"},
		{"hyperty://d/h", "domain://msg-node.d/discovery/", "discovery"},
		{"runtime://d/u/graph-connector", "global://registry", "globalRegistry"},
		{"runtime://d/u/idm", "domain-idp://google.com", "identityManagement"},
		{"connection://d/o/subscription", "hyperty://d/h", "subscription"},
		{"runtime://d/u/sm", "connection://d/o/subscription", "subscription"},
		{"runtime://d/u/sm", "domain://msg-node.d/sm", "dataSync"},
		{"runtime://d/u/ua", "runtime://d/v/ua", "p2pConnection"},
		{"connection://d/o", "connection://d/o/changes", ""},
		{"hyperty://d/a", "hyperty://d/b", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := classify(tt.from, tt.to); got != tt.want {
			t.Errorf("classify(%q, %q) = %q, want %q", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestAddressParts(t *testing.T) {
	tests := []struct{ url, scheme, host, base string }{
		{"runtime://d.com/uuid/registry/", "runtime", "d.com", "runtime://d.com/uuid"},
		{"runtime://d.com/uuid", "runtime", "d.com", "runtime://d.com/uuid"},
		{"domain://msg-node.d.com/address-allocation", "domain", "msg-node.d.com", "domain://msg-node.d.com/address-allocation"},
		{"domain://registry.d.com/", "domain", "registry.d.com", "domain://registry.d.com/"},
		{"global://registry", "global", "registry", "global://registry"},
		{"PolicyEngine", "", "", "PolicyEngine"},
		{"://x/y", "", "x", "://x/y"},
	}
	for _, tt := range tests {
		if got := scheme(tt.url); got != tt.scheme {
			t.Errorf("scheme(%q) = %q, want %q", tt.url, got, tt.scheme)
		}
		if got := host(tt.url); got != tt.host {
			t.Errorf("host(%q) = %q, want %q", tt.url, got, tt.host)
		}
		if got := base(tt.url); got != tt.base {
			t.Errorf("base(%q) = %q, want %q", tt.url, got, tt.base)
		}
	}
	for in, want := range map[string]string{
		"user://gmail.com/chiang.zju": "chiang.zju@gmail.com",
		"user://gmail.com/":           "",
		"user://gmail.com":            "",
		"chiang":                      "",
	} {
		got, _ := userEmail(in)
		if got != want {
			t.Errorf("userEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInterDomain(t *testing.T) {
	e, err := New(compile(t, permitAll), Config{Domain: "d.com"})
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]bool{
		"": false, "d.com": false, "msg-node.d.com": false, "registry.d.com": false,
		"evild.com": true, "other.org": true, "d.com.evil.org": true,
	} {
		if got := e.foreign(h); got != want {
			t.Errorf("foreign(%q) = %v, want %v", h, got, want)
		}
	}
}
