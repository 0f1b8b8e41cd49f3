// Package liquidcontextdebug is the builtin chain policy
// "liquid_context_debug" (APIcast's Liquid Context Debug): in the content
// phase it answers the request with the variables a Liquid template of
// another policy would see at that point, as a JSON object, so that a
// configuration's templates can be written against what is really there.
// What the variables are is liquidctx's business; this package only
// gathers and prints them.
package liquidcontextdebug

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/liquidctx"
)

// Name is the policy's name in a chain entry.
const Name = "liquid_context_debug"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Simple(Name, manifestJSON, New)
}

// requestVariables are the variables liquidctx computes from the request.
var requestVariables = []string{
	"uri", "path", "host", "scheme", "http_method", "query", "remote_addr", "remote_port",
	"server_addr", "server_port", "headers", "request_id", "original_request", "service",
}

// Policy prints the Liquid context. It holds nothing and is safe for
// concurrent use.
type Policy struct{}

var _ chain.ContentProducer = (*Policy)(nil)

// New builds the policy; its configuration has no fields.
func New(raw json.RawMessage) (*Policy, error) {
	var cfg struct{}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return &Policy{}, nil
}

// Content answers with the context as JSON.
func (p *Policy) Content(c *chain.Context) (bool, error) {
	body, err := Dump(c)
	if err != nil {
		return false, err
	}
	c.Respond(http.StatusOK, http.Header{"Content-Type": {"application/json"}}, body)
	return true, nil
}

// Dump returns the variables Liquid templates see for the request of c,
// as a JSON object with its keys sorted, followed by a newline. A value
// that has no JSON form (a function, a cycle) is shown as its Go type.
func Dump(c *chain.Context) ([]byte, error) {
	out := make(map[string]json.RawMessage, len(requestVariables)+len(c.Values()))
	// Shared values first: liquidctx gives the request variables
	// precedence over a shared value of the same name.
	names := make([]string, 0, len(c.Values()))
	for name := range c.Values() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range append(names, requestVariables...) {
		v, ok := liquidctx.Variable(c, name)
		if !ok {
			continue
		}
		out[name] = encode(v)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("liquid_context_debug: %w", err)
	}
	return append(b, '\n'), nil
}

// encode renders one value as JSON, header sets as objects of strings
// (or lists, for repeated headers).
func encode(v any) json.RawMessage {
	b, err := json.Marshal(plain(v))
	if err != nil {
		b, _ = json.Marshal(fmt.Sprintf("(%T, no JSON form)", v))
	}
	return b
}

// plain turns the values liquidctx hands templates into values
// encoding/json prints as a template sees them.
func plain(v any) any {
	if iv, ok := v.(interface{ Interface() any }); ok {
		v = iv.Interface()
	}
	switch x := v.(type) {
	case map[string][]string:
		return headers(x)
	case http.Header:
		return headers(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	case *chain.Upstream:
		if x == nil || x.URL == nil {
			return nil
		}
		return map[string]any{"url": x.URL.String(), "host": x.Host}
	case *url.URL:
		return x.String()
	}
	return v
}

func headers(h map[string][]string) map[string]any {
	out := make(map[string]any, len(h))
	for k, vs := range h {
		if len(vs) == 1 {
			out[k] = vs[0]
		} else {
			out[k] = vs
		}
	}
	return out
}
