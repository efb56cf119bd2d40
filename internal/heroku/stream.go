package heroku

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

const (
	// streamNotReady bounds how often a stream that is not there yet (404) is asked for again:
	// Heroku creates the stream shortly after the build or release.
	streamNotReady = 30
	// streamDrops bounds reconnections that bring no new bytes.
	streamDrops = 5
)

// Stream copies the output at url (a build's or release's output_stream_url) to w until it ends.
// Stream URLs need no credentials, so none are sent. When the connection drops, Stream reconnects
// with a Range header from the last byte it wrote, so w sees every byte once.
func (c *Client) Stream(ctx context.Context, url string, w io.Writer) error {
	var written int64
	notReady, drops := 0, 0
	for {
		n, done, err := c.streamOnce(ctx, url, written, w)
		written += n
		if done {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errNotReady) {
			notReady++
			if notReady > streamNotReady {
				return fmt.Errorf("heroku: output stream %s: still not available after %d tries", redactURL(url), streamNotReady)
			}
		} else {
			var we *writeError
			if errors.As(err, &we) {
				return we.err
			}
			if n > 0 {
				drops = 0
			}
			drops++
			if drops > streamDrops {
				return fmt.Errorf("heroku: output stream %s: gave up after %d reconnections: %w", redactURL(url), streamDrops, err)
			}
		}
		if err := c.sleep(ctx, c.poll); err != nil {
			return err
		}
	}
}

var errNotReady = errors.New("output stream not available yet")

// writeError is a failure of the destination, which no reconnection cures.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// streamOnce reads url from byte offset on, writing to w. done reports the stream ended cleanly.
func (c *Client) streamOnce(ctx context.Context, url string, offset int64, w io.Writer) (n int64, done bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, false, &writeError{fmt.Errorf("heroku: output stream %s: %w", redactURL(url), err)}
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := c.raw.Do(req)
	if err != nil {
		return 0, false, clean(err)
	}
	defer resp.Body.Close()
	body := io.Reader(resp.Body)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return 0, false, errNotReady
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		return 0, true, nil // everything was written before the drop
	case resp.StatusCode == http.StatusPartialContent:
		// A resumed stream: the body starts where Content-Range says, which should be offset. A
		// server that leaves the header out is taken to have honoured the Range sent.
		start, ok := rangeStart(resp.Header.Get("Content-Range"))
		if !ok {
			start = offset
		}
		switch {
		case start > offset:
			return 0, false, fmt.Errorf("heroku: output stream %s: resumed at byte %d, but %d bytes were read: output would be lost", redactURL(url), start, offset)
		case start < offset:
			if _, err := io.CopyN(io.Discard, resp.Body, offset-start); err != nil {
				return 0, false, err
			}
		}
	case resp.StatusCode == http.StatusOK:
		// The server ignored Range: skip what w already has.
		if offset > 0 {
			if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
				return 0, false, err
			}
		}
	default:
		return 0, false, fmt.Errorf("heroku: output stream %s: HTTP %d", redactURL(url), resp.StatusCode)
	}
	n, err = io.Copy(writerFunc(func(b []byte) (int, error) {
		k, werr := w.Write(b)
		if werr != nil {
			return k, &writeError{fmt.Errorf("writing the output stream: %w", werr)}
		}
		return k, nil
	}), body)
	if err != nil {
		return n, false, err
	}
	return n, true, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// rangeStart reads the first byte position of a Content-Range header: "bytes 100-199/*" is 100.
func rangeStart(v string) (int64, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
