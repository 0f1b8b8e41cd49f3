package server

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/internal/redistest"
)

// TestGatewaysShareTheConfiguredStore starts two whole servers whose
// configuration names one Redis: a global rate limit holds across both,
// which shows the server hands the configured store to the gateway's
// policies.
func TestGatewaysShareTheConfiguredStore(t *testing.T) {
	redis := redistest.Start(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer upstream.Close()
	// The key's name changes per attempt, and an attempt that straddles
	// two windows (epoch-aligned minutes) is made again.
	for attempt := 0; attempt < 3; attempt++ {
		cfg := fmt.Sprintf(`store: {redis: {url: %q, key_prefix: "shared-test:"}}
services:
  - id: 1
    proxy:
      hosts: [api.example.com]
      api_backend: %s
      policy_chain:
        - name: rate_limit
          configuration:
            fixed_window_limiters:
              - key: {name: everyone-%d, scope: global}
                count: 3
                window: 60
        - name: apicast
`, redis.URL(), upstream.URL, attempt)
		window := time.Now().Unix() / 60
		sa, _ := startGateway(t, cfg)
		sb, _ := startGateway(t, cfg)
		passed := 0
		for i := range 8 {
			url := "http://" + sa.GatewayAddr()
			if i%2 == 1 {
				url = "http://" + sb.GatewayAddr()
			}
			status, _, _ := get(t, url+"/", "api.example.com")
			switch status {
			case 200:
				passed++
			case 429:
			default:
				t.Fatalf("request %d: status %d", i, status)
			}
		}
		if time.Now().Unix()/60 != window {
			continue
		}
		if passed != 3 {
			t.Errorf("%d of 8 requests passed across two instances sharing Redis; want 3", passed)
		}
		return
	}
	t.Fatal("every attempt straddled two windows")
}
