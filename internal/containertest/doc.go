// Package containertest runs deploy-action the way GitHub's runner runs a container action: the
// static binary in an image, started by a container runtime (podman) with the workspace, the event
// payload, the file commands and HOME mounted under /github and the GITHUB_* paths rewritten to them,
// against the project's Heroku and GitHub test servers running in the test process. It checks that
// the image behaves exactly as the in-process sandbox does, and measures the image's budgets.
//
// The tests need podman (Debian: apt-get install -y podman runc) and run only when
// DEPLOY_ACTION_CONTAINER_TEST=1, so that `make test` works without a container runtime:
//
//	make test-container     # the equivalence tests
//	make bench-container    # the budgets of docs/performance.md
//
// There is no code here outside the tests.
package containertest
