package herokuapi

// The server validates against the schema.json of heroku-go v6 (schemaModule), a module nothing
// else imports: this import keeps it, at the version go.mod pins, in the build list for
// `go mod tidy` and in the module cache for every test run.
import _ "github.com/heroku/heroku-go/v6"
