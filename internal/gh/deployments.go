package gh

import (
	"context"
	"fmt"

	"github.com/google/go-github/v60/github"
)

// Deployment is a GitHub Deployment of one commit to one environment.
type Deployment struct {
	SHA         string // the commit; deploying a SHA rather than a branch keeps GitHub from merging anything
	Environment string // the deployment name, e.g. pforge-pr-80
	Description string
	Transient   bool // review apps: the environment goes away
	Production  bool
}

// DeploymentStatus is one state of a Deployment.
type DeploymentStatus struct {
	State          string // in_progress, success, failure, error, inactive
	Description    string // at most 140 characters; longer ones are cut
	EnvironmentURL string // the app's URL
	LogURL         string // the workflow run
}

// maxStatusDescription is GitHub's limit on a deployment status description.
const maxStatusDescription = 140

// EnsureDeployment returns the deployment of d.SHA to d.Environment, creating it when there is none,
// so that a rerun adds statuses to the deployment of its first attempt.
func (c *Client) EnsureDeployment(ctx context.Context, d Deployment) (int64, error) {
	list, _, err := c.api.Repositories.ListDeployments(ctx, c.owner, c.repo, &github.DeploymentsListOptions{
		SHA: d.SHA, Environment: d.Environment, ListOptions: github.ListOptions{PerPage: 1},
	})
	if err != nil {
		return 0, fmt.Errorf("failed to list the deployments of %s to %s: %w", short(d.SHA), d.Environment, err)
	}
	if len(list) > 0 {
		return list[0].GetID(), nil
	}
	// auto_merge would merge the default branch into a branch ref, and an omitted required_contexts
	// makes GitHub refuse the deployment while any check (this run's own, in progress) is pending.
	created, _, err := c.api.Repositories.CreateDeployment(ctx, c.owner, c.repo, &github.DeploymentRequest{
		Ref: github.String(d.SHA), Task: github.String("deploy"), Environment: github.String(d.Environment),
		Description: optional(d.Description), AutoMerge: github.Bool(false), RequiredContexts: &[]string{},
		TransientEnvironment: github.Bool(d.Transient), ProductionEnvironment: github.Bool(d.Production),
	})
	if err != nil {
		return 0, fmt.Errorf("failed to create the deployment of %s to %s: %w", short(d.SHA), d.Environment, err)
	}
	return created.GetID(), nil
}

// SetDeploymentStatus adds a status to a deployment.
func (c *Client) SetDeploymentStatus(ctx context.Context, id int64, st DeploymentStatus) error {
	desc := st.Description
	if r := []rune(desc); len(r) > maxStatusDescription {
		desc = string(r[:maxStatusDescription-1]) + "…"
	}
	_, _, err := c.api.Repositories.CreateDeploymentStatus(ctx, c.owner, c.repo, id, &github.DeploymentStatusRequest{
		State: github.String(st.State), Description: optional(desc),
		EnvironmentURL: optional(st.EnvironmentURL), LogURL: optional(st.LogURL),
	})
	if err != nil {
		return fmt.Errorf("failed to set the status of deployment %d to %s: %w", id, st.State, err)
	}
	return nil
}

// Deployments returns the IDs of the newest deployments to an environment, newest first (at most 100).
func (c *Client) Deployments(ctx context.Context, environment string) ([]int64, error) {
	list, _, err := c.api.Repositories.ListDeployments(ctx, c.owner, c.repo, &github.DeploymentsListOptions{
		Environment: environment, ListOptions: github.ListOptions{PerPage: 100},
	})
	if err != nil {
		return nil, fmt.Errorf("failed to list the deployments to %s: %w", environment, err)
	}
	ids := make([]int64, 0, len(list))
	for _, d := range list {
		ids = append(ids, d.GetID())
	}
	return ids, nil
}
