package pexip

import (
	"context"
	"net/http"
	"strconv"
	"strings"
)

// defaultLimit is the number of directory entries answered when the request
// gives no limit; Infinity currently always asks for 10.
const defaultLimit = 10

// serveDirectory answers a directory request from the phonebook table:
// entries whose alias, description or username contain q, ignoring case,
// in table order, at most limit of them.
func (d *Door) serveDirectory(w http.ResponseWriter, r *http.Request, st *state, query params, lg *logLine) {
	if st.phonebook == nil {
		d.writeFallback(w, st, directory, lg)
		return
	}
	limit := defaultLimit
	if s := query.value("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			d.badRequest(w, lg, http.StatusBadRequest, "invalid_parameter",
				"limit must be a whole number of 0 or more, not "+strconv.Quote(s))
			return
		}
		limit = n
	}
	limit = min(limit, st.maxResults)
	q := strings.ToLower(strings.TrimSpace(query.value("q")))
	ctx, cancel := context.WithDeadline(r.Context(), lg.start.Add(st.timeout))
	rows, err := st.phonebook.Rows(ctx)
	cancel()
	if err != nil {
		lg.err = err.Error() // rows, if any, are from the last good read
	}
	if rows == nil && err != nil {
		lg.outcome = outError
		d.writeFallback(w, st, directory, lg)
		return
	}

	bp := d.bufs.Get().(*[]byte)
	b := append((*bp)[:0], `{"status":"success","result":[`...)
	n := 0
	for _, row := range rows {
		if n >= limit {
			break
		}
		alias := scalarString(row["alias"])
		desc := scalarString(row["description"])
		user := scalarString(row["username"])
		if q != "" && !containsFold(alias, q) && !containsFold(desc, q) && !containsFold(user, q) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"username":`...)
		b = appendString(b, user)
		b = append(b, `,"alias":`...)
		b = appendString(b, alias)
		b = append(b, `,"description":`...)
		b = appendString(b, desc)
		b = append(b, '}')
		n++
	}
	b = append(b, `],"ignore_local":`...)
	b = strconv.AppendBool(b, st.ignoreLoc)
	b = append(b, '}')
	writeJSON(w, http.StatusOK, b)
	*bp = b
	d.bufs.Put(bp)
	lg.outcome, lg.status = outAnswer, http.StatusOK
}

// containsFold reports whether s contains the lower-case lowerSub,
// ignoring the case of s.
func containsFold(s, lowerSub string) bool {
	if len(lowerSub) > len(s) {
		return false
	}
	if strings.Contains(s, lowerSub) {
		return true
	}
	return strings.Contains(strings.ToLower(s), lowerSub)
}
