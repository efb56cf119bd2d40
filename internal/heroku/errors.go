package heroku

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// APIError is a non-2xx answer from the Platform API. Heroku's error bodies are {id, message};
// ID is the machine-readable kind ("not_found", "rate_limit", ...).
type APIError struct {
	Status       int
	ID, Message  string
	Method, Path string
}

func (e *APIError) Error() string {
	if e.Status == http.StatusForbidden && e.ID == "two_factor" {
		// Heroku asks a second factor of some operations (accounts or teams that require two-factor
		// authentication); the CLI prompts for a code and resends with Heroku-Two-Factor-Code. A
		// workflow cannot type one: it needs a token made for automation.
		return fmt.Sprintf("heroku: %s %s needs a second authentication factor (two_factor, HTTP 403), which a workflow cannot give: "+
			"set heroku_api_key to an authorization made for automation, e.g. `heroku authorizations:create --description deploy-action`, "+
			"instead of a user's API key (Heroku said: %s)", e.Method, e.Path, e.Message)
	}
	if e.ID == "" {
		return fmt.Sprintf("heroku: %s (HTTP %d) on %s %s", e.Message, e.Status, e.Method, e.Path)
	}
	return fmt.Sprintf("heroku: %s (%s, HTTP %d) on %s %s", e.Message, e.ID, e.Status, e.Method, e.Path)
}

func newAPIError(resp *http.Response, method, path string) *APIError {
	e := &APIError{Status: resp.StatusCode, Method: method, Path: path}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var b struct{ ID, Message string }
	if json.Unmarshal(body, &b) == nil && (b.ID != "" || b.Message != "") {
		e.ID, e.Message = b.ID, b.Message
	}
	if e.Message == "" {
		e.Message = strings.ToLower(http.StatusText(resp.StatusCode))
		if e.Message == "" {
			e.Message = "unexpected response"
		}
	}
	// The message is kept whole (the body is bounded above, and a body that is not JSON, such as a
	// proxy's HTML page, is replaced by the status text): it may quote a config var value, and a cut
	// here, before the action scrubs what it sends to GitHub, could leave a piece of one that no
	// longer matches (docs/security.md, section 1). What is shown is clipped after scrubbing.
	return e
}

// statusOf is the HTTP status of err when it is an *APIError, else 0.
func statusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// ErrNoApp is wrapped by AppAtStage when no app is coupled to the pipeline at the stage.
var ErrNoApp = errors.New("no app is coupled at this stage")

// ErrNoRelease is wrapped by CurrentRelease when the app has no current, succeeded release.
var ErrNoRelease = errors.New("no current release")

// FailedError says a build, release, review app or promotion target ended badly. Message is
// Heroku's own explanation when it gives one.
type FailedError struct {
	What    string // "build", "release", "review app", "promotion"
	ID      string
	Status  string // Heroku's final status: failed, errored, deleted
	Message string
}

func (e *FailedError) Error() string {
	s := fmt.Sprintf("heroku: %s %s %s", e.What, e.ID, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}
