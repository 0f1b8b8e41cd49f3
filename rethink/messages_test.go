package rethink

import (
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/config"
)

func TestMessagesSection(t *testing.T) {
	c, err := config.Parse("v.yaml", []byte(`
messages:
  policy: mn
  defaultBehavior: true
  domain: hjiang-rethink.com
  domainRegistry: domain://registry.hjiang-rethink.com/
  port: 8443
  useSSL: true
  compatibleReply: true
  strictObligations: true
  limits: {batch: 50}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Messages{Policy: "mn", DefaultBehavior: true, Domain: "hjiang-rethink.com",
		DomainRegistry: "domain://registry.hjiang-rethink.com/", Port: "8443", UseSSL: true,
		CompatibleReply: true, StrictObligations: true, MaxBatch: 50, Line: 3, Column: 3}
	if MessagesOf(c) == nil || *MessagesOf(c) != want {
		t.Errorf("got %+v\nwant %+v", MessagesOf(c), want)
	}

	c, err = config.Parse("v.yaml", []byte("messages: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if MessagesOf(c) == nil || MessagesOf(c).Policy != DefaultMessagesPolicy || MessagesOf(c).DefaultBehavior {
		t.Errorf("defaults: %+v", MessagesOf(c))
	}
	if c, _ := config.Parse("v.yaml", []byte("listen: {policy: \"127.0.0.1:3000\"}\n")); MessagesOf(c) != nil {
		t.Errorf("no section: %+v", MessagesOf(c))
	}
	if c, _ := config.Parse("v.yaml", []byte("messages: {port: \"9090\"}\n")); MessagesOf(c).Port != "9090" {
		t.Errorf("port as a string: %+v", MessagesOf(c))
	}
}

func TestMessagesSectionProblems(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"messages: {policy: 3}\n", "v.yaml:1:20: messages.policy: must be a string, not a number"},
		{"messages: {policy: \"a b\"}\n", `v.yaml:1:20: messages.policy: bad document name "a b"`},
		{"messages: {defaultBehavior: no way}\n", "v.yaml:1:29: messages.defaultBehavior: must be true or false, not a string"},
		{"messages: {useSSL: 1}\n", "v.yaml:1:20: messages.useSSL: must be true or false, not a number"},
		{"messages: {domain: \"x/y\"}\n", `v.yaml:1:20: messages.domain: must be a domain name such as example.com, not "x/y"`},
		{"messages: {port: 70000}\n", `v.yaml:1:18: messages.port: must be a port number from 1 to 65535, not "70000"`},
		{"messages: {port: [1]}\n", "v.yaml:1:18: messages.port: must be a port number from 1 to 65535, not a list"},
		{"messages: {limits: {batch: 0}}\n", "v.yaml:1:28: messages.limits.batch: must be from 1 to 1000000, not 0"},
		{"messages: {limits: {batch: 1.5}}\n", "v.yaml:1:28: messages.limits.batch: must be a whole number of messages, not a number"},
		{"messages: {limits: {size: 1}}\n", "v.yaml:1:21: messages.limits.size: unknown field"},
		{"messages: {colour: red}\n", "v.yaml:1:12: messages.colour: unknown field"},
		{"messages: [1]\n", "v.yaml:1:11: messages: must be a mapping, not a list"},
	}
	for _, tt := range tests {
		_, err := config.Parse("v.yaml", []byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
