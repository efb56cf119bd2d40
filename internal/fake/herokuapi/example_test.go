package herokuapi_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	heroku "github.com/heroku/heroku-go/v5"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// A test seeds the server, points its client at URL() and, at the end,
// checks that the client spoke only valid Platform API.
func Example() {
	s, err := herokuapi.New(herokuapi.Options{Token: "test-token"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	s.AddPipeline("pangeo-forge-api-flow")
	s.AddApp("pangeo-forge-staging", "pangeo-forge-api-flow", "staging")

	svc := heroku.NewService(&http.Client{Transport: &heroku.Transport{BearerToken: "test-token"}})
	svc.URL = s.URL()
	c, err := svc.PipelineCouplingInfoByApp(context.Background(), "pangeo-forge-staging")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Stage, len(s.Violations()))
	// Output: staging 0
}
