package requestunbuffered_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	requestunbuffered "github.com/verdict-policy/verdict/policies/request_unbuffered"
)

// TestLoads: the policy loads without configuration, says why it changes
// nothing, and refuses settings it does not have.
func TestLoads(t *testing.T) {
	var logs bytes.Buffer
	if _, err := chain.Build([]chain.Entry{policytest.Entry(requestunbuffered.Name, "")},
		chain.Env{ServiceID: "7", Logger: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=INFO") || !strings.Contains(logs.String(), "streams request bodies") || !strings.Contains(logs.String(), "service=7") {
		t.Fatalf("log %q", logs.String())
	}
	var golden strings.Builder
	for _, cfg := range []string{`{"buffer": false}`, `[]`} {
		_, err := chain.Build([]chain.Entry{policytest.Entry(requestunbuffered.Name, cfg)}, chain.Env{})
		if err == nil {
			t.Fatalf("%s accepted", cfg)
		}
		fmt.Fprintf(&golden, "%s\n\t%v\n", cfg, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}

// TestStreamsThroughGateway shows what the policy asks for holds in a
// real gateway: the upstream reads the start of a large chunked body while
// the client has not sent the rest yet (nginx, under APIcast, would read
// the whole body first).
func TestStreamsThroughGateway(t *testing.T) {
	const part = 64 << 10
	started := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := make([]byte, part/2)
		if _, err := io.ReadFull(r.Body, first); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		close(started)
		rest, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "%d", len(first)+len(rest))
	}))
	defer up.Close()
	gw := gatewaytest.Start(t, `
services:
  - id: 3
    proxy:
      api_backend: `+up.URL+`
      policy_chain: [{name: request_unbuffered}, {name: apicast}]
`)
	found := false
	for _, l := range gw.Logs() {
		found = found || strings.Contains(l, "request_unbuffered") && strings.Contains(l, "changes nothing")
	}
	if !found {
		t.Errorf("no log line says the policy changes nothing: %q", gw.Logs())
	}
	pr, pw := io.Pipe()
	r := gw.NewRequest("POST", "/upload", pr)
	go func() {
		_, _ = pw.Write(bytes.Repeat([]byte("a"), part))
		select {
		case <-started:
			_, _ = pw.Write(bytes.Repeat([]byte("b"), part))
			_ = pw.Close()
		case <-time.After(30 * time.Second):
			_ = pw.CloseWithError(fmt.Errorf("the upstream got too little of the body in 30 s"))
		}
	}()
	res := gw.Do(t, r)
	if res.Status != 200 || res.Body != fmt.Sprint(2*part) {
		t.Fatalf("got %d %q", res.Status, res.Body)
	}
}
