package reply

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

func TestError(t *testing.T) {
	rec := httptest.NewRecorder()
	Error(rec, 422, "reload_failed", "a.json:2:3: bad \"effect\"")
	if rec.Code != 422 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var body ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Code != "reload_failed" || body.Error.Message != "a.json:2:3: bad \"effect\"" {
		t.Errorf("body = %+v", body)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	rec := httptest.NewRecorder()
	MethodNotAllowed(rec, httptest.NewRequest("DELETE", "/v1/reload", nil), "POST")
	if rec.Code != 405 || rec.Header().Get("Allow") != "POST" {
		t.Errorf("status %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestJSONUnencodable(t *testing.T) {
	rec := httptest.NewRecorder()
	JSON(rec, 200, map[string]any{"f": func() {}})
	if rec.Code != 500 || !json.Valid(rec.Body.Bytes()) {
		t.Errorf("status %d, body %s", rec.Code, rec.Body)
	}
}
