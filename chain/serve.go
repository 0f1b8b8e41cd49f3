package chain

import (
	"net/http"
	"time"
)

// A request goes through a chain's phases in one order, written here once
// and followed by the gateway and by the test harnesses of policies:
//
//  1. Begin: rewrite, access and content. A policy that ends the request
//     skips the rest of them; the content phase chooses a local answer or
//     an upstream.
//  2. Route: when the request is to be proxied, the upstream chosen is
//     checked (a content policy that chose none usable fails the request
//     closed) and balancer runs; it says whether to proxy.
//  3. Either the local answer, AnswerLocal: header_filter, then
//     body_filter once over the whole body; or the proxied one, by the
//     front end: the request goes upstream (balancer again, through
//     RunBalancer, before each retry), FilterHeader runs on the response head,
//     and body_filter on each chunk of the body, then once with none.
//  4. Finish: post_action and log, whatever happened before.
//
// A phase without policies costs a branch. Each step reports the time its
// phases took to a Timer, when given one.

// Timer receives how long each phase of a request took. The gateway's
// metrics implement it; nil times nothing.
type Timer interface {
	PhaseTook(p Phase, d time.Duration)
}

// Begin runs the request phases: rewrite, access and content. The first
// phase is timed from the request's arrival (ctx.Start), each next one from
// where the one before ended.
func (c *Chain) Begin(ctx *Context, t Timer) {
	var mark time.Time
	if t != nil {
		mark = ctx.Start
	}
	if c.Has(PhaseRewrite) {
		c.Rewrite(ctx)
		mark = lap(t, PhaseRewrite, mark)
	}
	if c.Has(PhaseAccess) {
		c.Access(ctx)
		mark = lap(t, PhaseAccess, mark)
	}
	if c.Has(PhaseContent) {
		c.Content(ctx)
		lap(t, PhaseContent, mark)
	}
}

// Route readies a proxied request after Begin: an upstream that is not an
// absolute http or https URL fails the request with the chain's fail
// status (a content policy's bug, so it fails closed), else balancer runs.
// It reports whether the request is to be proxied.
func (c *Chain) Route(ctx *Context, t Timer) bool {
	if !ctx.Proxying() {
		return false
	}
	if u := ctx.Upstream; u == nil || u.URL == nil || u.URL.Host == "" || (u.URL.Scheme != "http" && u.URL.Scheme != "https") {
		if ctx.Logger != nil {
			ctx.Logger.Error("a content policy chose no usable upstream; failing the request closed",
				"service", ctx.ServiceID, "policy", ctx.Producer())
		}
		ctx.Response.Header = make(http.Header)
		ctx.Exit(c.FailStatus(), "")
		return false
	}
	c.RunBalancer(ctx, t)
	return ctx.Proxying()
}

// RunBalancer runs the balancer phase, timed: Route runs it once, and a
// front end again before each retry of the upstream.
func (c *Chain) RunBalancer(ctx *Context, t Timer) {
	if c.Has(PhaseBalancer) {
		start := now(t)
		c.Balance(ctx)
		took(t, PhaseBalancer, start)
	}
}

// FilterHeader runs header_filter on the response in ctx.Response, timed.
func (c *Chain) FilterHeader(ctx *Context, t Timer) {
	if c.Has(PhaseHeaderFilter) {
		start := now(t)
		c.HeaderFilter(ctx)
		took(t, PhaseHeaderFilter, start)
	}
}

// AnswerLocal runs the filters over a response produced by a policy (or
// by none: 200 with an empty body): header_filter, then body_filter once
// over the whole body. It returns the body to send, nil when a body
// filter failed the request (the chain then put its fail status in
// ctx.Response).
func (c *Chain) AnswerLocal(ctx *Context, t Timer) []byte {
	if ctx.Response.Status == 0 {
		ctx.Response.Status = http.StatusOK
	}
	c.FilterHeader(ctx, t)
	body := ctx.Response.Body
	if c.HasBodyFilters() {
		start := now(t)
		out, err := c.BodyFilter(ctx, body, true)
		took(t, PhaseBodyFilter, start)
		if err != nil {
			return nil
		}
		body = out
	}
	return body
}

// Finish runs post_action and log, timed.
func (c *Chain) Finish(ctx *Context, t Timer) {
	if c.Has(PhasePostAction) {
		start := now(t)
		c.PostAction(ctx)
		took(t, PhasePostAction, start)
	}
	if c.Has(PhaseLog) {
		start := now(t)
		c.Log(ctx)
		took(t, PhaseLog, start)
	}
}

func now(t Timer) time.Time {
	if t == nil {
		return time.Time{}
	}
	return time.Now()
}

func took(t Timer, p Phase, start time.Time) {
	if t != nil {
		t.PhaseTook(p, time.Since(start))
	}
}

// lap reports phase p as lasting from mark to now and returns now, where
// the next phase starts: one clock reading per phase.
func lap(t Timer, p Phase, mark time.Time) time.Time {
	if t == nil {
		return mark
	}
	n := time.Now()
	t.PhaseTook(p, n.Sub(mark))
	return n
}
