package threescale_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/threescale"
)

// FuzzParseAnswer feeds the answer parser arbitrary bodies: it must never
// panic, the outcome must follow the status code alone, and a body it
// cannot read must be reported as ErrMalformed, never half-trusted as a
// different outcome.
func FuzzParseAnswer(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "answers", "*.xml"))
	for _, name := range files {
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(200, string(body))
		f.Add(409, string(body))
	}
	f.Add(403, `<error code="x">`)
	f.Add(200, `<status><usage_reports><usage_report><max_value>1</max_value><current_value>1</current_value></usage_report></usage_reports><authorized>true</authorized></status>`)
	f.Add(200, `<?xml version="1.0" encoding="ISO-8859-1"?><status/>`)
	f.Add(404, "<!DOCTYPE x [<!ENTITY a \"b\">]><error code=\"&a;\"/>")
	f.Fuzz(func(t *testing.T, status int, body string) {
		h := http.Header{}
		h.Set("3scale-rejection-reason", "limits_exceeded")
		r := threescale.ParseAnswer(status, h, []byte(body))
		want := threescale.ParseAnswer(status, nil, nil).Outcome
		if r.Outcome != want {
			t.Fatalf("status %d: outcome %v, want %v", status, r.Outcome, want)
		}
		if r.Authorized != (status == 200) {
			t.Fatalf("status %d: authorized %v", status, r.Authorized)
		}
		if r.Outcome == threescale.Unavailable {
			if r.Err == nil {
				t.Fatal("an unavailable answer without an error")
			}
			return
		}
		if r.Err != nil && !errors.Is(r.Err, threescale.ErrMalformed) {
			t.Fatalf("body error %v is not ErrMalformed", r.Err)
		}
		if !r.Authorized && r.RejectionReason != "limits_exceeded" {
			t.Fatalf("the header's rejection reason was replaced by %q", r.RejectionReason)
		}
		if r.Reason != strings.TrimSpace(r.Reason) || r.ErrorCode != strings.TrimSpace(r.ErrorCode) {
			t.Fatalf("untrimmed text %q %q", r.Reason, r.ErrorCode)
		}
	})
}
