package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/server"
	"github.com/raftha/raftha/transport"
)

// DefaultAPI is the API address clients use when --api is not given.
const DefaultAPI = "https://127.0.0.1:7401"

// clientFlags are shared by every command that talks to the API.
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "api", Value: DefaultAPI, EnvVars: []string{"RAFTHA_API"}, Usage: "`URL` of any member's API (followers forward to the leader)"},
		&cli.StringFlag{Name: "ca-cert", EnvVars: []string{"RAFTHA_CA_CERT"}, Usage: "cluster CA certificate `FILE` used to verify the API"},
		&cli.StringFlag{Name: "client-cert", EnvVars: []string{"RAFTHA_CLIENT_CERT"}, Usage: "client certificate `FILE` (signed by the cluster CA)"},
		&cli.StringFlag{Name: "client-key", EnvVars: []string{"RAFTHA_CLIENT_KEY"}, Usage: "client key `FILE`"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"RAFTHA_TOKEN"}, Usage: "bearer `TOKEN` (instead of a client certificate; see raftha token create)"},
	}
}

// apiClient calls the raftha HTTP API.
type apiClient struct {
	base  string
	http  *http.Client
	token string
}

// APIError is an error the API returned, with its HTTP status.
type APIError struct {
	// Status is the HTTP status code of the response.
	Status int
	server.APIError
}

// Error returns the API's message, followed by one line per problem when
// the API listed them.
func (e *APIError) Error() string {
	if len(e.Errors) > 0 {
		var lines []string
		for _, fe := range e.Errors {
			lines = append(lines, fe.Error())
		}
		return e.APIError.Error + ":\n" + strings.Join(lines, "\n")
	}
	return e.APIError.Error
}

func newClient(c *cli.Context) (*apiClient, error) {
	base := strings.TrimRight(c.String("api"), "/")
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--api %q: expected a URL like https://10.0.1.10:7401", base)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("--api %q: the raftha API is HTTPS only (there is no plaintext mode)", base)
	}
	if c.String("ca-cert") == "" {
		return nil, errors.New("--ca-cert (or RAFTHA_CA_CERT) is required: the cluster CA certificate that signed the API's certificate")
	}
	token := c.String("token")
	if token == "" && (c.String("client-cert") == "" || c.String("client-key") == "") {
		return nil, errors.New("--client-cert and --client-key (or RAFTHA_CLIENT_CERT / RAFTHA_CLIENT_KEY) are required, or --token (RAFTHA_TOKEN): the API accepts only clients with a certificate from the cluster CA (make one with `raftha tls cert create`) or a token from access.tokens")
	}
	tc, err := transport.LoadClient(c.String("ca-cert"), c.String("client-cert"), c.String("client-key"))
	if err != nil {
		return nil, err
	}
	return &apiClient{base: base, token: token, http: &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ResponseHeaderTimeout: 0}}}, nil
}

// do sends a request and decodes a JSON answer into out (if non-nil).
func (a *apiClient) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	_, err := a.doStatus(ctx, method, path, contentType, body, out)
	return err
}

// doStatus is do that also returns the HTTP status of a 2xx answer.
func (a *apiClient) doStatus(ctx context.Context, method, path, contentType string, body io.Reader, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return 0, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the raftha API at %s: %w", a.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(data, &e.APIError) != nil || e.APIError.Error == "" {
			e.APIError.Error = fmt.Sprintf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
		}
		return resp.StatusCode, e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("unexpected answer from %s%s: %w", a.base, path, err)
		}
	}
	return resp.StatusCode, nil
}

func (a *apiClient) getJSON(ctx context.Context, path string, out any) error {
	return a.do(ctx, http.MethodGet, path, "", nil, out)
}

func (a *apiClient) postJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return a.do(ctx, http.MethodPost, path, "application/json", bytes.NewReader(b), out)
}

func timeoutCtx(c *cli.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Context, d)
}

// apiAction is the action of a command that calls the API: it checks that
// there are nargs positional arguments (any number when nargs < 0; usage
// is the error otherwise), builds the client from the flags and runs fn
// under timeout.
func apiAction(nargs int, usage error, timeout time.Duration, fn func(ctx context.Context, c *cli.Context, cl *apiClient) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if nargs >= 0 && c.NArg() != nargs {
			return usage
		}
		cl, err := newClient(c)
		if err != nil {
			return err
		}
		ctx, cancel := timeoutCtx(c, timeout)
		defer cancel()
		return fn(ctx, c, cl)
	}
}
