package chain

import "net/http"

// RetryKey is the context key under which a policy asks the gateway to
// try the upstream again when an attempt fails; the value is a *Retry.
// Setting it per request (in rewrite or access) rather than exporting it
// keeps it out of requests whose policies did not run.
const RetryKey = "upstream_retry"

// RetriesKey is the context key where the gateway counts the attempts
// made after the first (APIcast's balancer_retries).
const RetriesKey = "balancer_retries"

// Retry says when the gateway tries the upstream again: after an attempt
// that could not connect, timed out, or answered one of Statuses. The
// balancer phase runs again before every attempt. Requests whose body was
// streamed already cannot be sent again and are not retried.
type Retry struct {
	// Attempts is the number of attempts allowed after the first.
	Attempts int
	// Statuses are the upstream statuses that count as a failed attempt.
	Statuses map[int]bool
	// AllMethods retries non-idempotent methods (POST, PATCH) too.
	AllMethods bool
}

// Allows reports whether a request with the given method may be retried.
func (r *Retry) Allows(method string) bool {
	if r.AllMethods {
		return true
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}
