package secrets

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// varNameRe is Heroku's rule for config var names.
var varNameRe = regexp.MustCompile(`^\w+$`)

// Flatten turns a decrypted secrets document into config vars:
//
//   - nested mappings join their keys with "_" and the result is upper-cased:
//     github_app.private_key becomes GITHUB_APP_PRIVATE_KEY;
//   - strings are kept as they are; integers, floats and booleans become their
//     YAML text (42, 0.5, true); a float never uses an exponent;
//   - keys are kept as written, so sops's "_unencrypted" suffix stays in the
//     name (DEBUG_UNENCRYPTED): dropping it would make the name depend on a
//     sops setting and could silently collide with an encrypted key;
//   - a list is an error naming its key: a config var is one string, and a
//     JSON encoding chosen here would be a format the app never asked for;
//     write the value as the string the app expects instead;
//   - a null is an error naming its key (write "" for an empty value);
//   - two keys that become the same name (a.b and a_b, or key and KEY) are an
//     error naming both;
//   - names must match Heroku's ^\w+$.
//
// Every problem is reported, joined; messages name keys, never values.
func Flatten(doc map[string]any) (map[string]string, error) {
	f := flattener{out: map[string]string{}, from: map[string]string{}}
	f.walk(doc, nil)
	if len(f.errs) > 0 {
		return nil, errors.Join(f.errs...)
	}
	return f.out, nil
}

type flattener struct {
	out  map[string]string
	from map[string]string // var name -> the dotted key it came from
	errs []error
}

func (f *flattener) walk(m map[string]any, path []string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Sorted so that errors come out in the same order every run.
	sort.Strings(keys)
	for _, k := range keys {
		p := append(path[:len(path):len(path)], k)
		key := strings.Join(p, ".")
		switch v := m[k].(type) {
		case map[string]any:
			f.walk(v, p)
		case []any:
			f.errs = append(f.errs, fmt.Errorf("key %s holds a list; a config var is a single string: write the value as the string the app expects", key))
		case nil:
			f.errs = append(f.errs, fmt.Errorf("key %s has no value; write \"\" for an empty config var or remove the key", key))
		default:
			s, ok := scalarText(v)
			if !ok {
				f.errs = append(f.errs, fmt.Errorf("key %s holds a %T, which cannot become a config var", key, v))
				continue
			}
			f.add(p, key, s)
		}
	}
}

func (f *flattener) add(path []string, key, value string) {
	name := strings.ToUpper(strings.Join(path, "_"))
	if !varNameRe.MatchString(name) {
		f.errs = append(f.errs, fmt.Errorf("key %s becomes config var name %q, but Heroku accepts only letters, digits and underscores: rename the key", key, name))
		return
	}
	if prev, dup := f.from[name]; dup {
		f.errs = append(f.errs, fmt.Errorf("keys %s and %s both become config var %s: rename one of them", prev, key, name))
		return
	}
	f.from[name] = key
	f.out[name] = value
}

func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float64:
		switch {
		case math.IsNaN(v):
			return ".nan", true
		case math.IsInf(v, 1):
			return ".inf", true
		case math.IsInf(v, -1):
			return "-.inf", true
		}
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case time.Time:
		return v.Format(time.RFC3339Nano), true
	}
	return "", false
}
