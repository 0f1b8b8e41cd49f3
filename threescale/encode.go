package threescale

import (
	"strconv"
)

// The encoders below append to a caller's buffer so that building a query
// or a cache key costs no allocation when the buffer is large enough.

const upperHex = "0123456789ABCDEF"

// unreserved reports whether c goes into a query as is: RFC 3986's
// unreserved characters, the ones ngx.escape_uri leaves alone when APIcast
// encodes its backend arguments. Everything else, brackets included, is
// percent-encoded with upper-case digits; a space becomes %20.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// appendEscaped appends s percent-encoded.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
	}
	return b
}

// appendParam appends &name=value; name is already encoded.
func appendParam(b []byte, name, value string) []byte {
	b = append(b, '&')
	b = append(b, name...)
	b = append(b, '=')
	return appendEscaped(b, value)
}

// appendUsage appends usage[metric]=value for each metric, in metric order,
// separated by &; lead puts an & before the first one too.
func appendUsage(b []byte, u Usage, lead bool) []byte {
	for i, d := range u.d {
		if lead || i > 0 {
			b = append(b, '&')
		}
		b = append(b, "usage%5B"...)
		b = appendEscaped(b, d.Metric)
		b = append(b, "%5D="...)
		b = strconv.AppendInt(b, d.Value, 10)
	}
	return b
}

// appendCredentials appends the non-empty credentials as query parameters.
func appendCredentials(b []byte, c *Credentials) []byte {
	if c.UserKey != "" {
		b = appendParam(b, "user_key", c.UserKey)
	}
	if c.AppID != "" {
		b = appendParam(b, "app_id", c.AppID)
	}
	if c.AppKey != "" {
		b = appendParam(b, "app_key", c.AppKey)
	}
	if c.AccessToken != "" {
		b = appendParam(b, "access_token", c.AccessToken)
	}
	return b
}

// appendAuthQuery appends the query of an authorize or authrep call, in
// the order APIcast builds it: the service's authentication and id, the
// usage, the credentials, the response code to log (when code > 0) and the
// referrer.
func appendAuthQuery(b []byte, r *Request, code int) []byte {
	b = append(b, r.Service.auth...)
	b = appendUsage(b, r.Usage, true)
	b = appendCredentials(b, &r.Credentials)
	if code > 0 {
		b = append(b, "&log%5Bcode%5D="...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	if r.Referrer != "" {
		b = appendParam(b, "referrer", r.Referrer)
	}
	return b
}

// appendAuthKey appends the cache key of r's authorization: the service,
// the credentials, the usage and the referrer, every part escaped so that
// no two different requests share a key (APIcast joins the raw values with
// ':', so an app_id "a:b" with app_key "c" and an app_id "a" with app_key
// "b:c" collide there).
func appendAuthKey(b []byte, r *Request) []byte {
	b = append(b, r.Service.key...)
	b = appendCredentials(b, &r.Credentials)
	b = appendUsage(b, r.Usage, true)
	if r.Referrer != "" {
		b = appendParam(b, "referrer", r.Referrer)
	}
	return b
}

// appendTransaction appends transaction i of a report body:
// transactions[i][user_key]=K&transactions[i][usage][hits]=N...
func appendTransaction(b []byte, i int, t *Transaction) []byte {
	var prefix [48]byte
	p := append(prefix[:0], "transactions%5B"...)
	p = strconv.AppendInt(p, int64(i), 10)
	p = append(p, "%5D"...)
	cred := func(name, value string) {
		if value == "" {
			return
		}
		if len(b) > 0 {
			b = append(b, '&')
		}
		b = append(b, p...)
		b = append(b, "%5B"...)
		b = append(b, name...)
		b = append(b, "%5D="...)
		b = appendEscaped(b, value)
	}
	cred("user_key", t.Credentials.UserKey)
	cred("app_id", t.Credentials.AppID)
	cred("app_key", t.Credentials.AppKey)
	cred("access_token", t.Credentials.AccessToken)
	for _, d := range t.Usage.d {
		if len(b) > 0 {
			b = append(b, '&')
		}
		b = append(b, p...)
		b = append(b, "%5Busage%5D%5B"...)
		b = appendEscaped(b, d.Metric)
		b = append(b, "%5D="...)
		b = strconv.AppendInt(b, d.Value, 10)
	}
	if t.ResponseCode > 0 {
		b = append(b, '&')
		b = append(b, p...)
		b = append(b, "%5Blog%5D%5Bcode%5D="...)
		b = strconv.AppendInt(b, int64(t.ResponseCode), 10)
	}
	return b
}
