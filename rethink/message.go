package rethink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Message is one reTHINK message as a messaging node routes it: a decoded
// JSON object with the header fields id, type, from and to and an optional
// body. The enforcer reads it in place and, when it forwards the message,
// changes it in place (obligations, body.auth).
type Message map[string]any

// Direction says which way a message crosses the messaging node.
type Direction uint8

// The two directions a messaging node checks messages in.
const (
	// Ingress is a message a client (a runtime, a hyperty, a protocol stub
	// of another domain) sent to the node.
	Ingress Direction = iota
	// Egress is a message the node is about to deliver that was made by one
	// of its own components or relayed from the Domain Registry.
	Egress
)

// String returns ingress or egress.
func (d Direction) String() string {
	if d == Egress {
		return "egress"
	}
	return "ingress"
}

// ParseDirection reads "ingress" or "egress"; the empty string means ingress.
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "ingress", "":
		return Ingress, nil
	case "egress":
		return Egress, nil
	}
	return Ingress, fmt.Errorf("direction %q is neither ingress nor egress", s)
}

// ErrNotObject is returned by ParseMessage for JSON that is not an object.
var ErrNotObject = errors.New("a message must be a JSON object")

// ParseMessage decodes one message from JSON. It only checks that data is
// one JSON object; the header fields are checked by Validate, so that a
// message with a bad header can still be answered.
func ParseMessage(data []byte) (Message, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("the message is empty")
	}
	if data[0] != '{' {
		return nil, ErrNotObject
	}
	v, err := decodeJSON(data)
	if err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	return Message(v.(map[string]any)), nil
}

// Validate checks the header of m as a messaging node does before any
// policy: id, type, from and to must be present and not null or empty; id
// is a number (0 is valid) or a string, type, from and to are strings, and
// body, when present, is an object. It returns a description of the first
// problem, or nil.
func (m Message) Validate() error {
	if m == nil {
		return errors.New("the message is null")
	}
	switch id := m["id"].(type) {
	case nil:
		return errors.New(`the message has no "id"`)
	case float64, int, int64, json.Number:
	case string:
		if id == "" {
			return errors.New(`the message's "id" is empty`)
		}
	default:
		return fmt.Errorf(`the message's "id" must be a number, not %s`, kindOf(id))
	}
	for _, f := range [...]string{"type", "from", "to"} {
		v, ok := m[f]
		if !ok || v == nil {
			return fmt.Errorf("the message has no %q", f)
		}
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("the message's %q must be a string, not %s", f, kindOf(v))
		}
		if s == "" {
			return fmt.Errorf("the message's %q is empty", f)
		}
	}
	if b, ok := m["body"]; ok && b != nil {
		if _, ok := b.(map[string]any); !ok {
			return fmt.Errorf(`the message's "body" must be an object, not %s`, kindOf(b))
		}
	}
	return nil
}

// kindOf names the JSON kind of a decoded value, for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, int, int64, json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// The parts of a reTHINK address, e.g. runtime://example.com/uuid/registry/.

// scheme returns the part of u before "://", or "" when it has none.
func scheme(u string) string {
	if i := strings.Index(u, "://"); i > 0 {
		return u[:i]
	}
	return ""
}

// host returns everything between "://" and the next "/". For
// domain://msg-node.example.com/x it is msg-node.example.com: the
// original engine keeps that prefix, and documents rely on it.
func host(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return ""
	}
	rest := u[i+3:]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// base returns scheme://host/first-segment: the hyperty or runtime an
// address belongs to. runtime://d/uuid/registry/ gives runtime://d/uuid.
func base(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	rest := u[i+3:]
	j := strings.IndexByte(rest, '/')
	if j < 0 {
		return u
	}
	seg := rest[j+1:]
	if k := strings.IndexByte(seg, '/'); k >= 0 {
		return u[:i+3+j+1+k]
	}
	return u
}

// userEmail turns a user URL into the e-mail form the vocabulary compares:
// user://gmail.com/chiang.zju becomes chiang.zju@gmail.com.
func userEmail(u string) (string, bool) {
	i := strings.Index(u, "://")
	if i < 0 {
		return "", false
	}
	rest := u[i+3:]
	domain, name, ok := strings.Cut(rest, "/")
	if !ok || domain == "" || name == "" {
		return "", false
	}
	name = strings.TrimSuffix(name, "/")
	return name + "@" + domain, true
}

// Message types the msgType attribute classifies.
const (
	typeRegistration       = "registration"
	typeAddressAllocation  = "addressAllocation"
	typeDiscovery          = "discovery"
	typeGlobalRegistry     = "globalRegistry"
	typeIdentityManagement = "identityManagement"
	typeSubscription       = "subscription"
	typeDataSync           = "dataSync"
	typeP2PConnection      = "p2pConnection"
)

// classify computes msgType from the header URLs, first match wins, in the
// documented order. It returns "" when no class fits.
func classify(from, to string) string {
	switch {
	case strings.HasPrefix(from, "domain://registry.") || strings.HasPrefix(to, "domain://registry."):
		return typeRegistration
	case strings.HasSuffix(from, "/address-allocation") && strings.HasSuffix(to, "/address-allocation"):
		return typeAddressAllocation
	case endsWith(from, to, "/discovery/"):
		return typeDiscovery
	case endsWith(from, to, "/graph-connector"):
		return typeGlobalRegistry
	case endsWith(from, to, "/idm"):
		return typeIdentityManagement
	case endsWith(from, to, "/subscription"):
		return typeSubscription
	case endsWith(from, to, "/sm"):
		return typeDataSync
	case endsWith(from, to, "/ua"):
		return typeP2PConnection
	}
	return ""
}

func endsWith(a, b, suffix string) bool {
	return strings.HasSuffix(a, suffix) || strings.HasSuffix(b, suffix)
}
