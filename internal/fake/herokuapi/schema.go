package herokuapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// schemaBase is the id the Platform API schema gives itself; every
// "#/definitions/..." reference resolves against it.
const schemaBase = "http://api.heroku.com/schema"

// apiSchema is the compiled Platform API hyper-schema: the routes its links
// describe, each with the body schema to validate requests against.
type apiSchema struct {
	routes []*route
	// compiler is kept to compile definitions lazily (response checks in
	// tests); compiling is not safe for concurrent use, hence defMu.
	compiler *jsonschema.Compiler
	defMu    sync.Mutex
	defs     map[string]*jsonschema.Schema
}

// route is one method + href template from the schema. Links that share both
// (release create and rollback) are merged: a body is valid when any of their
// schemas accepts it.
type route struct {
	method   string
	key      string // "GET /apps/{app}/builds/{build}": what handlers are registered under
	re       *regexp.Regexp
	params   []routeParam
	literals int // literal path segments; more wins when several templates match
	bodies   []*jsonschema.Schema
	titles   []string
}

type routeParam struct {
	ref    string // "#/definitions/app/definitions/identity"
	schema *jsonschema.Schema
}

var (
	schemaCacheMu sync.Mutex
	// schemaCache holds one compiled schema per schema.json path: compiling
	// the 500 kB document takes long enough to matter when every test starts
	// its own server.
	schemaCache = map[string]func() (*apiSchema, error){}
)

// loadSchema returns the compiled schema at path, compiling it once per process.
func loadSchema(path string) (*apiSchema, error) {
	schemaCacheMu.Lock()
	f, ok := schemaCache[path]
	if !ok {
		f = sync.OnceValues(func() (*apiSchema, error) { return compileSchema(path) })
		schemaCache[path] = f
	}
	schemaCacheMu.Unlock()
	return f()
}

// schemaModule is the module whose schema.json the server validates against: the newest Platform
// API schema heroku-go publishes (docs/heroku.md). The client itself is built on heroku-go v5; v6
// is required only by this package's tests (schema_module_test.go), for its schema.
const schemaModule = "github.com/heroku/heroku-go/v6"

var (
	locateOnce sync.Once
	locatePath string
	locateErr  error
)

// locateSchema finds schemaModule's schema.json in the module cache, asking the go command once:
// it is the same file for every test in the process. go mod download answers from the cache when
// the module is there (a test build put it there) and fetches the version go.mod names otherwise.
func locateSchema() (string, error) {
	locateOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", schemaModule)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			locateErr = fmt.Errorf("failed to locate %s's schema.json with go mod download (set Options.Schema to its path): %w: %s", schemaModule, err, strings.TrimSpace(stderr.String()+" "+string(out)))
			return
		}
		var mod struct{ Dir, Error string }
		if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
			locateErr = fmt.Errorf("go mod download found no directory for %s (%s): run go mod download, or set Options.Schema", schemaModule, mod.Error)
			return
		}
		locatePath = filepath.Join(mod.Dir, "schema.json")
	})
	return locatePath, locateErr
}

// strictToAdditional turns the hyper-schema keyword strictProperties, which draft-04 validators
// ignore, into additionalProperties: false wherever the schema sets it without saying otherwise, so
// that an object carrying a property the schema does not list (source_blob.checksum on a review app,
// a name beside a promotion target's app id) is refused as Heroku refuses it. Heroku's own validator
// (the json_schema gem) also requires every listed property under strictProperties; the API does
// not (builds without source_blob.checksum or version_description are documented and accepted), so
// that half is not enforced (docs/heroku.md).
func strictToAdditional(v any) {
	switch n := v.(type) {
	case map[string]any:
		if strict, _ := n["strictProperties"].(bool); strict {
			if _, set := n["additionalProperties"]; !set {
				n["additionalProperties"] = false
			}
		}
		for _, c := range n {
			strictToAdditional(c)
		}
	case []any:
		for _, c := range n {
			strictToAdditional(c)
		}
	}
}

func compileSchema(path string) (*apiSchema, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read the Platform API schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("failed to parse the Platform API schema %s: %w", path, err)
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("platform API schema %s is not a JSON object", path)
	}
	defs, ok := top["definitions"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("platform API schema %s has no definitions", path)
	}
	// The document and each definition name hyper-schema meta-schemas that
	// are not published in a loadable form; the keywords that validate are
	// plain draft-04, so validate against that instead.
	delete(top, "$schema")
	for _, d := range defs {
		if m, ok := d.(map[string]any); ok {
			delete(m, "$schema")
		}
	}
	strictToAdditional(top)

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	c.AssertFormat()
	c.UseRegexpEngine(compileRegexp)
	if err := c.AddResource(schemaBase, doc); err != nil {
		return nil, fmt.Errorf("failed to load the Platform API schema %s: %w", path, err)
	}

	s := &apiSchema{compiler: c, defs: map[string]*jsonschema.Schema{}}
	byKey := map[string]*route{}
	names := make([]string, 0, len(defs))
	for name := range defs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		def, _ := defs[name].(map[string]any)
		links, _ := def["links"].([]any)
		for i, l := range links {
			link, _ := l.(map[string]any)
			method, _ := link["method"].(string)
			href, _ := link["href"].(string)
			if method == "" || href == "" {
				continue
			}
			key, re, refs, literals, err := parseHref(method, href)
			if err != nil {
				return nil, fmt.Errorf("platform API schema link %s %s: %w", method, href, err)
			}
			rt := byKey[key]
			if rt == nil {
				rt = &route{method: method, key: key, re: re, literals: literals}
				for _, ref := range refs {
					ps, err := c.Compile(schemaBase + ref)
					if err != nil {
						return nil, fmt.Errorf("failed to compile %s: %w", ref, err)
					}
					rt.params = append(rt.params, routeParam{ref: ref, schema: ps})
				}
				byKey[key] = rt
				s.routes = append(s.routes, rt)
			}
			title, _ := link["title"].(string)
			rt.titles = append(rt.titles, name+" "+title)
			if _, ok := link["schema"]; ok {
				bs, err := c.Compile(fmt.Sprintf("%s#/definitions/%s/links/%d/schema", schemaBase, name, i))
				if err != nil {
					return nil, fmt.Errorf("failed to compile the body schema of %s %s: %w", method, href, err)
				}
				rt.bodies = append(rt.bodies, bs)
			}
		}
	}
	return s, nil
}

var hrefParam = regexp.MustCompile(`\{\(([^)]*)\)\}`)

// parseHref turns "/apps/{(%23%2Fdefinitions%2Fapp%2Fdefinitions%2Fidentity)}/builds"
// into the handler key "GET /apps/{app}/builds", a regexp capturing each
// parameter, and the definitions the parameters must match.
func parseHref(method, href string) (key string, re *regexp.Regexp, refs []string, literals int, err error) {
	var pat, k strings.Builder
	pat.WriteString("^")
	k.WriteString(method + " ")
	for _, seg := range strings.Split(strings.TrimPrefix(href, "/"), "/") {
		pat.WriteString("/")
		k.WriteString("/")
		m := hrefParam.FindStringSubmatch(seg)
		if m == nil {
			literals++
			pat.WriteString(regexp.QuoteMeta(seg))
			k.WriteString(seg)
			continue
		}
		if m[0] != seg {
			return "", nil, nil, 0, fmt.Errorf("segment %q mixes a parameter with text", seg)
		}
		ref, uerr := url.PathUnescape(m[1])
		if uerr != nil {
			return "", nil, nil, 0, uerr
		}
		parts := strings.Split(ref, "/") // #, definitions, <resource>, definitions, <field>
		if len(parts) < 3 {
			return "", nil, nil, 0, fmt.Errorf("unexpected parameter reference %q", ref)
		}
		refs = append(refs, ref)
		pat.WriteString("([^/]+)")
		k.WriteString("{" + parts[2] + "}")
	}
	pat.WriteString("$")
	re, err = regexp.Compile(pat.String())
	return k.String(), re, refs, literals, err
}

// match finds the route for a request path (escaped, without query). It
// returns the route and its unescaped parameters, or the reason none fits.
func (s *apiSchema) match(method, escapedPath string) (*route, []string, error) {
	var best *route
	var bestParams []string
	var paramErr error
	pathKnown := false
	for _, rt := range s.routes {
		m := rt.re.FindStringSubmatch(escapedPath)
		if m == nil {
			continue
		}
		pathKnown = true
		if rt.method != method {
			continue
		}
		params := make([]string, len(rt.params))
		ok := true
		for i, p := range rt.params {
			v, err := url.PathUnescape(m[i+1])
			if err != nil || !p.accepts(v) {
				ok = false
				if paramErr == nil {
					paramErr = fmt.Errorf("path parameter %q is not a valid %s", v, p.ref)
				}
				break
			}
			params[i] = v
		}
		if !ok {
			continue
		}
		if best == nil || rt.literals > best.literals {
			best, bestParams = rt, params
		}
	}
	switch {
	case best != nil:
		return best, bestParams, nil
	case paramErr != nil:
		return nil, nil, paramErr
	case pathKnown:
		return nil, nil, fmt.Errorf("the schema has no %s link for this path", method)
	default:
		return nil, nil, errors.New("no link in the schema matches this path")
	}
}

// accepts reports whether a path parameter fits its definition. Identities
// like a release's accept an integer (the version), which a path carries as
// text.
func (p routeParam) accepts(v string) bool {
	if p.schema.Validate(v) == nil {
		return true
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		var n any
		if n, err = jsonschema.UnmarshalJSON(strings.NewReader(v)); err == nil {
			return p.schema.Validate(n) == nil
		}
	}
	return false
}

// definition compiles (once) and returns the schema at ref, such as
// "#/definitions/build": tests validate responses against it.
func (s *apiSchema) definition(ref string) (*jsonschema.Schema, error) {
	s.defMu.Lock()
	defer s.defMu.Unlock()
	if d, ok := s.defs[ref]; ok {
		return d, nil
	}
	d, err := s.compiler.Compile(schemaBase + ref)
	if err != nil {
		return nil, err
	}
	s.defs[ref] = d
	return d, nil
}

// compileRegexp compiles schema patterns with Go's RE2. One pattern in the
// schema (a space name) uses a lookahead, which RE2 lacks; such patterns are
// not enforced rather than failing the whole schema.
func compileRegexp(p string) (jsonschema.Regexp, error) {
	re, err := regexp.Compile(p)
	if err != nil {
		return unenforced(p), nil
	}
	return re, nil
}

type unenforced string

func (u unenforced) String() string          { return string(u) }
func (u unenforced) MatchString(string) bool { return true }

// describe renders a validation error without instance values: request
// bodies carry config vars, whose values must never reach a log. It names
// where each problem is and which keyword failed.
func describe(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return "invalid body"
	}
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := "/" + strings.Join(e.InstanceLocation, "/")
			switch k := e.ErrorKind.(type) {
			case *kind.Required:
				out = append(out, fmt.Sprintf("%s: missing %s", loc, strings.Join(k.Missing, ", ")))
			case *kind.AdditionalProperties:
				out = append(out, fmt.Sprintf("%s: unexpected %s", loc, strings.Join(k.Properties, ", ")))
			case *kind.Type:
				out = append(out, fmt.Sprintf("%s: got %s, want %s", loc, k.Got, strings.Join(k.Want, " or ")))
			case *kind.Format:
				out = append(out, fmt.Sprintf("%s: not a valid %s", loc, k.Want))
			case *kind.Pattern:
				out = append(out, fmt.Sprintf("%s: does not match %s", loc, k.Want))
			default:
				kw := "schema"
				if e.ErrorKind != nil {
					if kp := e.ErrorKind.KeywordPath(); len(kp) > 0 {
						kw = strings.Join(kp, "/")
					}
				}
				out = append(out, fmt.Sprintf("%s: fails %q", loc, kw))
			}
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.Strings(out)
	out = dedupe(out)
	return strings.Join(out, "; ")
}

func dedupe(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
