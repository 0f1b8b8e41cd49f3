package threescaletest

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestPeriodBounds(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC) // a Saturday
	cases := []struct{ period, start, end string }{
		{"minute", "2026-03-14 09:26:00", "2026-03-14 09:27:00"},
		{"hour", "2026-03-14 09:00:00", "2026-03-14 10:00:00"},
		{"day", "2026-03-14 00:00:00", "2026-03-15 00:00:00"},
		{"week", "2026-03-09 00:00:00", "2026-03-16 00:00:00"},
		{"month", "2026-03-01 00:00:00", "2026-04-01 00:00:00"},
		{"year", "2026-01-01 00:00:00", "2027-01-01 00:00:00"},
	}
	for _, tc := range cases {
		s, e, err := periodBounds(tc.period, now)
		if err != nil || s.Format(time.DateTime) != tc.start || e.Format(time.DateTime) != tc.end {
			t.Errorf("%s: %v – %v, %v", tc.period, s, e, err)
		}
	}
	if s, e, err := periodBounds("eternity", now); err != nil || !s.IsZero() || !e.IsZero() {
		t.Errorf("eternity: %v %v %v", s, e, err)
	}
	if _, _, err := periodBounds("fortnight", now); err == nil {
		t.Error("fortnight accepted")
	}
}

// get calls the backend with a raw query and options header.
func get(t *testing.T, b *Backend, path, query, options string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", b.URL()+path+"?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if options != "" {
		req.Header.Set("3scale-options", options)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

func TestBackendProtocol(t *testing.T) {
	b := Start(t)
	b.SetNow(func() time.Time { return time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC) })
	b.AddService(Service{ID: "1", Token: "tok", ProviderKey: "pk", Metrics: []string{"hits", "search"}})
	b.AddService(Service{ID: "2", Token: "tok2", Version: "2"})
	b.AddApplication("1", Application{ID: "a1", UserKey: "uk", Plan: "Gold & Co",
		Limits: []Limit{{Metric: "hits", Period: "day", Max: 10}, {Metric: "search", Period: "eternity", Max: 3}}})
	b.AddApplication("2", Application{ID: "a2", Keys: []string{"k"}})
	cases := []struct {
		name, path, query, options string
		status                     int
		header                     map[string]string // "" means absent
		body                       string            // a substring; "" means empty body
	}{
		{"no token nor key", "/transactions/authrep.xml", "service_id=1&user_key=uk", "",
			403, nil, `<error code="provider_key_or_service_token_required">`},
		{"token without service id", "/transactions/authrep.xml", "service_token=tok&user_key=uk", "",
			422, nil, `<error code="service_id_missing">Service ID is missing</error>`},
		{"wrong token", "/transactions/authrep.xml", "service_token=x&service_id=1&user_key=uk", "",
			403, nil, `code="service_token_invalid">service token &quot;x&quot; or service id &quot;1&quot; is invalid`},
		{"unknown provider key", "/transactions/authorize.xml", "provider_key=zz&service_id=1&user_key=uk", "",
			403, nil, `code="provider_key_invalid"`},
		{"provider key, other service", "/transactions/authorize.xml", "provider_key=pk&service_id=2&user_key=uk", "",
			403, nil, `code="service_id_invalid"`},
		{"provider key, default service", "/transactions/authorize.xml", "provider_key=pk&user_key=uk", "",
			200, nil, `<authorized>true</authorized>`},
		{"unknown user key", "/transactions/authrep.xml", "service_token=tok&service_id=1&user_key=no", "rejection_reason_header=1",
			403, map[string]string{"3scale-Rejection-Reason": ""}, `code="user_key_invalid">user key &quot;no&quot; is invalid`},
		{"both app_id and user_key", "/transactions/authrep.xml", "service_token=tok&service_id=1&user_key=uk&app_id=a1", "",
			403, nil, `code="authentication_error"`},
		{"unknown metric", "/transactions/authrep.xml", "service_token=tok&service_id=1&user_key=uk&usage%5Bnope%5D=1", "",
			404, nil, `code="metric_invalid"`},
		{"bad usage value", "/transactions/authrep.xml", "service_token=tok&service_id=1&user_key=uk&usage%5Bhits%5D=x", "",
			403, nil, `code="usage_value_invalid"`},
		{"unknown app_id", "/transactions/authorize.xml", "service_token=tok2&service_id=2&app_id=zz", "",
			404, nil, `code="application_not_found">application with id=&quot;zz&quot; was not found`},
		{"missing app_key", "/transactions/authorize.xml", "service_token=tok2&service_id=2&app_id=a2", "rejection_reason_header=1",
			409, map[string]string{"3scale-Rejection-Reason": "application_key_invalid"}, `<reason>application key is missing</reason>`},
		{"no_body", "/transactions/authorize.xml", "service_token=tok2&service_id=2&app_id=zz", "no_body=1",
			404, nil, ""},
		{"authorized with limit headers and a body", "/transactions/authorize.xml", "service_token=tok&service_id=1&user_key=uk&usage%5Bhits%5D=4", "limit_headers=1",
			200, map[string]string{"3scale-Limit-Remaining": "2", "3scale-Limit-Reset": "52387", "3scale-Limit-Max-Value": "10"},
			`<plan>Gold &amp; Co</plan><usage_reports><usage_report metric="hits" period="day"><period_start>2026-03-14 00:00:00 +0000</period_start>`},
		{"usage beyond a limit", "/transactions/authrep.xml", "service_token=tok&service_id=1&user_key=uk&usage%5Bsearch%5D=4", "rejection_reason_header=1&limit_headers=1",
			409, map[string]string{"3scale-Rejection-Reason": "limits_exceeded", "3scale-Limit-Remaining": "0", "3scale-Limit-Reset": "-1"}, `<reason>usage limits are exceeded</reason>`},
		{"unknown endpoint", "/transactions/other.xml", "", "", 404, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := get(t, b, tc.path, tc.query, tc.options)
			if status != tc.status {
				t.Fatalf("status %d, want %d; body %s", status, tc.status, body)
			}
			for k, v := range tc.header {
				if got := h.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if tc.body == "" && body != "" || !strings.Contains(body, tc.body) {
				t.Fatalf("body %q, want it to hold %q", body, tc.body)
			}
		})
	}
	if got := b.Usage("1", "a1", "hits", "day"); got != 0 {
		t.Fatalf("authorize and refused authreps counted %d hits", got)
	}
	status, _, _ := get(t, b, "/transactions/authrep.xml", "service_token=tok&service_id=1&user_key=uk&usage%5Bhits%5D=%233", "")
	if status != 200 || b.Usage("1", "a1", "hits", "day") != 3 {
		t.Fatalf("authrep with #3 (a set value): %d, %d hits", status, b.Usage("1", "a1", "hits", "day"))
	}
}

func TestBackendReport(t *testing.T) {
	b := Start(t)
	b.AddService(Service{ID: "1", Token: "tok"})
	b.AddApplication("1", Application{ID: "a1", UserKey: "uk"})
	post := func(query, ctype, body string) (int, string) {
		t.Helper()
		res, err := http.Post(b.URL()+"/transactions.xml?"+query, ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(out)
	}
	form := url.Values{"transactions[0][user_key]": {"uk"}, "transactions[0][usage][hits]": {"5"},
		"transactions[1][app_id]": {"ghost"}, "transactions[1][usage][hits]": {"7"}}.Encode()
	if s, body := post("service_token=tok&service_id=1", "application/x-www-form-urlencoded", form); s != 202 || body != "" {
		t.Fatalf("report: %d %q", s, body)
	}
	if got := b.Usage("1", "a1", "hits", "eternity"); got != 5 {
		t.Fatalf("%d hits reported", got)
	}
	if s, body := post("service_token=tok&service_id=1", "application/json", form); s != 400 || !strings.Contains(body, "content_type_invalid") {
		t.Fatalf("json report: %d %q", s, body)
	}
	if s, body := post("service_token=tok&service_id=1", "application/x-www-form-urlencoded", ""); s != 400 || !strings.Contains(body, "transactions_is_blank") {
		t.Fatalf("blank report: %d %q", s, body)
	}
	if s, body := post("service_token=bad&service_id=1", "application/x-www-form-urlencoded", form); s != 403 || !strings.Contains(body, "service_token_invalid") {
		t.Fatalf("report with a bad token: %d %q", s, body)
	}
}

func TestBackendFailSlowStopRestart(t *testing.T) {
	b := Start(t)
	b.AddService(Service{ID: "1", Token: "tok"})
	b.AddApplication("1", Application{UserKey: "uk"})
	q := "service_token=tok&service_id=1&user_key=uk"
	b.FailWith(502)
	if s, _, body := get(t, b, "/transactions/authrep.xml", q, ""); s != 502 || body != "" {
		t.Fatalf("failing: %d %q", s, body)
	}
	b.FailWith(0)
	b.SetDelay(200 * time.Millisecond)
	start := time.Now()
	if s, _, _ := get(t, b, "/transactions/authrep.xml", q, ""); s != 200 || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("slow: %d after %v", s, time.Since(start))
	}
	b.SetDelay(0)
	b.Stop()
	if _, err := http.Get(b.URL() + "/transactions/authrep.xml?" + q); err == nil {
		t.Fatal("a stopped backend answered")
	}
	b.Restart()
	if s, _, _ := get(t, b, "/transactions/authrep.xml", q, ""); s != 200 {
		t.Fatalf("after restart: %d", s)
	}
	if n := len(b.CallsTo("/transactions/authrep.xml")); n != 3 {
		t.Fatalf("%d calls recorded", n)
	}
}
