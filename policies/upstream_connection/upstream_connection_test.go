package upstreamconnection_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	upstreamconnection "github.com/verdict-policy/verdict/policies/upstream_connection"
)

func TestTimeoutsFromConfiguration(t *testing.T) {
	tests := []struct {
		cfg  string
		want chain.Timeouts
	}{
		{`{}`, chain.Timeouts{}},
		{`{"connect_timeout": 1}`, chain.Timeouts{Connect: time.Second}},
		{`{"send_timeout": 0.25, "read_timeout": 90}`, chain.Timeouts{Send: 250 * time.Millisecond, Read: 90 * time.Second}},
	}
	for _, tt := range tests {
		p, err := upstreamconnection.New(json.RawMessage(tt.cfg), chain.Env{})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.(*upstreamconnection.Policy).Timeouts(); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.cfg, got, tt.want)
		}
	}
}

func TestReadTimeout(t *testing.T) {
	slow := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		delay := 300 * time.Millisecond
		if r.URL.Path == "/stall-body" {
			w.WriteHeader(200)
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "done")
	})
	tests := []struct {
		name, cfg, path string
		status          int
		body            string
	}{
		{"fast enough", "{read_timeout: 2}", "/", 200, "done"},
		{"header too late", "{read_timeout: 0.1}", "/", 504, "the upstream did not answer in time\n"},
		{"only connect timeout set: the gateway's read timeout applies", "{connect_timeout: 0.1}", "/", 200, "done"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+slow.URL+"\n      policy_chain: [{name: upstream_connection, configuration: "+tt.cfg+"}, {name: apicast}]\n")
			res := gw.Do(t, gw.NewRequest("GET", tt.path, nil))
			if res.Status != tt.status || res.Body != tt.body {
				t.Fatalf("got %d %q, want %d %q", res.Status, res.Body, tt.status, tt.body)
			}
		})
	}
	t.Run("stall in the body cuts the response", func(t *testing.T) {
		gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+slow.URL+"\n      policy_chain: [{name: upstream_connection, configuration: {read_timeout: 0.1}}, {name: apicast}]\n")
		res, err := http.DefaultClient.Do(gw.NewRequest("GET", "/stall-body", nil))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err == nil || !strings.HasPrefix(string(body), "partial") {
			t.Errorf("read %q, %v; want the partial body and an error", body, err)
		}
	})
}

func TestBadConfiguration(t *testing.T) {
	for _, cfg := range []string{"{connect_timeout: 0}", "{read_timeout: -1}", "{send_timeout: '1s'}", "{retries: 3}"} {
		gw := gatewaytest.Start(t, "")
		if err := gw.Reload("services:\n  - proxy: {policy_chain: [{name: upstream_connection, configuration: " + cfg + "}]}\n"); err == nil {
			t.Errorf("accepted %s", cfg)
		}
	}
}
