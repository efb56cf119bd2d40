package githubapi_test

import (
	"context"
	"fmt"
	"net/url"

	"github.com/google/go-github/v60/github"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
)

// A test seeds the server, points go-github at it, and inspects what the code under test did.
func Example() {
	s, err := githubapi.New(githubapi.Options{
		Token:       "test-token",
		Permissions: map[string]string{"checks": "write", "contents": "read"},
	})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	s.AddRepo("pangeo-forge/app")
	s.AddCommit("pangeo-forge/app", "1111111111111111111111111111111111111111", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "a commit")

	c := github.NewClient(nil).WithAuthToken("test-token")
	c.BaseURL, _ = url.Parse(s.URL() + "/") // go-github needs the trailing slash

	_, _, err = c.Checks.CreateCheckRun(context.Background(), "pangeo-forge", "app", github.CreateCheckRunOptions{
		Name: "deploy/staging", HeadSHA: "1111111111111111111111111111111111111111", Conclusion: github.String("success"),
	})
	fmt.Println(err)
	for _, cr := range s.CheckRuns("pangeo-forge/app") {
		fmt.Println(cr.Name, cr.Status, cr.Conclusion)
	}
	fmt.Println(len(s.Violations()), "violations")
	// Output:
	// <nil>
	// deploy/staging completed success
	// 0 violations
}
