package githubapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SpecDir is where fetch-spec.sh puts GitHub's OpenAPI description, relative to the module root.
const SpecDir = ".cache/octokit-openapi"

// SpecFile is the name of the dereferenced api.github.com description inside SpecDir, and
// TrimmedSpecFile the same trimmed by fetch-spec.sh to operations, parameters and request bodies
// (parsing the full one takes seconds, and over 20 s under -race). LocateSpec prefers the trimmed one.
const (
	SpecFile        = "api.github.com.deref.json"
	TrimmedSpecFile = "api.github.com.requests.json"
)

// FetchHint tells a person how to get the description when it is missing.
const FetchHint = "run internal/fake/githubapi/fetch-spec.sh (needs npm) to fetch GitHub's OpenAPI description into " + SpecDir

// LocateSpec finds the description that fetch-spec.sh fetched, by walking up from dir to the
// module root (the directory holding go.mod). It returns "" and no error when the module has no
// fetched copy.
func LocateSpec(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("failed to locate the module root from %q: %w", dir, err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			for _, name := range []string{TrimmedSpecFile, SpecFile} {
				p := filepath.Join(dir, SpecDir, name)
				_, err := os.Stat(p)
				if err == nil {
					return p, nil
				}
				if !errors.Is(err, fs.ErrNotExist) {
					return "", fmt.Errorf("failed to read GitHub's OpenAPI description %q: %w", p, err)
				}
			}
			return "", nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

// spec is the part of GitHub's OpenAPI description the fake uses: the operations by path
// template and method, with their parameters and request body schemas. Everything else
// (responses, examples, components) is dropped while decoding to keep memory and load time low.
type spec struct {
	ops map[string]map[string]*operation // template -> method -> operation
	// templates in matching order: more literal segments first, so that
	// /repos/{owner}/{repo}/issues/comments wins over /repos/{owner}/{repo}/issues/{issue_number}.
	templates []string
}

type operation struct {
	ID         string
	Template   string
	Method     string
	Parameters []parameter
	// BodyRequired is the requestBody's "required"; Body the raw JSON schema of its
	// application/json content, nil when the operation takes no JSON body.
	BodyRequired bool
	Body         json.RawMessage

	once   sync.Once
	schema *jsonschema.Schema
	err    error
}

type parameter struct {
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
	Schema   struct {
		Type    string   `json:"type"`
		Enum    []any    `json:"enum"`
		Minimum *float64 `json:"minimum"`
		Maximum *float64 `json:"maximum"`
	} `json:"schema"`
}

// The decoding types name only the fields kept; encoding/json skips the rest without allocating.
type rawSpec struct {
	OpenAPI string                 `json:"openapi"`
	Paths   map[string]rawPathItem `json:"paths"`
}

type rawPathItem struct {
	Parameters []parameter   `json:"parameters"`
	Get        *rawOperation `json:"get"`
	Post       *rawOperation `json:"post"`
	Put        *rawOperation `json:"put"`
	Patch      *rawOperation `json:"patch"`
	Delete     *rawOperation `json:"delete"`
}

type rawOperation struct {
	OperationID string      `json:"operationId"`
	Parameters  []parameter `json:"parameters"`
	RequestBody *struct {
		Required bool `json:"required"`
		Content  map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
}

// Parsing a description takes from tens of milliseconds (trimmed) to seconds (full), so each file
// is parsed once per process and shared by every Server (tests start many).
var (
	specMu    sync.Mutex
	specCache = map[string]*specEntry{}
)

type specEntry struct {
	once sync.Once
	spec *spec
	err  error
}

func loadSpec(path string) (*spec, error) {
	specMu.Lock()
	e, ok := specCache[path]
	if !ok {
		e = &specEntry{}
		specCache[path] = e
	}
	specMu.Unlock()
	e.once.Do(func() { e.spec, e.err = parseSpec(path) })
	return e.spec, e.err
}

func parseSpec(path string) (*spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to open GitHub's OpenAPI description %q (%s): %w", path, FetchHint, err)
	}
	defer f.Close()
	var raw rawSpec
	if err := json.NewDecoder(f).Decode(&raw); err != nil {
		return nil, fmt.Errorf("failed to parse GitHub's OpenAPI description %q (%s again): %w", path, FetchHint, err)
	}
	if !strings.HasPrefix(raw.OpenAPI, "3.") || len(raw.Paths) == 0 {
		return nil, fmt.Errorf("%q is not an OpenAPI 3 description with paths: %s again", path, FetchHint)
	}
	s := &spec{ops: map[string]map[string]*operation{}}
	for tmpl, item := range raw.Paths {
		for method, ro := range map[string]*rawOperation{
			"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete,
		} {
			if ro == nil {
				continue
			}
			op := &operation{ID: ro.OperationID, Template: tmpl, Method: method}
			op.Parameters = append(append(op.Parameters, item.Parameters...), ro.Parameters...)
			if rb := ro.RequestBody; rb != nil {
				if c, ok := rb.Content["application/json"]; ok && len(c.Schema) > 0 {
					op.BodyRequired = rb.Required
					op.Body = c.Schema
				}
			}
			if s.ops[tmpl] == nil {
				s.ops[tmpl] = map[string]*operation{}
			}
			s.ops[tmpl][method] = op
		}
		s.templates = append(s.templates, tmpl)
	}
	sortTemplates(s.templates)
	return s, nil
}

// sortTemplates orders templates for matching: longer ones first, so that a parameter that may
// hold slashes ({ref}) never swallows a suffix such as /check-runs; then, for one length, a
// literal segment before a parameter at the same position
// (/issues/comments before /issues/{issue_number}).
func sortTemplates(ts []string) {
	key := func(t string) string {
		var b strings.Builder
		for _, seg := range strings.Split(t, "/") {
			if strings.HasPrefix(seg, "{") {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		}
		return b.String()
	}
	sort.Slice(ts, func(i, j int) bool {
		ki, kj := key(ts[i]), key(ts[j])
		if len(ki) != len(kj) {
			return len(ki) > len(kj)
		}
		if ki != kj {
			return ki < kj
		}
		return ts[i] < ts[j]
	})
}

// match finds the operation for a request; the path is given as unescaped segments.
// ok is false when no template matches; op is nil when a template matches but not the method.
func (s *spec) match(method string, segs []string) (op *operation, tmpl string, ok bool) {
	for _, t := range s.templates {
		if _, matched := matchTemplate(t, segs); matched {
			return s.ops[t][method], t, true
		}
	}
	return nil, "", false
}

// multiSegment names the path parameters that may hold slashes (git refs such as
// "feature/x"), which clients such as go-github send unescaped.
var multiSegment = map[string]bool{"ref": true, "basehead": true, "path": true}

// matchTemplate matches path segments against a template like
// /repos/{owner}/{repo}/commits/{ref}, returning the parameter values.
func matchTemplate(tmpl string, segs []string) (map[string]string, bool) {
	ts := strings.Split(strings.TrimPrefix(tmpl, "/"), "/")
	multi := -1
	for i, t := range ts {
		if multiSegment[strings.Trim(t, "{}")] && strings.HasPrefix(t, "{") {
			multi = i
			break
		}
	}
	if len(segs) != len(ts) && (multi < 0 || len(segs) < len(ts)) {
		return nil, false
	}
	params := map[string]string{}
	extra := len(segs) - len(ts)
	si := 0
	for i, t := range ts {
		take := 1
		if i == multi {
			take += extra
		}
		seg := strings.Join(segs[si:si+take], "/")
		si += take
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			if seg == "" {
				return nil, false
			}
			params[t[1:len(t)-1]] = seg
			continue
		}
		if seg != t {
			return nil, false
		}
	}
	return params, true
}

// compiled returns the operation's request body schema, compiled on first use: only a handful of
// the ~1000 operations are ever called.
func (op *operation) compiled() (*jsonschema.Schema, error) {
	op.once.Do(func() {
		if op.Body == nil {
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(op.Body))
		if err != nil {
			op.err = fmt.Errorf("failed to read the request body schema of %s %s: %w", op.Method, op.Template, err)
			return
		}
		c := jsonschema.NewCompiler()
		// OpenAPI 3.0 schemas are close to draft 4 (boolean exclusiveMinimum, no $defs).
		c.DefaultDraft(jsonschema.Draft4)
		c.AssertFormat()
		loc := "mem:///" + op.ID + ".json"
		if err := c.AddResource(loc, fromOpenAPI(doc)); err != nil {
			op.err = fmt.Errorf("failed to load the request body schema of %s %s: %w", op.Method, op.Template, err)
			return
		}
		op.schema, op.err = c.Compile(loc)
		if op.err != nil {
			op.err = fmt.Errorf("failed to compile the request body schema of %s %s: %w", op.Method, op.Template, op.err)
		}
	})
	return op.schema, op.err
}

// fromOpenAPI turns an OpenAPI 3.0 schema object into JSON Schema: "nullable: true" becomes
// "or null", which JSON Schema has no keyword for; OpenAPI-only keywords are dropped.
func fromOpenAPI(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			switch k {
			case "nullable", "example", "examples", "discriminator", "xml", "externalDocs", "readOnly", "writeOnly", "deprecated":
				continue
			case "properties", "patternProperties", "definitions":
				// maps of name -> schema: keep the names, convert the schemas.
				if m, ok := x.(map[string]any); ok {
					mm := make(map[string]any, len(m))
					for name, s := range m {
						mm[name] = fromOpenAPI(s)
					}
					out[k] = mm
					continue
				}
			case "enum", "default", "const":
				out[k] = x
				continue
			}
			if strings.HasPrefix(k, "x-") {
				continue
			}
			out[k] = fromOpenAPI(x)
		}
		if n, _ := v["nullable"].(bool); n {
			if e, ok := out["enum"].([]any); ok {
				out["enum"] = append(append([]any{}, e...), nil)
			}
			return map[string]any{"anyOf": []any{out, map[string]any{"type": "null"}}}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = fromOpenAPI(x)
		}
		return out
	default:
		return v
	}
}

// fieldError is one entry of a 422 answer's "errors", shaped as GitHub's.
type fieldError struct {
	Resource string `json:"resource,omitempty"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

// validateBody checks a request body against the operation's schema; it returns the problems,
// none when the body is valid.
func (op *operation) validateBody(body []byte) ([]fieldError, error) {
	sch, err := op.compiled()
	if err != nil || sch == nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if op.BodyRequired {
			return []fieldError{{Code: "missing", Message: "a JSON request body is required"}}, nil
		}
		return nil, nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return []fieldError{{Code: "invalid", Message: "the body is not JSON: " + err.Error()}}, nil
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, fmt.Errorf("failed to validate the body of %s %s: %w", op.Method, op.Template, err)
	}
	// One entry per field, as GitHub reports them; alternatives (anyOf for a nullable enum)
	// give several messages for one field, joined here.
	var out []fieldError
	at := map[string]int{}
	var walk func(u jsonschema.OutputUnit)
	walk = func(u jsonschema.OutputUnit) {
		if u.Error != nil && len(u.Errors) == 0 {
			f, msg := fieldName(u.InstanceLocation), u.Error.String()
			if i, ok := at[f]; ok {
				if !strings.Contains(out[i].Message, msg) {
					out[i].Message += " or " + msg
				}
			} else {
				at[f] = len(out)
				out = append(out, fieldError{Field: f, Code: "invalid", Message: msg})
			}
		}
		for _, e := range u.Errors {
			walk(e)
		}
	}
	walk(*ve.BasicOutput())
	if len(out) == 0 {
		out = append(out, fieldError{Code: "invalid", Message: ve.Error()})
	}
	return out, nil
}

// fieldName turns a JSON pointer (/output/annotations/3) into GitHub's dotted field name
// (output.annotations[3]).
func fieldName(ptr string) string {
	var b strings.Builder
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

// validateQuery checks the query parameters the operation declares with a simple schema
// (integers, booleans, enums); others are accepted as GitHub ignores what it does not know.
func (op *operation) validateQuery(q map[string][]string) []fieldError {
	var out []fieldError
	for _, p := range op.Parameters {
		if p.In != "query" {
			continue
		}
		vals, ok := q[p.Name]
		if !ok {
			if p.Required {
				out = append(out, fieldError{Field: p.Name, Code: "missing_field", Message: fmt.Sprintf("query parameter %q is required", p.Name)})
			}
			continue
		}
		for _, v := range vals {
			if msg := checkParam(p, v); msg != "" {
				out = append(out, fieldError{Field: p.Name, Code: "invalid", Message: msg})
			}
		}
	}
	return out
}

func checkParam(p parameter, v string) string {
	switch p.Schema.Type {
	case "integer":
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n != float64(int64(n)) {
			return fmt.Sprintf("query parameter %q must be an integer, got %q", p.Name, v)
		}
		if p.Schema.Minimum != nil && n < *p.Schema.Minimum {
			return fmt.Sprintf("query parameter %q must be at least %v, got %q", p.Name, *p.Schema.Minimum, v)
		}
		if p.Schema.Maximum != nil && n > *p.Schema.Maximum {
			return fmt.Sprintf("query parameter %q must be at most %v, got %q", p.Name, *p.Schema.Maximum, v)
		}
	case "boolean":
		if v != "true" && v != "false" {
			return fmt.Sprintf("query parameter %q must be true or false, got %q", p.Name, v)
		}
	}
	if len(p.Schema.Enum) > 0 {
		var names []string
		for _, e := range p.Schema.Enum {
			s := fmt.Sprint(e)
			if s == v {
				return ""
			}
			names = append(names, s)
		}
		return fmt.Sprintf("query parameter %q must be one of %s, got %q", p.Name, strings.Join(names, ", "), v)
	}
	return ""
}
