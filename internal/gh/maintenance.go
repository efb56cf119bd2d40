package gh

import (
	"context"
	"fmt"

	"github.com/google/go-github/v60/github"
)

// A maintenance window the action opened on a Heroku app is recorded on GitHub, because Heroku
// keeps nothing about an app that the action could write without making a release: config vars are
// the only free-form field, and setting one is a release (a restart, and the release phase). The
// record is a Deployment of task MaintenanceTask to the environment MaintenanceEnvironment(app),
// whose newest status is in_progress while the window is open and inactive once the action closed
// it. A run that stops with the window open leaves the record open; the next run on the app finds
// it, and so tells a window a run left on from one an operator turned on (which has no record).
// docs/faults.md, "Maintenance windows", says why this and not a config var.

// MaintenanceTask is the task of the Deployments that record maintenance windows.
const MaintenanceTask = "deploy:maintenance"

// MaintenanceEnvironment is the GitHub environment of the records of app's maintenance windows: an
// environment of their own, so that they never mix with the app's deployments (a rerun finds its
// deployment by commit and environment).
func MaintenanceEnvironment(app string) string { return "heroku-maintenance/" + app }

// OpenMaintenanceWindow records that the action turned maintenance mode on for app, deploying
// sha, and returns the record's ID.
func (c *Client) OpenMaintenanceWindow(ctx context.Context, app, sha, description string) (int64, error) {
	env := MaintenanceEnvironment(app)
	// transient: GitHub's auto_inactive (a later success in the environment marks earlier
	// deployments inactive) passes over transient deployments, so only the action closes a record.
	created, _, err := c.api.Repositories.CreateDeployment(ctx, c.owner, c.repo, &github.DeploymentRequest{
		Ref: github.String(sha), Task: github.String(MaintenanceTask), Environment: github.String(env),
		Description: optional(description), AutoMerge: github.Bool(false), RequiredContexts: &[]string{},
		TransientEnvironment: github.Bool(true), ProductionEnvironment: github.Bool(false),
		Payload: map[string]string{"app": app},
	})
	if err != nil {
		return 0, fmt.Errorf("failed to record the maintenance window of %s on GitHub: %w", app, err)
	}
	id := created.GetID()
	if err := c.SetDeploymentStatus(ctx, id, DeploymentStatus{State: "in_progress", Description: description}); err != nil {
		return id, fmt.Errorf("failed to record the maintenance window of %s on GitHub: %w", app, err)
	}
	return id, nil
}

// CloseMaintenanceWindow records that the window id is over (maintenance mode is off again).
func (c *Client) CloseMaintenanceWindow(ctx context.Context, id int64, description string) error {
	return c.SetDeploymentStatus(ctx, id, DeploymentStatus{State: "inactive", Description: description})
}

// OpenMaintenanceWindowOf is the ID of the record of app's newest maintenance window when that
// window is still open (its newest status is in_progress), 0 when there is none.
func (c *Client) OpenMaintenanceWindowOf(ctx context.Context, app string) (int64, error) {
	list, _, err := c.api.Repositories.ListDeployments(ctx, c.owner, c.repo, &github.DeploymentsListOptions{
		Task: MaintenanceTask, Environment: MaintenanceEnvironment(app), ListOptions: github.ListOptions{PerPage: 1},
	})
	if err != nil {
		return 0, fmt.Errorf("failed to read the maintenance windows of %s on GitHub: %w", app, err)
	}
	if len(list) == 0 {
		return 0, nil
	}
	id := list[0].GetID()
	statuses, _, err := c.api.Repositories.ListDeploymentStatuses(ctx, c.owner, c.repo, id, &github.ListOptions{PerPage: 1})
	if err != nil {
		return 0, fmt.Errorf("failed to read the maintenance window %d of %s on GitHub: %w", id, app, err)
	}
	if len(statuses) == 0 || statuses[0].GetState() != "in_progress" {
		return 0, nil
	}
	return id, nil
}
