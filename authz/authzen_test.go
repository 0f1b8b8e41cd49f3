package authz

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func postJSON(t *testing.T, d *Door, path, body string) (int, map[string]any) {
	t.Helper()
	w := httptest.NewRecorder()
	d.ServeHTTP(w, httptest.NewRequest("POST", path, strings.NewReader(body)))
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: answer is not JSON: %q", path, w.Body.String())
	}
	return w.Code, out
}

func TestAuthZENEvaluation(t *testing.T) {
	d := loadDoor(t, nil, nil)
	cases := []struct {
		name, body string
		want       bool
	}{
		{"read is open", `{"subject":{"type":"user","id":"a"},"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}`, true},
		{"admin may write", `{"subject":{"type":"user","id":"a","properties":{"role":"admin"}},"action":{"name":"write"},"resource":{"type":"doc","id":"1"},"context":{"time":"now"}}`, true},
		{"others may not", `{"subject":{"type":"user","id":"a","properties":{"role":"guest"}},"action":{"name":"write"},"resource":{"type":"doc","id":"1"}}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := postJSON(t, d, EvaluationPath, c.body)
			if code != 200 || out["decision"] != c.want {
				t.Fatalf("%d %v, want decision %v", code, out, c.want)
			}
		})
	}
}

func TestAuthZENEvaluations(t *testing.T) {
	d := loadDoor(t, nil, nil)
	const defaults = `"subject":{"type":"user","id":"a"},"resource":{"type":"doc","id":"1"}`
	items := `"evaluations":[{"action":{"name":"read"}},{"action":{"name":"write"}},{"action":{"name":"read"}},
		{"action":{"name":"write"},"subject":{"type":"user","id":"b","properties":{"role":"admin"}}}]`
	cases := []struct {
		name, options string
		want          []bool
	}{
		{"default is execute_all", ``, []bool{true, false, true, true}},
		{"execute_all", `,"options":{"evaluations_semantic":"execute_all"}`, []bool{true, false, true, true}},
		{"deny_on_first_deny", `,"options":{"evaluations_semantic":"deny_on_first_deny"}`, []bool{true, false}},
		{"permit_on_first_permit", `,"options":{"evaluations_semantic":"permit_on_first_permit"}`, []bool{true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := postJSON(t, d, EvaluationsPath, "{"+defaults+","+items+c.options+"}")
			if code != 200 {
				t.Fatalf("status %d: %v", code, out)
			}
			var got []bool
			list, _ := out["evaluations"].([]any)
			for _, e := range list {
				got = append(got, e.(map[string]any)["decision"].(bool))
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("decisions %v, want %v", got, c.want)
			}
		})
	}
	t.Run("no evaluations array is one evaluation", func(t *testing.T) {
		code, out := postJSON(t, d, EvaluationsPath, `{`+defaults+`,"action":{"name":"read"}}`)
		if code != 200 || out["decision"] != true {
			t.Fatalf("%d %v", code, out)
		}
	})
}

func TestAuthZENBadRequests(t *testing.T) {
	d := loadDoor(t, nil, nil)
	ok := `"subject":{"type":"user","id":"a"},"action":{"name":"read"},"resource":{"type":"doc","id":"1"}`
	cases := []struct {
		name, path, body, code, message string
	}{
		{"empty", EvaluationPath, ``, "invalid_json", "empty"},
		{"not an object", EvaluationPath, `[1]`, "invalid_json", "JSON object"},
		{"syntax", EvaluationPath, `{"subject":`, "invalid_json", "not valid JSON"},
		{"trailing value", EvaluationPath, `{` + ok + `} {}`, "invalid_json", "more than one"},
		{"subject missing", EvaluationPath, `{"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}`, "invalid_request", "subject is required"},
		{"subject not an object", EvaluationPath, `{"subject":"a","action":{"name":"read"},"resource":{"type":"doc","id":"1"}}`, "invalid_json", "subject must be an object"},
		{"subject id missing", EvaluationPath, `{"subject":{"type":"user"},"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}`, "invalid_request", "subject.id is required"},
		{"action name a number", EvaluationPath, `{"subject":{"type":"user","id":"a"},"action":{"name":3},"resource":{"type":"doc","id":"1"}}`, "invalid_request", "action.name must be a non-empty string"},
		{"properties not an object", EvaluationPath, `{"subject":{"type":"user","id":"a","properties":[]},"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}`, "invalid_request", "subject.properties must be an object"},
		{"context not an object", EvaluationPath, `{` + ok + `,"context":5}`, "invalid_json", "context must be an object"},
		{"unknown semantic", EvaluationsPath, `{` + ok + `,"evaluations":[{}],"options":{"evaluations_semantic":"some"}}`, "invalid_request", "evaluations_semantic"},
		{"bad item", EvaluationsPath, `{"evaluations":[{"subject":{"type":"user","id":"a"},"action":{"name":"read"}}]}`, "invalid_request", "evaluations[0].resource is required"},
		{"evaluations not an array", EvaluationsPath, `{"evaluations":{}}`, "invalid_json", "evaluations must be an array"},
		{"too large", EvaluationPath, `{"x":"` + strings.Repeat("a", 5000) + `"}`, "body_too_large", "4096"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := postJSON(t, d, c.path, c.body)
			if code < 400 || code >= 500 {
				t.Fatalf("status %d, want a 4xx: %v", code, out)
			}
			e, _ := out["error"].(map[string]any)
			if e["code"] != c.code || !strings.Contains(e["message"].(string), c.message) {
				t.Fatalf("error %v, want code %s and a message with %q", e, c.code, c.message)
			}
		})
	}
	w := httptest.NewRecorder()
	d.ServeHTTP(w, httptest.NewRequest("GET", EvaluationPath, nil))
	if w.Code != 405 || w.Header().Get("Allow") != "POST" {
		t.Errorf("GET evaluation: %d %v", w.Code, w.Header())
	}
}

func TestAuthZENDiscovery(t *testing.T) {
	d := loadDoor(t, nil, nil)
	r := httptest.NewRequest("GET", DiscoveryPath, nil)
	r.Host = "pdp.example.com"
	w := httptest.NewRecorder()
	d.ServeHTTP(w, r)
	want := `{"access_evaluation_endpoint":"http://pdp.example.com/access/v1/evaluation","access_evaluations_endpoint":"http://pdp.example.com/access/v1/evaluations","policy_decision_point":"http://pdp.example.com"}` + "\n"
	if w.Code != 200 || w.Body.String() != want {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
}
