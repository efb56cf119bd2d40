package secrets

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	sopskms "github.com/getsops/sops/v3/kms"
	"golang.org/x/net/http/httpproxy"
)

// awsAccess is how this run reaches AWS KMS, built from Options alone.
//
// sops's own KMS key loads the AWS SDK's default configuration, which reads
// the process environment and shared config files, and refuses an injected
// HTTP client whenever AWS_CA_BUNDLE is set. So the action calls KMS Decrypt
// itself with a config it builds: credentials, endpoint, proxy and CA bundle
// all come from Getenv, as sops would read them.
type awsAccess struct {
	creds    aws.CredentialsProvider // nil: no AWS credentials in the environment
	client   aws.HTTPClient
	endpoint *string // AWS_ENDPOINT_URL_KMS (or AWS_ENDPOINT_URL); nil for AWS itself
	stsEP    *string
}

func newAWSAccess(opt Options, client *http.Client) *awsAccess {
	a := &awsAccess{
		endpoint: firstSet(opt, "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL"),
		stsEP:    firstSet(opt, "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"),
		client:   client,
	}

	id, secret := opt.getenv("AWS_ACCESS_KEY_ID"), opt.getenv("AWS_SECRET_ACCESS_KEY")
	role, token := opt.getenv("AWS_ROLE_ARN"), opt.getenv("AWS_WEB_IDENTITY_TOKEN_FILE")
	switch {
	case id != "" && secret != "":
		a.creds = credentials.NewStaticCredentialsProvider(id, secret, opt.getenv("AWS_SESSION_TOKEN"))
	case role != "" && token != "":
		// GitHub OIDC through a web identity token file, as the SDK's default
		// chain would do it.
		region := "us-east-1"
		if r := firstSet(opt, "AWS_REGION", "AWS_DEFAULT_REGION"); r != nil {
			region = *r
		}
		session := opt.getenv("AWS_ROLE_SESSION_NAME")
		if session == "" {
			session = "deploy-action"
		}
		stsClient := sts.New(sts.Options{Region: region, HTTPClient: a.client, BaseEndpoint: a.stsEP})
		a.creds = aws.NewCredentialsCache(stscreds.NewWebIdentityRoleProvider(stsClient, role, stscreds.IdentityTokenFile(token),
			func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = session }))
	}
	return a
}

// httpClient is Options.HTTPClient, or a client built from Getenv.
func httpClient(opt Options) (*http.Client, error) {
	if opt.HTTPClient != nil {
		return opt.HTTPClient, nil
	}
	return defaultHTTPClient(opt)
}

func firstSet(opt Options, names ...string) *string {
	for _, n := range names {
		if v := opt.getenv(n); v != "" {
			return &v
		}
	}
	return nil
}

// defaultHTTPClient honours the proxy variables and AWS_CA_BUNDLE from
// Getenv, which self-hosted runners behind a proxy rely on.
func defaultHTTPClient(opt Options) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	pc := httpproxy.Config{
		HTTPProxy:  valueOf(firstSet(opt, "HTTP_PROXY", "http_proxy")),
		HTTPSProxy: valueOf(firstSet(opt, "HTTPS_PROXY", "https_proxy")),
		NoProxy:    valueOf(firstSet(opt, "NO_PROXY", "no_proxy")),
	}
	proxy := pc.ProxyFunc()
	tr.Proxy = func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
	if p := opt.getenv("AWS_CA_BUNDLE"); p != "" {
		pem, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("cannot read the CA bundle named by AWS_CA_BUNDLE: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("AWS_CA_BUNDLE %s holds no PEM certificate", p)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}, nil
}

func valueOf(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

var kmsARNRe = regexp.MustCompile(`^arn:aws[\w-]*:kms:([^:]+):[0-9]+:(key|alias)/.+$`)

// decrypt asks KMS for the data key sealed under k, in k's region.
func (a *awsAccess) decrypt(ctx context.Context, k *sopskms.MasterKey) ([]byte, error) {
	if k.AwsProfile != "" {
		return nil, fmt.Errorf("the key names AWS profile %q, and deploy-action reads no AWS profiles: remove aws_profile from the file's key (sops updatekeys) and give credentials in the environment", k.AwsProfile)
	}
	m := kmsARNRe.FindStringSubmatch(k.Arn)
	if m == nil {
		return nil, fmt.Errorf("%q is not an AWS KMS key ARN", k.Arn)
	}
	region := m[1]
	blob, err := base64.StdEncoding.DecodeString(k.EncryptedKey)
	if err != nil {
		return nil, fmt.Errorf("its encrypted data key is not base64: the sops metadata was changed outside sops")
	}
	creds := a.creds
	if k.Role != "" {
		stsClient := sts.New(sts.Options{Region: region, Credentials: a.creds, HTTPClient: a.client, BaseEndpoint: a.stsEP})
		creds = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, k.Role,
			func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "deploy-action" }))
	}
	client := awskms.New(awskms.Options{
		Region:       region,
		Credentials:  creds,
		HTTPClient:   a.client,
		BaseEndpoint: a.endpoint,
	})
	encCtx := make(map[string]string, len(k.EncryptionContext))
	for key, v := range k.EncryptionContext {
		if v != nil {
			encCtx[key] = *v
		}
	}
	out, err := client.Decrypt(ctx, &awskms.DecryptInput{
		KeyId:             aws.String(k.Arn),
		CiphertextBlob:    blob,
		EncryptionContext: encCtx,
	})
	if err != nil {
		return nil, err
	}
	return out.Plaintext, nil
}
