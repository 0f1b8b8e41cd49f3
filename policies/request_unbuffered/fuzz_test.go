package requestunbuffered_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	requestunbuffered "github.com/verdict-policy/verdict/policies/request_unbuffered"
)

// FuzzRequestUnbuffered: any configuration is refused or built, never a
// panic; any request passes through unchanged.
func FuzzRequestUnbuffered(f *testing.F) {
	f.Add(`{}`, "POST", "/upload", "Transfer-Encoding: chunked")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, requestunbuffered.Name, config, method, target, header)
	})
}
