// Package logging is the builtin chain policy "logging" (APIcast's
// Logging): the access log of the requests that pass through a chain,
// written through log/slog in the log phase as a default line, a Liquid
// line of the configuration's own, or an object of named values, and
// optionally only for the requests a condition holds for. It can also turn
// the access log off for a service.
package logging

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/condition"
	"github.com/verdict-policy/verdict/policies/internal/liquidctx"
)

// Name is the policy's name in a chain entry.
const Name = "logging"

// OffKey is the context key a policy with enable_access_logs: false sets,
// so that no logging policy of the chain logs the request.
const OffKey = "logging.access_logs_off"

// Message is the message of the records of a JSON access log; the values
// are in the group "access".
const Message = "access"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		return New(cfg, env)
	})
}

// Config is the policy's configuration.
type Config struct {
	// EnableAccessLogs false turns the access log off; nil means true.
	EnableAccessLogs *bool `json:"enable_access_logs"`
	// CustomLogging is the line to log, a Liquid template.
	CustomLogging string `json:"custom_logging"`
	// EnableJSONLogs logs the values of JSONObjectConfig instead of a line.
	EnableJSONLogs   bool        `json:"enable_json_logs"`
	JSONObjectConfig []JSONValue `json:"json_object_config"`
	// Condition limits the log to the requests it holds for.
	Condition *Condition `json:"condition"`
}

// JSONValue is one named value of a JSON access log.
type JSONValue struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	ValueType string `json:"value_type"`
}

// Condition is APIcast's logging condition: operations comparing match
// with value.
type Condition struct {
	Operations []Operation `json:"operations"`
	CombineOp  string      `json:"combine_op"`
}

// Operation compares Match (the left value) with Value (the right one).
type Operation struct {
	Match     string `json:"match"`
	MatchType string `json:"match_type"`
	Op        string `json:"op"`
	Value     string `json:"value"`
	ValueType string `json:"value_type"`
}

type jsonValue struct {
	key   string
	value *condition.Value
}

// Policy writes the access log. It is safe for concurrent use.
type Policy struct {
	off    bool
	line   *liquidctx.Template // custom_logging; nil for the default line
	json   []jsonValue         // with enable_json_logs
	isJSON bool
	cond   *condition.Condition
	// extras are the log-only variables the templates mention, computed
	// per request only when some template needs them.
	extras []string
	logger *slog.Logger
}

var (
	_ chain.HeaderFilter = (*Policy)(nil)
	_ chain.Logger       = (*Policy)(nil)
)

// logVariables are the variables templates of this policy see besides
// the request's: what is known of the response once it is sent.
var logVariables = []string{
	"status", "request_time", "time_local", "time_iso8601", "request",
	"http_user_agent", "http_referer", "upstream_addr", "req", "resp",
}

// New builds the policy from its JSON configuration. Records go to the
// request's logger (which names the service), else env.Logger.
func New(raw json.RawMessage, env chain.Env) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{off: cfg.EnableAccessLogs != nil && !*cfg.EnableAccessLogs, isJSON: cfg.EnableJSONLogs, logger: env.Logger}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	var templates []interface{ Mentions(string) bool }
	if cfg.CustomLogging != "" {
		t, err := liquidctx.Compile(cfg.CustomLogging, liquidctx.Liquid)
		if err != nil {
			return nil, fmt.Errorf("custom_logging: %w", err)
		}
		p.line = t
		templates = append(templates, t)
	}
	if p.isJSON && len(cfg.JSONObjectConfig) == 0 {
		return nil, fmt.Errorf("json_object_config: empty, while enable_json_logs is true")
	}
	for i, v := range cfg.JSONObjectConfig {
		if v.Key == "" {
			return nil, fmt.Errorf("json_object_config[%d].key: empty", i)
		}
		t, err := condition.CompileValue(v.Value, v.ValueType)
		if err != nil {
			return nil, fmt.Errorf("json_object_config[%d].value: %w", i, err)
		}
		p.json = append(p.json, jsonValue{key: v.Key, value: t})
		templates = append(templates, t)
	}
	if cfg.Condition != nil {
		spec := condition.Spec{CombineOp: cfg.Condition.CombineOp}
		for _, o := range cfg.Condition.Operations {
			spec.Operations = append(spec.Operations, condition.Operation{
				Left: o.Match, LeftType: o.MatchType, Op: o.Op, Right: o.Value, RightType: o.ValueType})
		}
		cond, err := condition.CompileNamed(spec, "match", "value")
		if err != nil {
			return nil, fmt.Errorf("condition.%w", err)
		}
		p.cond = cond
	}
	for _, name := range logVariables {
		used := p.cond.Mentions(name)
		for _, t := range templates {
			used = used || t.Mentions(name)
		}
		if used {
			p.extras = append(p.extras, name)
		}
	}
	return p, nil
}

// HeaderFilter marks the request as not to be logged when the policy
// turns the access log off. Header filters run for every request, before
// any log phase.
func (p *Policy) HeaderFilter(c *chain.Context) error {
	if p.off {
		c.Set(OffKey, true)
	}
	return nil
}

// Log writes the request's access log record, unless the access log is
// off for the request or the condition does not hold.
func (p *Policy) Log(c *chain.Context) error {
	if p.off {
		return nil
	}
	if off, _ := c.Get(OffKey); off == true {
		return nil
	}
	var extra map[string]any
	if len(p.extras) > 0 {
		extra = p.variables(c)
	}
	if p.cond != nil {
		ok, err := p.cond.HoldsWith(c, extra)
		if err != nil || !ok {
			return err
		}
	}
	logger := c.Logger
	if logger == nil {
		logger = p.logger
	}
	ctx := context.Background()
	if !logger.Enabled(ctx, slog.LevelInfo) {
		return nil
	}
	switch {
	case p.isJSON:
		attrs := make([]slog.Attr, len(p.json))
		for i, v := range p.json {
			s, err := v.value.Render(c, extra)
			if err != nil {
				return fmt.Errorf("json_object_config[%d].value: %w", i, err)
			}
			attrs[i] = slog.String(v.key, s)
		}
		logger.LogAttrs(ctx, slog.LevelInfo, Message, slog.Attr{Key: "access", Value: slog.GroupValue(attrs...)})
	case p.line != nil:
		s, err := p.line.RenderWith(c, extra)
		if err != nil {
			return fmt.Errorf("custom_logging: %w", err)
		}
		logger.LogAttrs(ctx, slog.LevelInfo, s)
	default:
		logger.LogAttrs(ctx, slog.LevelInfo, string(combined(make([]byte, 0, 256), c)))
	}
	return nil
}

// variables computes the log-only variables the policy's templates use.
func (p *Policy) variables(c *chain.Context) map[string]any {
	m := make(map[string]any, len(p.extras))
	for _, name := range p.extras {
		switch name {
		case "status":
			m[name] = c.Response.Status
		case "request_time":
			m[name] = strconv.FormatFloat(time.Since(c.Start).Seconds(), 'f', 3, 64)
		case "time_local":
			m[name] = c.Start.Format(timeLocal)
		case "time_iso8601":
			m[name] = c.Start.Format(time.RFC3339)
		case "request":
			m[name] = c.Original.Method + " " + c.Original.URI + " " + c.Request.Proto
		case "http_user_agent":
			m[name] = c.Original.Header.Get("User-Agent")
		case "http_referer":
			m[name] = c.Original.Header.Get("Referer")
		case "upstream_addr":
			addr := ""
			if c.Upstream != nil && c.Upstream.URL != nil {
				addr = c.Upstream.URL.Host
			}
			m[name] = addr
		case "req":
			m[name] = map[string]any{"headers": liquidctx.Headers(c.Request.Header)}
		case "resp":
			m[name] = map[string]any{"headers": liquidctx.Headers(c.Response.Header)}
		}
	}
	return m
}

// timeLocal is nginx's $time_local layout.
const timeLocal = "02/Jan/2006:15:04:05 -0700"

// combined appends the request's line in the combined log format:
// address - - [time] "request" status - "referer" "user agent". The
// size of the body sent is not known to policies and written as -.
func combined(b []byte, c *chain.Context) []byte {
	b = append(b, c.ClientIP...)
	b = append(b, " - - ["...)
	b = c.Start.AppendFormat(b, timeLocal)
	b = append(b, "] \""...)
	b = append(b, c.Original.Method...)
	b = append(b, ' ')
	b = append(b, c.Original.URI...)
	b = append(b, ' ')
	b = append(b, c.Request.Proto...)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(c.Response.Status), 10)
	b = append(b, " - "...)
	b = strconv.AppendQuote(b, c.Original.Header.Get("Referer"))
	b = append(b, ' ')
	b = strconv.AppendQuote(b, c.Original.Header.Get("User-Agent"))
	return b
}
