package githubapi

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
)

// maxContentSize is the largest file whose content GitHub puts in a contents answer: for files of 1
// to 100 MB the answer has "encoding": "none" and an empty "content" (GitHub's REST docs, "Get
// repository content").
const maxContentSize = 1 << 20

// AddFile puts a file at path (slash-separated, relative to the repository root) into commit's
// tree, for GET /repos/{owner}/{repo}/contents/{path}?ref=. The commit must be added with
// AddCommit for a ref to reach it; a branch reaches it through SetBranch.
func (s *Server) AddFile(repo, commit, filePath string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.seedRepo(repo)
	if r.files == nil {
		r.files = map[string]map[string][]byte{}
	}
	if r.files[commit] == nil {
		r.files[commit] = map[string][]byte{}
	}
	r.files[commit][strings.Trim(filePath, "/")] = append([]byte(nil), data...)
}

// blobSHA is git's object name of a blob: what GitHub answers as a file's "sha".
func blobSHA(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// wrapBase64 breaks base64 text into lines of 60 characters, each ended by \n, as GitHub's contents
// answers carry it (clients must ignore the newlines when decoding).
func wrapBase64(s string) string {
	var b strings.Builder
	for len(s) > 60 {
		b.WriteString(s[:60])
		b.WriteByte('\n')
		s = s[60:]
	}
	b.WriteString(s)
	b.WriteByte('\n')
	return b.String()
}

// getContents answers GET /repos/{owner}/{repo}/contents/{path} as GitHub does for files and
// directories: the ref query parameter (a branch, a commit SHA; default the default branch) picks
// the commit; an unknown ref is 404 "No commit found for the ref <ref>", a path the commit does not
// have is 404 "Not Found"; a file is an object with its content in base64 (wrapped in lines), a
// directory a list of its entries without content.
func getContents(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	ref := c.r.URL.Query().Get("ref")
	if ref == "" {
		ref = r.defaultBranch
	}
	sha, ok := r.resolve(ref)
	if !ok {
		c.fail(http.StatusNotFound, "No commit found for the ref "+ref)
		return
	}
	p := strings.Trim(c.params["path"], "/")
	files := r.files[sha]
	if data, ok := files[p]; ok {
		c.json(http.StatusOK, c.s.contentJSON(r, ref, p, data, true))
		return
	}
	var entries []map[string]any
	seen := map[string]bool{}
	var names []string
	for fp := range files {
		rest, ok := strings.CutPrefix(fp, p+"/")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, "/")
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		c.fail(http.StatusNotFound, "Not Found")
		return
	}
	sort.Strings(names)
	for _, name := range names {
		full := p + "/" + name
		if data, ok := files[full]; ok {
			entries = append(entries, c.s.contentJSON(r, ref, full, data, false))
			continue
		}
		entries = append(entries, c.s.dirJSON(r, ref, full))
	}
	c.json(http.StatusOK, entries)
}

func (s *Server) contentURLs(r *repo, ref, p, kind, sha string) map[string]any {
	self := fmt.Sprintf("%s/contents/%s?ref=%s", s.repoURL(r), p, url.QueryEscape(ref))
	gitURL := fmt.Sprintf("%s/git/%s/%s", s.repoURL(r), kind, sha)
	html := htmlURL(fmt.Sprintf("%s/%s/%s/%s", r.fullName, map[string]string{"blobs": "blob", "trees": "tree"}[kind], ref, p))
	return map[string]any{"url": self, "git_url": gitURL, "html_url": html, "_links": map[string]any{"self": self, "git": gitURL, "html": html}}
}

func (s *Server) contentJSON(r *repo, ref, p string, data []byte, withContent bool) map[string]any {
	sha := blobSHA(data)
	out := s.contentURLs(r, ref, p, "blobs", sha)
	out["type"], out["name"], out["path"], out["sha"], out["size"] = "file", path.Base(p), p, sha, len(data)
	out["download_url"] = fmt.Sprintf("https://raw.githubusercontent.com/%s/%s/%s", r.fullName, ref, p)
	if withContent {
		out["encoding"], out["content"] = "base64", wrapBase64(base64.StdEncoding.EncodeToString(data))
		if len(data) > maxContentSize {
			out["encoding"], out["content"] = "none", ""
		}
	}
	return out
}

func (s *Server) dirJSON(r *repo, ref, p string) map[string]any {
	sha := blobSHA([]byte(p)) // a stand-in: the fake keeps no tree objects
	out := s.contentURLs(r, ref, p, "trees", sha)
	out["type"], out["name"], out["path"], out["sha"], out["size"], out["download_url"] = "dir", path.Base(p), p, sha, 0, nil
	return out
}
