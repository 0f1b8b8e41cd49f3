package payloadlimits_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/payload_limits"
)

// TestRequestsThroughGateway sends request bodies of known and unknown
// length through a real gateway to a real upstream.
func TestRequestsThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "got "+strconv.Itoa(len(b)))
	})
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - {name: payload_limits, configuration: {request: 1000}}
        - name: apicast
`)
	tests := []struct {
		name    string
		size    int
		chunked bool
		status  int
		body    string
		// upstream: whether the upstream gets the whole body.
		upstream bool
	}{
		{"declared under", 1000, false, 200, "got 1000", true},
		{"declared over", 1001, false, 413, "Payload Too Large\n", false},
		{"chunked under", 1000, true, 200, "got 1000", true},
		{"chunked over", 5 << 20, true, 413, "Payload Too Large\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(up.Requests())
			var body io.Reader = strings.NewReader(strings.Repeat("b", tt.size))
			if tt.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			r := gw.NewRequest("POST", "/upload", body)
			res := gw.Do(t, r)
			if res.Status != tt.status || res.Body != tt.body {
				t.Fatalf("client got %d %q, want %d %q", res.Status, res.Body, tt.status, tt.body)
			}
			if ct := res.Header.Get("Content-Type"); tt.status == 413 && ct != "text/plain" {
				t.Errorf("Content-Type %q, want APIcast's text/plain", ct)
			}
			reqs := up.Requests()[before:]
			whole := len(reqs) > 0 && len(reqs[len(reqs)-1].Body) == tt.size
			if whole != tt.upstream {
				t.Errorf("upstream got the whole body: %v, want %v", whole, tt.upstream)
			}
		})
	}
}

// TestResponsesThroughGateway sends responses of known and unknown length
// back through a real gateway.
func TestResponsesThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Kept", "yes")
		chunk := []byte(strings.Repeat("r", 512))
		for sent := 0; sent < n; sent += len(chunk) {
			_, _ = w.Write(chunk[:min(len(chunk), n-sent)])
			w.(http.Flusher).Flush()
		}
	})
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - {name: payload_limits, configuration: {response: 2048}}
        - name: apicast
`)
	tests := []struct {
		name   string
		query  string
		status int
		size   int  // the body's size, or -1 for the 413 message
		cut    bool // the response is cut off
	}{
		{"declared under", "n=2048", 200, 2048, false},
		{"declared over", "n=2049", 413, -1, false},
		{"streamed under", "n=2048&chunked=1", 200, 2048, false},
		{"streamed over is cut", "n=100000&chunked=1", 200, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := http.DefaultClient.Do(gw.NewRequest("GET", "/download?"+tt.query, nil))
			if err != nil {
				if tt.cut {
					// Cut before the gateway's first write: the client
					// got no response at all, which is cut off as well.
					return
				}
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if tt.cut {
				if err == nil {
					t.Errorf("read %d bytes and no error: the response should be cut off", len(body))
				}
				if len(body) > 2048 {
					t.Errorf("%d bytes passed the 2048-byte limit", len(body))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.size < 0 {
				// APIcast's t/apicast-policy-payload_limits.t TEST 4: the 17
				// bytes of the message, without a newline.
				if string(body) != "Payload Too Large" || res.Header.Get("Content-Type") != "text/plain" || res.Header.Get("X-Kept") != "yes" {
					t.Errorf("413 answer %q %v", body, res.Header)
				}
				if cl := res.Header.Get("Content-Length"); cl != "" && cl != "17" {
					t.Errorf("Content-Length %s, want 17", cl)
				}
				return
			}
			if len(body) != tt.size {
				t.Errorf("body of %d bytes, want %d", len(body), tt.size)
			}
		})
	}
}
