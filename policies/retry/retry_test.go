package retry_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	"github.com/verdict-policy/verdict/policies/retry"
)

// flaky answers with status fail for its first failures requests, then 200.
func flaky(t *testing.T, failures int32, fail int) (*gatewaytest.Upstream, *atomic.Int32) {
	var n atomic.Int32
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= failures {
			w.WriteHeader(fail)
			_, _ = io.WriteString(w, "failed")
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	return up, &n
}

func config(backend, policy string) string {
	return `
services:
  - id: 1
    proxy:
      api_backend: ` + backend + `
      policy_chain:
        - name: retry
          configuration: ` + policy + `
        - name: apicast
`
}

func TestRetriesThroughGateway(t *testing.T) {
	tests := []struct {
		name     string
		policy   string
		method   string
		failures int32
		fail     int
		status   int
		attempts int32
		body     string
	}{
		{"recovers after one 503", `{"retries": 2}`, "GET", 1, 503, 200, 2, "ok"},
		{"recovers after two 502", `{"retries": 2}`, "GET", 2, 502, 200, 3, "ok"},
		{"gives up after the retries", `{"retries": 2}`, "GET", 5, 503, 503, 3, "failed"},
		{"status not listed", `{"retries": 2}`, "GET", 1, 500, 500, 1, "failed"},
		{"configured status", `{"retries": 1, "statuses": [500]}`, "GET", 1, 500, 200, 2, "ok"},
		{"POST is not retried", `{"retries": 2}`, "POST", 1, 503, 503, 1, "failed"},
		{"POST retried when allowed", `{"retries": 2, "non_idempotent": true}`, "POST", 1, 503, 200, 2, "ok"},
		{"DELETE is idempotent", `{"retries": 1}`, "DELETE", 1, 504, 200, 2, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, n := flaky(t, tt.failures, tt.fail)
			gw := gatewaytest.Start(t, config(up.URL, tt.policy))
			res := gw.Do(t, gw.NewRequest(tt.method, "/x", nil))
			if res.Status != tt.status || res.Body != tt.body {
				t.Errorf("client got %d %q, want %d %q", res.Status, res.Body, tt.status, tt.body)
			}
			if got := n.Load(); got != tt.attempts {
				t.Errorf("upstream saw %d attempts, want %d", got, tt.attempts)
			}
		})
	}
}

func TestRequestWithBodyIsNotSentTwice(t *testing.T) {
	up, n := flaky(t, 1, 503)
	gw := gatewaytest.Start(t, config(up.URL, `{"retries": 3, "non_idempotent": true}`))
	res := gw.Do(t, gw.NewRequest("PUT", "/x", strings.NewReader("payload")))
	if res.Status != 503 || n.Load() != 1 {
		t.Errorf("got %d after %d attempts, want 503 after 1", res.Status, n.Load())
	}
}

func TestConnectErrorsAreRetried(t *testing.T) {
	// An address nothing listens on: every attempt fails to connect.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	gw := gatewaytest.Start(t, config("http://"+addr, `{"retries": 2}`))
	res := gw.Do(t, gw.NewRequest("GET", "/", nil))
	if res.Status != http.StatusBadGateway {
		t.Errorf("status %d, want 502", res.Status)
	}
	retries := 0
	for _, line := range gw.Logs() {
		if strings.Contains(line, "retrying the upstream") {
			retries++
		}
	}
	if retries != 2 {
		t.Errorf("%d retries logged, want 2", retries)
	}
}

func TestBadConfiguration(t *testing.T) {
	for _, tt := range []struct{ name, config, want string }{
		{"missing retries", `{}`, "retries"},
		{"too many", `{"retries": 11}`, "retries"},
		{"zero", `{"retries": 0}`, "retries"},
		{"status out of range", `{"retries": 1, "statuses": [700]}`, "statuses.0"},
		{"unknown field", `{"retries": 1, "tries": 2}`, "tries"},
	} {
		_, err := chain.Build([]chain.Entry{policytest.Entry(retry.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
		}
	}
}
