// Command demosecrets regenerates the demo secrets: the SOPS-encrypted
// secrets/config.<deployment>.yaml files of the demo deployments and the
// .sops.yaml creation rules, all for the demo age key committed in
// testdata/demo-age-key.txt. Every value is fake and says so.
//
// Run it from the repository root:
//
//	go run ./internal/secrets/cmd/demosecrets            # re-encrypt with the committed demo key
//	go run ./internal/secrets/cmd/demosecrets -new-key   # also replace the demo key
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demosecrets:", err)
		os.Exit(1)
	}
}

// deployment is one demo deployment and the fake values that make its file
// distinct from the others.
type deployment struct {
	name, stage, appName string
	appID                int
	debug                bool
}

var deployments = []deployment{
	{name: "pforge-pr-80", stage: "review (PR 80)", appName: "pforge-pr-80-github-app", appID: 200080, debug: true},
	{name: "dev-app-proxy", stage: "review fallback", appName: "pforge-dev-app-proxy-github-app", appID: 200001, debug: true},
	{name: "pangeo-forge-staging", stage: "staging", appName: "pforge-staging-github-app", appID: 200002, debug: false},
	{name: "pangeo-forge", stage: "prod", appName: "pforge-prod-github-app", appID: 200003, debug: false},
	{name: "pforge-local-demo", stage: "local", appName: "pforge-local-demo-github-app", appID: 200004, debug: true},
}

// plainKeys names the demo settings that are not secret: sops leaves them in
// plaintext, as a real deployment should leave its non-secret settings.
const plainKeys = "^(debug|max_workers)$"

const keyHeader = `# DEMO age key for deploy-action's demo secrets (secrets/config.*.yaml).
# It is committed on purpose and protects only fake values: never use it,
# or any key committed to a repository, for real credentials.
`

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demosecrets", flag.ContinueOnError)
	root := fs.String("root", ".", "repository root")
	newKey := fs.Bool("new-key", false, "generate a new demo age key in testdata/demo-age-key.txt first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	keyPath := filepath.Join(*root, "testdata", "demo-age-key.txt")
	if *newKey {
		if err := writeNewKey(keyPath); err != nil {
			return err
		}
	}
	recipient, err := demoRecipient(keyPath)
	if err != nil {
		return err
	}

	rules := fmt.Sprintf(`# sops creation rules: "sops secrets/config.<deployment>.yaml" encrypts for these keys.
# The age recipient is the committed DEMO key (testdata/demo-age-key.txt); a real
# repository lists its own age recipients and/or AWS KMS ARNs here instead.
# Settings that are not secret stay readable (unencrypted_regex): they are
# neither masked nor scrubbed, so a "true" in the log stays "true".
creation_rules:
  - path_regex: secrets/config\..+\.yaml$
    unencrypted_regex: %s
    age: %s
`, plainKeys, recipient)
	if err := os.WriteFile(filepath.Join(*root, ".sops.yaml"), []byte(rules), 0o644); err != nil {
		return fmt.Errorf("write .sops.yaml: %w", err)
	}

	dir := filepath.Join(*root, "secrets")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create the secrets directory: %w", err)
	}
	for _, d := range deployments {
		enc, err := sopstest.Encrypt(ctx, plaintext(d), sopstest.Options{Age: []string{recipient}, UnencryptedRegex: plainKeys, Now: time.Now()})
		if err != nil {
			return fmt.Errorf("encrypt %s: %w", d.name, err)
		}
		p := filepath.Join(dir, secrets.FileName(d.name))
		if err := os.WriteFile(p, enc, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		fmt.Fprintln(stdout, "wrote", p)
	}
	return nil
}

func writeNewKey(path string) error {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return fmt.Errorf("generate age key: %w", err)
	}
	text := fmt.Sprintf("%s# public key: %s\n%s\n", keyHeader, id.Recipient(), id)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(text), 0o644)
}

func demoRecipient(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s does not exist: run from the repository root, or pass -new-key to create a demo key", path)
	}
	if err != nil {
		return "", err
	}
	ids, err := age.ParseIdentities(strings.NewReader(string(b)))
	if err != nil || len(ids) != 1 {
		return "", fmt.Errorf("%s should hold exactly one age identity", path)
	}
	x, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return "", fmt.Errorf("%s should hold an X25519 age identity (age-keygen)", path)
	}
	return x.Recipient().String(), nil
}

// plaintext is the demo document for d, shaped like pangeo-forge-orchestrator's
// secrets: a FastAPI key and a GitHub App, plus a number and a boolean.
func plaintext(d deployment) []byte {
	// The "PEM" body is base64 of a sentence saying it is fake, wrapped like
	// a real key so that multi-line masking has something to do.
	body := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("fake demo private key for "+d.name+", not a real key. ", 3)))
	var pem strings.Builder
	pem.WriteString("    -----BEGIN RSA PRIVATE KEY-----\n")
	for len(body) > 64 {
		pem.WriteString("    " + body[:64] + "\n")
		body = body[64:]
	}
	pem.WriteString("    " + body + "\n")
	pem.WriteString("    -----END RSA PRIVATE KEY-----\n")

	return []byte(fmt.Sprintf(`# Demo credentials for the %s deployment: every value is fake.
fastapi:
  PANGEO_FORGE_API_KEY: fake-api-key-%s
github_app:
  app_name: %s
  id: %d
  private_key: |
%s  webhook_secret: fake-webhook-secret-%s
orchestrator:
  debug: %t
  max_workers: %d
`, d.stage, d.name, d.appName, d.appID, pem.String(), d.name, d.debug, 3000+d.appID%1000))
}
