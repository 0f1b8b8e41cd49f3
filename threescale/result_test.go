package threescale_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/verdict-policy/verdict/threescale"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// resultView is a Result as the golden files show it.
type resultView struct {
	Outcome, Err string
	threescale.Result
}

func TestParseAnswer(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	cases := []struct {
		file    string
		status  int
		header  http.Header
		outcome threescale.Outcome
		reason  string // RejectionReason
		bodyErr bool
	}{
		{"authorized.xml", 200, hdr("3scale-limit-remaining", "53", "3scale-limit-reset", "34", "3scale-limit-max-value", "60"), threescale.Authorized, "", false},
		{"limits_exceeded.xml", 409, hdr("3scale-rejection-reason", "limits_exceeded", "3scale-limit-remaining", "0", "3scale-limit-reset", "52013"), threescale.Denied, "limits_exceeded", false},
		{"oauth_authorized.xml", 200, nil, threescale.Authorized, "", false},
		{"app_key_invalid.xml", 409, hdr("3scale-rejection-reason", "application_key_invalid"), threescale.Denied, "application_key_invalid", false},
		{"app_keys.xml", 200, nil, threescale.Authorized, "", false},
		{"user_key_invalid.xml", 403, nil, threescale.Forbidden, "user_key_invalid", false},
		{"application_not_found.xml", 404, nil, threescale.NotFound, "application_not_found", false},
		{"service_token_invalid.xml", 403, nil, threescale.Forbidden, "service_token_invalid", false},
		{"service_id_missing.xml", 422, nil, threescale.Invalid, "service_id_missing", false},
		{"not_xml.html", 502, nil, threescale.Unavailable, "", true},
		{"not_xml.html", 200, nil, threescale.Authorized, "", true},
		{"bad_authorized.xml", 200, nil, threescale.Authorized, "", true},
		{"bad_value.xml", 200, nil, threescale.Authorized, "", true},
		{"truncated.xml", 200, nil, threescale.Authorized, "", true},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%s.%d", tc.file, tc.status)
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "answers", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			r := threescale.ParseAnswer(tc.status, tc.header, body)
			if r.Outcome != tc.outcome || r.RejectionReason != tc.reason || (r.Err != nil) != tc.bodyErr {
				t.Fatalf("outcome %v, reason %q, err %v; want %v, %q, error %v", r.Outcome, r.RejectionReason, r.Err, tc.outcome, tc.reason, tc.bodyErr)
			}
			if r.Authorized != (tc.status == 200) || r.Unavailable() != (tc.outcome == threescale.Unavailable) {
				t.Fatalf("authorized %v, unavailable %v for %d", r.Authorized, r.Unavailable(), tc.status)
			}
			if tc.bodyErr && tc.outcome != threescale.Unavailable && !errors.Is(r.Err, threescale.ErrMalformed) {
				t.Fatalf("body error %v is not ErrMalformed", r.Err)
			}
			v := resultView{Outcome: r.Outcome.String(), Result: r}
			if r.Err != nil {
				v.Err = r.Err.Error()
				v.Result.Err = nil
			}
			got, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "answers", name+".golden")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if string(want) != string(got)+"\n" {
				t.Fatalf("result differs from %s:\n%s", golden, got)
			}
		})
	}
}

func TestParseAnswerEmptyBody(t *testing.T) {
	// With no_body the headers carry everything.
	h := http.Header{}
	h.Set("3scale-rejection-reason", "limits_exceeded")
	h.Set("3scale-limit-remaining", "0")
	h.Set("3scale-limit-reset", "17")
	h.Set("3scale-limit-max-value", "0")
	r := threescale.ParseAnswer(409, h, nil)
	if r.Err != nil || r.Outcome != threescale.Denied || r.RejectionReason != "limits_exceeded" {
		t.Fatalf("%+v", r)
	}
	if !r.Limits.Present || r.Limits.Remaining != 0 || r.Limits.Reset != 17 || r.Limits.MaxValue != 0 {
		t.Fatalf("limits %+v", r.Limits)
	}
	r = threescale.ParseAnswer(200, http.Header{"3scale-Limit-Remaining": {"-1"}, "3scale-Limit-Reset": {"-1"}}, []byte("  \n"))
	if r.Err != nil || !r.Limits.Present || r.Limits.Remaining != -1 || r.Limits.MaxValue != -1 {
		t.Fatalf("unconstrained: %+v", r)
	}
	r = threescale.ParseAnswer(200, http.Header{"3scale-Limit-Remaining": {"lots"}}, nil)
	if r.Limits.Present {
		t.Fatalf("a malformed header was read: %+v", r.Limits)
	}
}

func TestClassify(t *testing.T) {
	cases := map[int]threescale.Outcome{
		0: threescale.Unavailable, 200: threescale.Authorized, 202: threescale.Accepted,
		204: threescale.Unavailable, 302: threescale.Unavailable, 400: threescale.Invalid,
		403: threescale.Forbidden, 404: threescale.NotFound, 409: threescale.Denied,
		422: threescale.Invalid, 499: threescale.Unavailable, 500: threescale.Unavailable,
		502: threescale.Unavailable, 503: threescale.Unavailable,
	}
	for status, want := range cases {
		if got := threescale.ParseAnswer(status, nil, nil).Outcome; got != want {
			t.Errorf("%d: %v, want %v", status, got, want)
		}
	}
}
