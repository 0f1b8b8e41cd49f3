package statuscodeoverwrite_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

// TestThroughGateway runs the policy in a real gateway in front of an
// upstream that answers the status named by the path.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		status, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.Header().Set("X-Upstream-Status", strconv.Itoa(status))
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "from upstream")
	})
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - name: statuscode_overwrite
          configuration:
            http_statuses:
              - {upstream: 200, apicast: 201}
              - {upstream: 500, apicast: 503}
        - name: apicast
`)
	for _, tt := range []struct{ upstream, want int }{{200, 201}, {500, 503}, {404, 404}, {201, 201}} {
		t.Run(strconv.Itoa(tt.upstream), func(t *testing.T) {
			res := gw.Do(t, gw.NewRequest("GET", "/"+strconv.Itoa(tt.upstream), nil))
			if res.Status != tt.want || res.Body != "from upstream" || res.Header.Get("X-Upstream-Status") != strconv.Itoa(tt.upstream) {
				t.Errorf("client got %d %q %v, want %d with the upstream's body", res.Status, res.Body, res.Header, tt.want)
			}
		})
	}
}
