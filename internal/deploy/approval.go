package deploy

// PullRequest is a pull request as GitHub answers GET /pulls/{number}.
type PullRequest struct {
	Number             int
	State              string // open or closed
	HeadSHA, HeadRef   string
	HeadRepo, BaseRepo string // owner/name; HeadRepo is "" when the fork was deleted
	HeadRepoID         int64
	Fork               bool // the head repository is not the base repository (or is gone)
	Author             string
}
