package pexip

import (
	"context"
	"strings"
	"time"

	"github.com/verdict-policy/verdict/pdl"
)

// The attributes a request publishes besides its query parameters. The
// names are documented in docs/pexip.md.
const (
	attrRequestType = "request_type"
	attrAlias       = "alias" // the alias in the path of avatar and registration requests
)

// aliasSources are the values whose normalised forms are attributes:
// NAME_normalized, NAME_user and NAME_domain.
var aliasSources = [...]string{"local_alias", "remote_alias", attrAlias}

// request is the pdl.Attributes of one Pexip request: its query parameters,
// the aliases derived from them and the table rows they key. Everything
// derived is computed when a policy or template first asks for it.
type request struct {
	ctx       context.Context
	deadline  time.Time // every table lookup of the request ends by then
	st        *state
	kind      string
	query     params
	pathAlias string

	aliases [len(aliasSources)]struct {
		done bool
		a    Alias
	}
	rows []rowCache
	res  result // the answer's fields, reused
}

type rowCache struct {
	done bool
	row  Row
	err  error
}

var _ pdl.Attributes = (*request)(nil)

func (r *request) reset() {
	r.ctx, r.st, r.pathAlias, r.kind, r.deadline = nil, nil, "", "", time.Time{}
	clear(r.query)
	r.query = r.query[:0]
	r.aliases = [len(aliasSources)]struct {
		done bool
		a    Alias
	}{}
	clear(r.rows)
	r.rows = r.rows[:0]
	clear(r.res)
}

// Attribute implements pdl.Attributes.
func (r *request) Attribute(name string) (any, error) {
	switch name {
	case attrRequestType:
		return r.kind, nil
	case attrAlias:
		return nonEmpty(r.pathAlias), nil
	}
	if v, ok := r.query.get(name); ok {
		return r.paramValue(name, v), nil
	}
	if v, ok := r.derivedAlias(name); ok {
		return v, nil
	}
	if i, ok := r.st.tableIndex[name]; ok {
		row, err := r.row(i)
		if row == nil || err != nil {
			return nil, err
		}
		return row, nil
	}
	if tbl, col, ok := strings.Cut(name, "."); ok {
		if i, ok := r.st.tableIndex[tbl]; ok {
			row, err := r.row(i)
			if row == nil || err != nil {
				return nil, err
			}
			return row[col], nil
		}
	}
	// Parameters that come from SIP headers (ms-subnet, p_Asserted-Identity)
	// vary in case and punctuation between versions: match them loosely.
	for i := range r.query {
		if foldName(r.query[i].key, name) {
			return r.paramValue(r.query[i].key, r.query.at(i)), nil
		}
	}
	return nil, nil
}

// foldName reports whether two parameter names are the same ignoring case
// and the difference between '-' and '_'.
func foldName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x == '-' {
			x = '_'
		}
		if y == '-' {
			y = '_'
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// paramValue turns the values of one query parameter into an attribute:
// the first value, True/False as booleans, empty as missing; every
// non-empty value as a list for idp_attribute_* parameters; auth_type
// without the quotes one version puts around it. Infinity writes Python's
// None for some values it does not have (preauthenticated_role at PIN
// entry): None is missing too, except in parameters carrying text a person
// chose, where it may be meant.
func (r *request) paramValue(name, v string) any {
	if strings.HasPrefix(name, "idp_attribute_") {
		var list []any
		for i := range r.query {
			if r.query[i].key == name {
				if v := r.query.at(i); v != "" {
					list = append(list, v)
				}
			}
		}
		if len(list) == 0 {
			return nil
		}
		return list
	}
	switch {
	case v == "", v == "None" && !freeText[name]:
		return nil
	case strings.EqualFold(v, "true"):
		return true
	case strings.EqualFold(v, "false"):
		return false
	case name == "auth_type":
		return nonEmpty(strings.Trim(v, `"`))
	}
	return v
}

// freeText are the parameters whose value None is kept as the text "None":
// aliases, names and search text.
var freeText = map[string]bool{
	"local_alias": true, "remote_alias": true, "remote_display_name": true, "vendor": true,
	"q": true, "registration_alias": true, "service_name": true, "unique_service_name": true,
	"previous_service_name": true, "call_tag": true, "service_tag": true,
}

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// derivedAlias answers NAME_normalized, NAME_user and NAME_domain for the
// alias sources.
func (r *request) derivedAlias(name string) (any, bool) {
	for i, src := range aliasSources {
		if len(name) <= len(src)+1 || name[:len(src)] != src || name[len(src)] != '_' {
			continue
		}
		part := name[len(src)+1:]
		if part != "normalized" && part != "user" && part != "domain" {
			return nil, false
		}
		c := &r.aliases[i]
		if !c.done {
			raw := r.pathAlias
			if src != attrAlias {
				raw = r.query.value(src)
			}
			c.a, c.done = NormalizeAlias(raw), true
		}
		switch part {
		case "user":
			return nonEmpty(c.a.User), true
		case "domain":
			return nonEmpty(c.a.Domain), true
		}
		if c.a.User == "" {
			return nil, true
		}
		return c.a.String(), true
	}
	return nil, false
}

// row looks up the row of table i for this request, once.
func (r *request) row(i int) (Row, error) {
	// Size the cache for every table at once: a lookup may read another
	// table's row, and growing the slice then would move c.
	for len(r.rows) < len(r.st.tables) {
		r.rows = append(r.rows, rowCache{})
	}
	c := &r.rows[i]
	if c.done {
		return c.row, c.err
	}
	c.done = true
	t := r.st.tables[i]
	for _, attr := range t.lookup {
		v, err := r.Attribute(attr)
		if err != nil {
			c.err = err
			return nil, err
		}
		key := scalarString(v)
		if key == "" {
			continue
		}
		var row Row
		if ft, ok := t.table.(*FileTable); ok {
			row = ft.byKey[strings.ToLower(key)] // in memory: no deadline needed
		} else {
			ctx, cancel := context.WithDeadline(r.ctx, r.deadline)
			row, err = t.table.Row(ctx, key)
			cancel()
		}
		if err != nil {
			c.err = err
			return nil, err
		}
		if row != nil {
			c.row = row
			return row, nil
		}
	}
	return nil, nil
}
