package rethink

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/config"
)

// MessagesKey is the top-level key of the messages section.
const MessagesKey = "messages"

func init() {
	config.RegisterSection(config.SectionInfo{Key: MessagesKey, Decode: decodeMessages})
	config.RegisterVocabulary("rethink", Options)
}

// MessagesOf returns the messages section of cfg, or nil when the file has
// none.
func MessagesOf(cfg *config.Config) *Messages {
	m, _ := config.Section[*Messages](cfg, MessagesKey)
	return m
}

// DefaultMessagesPolicy is the document the message endpoints use when the
// messages section names none.
const DefaultMessagesPolicy = "rethink"

// Messages configures the reTHINK message endpoints
// (/v1/messages/decide and /v1/messages/decide-batch):
//
//	messages:
//	  policy: rethink            # the document messages are checked against
//	  defaultBehavior: false     # forward messages no policy applies to?
//	  domain: example.com        # the node's domain (the domain attribute)
//	  domainRegistry: domain://registry.example.com/
//	  port: 9090
//	  useSSL: true
//	  compatibleReply: false     # answer blocked senders as the original node did
//	  strictObligations: false   # block on obligations the enforcer does not know
//	  limits: {batch: 1000}      # most messages in one batch
type Messages struct {
	// Policy names the document of the policies section to enforce.
	Policy string
	// DefaultBehavior forwards messages no policy applies to when true.
	DefaultBehavior bool
	// Domain, DomainRegistry, Port and UseSSL describe the messaging node;
	// policies read them as attributes of the same names.
	Domain         string
	DomainRegistry string
	Port           string
	UseSSL         bool
	// CompatibleReply answers a blocked sender from "PolicyEngine" with
	// code "error", as the original node did.
	CompatibleReply bool
	// StrictObligations blocks a permitted message whose decision carries
	// an obligation the enforcer cannot carry out.
	StrictObligations bool
	// MaxBatch is the most messages one batch request may hold; 0 means
	// the endpoint's default.
	MaxBatch int
	// Line and Column locate the section, for problems found later (an
	// unknown document).
	Line, Column int
}

func decodeMessages(d *config.Decoder, n *yaml.Node, field string) any {
	m := &Messages{Policy: DefaultMessagesPolicy, Line: n.Line, Column: n.Column}
	flag := func(dst *bool) func(*config.Node, string) {
		return func(v *config.Node, f string) {
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				d.Errorf(v, f, "must be true or false, not %s", config.KindName(v))
				return
			}
			*dst = v.Value == "true" || v.Value == "True" || v.Value == "TRUE"
		}
	}
	text := func(dst *string) func(*config.Node, string) {
		return func(v *config.Node, f string) {
			if s, ok := d.Str(v, f); ok {
				*dst = s
			}
		}
	}
	d.Fields(n, field, map[string]func(*config.Node, string){
		"policy": func(v *config.Node, f string) {
			s, ok := d.Str(v, f)
			if !ok {
				return
			}
			if !config.ValidName(s) {
				d.Errorf(v, f, "bad document name %q: use letters, digits, '_', '.' and '-'", s)
				return
			}
			m.Policy = s
		},
		"defaultBehavior": flag(&m.DefaultBehavior),
		"domain": func(v *config.Node, f string) {
			s, ok := d.Str(v, f)
			if !ok {
				return
			}
			if s == "" || strings.ContainsAny(s, " /:\t") {
				d.Errorf(v, f, "must be a domain name such as example.com, not %q", s)
				return
			}
			m.Domain = s
		},
		"domainRegistry": text(&m.DomainRegistry),
		"port": func(v *config.Node, f string) {
			if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!str") {
				d.Errorf(v, f, "must be a port number from 1 to 65535, not %s", config.KindName(v))
				return
			}
			p, err := strconv.ParseUint(v.Value, 10, 16)
			if err != nil || p == 0 {
				d.Errorf(v, f, "must be a port number from 1 to 65535, not %q", v.Value)
				return
			}
			m.Port = strconv.FormatUint(p, 10)
		},
		"useSSL":            flag(&m.UseSSL),
		"compatibleReply":   flag(&m.CompatibleReply),
		"strictObligations": flag(&m.StrictObligations),
		"limits": func(v *config.Node, f string) {
			d.Fields(v, f, map[string]func(*config.Node, string){
				"batch": func(v *config.Node, f string) {
					if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
						d.Errorf(v, f, "must be a whole number of messages, not %s", config.KindName(v))
						return
					}
					b, err := strconv.Atoi(v.Value)
					if err != nil || b < 1 || b > 1_000_000 {
						d.Errorf(v, f, "must be from 1 to 1000000, not %s", v.Value)
						return
					}
					m.MaxBatch = b
				},
			})
		},
	})
	return m
}
