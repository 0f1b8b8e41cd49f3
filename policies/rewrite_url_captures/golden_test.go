package rewriteurlcaptures_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

// TestGolden rewrites a set of requests with a service's worth of
// transformations and compares what the upstream gets with
// testdata/rewrites.golden (run with -update to rewrite it after
// checking).
func TestGolden(t *testing.T) {
	config := `{"transformations": [
		{"match_rule": "^/orders/{orderId}/accounts/{accountId}$", "template": "/sales/v2/{orderId}?account={accountId}", "methods": ["GET", "HEAD"]},
		{"match_rule": "^/orders/{orderId}$", "template": "/sales/v2/{orderId}?view=full&source=legacy", "methods": ["GET"]},
		{"match_rule": "/users/{id}/", "template": "/v3/people/{id}?id={id}"},
		{"match_rule": "/{var_1}/{var_2}", "template": "/{var_2}?my_arg={var_1}"}
	]}`
	requests := []string{
		"GET /orders/123/accounts/456",
		"HEAD /orders/123/accounts/456?account=0&keep=1",
		"POST /orders/123/accounts/456",
		"GET /orders/123?view=summary&view=other&page=2",
		"DELETE /orders/123",
		"GET /api/users/7/profile?x=1",
		"PUT /abc/def?user_key=value",
		"GET /single",
		"GET /a%20b/c",
		"GET /a&b=c/d",
	}
	var out strings.Builder
	for _, line := range requests {
		method, target, _ := strings.Cut(line, " ")
		fmt.Fprintf(&out, "%s\n\t-> %s\n", line, rewrite(t, config, method, target))
	}
	policytest.Golden(t, "rewrites.golden", out.String())
}
