package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/verdict-policy/verdict/internal/reply"
	"github.com/verdict-policy/verdict/pdl"
)

// The batch semantics of POST /access/v1/evaluations.
const (
	executeAll          = "execute_all"
	denyOnFirstDeny     = "deny_on_first_deny"
	permitOnFirstPermit = "permit_on_first_permit"
)

// evaluationRequest is the body of both AuthZEN endpoints. In the batch
// form the top-level subject, action, resource and context are defaults
// that each entry of evaluations may replace.
type evaluationRequest struct {
	Subject     map[string]any   `json:"subject"`
	Action      map[string]any   `json:"action"`
	Resource    map[string]any   `json:"resource"`
	Context     map[string]any   `json:"context"`
	Evaluations []evaluationItem `json:"evaluations"`
	Options     *struct {
		Semantic string `json:"evaluations_semantic"`
	} `json:"options"`
}

type evaluationItem struct {
	Subject  map[string]any `json:"subject"`
	Action   map[string]any `json:"action"`
	Resource map[string]any `json:"resource"`
	Context  map[string]any `json:"context"`
}

// evaluationResult is one AuthZEN decision.
type evaluationResult struct {
	Decision bool           `json:"decision"`
	Context  map[string]any `json:"context,omitempty"`
}

// serveEvaluation answers POST /access/v1/evaluation, and with batch set
// POST /access/v1/evaluations. The subject, action, resource and context
// of each evaluation become the attributes subject.id, subject.type,
// subject.properties.NAME, action.name, resource.type, resource.id,
// context.NAME and so on; only permit is true.
func (d *Door) serveEvaluation(w http.ResponseWriter, r *http.Request, s *snapshot, batch bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		d.metrics.invalid(adAuthZEN)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			reply.Error(w, http.StatusRequestEntityTooLarge, "body_too_large",
				"the request body exceeds "+strconv.FormatInt(s.maxBody, 10)+" bytes (limits.max_body_bytes)")
			return
		}
		reply.Error(w, http.StatusBadRequest, "invalid_body", "the request body could not be read: "+err.Error())
		return
	}
	req, err := decodeEvaluation(body)
	if err != nil {
		d.metrics.invalid(adAuthZEN)
		reply.Error(w, http.StatusBadRequest, "invalid_json", err.Error())
		return
	}
	if !batch || req.Evaluations == nil {
		in, err := evaluationInput(req.Subject, req.Action, req.Resource, req.Context, "")
		if err != nil {
			d.metrics.invalid(adAuthZEN)
			reply.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		reply.JSON(w, http.StatusOK, d.evaluate(s, in))
		return
	}
	semantic := executeAll
	if req.Options != nil && req.Options.Semantic != "" {
		semantic = req.Options.Semantic
	}
	if semantic != executeAll && semantic != denyOnFirstDeny && semantic != permitOnFirstPermit {
		d.metrics.invalid(adAuthZEN)
		reply.Error(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf(
			"options.evaluations_semantic %q is not one of %s, %s, %s", semantic, executeAll, denyOnFirstDeny, permitOnFirstPermit))
		return
	}
	inputs := make([]pdl.Input, len(req.Evaluations))
	for i, it := range req.Evaluations {
		in, err := evaluationInput(
			pick(it.Subject, req.Subject), pick(it.Action, req.Action),
			pick(it.Resource, req.Resource), pick(it.Context, req.Context),
			fmt.Sprintf("evaluations[%d].", i))
		if err != nil {
			d.metrics.invalid(adAuthZEN)
			reply.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		inputs[i] = in
	}
	results := make([]evaluationResult, 0, len(inputs))
	for _, in := range inputs {
		res := d.evaluate(s, in)
		results = append(results, res)
		if (semantic == denyOnFirstDeny && !res.Decision) || (semantic == permitOnFirstPermit && res.Decision) {
			break
		}
	}
	reply.JSON(w, http.StatusOK, map[string]any{"evaluations": results})
}

func pick(own, shared map[string]any) map[string]any {
	if own != nil {
		return own
	}
	return shared
}

// decodeEvaluation parses a request body; every problem names its place.
func decodeEvaluation(body []byte) (*evaluationRequest, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("the request body is empty: send a JSON object")
	}
	if trimmed[0] != '{' {
		return nil, errors.New("the request body must be a JSON object")
	}
	var req evaluationRequest
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&req); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("the body is not valid JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			return nil, fmt.Errorf("field %s must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return nil, fmt.Errorf("the body is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("the body holds more than one JSON value")
	}
	return &req, nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "map", "struct", "ptr":
		return "an object"
	case "slice":
		return "an array"
	case "string":
		return "a string"
	}
	return goKind
}

// evaluationInput checks the shape AuthZEN requires — subject with type
// and id, action with name, resource with type and id, properties and
// context as objects — and returns the attributes.
func evaluationInput(subject, action, resource, context map[string]any, at string) (pdl.Input, error) {
	if err := entity(subject, at+"subject", "type", "id"); err != nil {
		return nil, err
	}
	if err := entity(action, at+"action", "name"); err != nil {
		return nil, err
	}
	if err := entity(resource, at+"resource", "type", "id"); err != nil {
		return nil, err
	}
	in := pdl.Input{"subject": subject, "action": action, "resource": resource}
	if context != nil {
		in["context"] = context
	}
	return in, nil
}

func entity(m map[string]any, field string, required ...string) error {
	if m == nil {
		return fmt.Errorf("%s is required: an object with %s", field, quoteList(required))
	}
	for _, k := range required {
		v, ok := m[k]
		if !ok {
			return fmt.Errorf("%s.%s is required", field, k)
		}
		if s, ok := v.(string); !ok || s == "" {
			return fmt.Errorf("%s.%s must be a non-empty string", field, k)
		}
	}
	if p, ok := m["properties"]; ok && p != nil {
		if _, ok := p.(map[string]any); !ok {
			return fmt.Errorf("%s.properties must be an object", field)
		}
	}
	return nil
}

func quoteList(names []string) string {
	switch len(names) {
	case 1:
		return names[0]
	case 2:
		return names[0] + " and " + names[1]
	}
	return fmt.Sprint(names)
}

// evaluate decides one evaluation. Obligations and advice travel back in
// the response context, since AuthZEN has no header to put them in.
func (d *Door) evaluate(s *snapshot, in pdl.Input) evaluationResult {
	dec := s.authzen.Decide(in)
	res := evaluationResult{Decision: dec.Effect == pdl.Permit}
	d.metrics.count(adAuthZEN, res.Decision)
	if dec.Effect == pdl.Indeterminate {
		d.logger.Warn("authz: indeterminate decision; denying", "adapter", "authzen", "path", dec.Path, "error", dec.Error)
		res.Context = map[string]any{"error": dec.Error}
		return res
	}
	if len(dec.Obligations) > 0 || len(dec.Advice) > 0 {
		res.Context = map[string]any{}
		if len(dec.Obligations) > 0 {
			res.Context["obligations"] = dec.Obligations
		}
		if len(dec.Advice) > 0 {
			res.Context["advice"] = dec.Advice
		}
	}
	return res
}

// serveDiscovery answers GET /.well-known/authzen-configuration with the
// endpoints, as absolute URLs on the host the client asked.
func serveDiscovery(w http.ResponseWriter, r *http.Request) {
	base := forwardedProto(r) + "://" + r.Host
	reply.JSON(w, http.StatusOK, map[string]string{
		"policy_decision_point":       base,
		"access_evaluation_endpoint":  base + EvaluationPath,
		"access_evaluations_endpoint": base + EvaluationsPath,
	})
}
