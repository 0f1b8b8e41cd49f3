package rethink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/verdict-policy/verdict/internal/jsonenc"
	"github.com/verdict-policy/verdict/pdl"
)

// Config is what an Enforcer knows about the messaging node it serves.
type Config struct {
	// Domain is the node's service-provider domain (the domain attribute);
	// empty means localhost.
	Domain string
	// DomainRegistry is the Domain Registry's address (domainRegistry).
	DomainRegistry string
	// Port is the node's port (the port attribute); empty means 9090.
	Port string
	// UseSSL tells whether the node serves over TLS (useSSL).
	UseSSL bool
	// DefaultBehavior forwards messages no policy applies to when true;
	// false, the default, blocks them.
	DefaultBehavior bool
	// CompatibleReply answers blocked senders in the original node's shape
	// (from "PolicyEngine", code "error", desc) instead of from the node's
	// policy-engine address with code 403 and a description.
	CompatibleReply bool
	// StrictObligations blocks a permitted message whose decision carries
	// an obligation the enforcer does not know; otherwise such obligations
	// are treated as advice.
	StrictObligations bool
	// State holds the registry cache and the allocation counts; nil means
	// a fresh MemoryState of its own.
	State State
	// Now is the clock of the time, date and weekday attributes; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives blocked decisions that failed and state errors; nil
	// discards them.
	Logger *slog.Logger
}

// Enforcer is the policy enforcement point of a messaging node: it checks
// each message against one compiled document, applies the decision's
// obligations to the message, and says whether to forward it or which
// error to answer the sender with. It is safe for concurrent use; to change
// its document or configuration, build a new one.
type Enforcer struct {
	doc   *pdl.Document
	state State
	now   func() time.Time
	log   *slog.Logger

	domainName      string
	domain          any
	domainRegistry  any
	port            any
	useSSL          any
	policyEngine    string
	defaultBehavior bool
	compatible      bool
	strict          bool

	pool    sync.Pool // *attributes
	decoded entryCache
	filters sync.Map // obligation parameters -> *entryFilter
	nfilter atomic.Int32
}

// New returns an Enforcer for doc, a document compiled with Options.
func New(doc *pdl.Document, cfg Config) (*Enforcer, error) {
	if doc == nil {
		return nil, errors.New("rethink: no policy document")
	}
	if cfg.Domain == "" {
		cfg.Domain = "localhost"
	}
	if cfg.Port == "" {
		cfg.Port = "9090"
	}
	if cfg.State == nil {
		cfg.State = NewMemoryState(0, cfg.Now)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Enforcer{
		doc:             doc,
		state:           cfg.State,
		now:             cfg.Now,
		log:             cfg.Logger,
		domainName:      cfg.Domain,
		domain:          cfg.Domain,
		domainRegistry:  str(cfg.DomainRegistry),
		port:            cfg.Port,
		useSSL:          boolValue(cfg.UseSSL),
		policyEngine:    "domain://msg-node." + cfg.Domain + "/policy-engine",
		defaultBehavior: cfg.DefaultBehavior,
		compatible:      cfg.CompatibleReply,
		strict:          cfg.StrictObligations,
	}
	e.pool.New = func() any { return new(attributes) }
	return e, nil
}

// foreign reports whether host h lies outside the node's domain. An
// address without a host (a component name) is the node's own.
func (e *Enforcer) foreign(h string) bool {
	if h == "" || h == e.domainName {
		return false
	}
	return !(strings.HasSuffix(h, e.domainName) && h[len(h)-len(e.domainName)-1] == '.')
}

// Outcome is what the enforcer decided about one message.
type Outcome uint8

// The outcomes of Decide. The zero value is Blocked.
const (
	// Blocked: do not route the message; send Result.Reply to its sender.
	Blocked Outcome = iota
	// Forwarded: route Result.Message.
	Forwarded
)

// Result is the answer for one message.
type Result struct {
	// Decision is the document's decision. It is empty (not applicable,
	// no path) for an invalid message.
	Decision pdl.Decision
	// Invalid is set when the message was refused before any policy: it
	// says what is wrong with its header.
	Invalid string
	// Forward tells whether to route Message (true) or block it and answer
	// the sender with Reply.
	Forward bool
	// Message is the message to route, with the obligations applied and
	// body.auth set; nil when blocked.
	Message Message
	// Reply is the error response for the sender of a blocked message; nil
	// when forwarded, or when the message names no sender to answer.
	Reply Message
	// Error says why a permitted message was blocked anyway (an obligation
	// that cannot be applied) or why the decision is indeterminate.
	Error string

	reply replyTo // what Reply is made from
}

// Decide checks msg travelling in direction dir and returns what to do with
// it. A forwarded message is msg itself, changed in place: obligations
// applied and body.auth set. A blocked message is left unchanged.
func (e *Enforcer) Decide(ctx context.Context, msg Message, dir Direction) Result {
	return e.DecideWith(ctx, msg, dir, nil)
}

// DecideWith is Decide with some attribute values given by the caller
// rather than computed from the message: a node that knows more (say, the
// authenticated user), or a what-if query. Names outside the vocabulary
// are never read.
func (e *Enforcer) DecideWith(ctx context.Context, msg Message, dir Direction, attrs map[string]any) Result {
	r := e.decide(ctx, msg, dir, attrs)
	r.Reply = e.replyMessage(r.reply)
	return r
}

// decide is DecideWith leaving Reply to be made from r.reply: the HTTP
// handler writes the reply's JSON from its parts.
func (e *Enforcer) decide(ctx context.Context, msg Message, dir Direction, attrs map[string]any) Result {
	if err := msg.Validate(); err != nil {
		return Result{Invalid: err.Error(), reply: e.reply(msg, 400, err.Error())}
	}
	a := e.pool.Get().(*attributes)
	a.reset(e, ctx, msg, dir, attrs)
	a.record()
	d := e.doc.Decide(a)
	r := e.enforce(a, d)
	*a = attributes{}
	e.pool.Put(a)
	return r
}

// Explain is DecideWith with the decision's trace filled in.
func (e *Enforcer) Explain(ctx context.Context, msg Message, dir Direction, attrs map[string]any) Result {
	if err := msg.Validate(); err != nil {
		return Result{Invalid: err.Error(), Reply: e.replyMessage(e.reply(msg, 400, err.Error()))}
	}
	a := new(attributes)
	a.reset(e, ctx, msg, dir, attrs)
	a.record()
	r := e.enforce(a, e.doc.Explain(a))
	r.Reply = e.replyMessage(r.reply)
	return r
}

// enforce turns decision d about a's message into a Result.
func (e *Enforcer) enforce(a *attributes, d pdl.Decision) Result {
	r := Result{Decision: d}
	switch d.Effect {
	case pdl.Permit:
		if err := e.apply(a, d.Obligations); err != nil {
			r.Error = err.Error()
			r.reply = e.reply(a.msg, 403, "the message was permitted, but an obligation could not be applied")
			e.log.Warn("rethink: blocked a permitted message", "path", d.Path, "error", err)
			return r
		}
		e.forward(a, &r, true)
	case pdl.Deny:
		r.reply = e.reply(a.msg, 403, "["+d.Path+"] determined to deny."+info(d.Advice))
	case pdl.NotApplicable:
		if e.defaultBehavior {
			e.forward(a, &r, false)
			return r
		}
		r.reply = e.reply(a.msg, 403, "no policy applies to the message and the node blocks it by default."+info(d.Advice))
	default:
		r.Error = d.Error
		r.reply = e.reply(a.msg, 403, "the policy could not be evaluated, so the message is blocked.")
		e.log.Warn("rethink: indeterminate decision", "path", d.Path, "error", d.Error, "from", a.from, "to", a.to)
	}
	return r
}

// forward sets body.auth, learns from the message and fills r.
func (e *Enforcer) forward(a *attributes, r *Result, auth bool) {
	if a.body == nil {
		a.body = map[string]any{}
		a.msg["body"] = a.body
	}
	a.body["auth"] = boolValue(auth)
	r.Forward, r.Message = true, a.msg
	if err := e.learn(a); err != nil {
		e.log.Warn("rethink: updating the registry cache", "error", err, "from", a.from, "to", a.to)
	}
}

// info joins the texts of the info advice, each after a space.
func info(advice []pdl.Obligation) string {
	var b strings.Builder
	for _, o := range advice {
		if o.Name != "info" {
			continue
		}
		if s, ok := o.Params.(string); ok && s != "" {
			b.WriteByte(' ')
			b.WriteString(s)
		}
	}
	return b.String()
}

// replyTo is the error response to the sender of a blocked message, as
// its parts; ok is false when the message names no sender to answer.
type replyTo struct {
	ok     bool
	id     any
	to     string
	code   int
	reason string
}

// reply returns the parts of the error response to the sender of msg.
func (e *Enforcer) reply(msg Message, code int, reason string) replyTo {
	from, _ := msg["from"].(string)
	if from == "" {
		return replyTo{}
	}
	return replyTo{ok: true, id: msg["id"], to: from, code: code, reason: reason}
}

// replyMessage builds the error response from its parts, or nil.
func (e *Enforcer) replyMessage(p replyTo) Message {
	if !p.ok {
		return nil
	}
	if e.compatible {
		return Message{"id": p.id, "type": "response", "from": "PolicyEngine", "to": p.to,
			"body": map[string]any{"code": "error", "desc": p.reason}}
	}
	return Message{"id": p.id, "type": "response", "from": e.policyEngine, "to": p.to,
		"body": map[string]any{"code": p.code, "description": p.reason}}
}

// appendReply appends the JSON of the error response with parts p, as
// appendMessage would append replyMessage(p): keys in sorted order.
func (e *Enforcer) appendReply(b []byte, p replyTo) ([]byte, error) {
	if !p.ok {
		return append(b, "null"...), nil
	}
	from := e.policyEngine
	if e.compatible {
		from = "PolicyEngine"
		b = append(b, `{"body":{"code":"error","desc":`...)
	} else {
		b = append(b, `{"body":{"code":`...)
		b = strconv.AppendInt(b, int64(p.code), 10)
		b = append(b, `,"description":`...)
	}
	b = jsonenc.AppendString(b, p.reason)
	b = append(b, `},"from":`...)
	b = jsonenc.AppendString(b, from)
	b = append(b, `,"id":`...)
	b, err := jsonenc.AppendValue(b, p.id)
	if err != nil {
		return b, err
	}
	b = append(b, `,"to":`...)
	b = jsonenc.AppendString(b, p.to)
	return append(b, `,"type":"response"}`...), nil
}

// learn feeds the registry cache from a message being forwarded: a
// registration request is remembered until the Domain Registry answers it,
// and a successful answer stores the registration for its expiry.
func (e *Enforcer) learn(a *attributes) error {
	if !strings.HasPrefix(a.from, "domain://registry.") && !strings.HasPrefix(a.to, "domain://registry.") {
		return nil
	}
	typ, _ := a.msg["type"].(string)
	switch {
	case typ == "create" && strings.HasPrefix(a.to, "domain://registry."):
		if entry, ok := entryFrom(a.val); ok {
			return e.remember(a, entry)
		}
	case typ == "update" && strings.HasPrefix(a.to, "domain://registry."):
		res, _ := a.field(a.body, "resource").(string)
		if scheme(res) == "hyperty" && a.val != nil && a.val["user"] != nil {
			entry, _ := entryFrom(a.val)
			entry.HypertyID = res
			return e.remember(a, entry)
		}
	case typ == "response" && strings.HasPrefix(a.from, "domain://registry."):
		if !isOK(a.field(a.body, "code")) {
			return nil
		}
		key := pendingKey(a.to, a.msg["id"])
		data, ok, err := e.state.TableGet(a.ctx, pendingTable, key)
		if err != nil {
			return fmt.Errorf("pending registrations: %w", err)
		}
		if !ok {
			return nil
		}
		if err := e.state.TableDelete(a.ctx, pendingTable, key); err != nil {
			return fmt.Errorf("pending registrations: %w", err)
		}
		var entry RegistryEntry
		if err := json.Unmarshal(data, &entry); err != nil {
			return fmt.Errorf("pending registration %s: %w", key, err)
		}
		return putRegistration(a.ctx, e.state, entry)
	}
	return nil
}

// pendingTTL is how long a registration waits for the registry's answer.
const pendingTTL = time.Minute

func (e *Enforcer) remember(a *attributes, entry RegistryEntry) error {
	buf := entryBuffers.Get().(*[]byte)
	data := entry.encode((*buf)[:0])
	err := e.state.TablePut(a.ctx, pendingTable, pendingKey(a.from, a.msg["id"]), data, pendingTTL)
	if cap(data) <= maxPooledEntry {
		*buf = data
		entryBuffers.Put(buf)
	}
	if err != nil {
		return fmt.Errorf("pending registrations: %w", err)
	}
	return nil
}

// entryBuffers hold encoded registry entries on their way to the state,
// which copies them.
var entryBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooledEntry keeps an unusually big entry's buffer out of the pool.
const maxPooledEntry = 4 << 10

// isOK reports whether a response code means success (2xx).
func isOK(code any) bool {
	switch c := code.(type) {
	case float64:
		return c >= 200 && c < 300
	case int:
		return c >= 200 && c < 300
	case string:
		return len(c) == 3 && c[0] == '2'
	}
	return false
}
