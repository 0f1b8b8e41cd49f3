package rethink

import (
	"context"
	"strings"
	"time"
)

// attributes is the pdl.Attributes of one message. Every attribute is
// computed when a policy first asks for it; pdl remembers the answer for
// the rest of the decision. Look-ups of the registry cache are remembered
// here too, since several attributes read the same entries.
type attributes struct {
	e    *Enforcer
	ctx  context.Context
	msg  Message
	body map[string]any
	val  map[string]any // body.value when it is an object
	from string
	to   string
	dir  Direction
	over map[string]any // attribute values supplied by the caller

	now    time.Time
	hasNow bool

	alloc    int64 // addrAllastMin counted when the message was recorded
	allocErr error
	hasAlloc bool

	srcLooked, dstLooked bool
	src, dst             []*decodedEntry
	srcErr, dstErr       error
	// Room for the registry entries of a few look-ups, so that the usual
	// handful needs no allocation.
	srcBuf, dstBuf, userBuf [4]*decodedEntry
}

// reset points a at a new message.
func (a *attributes) reset(e *Enforcer, ctx context.Context, msg Message, dir Direction, over map[string]any) {
	*a = attributes{e: e, ctx: ctx, msg: msg, dir: dir, over: over}
	a.from, _ = msg["from"].(string)
	a.to, _ = msg["to"].(string)
	a.body, _ = msg["body"].(map[string]any)
	if a.body != nil {
		a.val, _ = a.body["value"].(map[string]any)
	}
}

// Values the attributes return that never change, boxed once.
var (
	ingressValue any = "ingress"
	egressValue  any = "egress"
	trueValue    any = true
	falseValue   any = false
)

func boolValue(b bool) any {
	if b {
		return trueValue
	}
	return falseValue
}

// str boxes a computed string; "" is missing.
func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// boxedWords are the values of msgType and of the schemes of the
// vocabulary's addresses, boxed once so that returning them allocates
// nothing.
var boxedWords = func() map[string]any {
	m := map[string]any{}
	for _, w := range [...]string{typeRegistration, typeAddressAllocation, typeDiscovery, typeGlobalRegistry,
		typeIdentityManagement, typeSubscription, typeDataSync, typeP2PConnection,
		"runtime", "hyperty", "hyperty-runtime", "domain", "domain-idp", "user", "connection", "comm", "ctxt",
		"hyperty-catalogue", "global", "context"} {
		m[w] = w
	}
	return m
}()

// word is str for values that are mostly among boxedWords.
func word(s string) any {
	if v, ok := boxedWords[s]; ok {
		return v
	}
	return str(s)
}

// domainOf is str(h) for the host of an address, without allocating when
// it is the node's own domain.
func (a *attributes) domainOf(h string) any {
	if h == a.e.domainName {
		return a.e.domain
	}
	return str(h)
}

// Attribute implements pdl.Attributes over the message.
func (a *attributes) Attribute(name string) (any, error) {
	if a.over != nil {
		if v, ok := a.over[name]; ok {
			return v, nil
		}
	}
	switch name {
	case "msgType":
		return word(classify(a.from, a.to)), nil
	case "actType":
		return a.msg["type"], nil
	case "msgId":
		return a.msg["id"], nil
	case "msgFrom":
		return a.msg["from"], nil
	case "msgTo":
		return a.msg["to"], nil
	case "msgDirection":
		if a.dir == Egress {
			return egressValue, nil
		}
		return ingressValue, nil
	case "srcScheme":
		return word(scheme(a.from)), nil
	case "dstScheme":
		return word(scheme(a.to)), nil
	case "srcSPDomain":
		return a.domainOf(host(a.from)), nil
	case "dstSPDomain":
		return a.domainOf(host(a.to)), nil
	case "srcHyperty":
		return hyperty(a.from), nil
	case "dstHyperty":
		return hyperty(a.to), nil
	case "srcRuntime":
		return a.runtime(a.from, true)
	case "dstRuntime":
		return a.runtime(a.to, false)
	case "srcUsername":
		if u, ok := a.identityUsername(); ok {
			return u, nil
		}
		return a.username(a.from, true)
	case "dstUsername":
		return a.username(a.to, false)
	case "srcIDP":
		return a.identity()["idp"], nil
	case "srcIDPDomain":
		if u, ok := a.identityUsername(); ok {
			if _, d, ok := strings.Cut(u, "@"); ok && d != "" {
				return d, nil
			}
		}
		return nil, nil
	case "resource":
		return a.field(a.body, "resource"), nil
	case "auth":
		return a.field(a.body, "auth"), nil
	case "bodyValue":
		return a.field(a.body, "value"), nil
	case "valueNumber":
		return a.field(a.val, "number"), nil
	case "valueAllocated":
		return a.field(a.val, "allocated"), nil
	case "valueResources":
		return a.field(a.val, "resources"), nil
	case "valueExpires":
		return a.field(a.val, "expires"), nil
	case "valueDescriptor":
		return a.field(a.val, "descriptor"), nil
	case "valueUser":
		return a.valueUser(), nil
	case "userRegistries":
		return a.userRegistries()
	case "addrAllastMin":
		return a.allocations()
	case "time":
		return a.clock().Format("15:04:05"), nil
	case "date":
		return a.clock().Format("2006-01-02"), nil
	case "weekday":
		return a.clock().Weekday().String(), nil
	case "domain":
		return a.e.domain, nil
	case "domainRegistry":
		return a.e.domainRegistry, nil
	case "port":
		return a.e.port, nil
	case "useSSL":
		return a.e.useSSL, nil
	case "isInterDomain":
		return boolValue(a.e.foreign(host(a.from)) || a.e.foreign(host(a.to))), nil
	}
	return nil, nil
}

func (a *attributes) field(m map[string]any, k string) any {
	if m == nil {
		return nil
	}
	return m[k]
}

func (a *attributes) clock() time.Time {
	if !a.hasNow {
		a.now, a.hasNow = a.e.now(), true
	}
	return a.now
}

// hyperty returns base(u) when u is a hyperty address.
func hyperty(u string) any {
	if scheme(u) != "hyperty" {
		return nil
	}
	return base(u)
}

func (a *attributes) identity() map[string]any {
	id, _ := a.field(a.body, "identity").(map[string]any)
	return id
}

// identityUsername returns body.identity.userProfile.username.
func (a *attributes) identityUsername() (string, bool) {
	p, _ := a.identity()["userProfile"].(map[string]any)
	u, ok := p["username"].(string)
	return u, ok && u != ""
}

// entries returns the registry entries of base(u), looking them up once.
func (a *attributes) entries(u string, src bool) ([]*decodedEntry, error) {
	if src {
		if !a.srcLooked {
			a.src, a.srcErr = a.e.registrations(a.ctx, base(u), a.srcBuf[:0])
			a.srcLooked = true
		}
		return a.src, a.srcErr
	}
	if !a.dstLooked {
		a.dst, a.dstErr = a.e.registrations(a.ctx, base(u), a.dstBuf[:0])
		a.dstLooked = true
	}
	return a.dst, a.dstErr
}

// runtime returns the runtime of u: base(u) for a runtime address, the
// runtime of its first registration for a hyperty.
func (a *attributes) runtime(u string, src bool) (any, error) {
	switch scheme(u) {
	case "runtime", "hyperty-runtime":
		return base(u), nil
	case "hyperty":
		es, err := a.entries(u, src)
		if err != nil {
			return nil, err
		}
		h := base(u)
		for _, e := range es {
			if e.HypertyID == h && e.Runtime != "" {
				return e.Runtime, nil
			}
		}
	}
	return nil, nil
}

// username returns, for a hyperty or runtime address, the user of its
// first registration as an e-mail address.
func (a *attributes) username(u string, src bool) (any, error) {
	switch scheme(u) {
	case "hyperty", "runtime", "hyperty-runtime":
	default:
		return nil, nil
	}
	es, err := a.entries(u, src)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if e.UserID == "" {
			continue
		}
		if mail, ok := userEmail(e.UserID); ok {
			return mail, nil
		}
	}
	return nil, nil
}

// valueUser returns value.user or, for a registry search reply (a map of
// hyperty address to entry), the userID of the entry with the smallest
// address that has one.
func (a *attributes) valueUser() any {
	if a.val == nil {
		return nil
	}
	if u, ok := a.val["user"]; ok && u != nil {
		return u
	}
	var key string
	var user any
	for k, v := range a.val {
		e, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if id, ok := e["userID"]; ok && id != nil && (user == nil || k < key) {
			key, user = k, id
		}
	}
	return user
}

// userRegistries lists the live registrations of value.user.
func (a *attributes) userRegistries() (any, error) {
	user, ok := a.field(a.val, "user").(string)
	if !ok || user == "" {
		return nil, nil
	}
	es, err := a.e.registrations(a.ctx, user, a.userBuf[:0])
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(es))
	for _, e := range es {
		if e.UserID == user {
			out = append(out, e.value)
		}
	}
	return out, nil
}

// allocationKey names the address-allocation count of the message's
// runtime: srcRuntime, or base(from) when that is unknown.
func (a *attributes) allocationKey() (string, error) {
	r, err := a.runtime(a.from, true)
	if err != nil {
		return "", err
	}
	if s, ok := r.(string); ok {
		return allocationPrefix + s, nil
	}
	return allocationPrefix + base(a.from), nil
}

// allocations returns addrAllastMin: the count recorded with this message
// when it is an allocation request, or else the count so far.
func (a *attributes) allocations() (any, error) {
	if !a.hasAlloc {
		key, err := a.allocationKey()
		if err == nil {
			a.alloc, err = a.e.state.CountEvents(a.ctx, key, allocationWindow)
		}
		a.allocErr, a.hasAlloc = err, true
	}
	if a.allocErr != nil {
		return nil, a.allocErr
	}
	return float64(a.alloc), nil
}

// record counts an address-allocation request before the decision, so
// that addrAllastMin includes it whether or not a policy reads it.
func (a *attributes) record() {
	if a.dir != Ingress || classify(a.from, a.to) != typeAddressAllocation || a.msg["type"] != "create" {
		return
	}
	key, err := a.allocationKey()
	if err == nil {
		a.alloc, err = a.e.state.AddEvent(a.ctx, key, allocationWindow)
	}
	a.allocErr, a.hasAlloc = err, true
}
