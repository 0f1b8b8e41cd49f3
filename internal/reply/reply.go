// Package reply writes the JSON responses shared by Verdict's HTTP
// endpoints, above all the error envelope
// {"error": {"code": "...", "message": "..."}}.
package reply

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// ErrorBody is the JSON envelope of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a stable code for programs and a
// message for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// JSON writes v as a JSON response with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a programming error gets here: the values written are plain
		// data. Answer with a well-formed error rather than half a body.
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"the response could not be encoded"}}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Error writes the error envelope with the given status, code and message.
func Error(w http.ResponseWriter, status int, code, message string) {
	JSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: message}})
}

// NotFound answers every request with 404 and code not_found.
func NotFound(w http.ResponseWriter, r *http.Request) {
	Error(w, http.StatusNotFound, "not_found", "no endpoint at "+r.URL.Path)
}

// MethodNotAllowed answers 405 with the Allow header set to allow.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	Error(w, http.StatusMethodNotAllowed, "method_not_allowed",
		r.Method+" is not allowed on "+r.URL.Path+"; use "+allow)
}
