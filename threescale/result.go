package threescale

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Outcome classifies a backend answer by its status code.
type Outcome uint8

const (
	// Unavailable: no answer (connection refused, timeout, cancelled) or
	// one that says the backend is not working (status 499 and above, or a
	// status the API never gives). APIcast's rule: no status, 0 or >= 499.
	Unavailable Outcome = iota
	// Authorized: 200, the application may go on.
	Authorized
	// Accepted: 202, a report was taken.
	Accepted
	// Denied: 409, the application is known but may not go on: limits
	// exceeded, a wrong app_key, an application that is not active. The
	// reason is in Result.RejectionReason.
	Denied
	// Forbidden: 403, the call itself was refused: invalid user_key,
	// provider key or service token, unknown service id.
	Forbidden
	// NotFound: 404, the application (or a metric) does not exist.
	NotFound
	// Invalid: another 4xx (400 bad request, 422 missing service id): the
	// call was malformed and repeating it will not help.
	Invalid
)

var outcomeNames = [...]string{"unavailable", "authorized", "accepted", "denied", "forbidden", "not_found", "invalid"}

// String returns the outcome's name.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// classify maps an HTTP status to an outcome.
func classify(status int) Outcome {
	switch {
	case status == http.StatusOK:
		return Authorized
	case status == http.StatusAccepted:
		return Accepted
	case status == http.StatusConflict:
		return Denied
	case status == http.StatusForbidden:
		return Forbidden
	case status == http.StatusNotFound:
		return NotFound
	case status >= 400 && status < 499:
		return Invalid
	}
	return Unavailable
}

// The headers 3scale's backend sets when asked through 3scale-options.
const (
	headerOptions         = "3scale-Options"
	headerRejectionReason = "3scale-Rejection-Reason"
	headerLimitRemaining  = "3scale-Limit-Remaining"
	headerLimitReset      = "3scale-Limit-Reset"
	headerLimitMaxValue   = "3scale-Limit-Max-Value"
)

// Rejection reasons the backend gives (the codes of its errors) that
// callers act on.
const (
	// ReasonLimitsExceeded: a usage limit would be passed.
	ReasonLimitsExceeded = "limits_exceeded"
)

// Limits are the limit headers of an authorization answer (3scale's
// limit_headers extension): the most constrained limit that applies to the
// metrics of the call.
type Limits struct {
	// Present is true when the backend sent the headers.
	Present bool
	// Remaining is how many identical calls the limit still allows; -1 when
	// no limit applies.
	Remaining int64
	// Reset is how many seconds remain until the limit's period ends; -1
	// when no limit applies.
	Reset int64
	// MaxValue is the limit's maximum for its period; -1 when not sent.
	// 0 means the metric is disabled in the application's plan.
	MaxValue int64
}

// Result is one backend answer.
type Result struct {
	// Outcome classifies Status.
	Outcome Outcome
	// Status is the HTTP status; 0 when there was no answer.
	Status int
	// Authorized is true for a 200 answer.
	Authorized bool
	// Reason is the human-readable text of the answer: the <reason> of a
	// denied status document or the text of an <error> document.
	Reason string
	// ErrorCode is the code attribute of an <error> document, e.g.
	// user_key_invalid or application_not_found.
	ErrorCode string
	// RejectionReason is the 3scale-rejection-reason header, or ErrorCode
	// when the header is absent; e.g. limits_exceeded,
	// application_key_invalid, user_key_invalid.
	RejectionReason string
	// Limits holds the limit headers.
	Limits Limits
	// Plan is the application's plan, from the body.
	Plan string
	// UsageReports are the body's usage reports, one per limit of the plan.
	UsageReports []UsageReport
	// Application is the body's application section (oauth endpoints).
	Application *Application
	// AppKeys lists the application's keys when the list_app_keys
	// extension was asked for.
	AppKeys []string
	// Err says why there is no answer (transport failure, timeout,
	// cancellation) or why the answer's body could not be read; Outcome
	// stands on the status code alone.
	Err error
}

// Unavailable reports whether the backend could not give an answer, so
// that a cached authorization decides instead.
func (r *Result) Unavailable() bool { return r.Outcome == Unavailable }

// UsageReport is one limit of an application's plan and where the
// application stands against it.
type UsageReport struct {
	// Metric is the metric's system name.
	Metric string
	// Period is minute, hour, day, week, month, year or eternity.
	Period string
	// Start and End bound the period; zero for eternity.
	Start, End time.Time
	// MaxValue is the limit; CurrentValue the usage so far in the period.
	MaxValue, CurrentValue int64
	// Exceeded is true when CurrentValue is above MaxValue.
	Exceeded bool
}

// Application is the application section of an oauth answer.
type Application struct {
	// ID is the application id, Key its first key, RedirectURL its
	// registered redirect URL.
	ID, Key, RedirectURL string
}

// maxBody bounds how much of an answer's body is read. The backend's
// largest documents (every limit of a plan) are a few kilobytes.
const maxBody = 1 << 20

// statusDoc is the <status> document of an authorization answer.
type statusDoc struct {
	Authorized   string          `xml:"authorized"`
	Reason       string          `xml:"reason"`
	Plan         string          `xml:"plan"`
	Application  *applicationDoc `xml:"application"`
	UsageReports []usageDoc      `xml:"usage_reports>usage_report"`
	AppKeys      *struct {
		Keys []struct {
			ID string `xml:"id,attr"`
		} `xml:"key"`
	} `xml:"app_keys"`
}

type applicationDoc struct {
	ID          string `xml:"id"`
	Key         string `xml:"key"`
	RedirectURL string `xml:"redirect_url"`
	RedirectURI string `xml:"redirect_uri"`
}

type usageDoc struct {
	Metric       string `xml:"metric,attr"`
	Period       string `xml:"period,attr"`
	Exceeded     string `xml:"exceeded,attr"`
	PeriodStart  string `xml:"period_start"`
	PeriodEnd    string `xml:"period_end"`
	MaxValue     string `xml:"max_value"`
	CurrentValue string `xml:"current_value"`
}

// errorDoc is the <error code="..."> document of a refused call.
type errorDoc struct {
	Code string `xml:"code,attr"`
	Text string `xml:",chardata"`
}

// periodLayouts are the time formats of period_start and period_end: the
// backend writes "+0000", its documentation shows "+00:00".
var periodLayouts = [...]string{"2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05 -07:00", "2006-01-02 15:04:05"}

func parsePeriodTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range periodLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("period time %q is not YYYY-MM-DD HH:MM:SS +ZZZZ", s)
}

func parseInt(field, s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", field, s)
	}
	return n, nil
}

// ErrMalformed marks an answer body that is not one of the backend's
// documents.
var ErrMalformed = errors.New("malformed backend answer")

// parseBody reads a <status> or <error> document into r. An empty body
// (the no_body extension) is not an error.
func parseBody(body []byte, r *Result) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue // the XML declaration, comments, white space
		}
		switch start.Name.Local {
		case "status":
			var doc statusDoc
			if err := dec.DecodeElement(&doc, &start); err != nil {
				return fmt.Errorf("%w: status: %v", ErrMalformed, err)
			}
			return r.fromStatus(&doc)
		case "error":
			var doc errorDoc
			if err := dec.DecodeElement(&doc, &start); err != nil {
				return fmt.Errorf("%w: error: %v", ErrMalformed, err)
			}
			r.ErrorCode = strings.TrimSpace(doc.Code)
			r.Reason = strings.TrimSpace(doc.Text)
			return nil
		default:
			return fmt.Errorf("%w: root element <%s>, want <status> or <error>", ErrMalformed, start.Name.Local)
		}
	}
}

func (r *Result) fromStatus(doc *statusDoc) error {
	switch strings.TrimSpace(doc.Authorized) {
	case "true", "false":
	default:
		return fmt.Errorf("%w: <authorized> is %q, want true or false", ErrMalformed, doc.Authorized)
	}
	r.Reason = strings.TrimSpace(doc.Reason)
	r.Plan = strings.TrimSpace(doc.Plan)
	if a := doc.Application; a != nil {
		app := &Application{ID: strings.TrimSpace(a.ID), Key: strings.TrimSpace(a.Key), RedirectURL: strings.TrimSpace(a.RedirectURL)}
		if app.RedirectURL == "" {
			app.RedirectURL = strings.TrimSpace(a.RedirectURI)
		}
		r.Application = app
	}
	if k := doc.AppKeys; k != nil {
		r.AppKeys = make([]string, 0, len(k.Keys))
		for _, key := range k.Keys {
			r.AppKeys = append(r.AppKeys, key.ID)
		}
	}
	if len(doc.UsageReports) > 0 {
		r.UsageReports = make([]UsageReport, 0, len(doc.UsageReports))
	}
	for i, u := range doc.UsageReports {
		ur := UsageReport{Metric: u.Metric, Period: u.Period, Exceeded: u.Exceeded == "true"}
		var err error
		if ur.MaxValue, err = parseInt("max_value", u.MaxValue); err != nil {
			return fmt.Errorf("%w: usage_report %d: %v", ErrMalformed, i+1, err)
		}
		if ur.CurrentValue, err = parseInt("current_value", u.CurrentValue); err != nil {
			return fmt.Errorf("%w: usage_report %d: %v", ErrMalformed, i+1, err)
		}
		if u.PeriodStart != "" || u.PeriodEnd != "" {
			if ur.Start, err = parsePeriodTime(u.PeriodStart); err != nil {
				return fmt.Errorf("%w: usage_report %d: %v", ErrMalformed, i+1, err)
			}
			if ur.End, err = parsePeriodTime(u.PeriodEnd); err != nil {
				return fmt.Errorf("%w: usage_report %d: %v", ErrMalformed, i+1, err)
			}
		}
		r.UsageReports = append(r.UsageReports, ur)
	}
	return nil
}

// readHeaders fills the rejection reason and the limit headers.
func (r *Result) readHeaders(h http.Header) {
	r.RejectionReason = strings.TrimSpace(h.Get(headerRejectionReason))
	rem, okRem := headerInt(h, headerLimitRemaining)
	reset, okReset := headerInt(h, headerLimitReset)
	if okRem || okReset {
		r.Limits = Limits{Present: true, Remaining: -1, Reset: -1, MaxValue: -1}
		if okRem {
			r.Limits.Remaining = rem
		}
		if okReset {
			r.Limits.Reset = reset
		}
		if max, ok := headerInt(h, headerLimitMaxValue); ok {
			r.Limits.MaxValue = max
		}
	}
}

func headerInt(h http.Header, name string) (int64, bool) {
	v := h.Get(name)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n, err == nil
}

// newResult builds the Result of an answer with the given status, headers
// and body.
func newResult(status int, h http.Header, body []byte) Result {
	r := Result{Outcome: classify(status), Status: status, Authorized: status == http.StatusOK}
	if r.Outcome == Unavailable {
		// A proxy's error page or a crashed backend's: nothing to read.
		r.Err = fmt.Errorf("backend answered %d", status)
		return r
	}
	r.readHeaders(h)
	if err := parseBody(body, &r); err != nil {
		r.Err = err
	}
	if r.RejectionReason == "" && !r.Authorized {
		r.RejectionReason = r.ErrorCode
	}
	return r
}

// ParseAnswer builds the Result of a backend answer from its parts, for
// callers that reach the backend some other way (and for tests).
func ParseAnswer(status int, h http.Header, body []byte) Result {
	return newResult(status, h, body)
}
