package payloadlimits_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	_ "github.com/verdict-policy/verdict/policies/echo"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	payloadlimits "github.com/verdict-policy/verdict/policies/payload_limits"
)

// chunked hides a reader's length, as a chunked request body does.
type chunked struct{ io.Reader }

func TestRequestLimit(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		body    string
		known   bool // the request declares its length
		proxied bool
		// upstreamGot is what the upstream read of the body, when proxied;
		// readErr whether its read failed with the limit error.
		upstreamGot string
		readErr     bool
	}{
		{"declared under the limit", `{"request": 10}`, "0123456789", true, true, "0123456789", false},
		{"declared over the limit", `{"request": 10}`, "0123456789a", true, false, "", false},
		{"chunked under the limit", `{"request": 10}`, "0123456789", false, true, "0123456789", false},
		{"chunked over the limit", `{"request": 10}`, strings.Repeat("x", 100), false, true, "xxxxxxxxxx", true},
		{"no limit", `{}`, strings.Repeat("x", 100), false, true, strings.Repeat("x", 100), false},
		{"zero is no limit", `{"request": 0}`, strings.Repeat("x", 100), true, true, strings.Repeat("x", 100), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := policytest.Build(t, policytest.Entry(payloadlimits.Name, tt.config))
			var r *http.Request
			if tt.known {
				r = httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			} else {
				r = httptest.NewRequest("POST", "/", chunked{strings.NewReader(tt.body)})
				r.ContentLength = -1
			}
			var got []byte
			var err error
			res := policytest.Run(ch, r, "192.0.2.1", func(up *http.Request) (int, http.Header, []byte) {
				got, err = io.ReadAll(up.Body)
				if err != nil {
					return policytest.Unreachable, nil, nil
				}
				return 200, nil, []byte("ok")
			}, 0)
			if res.Proxied != tt.proxied {
				t.Fatalf("proxied %v, want %v", res.Proxied, tt.proxied)
			}
			if !tt.proxied || tt.readErr {
				if res.Status != 413 || string(res.Body) != "Payload Too Large\n" || res.Header.Get("Content-Type") != "text/plain" {
					t.Errorf("client got %d %q %v, want 413 and APIcast's message", res.Status, res.Body, res.Header)
				}
			}
			if !tt.proxied {
				return
			}
			if string(got) != tt.upstreamGot {
				t.Errorf("upstream read %d bytes, want %d", len(got), len(tt.upstreamGot))
			}
			var mbe *http.MaxBytesError
			if tt.readErr != errors.As(err, &mbe) {
				t.Errorf("upstream read error %v, want a limit error: %v", err, tt.readErr)
			}
			if !tt.readErr && res.Status != 200 {
				t.Errorf("status %d", res.Status)
			}
		})
	}
}

func TestResponseLimit(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		declared bool // the upstream sends Content-Length
		chunk    int
		status   int
		want     string
		cut      bool // the body filter ends the response with an error
	}{
		{"declared under", "0123456789", true, 4, 200, "0123456789", false},
		{"declared over", "0123456789a", true, 4, 413, "Payload Too Large", false},
		{"streamed under", "0123456789", false, 4, 200, "0123456789", false},
		{"streamed over is cut", strings.Repeat("y", 30), false, 4, 200, "yyyyyyyy", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := policytest.Build(t, policytest.Entry(payloadlimits.Name, `{"response": 10}`))
			res := policytest.Run(ch, httptest.NewRequest("GET", "/", nil), "192.0.2.1", func(*http.Request) (int, http.Header, []byte) {
				h := http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}, "X-Other": {"kept"}}
				if tt.declared {
					h.Set("Content-Length", strconv.Itoa(len(tt.body)))
				}
				return 200, h, []byte(tt.body)
			}, tt.chunk)
			err, out := res.BodyErr, res.Body
			if tt.cut != (err != nil) {
				t.Fatalf("body filter error %v, want one: %v", err, tt.cut)
			}
			if res.Status != tt.status && !tt.cut {
				t.Errorf("status %d, want %d", res.Status, tt.status)
			}
			if string(out) != tt.want {
				t.Errorf("body %q, want %q", out, tt.want)
			}
			if tt.status == 413 {
				h := res.Header
				if h.Get("Content-Encoding") != "" || h.Get("Content-Length") != "" || h.Get("Content-Type") != "text/plain" || h.Get("X-Other") != "kept" {
					t.Errorf("headers of the 413 answer: %v", h)
				}
			}
		})
	}
}

func TestLocalResponseOverLimit(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry(payloadlimits.Name, `{"response": 5}`), policytest.Entry("echo", ""))
	res := policytest.Run(ch, httptest.NewRequest("GET", "/a/long/path", nil), "192.0.2.1", nil, 0)
	if res.Status != 413 || string(res.Body) != "Payload Too Large" {
		t.Errorf("got %d %q, want 413", res.Status, res.Body)
	}
}

func TestRequestOnlyKeepsBodiesUnfiltered(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry(payloadlimits.Name, `{"request": 5}`))
	if ch.HasBodyFilters() {
		t.Error("a request limit alone should not filter response bodies")
	}
	ch = policytest.Build(t, policytest.Entry(payloadlimits.Name, `{"response": 5}`))
	if !ch.HasBodyFilters() {
		t.Error("a response limit needs the body filter")
	}
}

func TestBadConfiguration(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"negative request", `{"request": -1}`, "request"},
		{"negative response", `{"response": -5}`, "response"},
		{"string", `{"request": "10kb"}`, "request"},
		{"fraction", `{"response": 1.5}`, "response"},
		{"unknown field", `{"requests": 1}`, "requests"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(payloadlimits.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
