package herokuapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Heroku serves sources from S3 and output streams from its build-output
// service, outside the Platform API (no Accept header, no token). This server
// serves both under its own host at these prefixes.
const (
	blobPrefix   = "/blobs/"
	streamPrefix = "/streams/"
)

// newBlob is POST /sources: a place to upload a source tarball to, with
// separately signed GET and PUT URLs like S3 presigned ones. The caller holds
// the lock.
func (s *Server) newBlob() *blobRec {
	b := &blobRec{id: newID(), getSig: randHex(40), putSig: randHex(40), created: s.now()}
	s.blobs[b.id] = b
	return b
}

// blobURL is a presigned URL in S3's parameter order (SignedHeaders before Signature, not
// sorted), so that a client comparing it with what Heroku stores (normalized, see
// normalizeSourceURL) learns that the two need not be equal byte for byte.
func (s *Server) blobURL(b *blobRec, sig string) string {
	return fmt.Sprintf("%s%s%s?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAFAKE%%2F%s%%2Fus-east-1%%2Fs3%%2Faws4_request&X-Amz-Date=%sT000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=%s",
		s.base, blobPrefix, b.id, b.created.Format("20060102"), b.created.Format("20060102"), sig)
}

// normalizeSourceURL is what this server stores of a build's source_blob.url: the URL with its
// query decoded and encoded again (parameters sorted, escaping redone), as a server that parses
// the URL it is given may. The URL still fetches the same blob; only its bytes differ.
func normalizeSourceURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return raw
	}
	u.RawQuery = u.Query().Encode()
	return u.String()
}

// s3Error answers like S3 does: XML, with a code clients can show.
func s3Error(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>\n", code, message)
}

func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.blobs[strings.TrimPrefix(r.URL.Path, blobPrefix)]
	if b == nil {
		s3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	}
	sig := r.URL.Query().Get("X-Amz-Signature")
	switch r.Method {
	case http.MethodPut:
		if sig != b.putSig {
			s.violation(r, "upload to a URL that is not the source's put_url")
			s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
			return
		}
		// The put_url is signed without a content type: S3 rejects one,
		// which is why Heroku's docs upload with an empty Content-Type.
		if ct := r.Header.Get("Content-Type"); ct != "" {
			s.violation(r, "upload with Content-Type %q; the put_url is signed for an empty Content-Type", ct)
			s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
			return
		}
		// S3 does not take chunked uploads to presigned URLs.
		if r.ContentLength < 0 {
			s.violation(r, "upload without Content-Length (chunked); S3 requires the length")
			s3Error(w, http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")
			return
		}
		b.data = append([]byte(nil), body...)
		b.uploaded = true
		sum := sha256.Sum256(body)
		w.Header().Set("ETag", strconv.Quote(hex.EncodeToString(sum[:16])))
		w.WriteHeader(http.StatusOK)
	case http.MethodGet, http.MethodHead:
		if sig != b.getSig {
			s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
			return
		}
		if !b.uploaded {
			s3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(b.data)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(b.data)
		}
	default:
		s3Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	}
}

func (s *Server) streamURL(kind, id string) string {
	return s.base + streamPrefix + kind + "/" + id
}

// serveStream follows a build or release log as text/plain until the
// process ends, flushing as lines arrive. "Range: bytes=N-" resumes after a
// disconnect, like Heroku's output streams: the answer is 206 Partial Content
// with a Content-Range naming the first byte sent.
//
// drop >= 0 breaks the connection after that many bytes of this response (a
// fault injected with Disrupt); -1 serves the stream whole.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, drop int) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	kind, id, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, streamPrefix), "/")
	s.mu.Lock()
	var l *outputLog
	switch kind {
	case "builds":
		if b := s.builds[id]; b != nil {
			l = b.log
		}
	case "releases":
		if rel := s.releases[id]; rel != nil {
			l = rel.log
		}
	case "test-setup":
		if n := s.ci.nodes[id]; n != nil {
			l = n.setup
		}
	case "test-output":
		if n := s.ci.nodes[id]; n != nil {
			l = n.output
		}
	}
	s.mu.Unlock()
	if l == nil {
		http.Error(w, "stream not found", http.StatusNotFound)
		return
	}
	off := 0
	if rg := r.Header.Get("Range"); rg != "" {
		n, ok := strings.CutPrefix(rg, "bytes=")
		n, _, _ = strings.Cut(n, "-")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v < 0 {
			http.Error(w, "unsupported Range: send bytes=N-", http.StatusRequestedRangeNotSatisfiable)
			return
		}
		off = v
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	if off > 0 {
		s.mu.Lock()
		size, done := len(l.data), l.done
		s.mu.Unlock()
		if off >= size && done {
			// Everything was sent before the client reconnected.
			w.Header().Set("Content-Range", "bytes */"+strconv.Itoa(size))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		// A resumed stream is partial content: the body starts at byte off. The total is unknown
		// while the process still writes, as in "bytes N-M/*".
		total := "*"
		if done {
			total = strconv.Itoa(size)
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%s", off, max(size-1, off), total))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.WriteHeader(http.StatusOK)
	}
	flusher, _ := w.(http.Flusher)
	sent := 0
	for {
		s.mu.Lock()
		var chunk []byte
		if off < len(l.data) {
			chunk = append(chunk, l.data[off:]...)
			off = len(l.data)
		}
		done, wake := l.done, l.wake
		s.mu.Unlock()
		if drop >= 0 && sent+len(chunk) > drop {
			// A dropped stream: what fits is sent, then the connection breaks mid-body.
			_, _ = w.Write(chunk[:drop-sent])
			if flusher != nil {
				flusher.Flush()
			}
			panic(http.ErrAbortHandler)
		}
		sent += len(chunk)
		if len(chunk) > 0 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
		if done {
			return
		}
		select {
		case <-wake:
		case <-r.Context().Done():
			return
		}
	}
}
