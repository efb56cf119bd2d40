package herokuapi

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// item is one element of a list response with the values it can be ranged on.
type item struct {
	keys map[string]any // range field -> string or int
	body any
}

// rangeSpec is a parsed Heroku Range header:
// "<field> [start..end]; max=<n>, order=desc", start prefixed with "]" when
// exclusive (as in the Next-Range the server sends back).
type rangeSpec struct {
	field      string
	start, end string
	exclusive  bool
	max        int
	desc       bool
}

func parseRange(h string) (rangeSpec, error) {
	var rs rangeSpec
	spec, params, _ := strings.Cut(h, ";")
	spec = strings.TrimSpace(spec)
	if i := strings.Index(spec, " "); i >= 0 {
		rs.field, spec = spec[:i], strings.TrimSpace(spec[i+1:])
	} else if !strings.Contains(spec, "..") {
		rs.field, spec = spec, ".."
	}
	start, end, ok := strings.Cut(spec, "..")
	if !ok {
		return rs, fmt.Errorf("range %q has no \"..\"", h)
	}
	if s, ok := strings.CutPrefix(start, "]"); ok {
		rs.exclusive, start = true, s
	}
	rs.start, rs.end = start, strings.TrimSuffix(end, "[")
	for _, p := range strings.FieldsFunc(params, func(r rune) bool { return r == ',' || r == ';' }) {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.TrimSpace(k) {
		case "max":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 {
				return rs, fmt.Errorf("range max %q is not a positive number", v)
			}
			rs.max = n
		case "order":
			switch strings.TrimSpace(v) {
			case "asc":
			case "desc":
				rs.desc = true
			default:
				return rs, fmt.Errorf("range order %q is not asc or desc", v)
			}
		}
	}
	return rs, nil
}

func compareKeys(a, b any) int {
	switch x := a.(type) {
	case int:
		y, _ := b.(int)
		return cmp.Compare(x, y)
	case string:
		y, _ := b.(string)
		return cmp.Compare(x, y)
	}
	return 0
}

// boundFor converts a Range bound to the type of the field's keys.
func boundFor(sample any, v string) (any, error) {
	if _, ok := sample.(int); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("range bound %q is not a number", v)
		}
		return n, nil
	}
	return v, nil
}

// page answers a list the way Heroku does: ordered by the Range field (id
// by default), at most max items, and 206 with a Next-Range when more remain.
// fields are the ones Accept-Ranges announces. The caller holds the lock.
func (s *Server) page(r *http.Request, items []item, fields ...string) (reply, *apiError) {
	h := http.Header{}
	h.Set("Accept-Ranges", strings.Join(fields, ", "))
	largest, def := 1000, 200
	if s.opt.PageSize != 200 {
		largest, def = s.opt.PageSize, s.opt.PageSize
	}
	rs := rangeSpec{field: fields[0], max: def}
	if raw := r.Header.Get("Range"); raw != "" {
		var err error
		if rs, err = parseRange(raw); err != nil {
			s.violation(r, "bad Range header: %v", err)
			return reply{}, errorf(http.StatusRequestedRangeNotSatisfiable, "requested_range_not_satisfiable", "Invalid Range header: %v.", err)
		}
		if rs.field == "" {
			rs.field = fields[0]
		}
		if !slices.Contains(fields, rs.field) {
			s.violation(r, "Range on %q, which this list does not support (Accept-Ranges: %s)", rs.field, strings.Join(fields, ", "))
			return reply{}, errorf(http.StatusRequestedRangeNotSatisfiable, "requested_range_not_satisfiable", "Invalid Range field %q. Supported: %s.", rs.field, strings.Join(fields, ", "))
		}
		if rs.max == 0 {
			rs.max = def
		}
	}
	rs.max = min(rs.max, largest)

	slices.SortStableFunc(items, func(a, b item) int {
		c := compareKeys(a.keys[rs.field], b.keys[rs.field])
		if rs.desc {
			return -c
		}
		return c
	})
	// before reports whether key comes before bound in the list's order.
	before := func(key, bound any) bool {
		c := compareKeys(key, bound)
		if rs.desc {
			c = -c
		}
		return c < 0
	}
	var sample any
	if len(items) > 0 {
		sample = items[0].keys[rs.field]
	}
	out := items[:0:0]
	var more bool
	for _, it := range items {
		key := it.keys[rs.field]
		if rs.start != "" && sample != nil {
			b, err := boundFor(sample, rs.start)
			if err != nil {
				s.violation(r, "bad Range header: %v", err)
				return reply{}, errorf(http.StatusRequestedRangeNotSatisfiable, "requested_range_not_satisfiable", "Invalid Range header: %v.", err)
			}
			if before(key, b) || (rs.exclusive && compareKeys(key, b) == 0) {
				continue
			}
		}
		if rs.end != "" && sample != nil {
			if b, err := boundFor(sample, rs.end); err == nil && before(b, key) {
				break
			}
		}
		if len(out) == rs.max {
			more = true
			break
		}
		out = append(out, it)
	}
	bodies := make([]any, len(out))
	for i, it := range out {
		bodies[i] = it.body
	}
	status := http.StatusOK
	if len(out) > 0 {
		h.Set("Content-Range", fmt.Sprintf("%s %v..%v", rs.field, out[0].keys[rs.field], out[len(out)-1].keys[rs.field]))
	}
	if more {
		status = http.StatusPartialContent
		next := fmt.Sprintf("%s ]%v..; max=%d", rs.field, out[len(out)-1].keys[rs.field], rs.max)
		if rs.desc {
			next += ", order=desc"
		}
		h.Set("Next-Range", next)
	}
	return reply{status: status, body: bodies, header: h}, nil
}
