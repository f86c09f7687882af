package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/raftha/raftha/fsm"
)

// Client calls the raftha HTTP API of one member (followers forward to
// the leader). A failed call returns an *Error (errors.As) that wraps the
// sentinel of its code (errors.Is(err, ErrNotFound), ...); a member that
// cannot be reached gives the transport's error.
type Client struct {
	base  string
	http  *http.Client
	token string
}

// NewClient returns a client for the API at address, an https URL such as
// https://10.0.1.10:7401. tc verifies the API's certificate (the cluster
// CA) and may carry a client certificate; token, when not empty, is sent
// as a bearer token instead.
func NewClient(address string, tc *tls.Config, token string) (*Client, error) {
	base := strings.TrimRight(address, "/")
	if err := CheckAddress(base); err != nil {
		return nil, fmt.Errorf("API address %w", err)
	}
	return &Client{base: base, token: token, http: &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}}, nil
}

// CheckAddress reports whether address is an https URL with a host, the
// only kind of API address there is.
func CheckAddress(address string) error {
	u, err := url.Parse(address)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q: expected a URL like https://10.0.1.10:7401", address)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%q: the raftha API is HTTPS only (there is no plaintext mode)", address)
	}
	return nil
}

// Address returns the API's base URL.
func (c *Client) Address() string { return c.base }

// maxAnswer bounds the answers the client reads.
const maxAnswer = 16 << 20

// do sends a request and decodes a 2xx JSON answer into out (if non-nil).
// It returns the HTTP status and, for any other answer, an *Error.
func (c *Client) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) (int, error) {
	code, _, err := c.doHeader(ctx, method, path, contentType, body, out)
	return code, err
}

// doHeader is do, also returning the answer's header (nil when there is
// no answer).
func (c *Client) doHeader(ctx context.Context, method, path, contentType string, body io.Reader, out any) (int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("cannot reach the raftha API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e = &Error{Message: fmt.Sprintf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))}
		}
		e.Status = resp.StatusCode
		return resp.StatusCode, resp.Header, e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, resp.Header, fmt.Errorf("unexpected answer from %s%s: %w", c.base, path, err)
		}
	}
	return resp.StatusCode, resp.Header, nil
}

// Raw is GET path as bytes, whatever its content type (the Prometheus
// metrics, a profile): for a support bundle. A non-2xx answer is an
// *Error, as for the typed calls.
func (c *Client) Raw(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the raftha API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e = &Error{Message: fmt.Sprintf("GET %s: HTTP %d", path, resp.StatusCode)}
		}
		e.Status = resp.StatusCode
		return nil, e
	}
	return data, nil
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	_, err := c.do(ctx, http.MethodGet, path, "", nil, out)
	return err
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	var body io.Reader
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	_, err := c.do(ctx, http.MethodPost, path, contentType, body, out)
	return err
}

func (c *Client) delete(ctx context.Context, path string) error {
	_, err := c.do(ctx, http.MethodDelete, path, "", nil, nil)
	return err
}

func groupPath(group string) string { return "/v1/groups/" + url.PathEscape(group) }

// Health is GET /v1/health: the member's own view, never forwarded.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	return &h, c.get(ctx, "/v1/health", &h)
}

// WhoAmI is GET /v1/whoami: who the API takes the caller for.
func (c *Client) WhoAmI(ctx context.Context) (*Caller, error) {
	var who Caller
	return &who, c.get(ctx, "/v1/whoami", &who)
}

// Status is GET /v1/status: the cluster as the leader sees it, or the
// member's own applied view marked Stale.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	return &st, c.get(ctx, "/v1/status", &st)
}

// Groups is GET /v1/groups: every group, by name.
func (c *Client) Groups(ctx context.Context) ([]GroupStatus, error) {
	var gs []GroupStatus
	err := c.get(ctx, "/v1/groups", &gs)
	return gs, err
}

// ApplyGroups is POST /v1/groups: it creates or updates every group in the
// YAML group file data, or none. An invalid file gives an *Error whose
// Errors list every problem.
func (c *Client) ApplyGroups(ctx context.Context, data []byte) (*ApplyResult, error) {
	var res ApplyResult
	_, err := c.do(ctx, http.MethodPost, "/v1/groups", "application/yaml", bytes.NewReader(data), &res)
	return &res, err
}

// DeleteGroup is DELETE /v1/groups/{name}.
func (c *Client) DeleteGroup(ctx context.Context, group string) error {
	return c.delete(ctx, groupPath(group))
}

// Transfer is POST /v1/groups/{name}/transfer: a planned move of group to
// req.To, waiting up to req.Timeout (the server's default,
// DefaultTransferTimeout, when "") for it to be online there. When the
// move was committed but did not finish in time, the error wraps
// ErrInProgress and the returned status is the group's when the deadline
// ran out.
func (c *Client) Transfer(ctx context.Context, group string, req TransferRequest) (*GroupStatus, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var answer json.RawMessage
	status, err := c.do(ctx, http.MethodPost, groupPath(group)+"/transfer", "application/json", bytes.NewReader(b), &answer)
	if err != nil {
		return nil, err
	}
	if status == http.StatusAccepted {
		var p TransferInProgress
		if err := json.Unmarshal(answer, &p); err != nil {
			return nil, fmt.Errorf("unexpected answer to the transfer of %s: %w", group, err)
		}
		return &p.Group, &Error{Status: status, Message: p.Error, Code: CodeInProgress}
	}
	var g GroupStatus
	if err := json.Unmarshal(answer, &g); err != nil {
		return nil, fmt.Errorf("unexpected answer to the transfer of %s: %w", group, err)
	}
	return &g, nil
}

// Suspend is POST /v1/groups/{name}/suspend: it pauses the group's
// monitoring and automatic actions.
func (c *Client) Suspend(ctx context.Context, group string) error {
	return c.post(ctx, groupPath(group)+"/suspend", nil, nil)
}

// Resume is POST /v1/groups/{name}/resume: it resumes a suspended or
// stopped group.
func (c *Client) Resume(ctx context.Context, group string) error {
	return c.post(ctx, groupPath(group)+"/resume", nil, nil)
}

// Stop is POST /v1/groups/{name}/stop: it suspends the group and waits
// until it is offline.
func (c *Client) Stop(ctx context.Context, group string) (*GroupStatus, error) {
	var g GroupStatus
	return &g, c.post(ctx, groupPath(group)+"/stop", nil, &g)
}

// FenceOverride is POST /v1/groups/{name}/fence-override: the operator
// accepts the risk that the fenced node (or the one whose stop failed)
// still runs the group, for the reason acceptRisk.
func (c *Client) FenceOverride(ctx context.Context, group, acceptRisk string) (*GroupStatus, error) {
	var g GroupStatus
	return &g, c.post(ctx, groupPath(group)+"/fence-override", FenceOverrideRequest{AcceptRisk: acceptRisk}, &g)
}

// Why is GET /v1/groups/{name}/why: the group's ownership changes, oldest
// first.
func (c *Client) Why(ctx context.Context, group string) ([]OwnershipChange, error) {
	changes, _, err := c.WhyStale(ctx, group)
	return changes, err
}

// WhyStale is Why, also returning why the answer may be behind the
// cluster ("" when the answering member had applied the leader's log):
// the HeaderStale of the answer.
func (c *Client) WhyStale(ctx context.Context, group string) ([]OwnershipChange, string, error) {
	var changes []OwnershipChange
	_, h, err := c.doHeader(ctx, http.MethodGet, groupPath(group)+"/why", "", nil, &changes)
	if err != nil {
		return nil, "", err
	}
	return changes, h.Get(HeaderStale), nil
}

// HeaderStale is set on a history answer (GET /v1/groups/NAME/why) by a
// member that could not bring its log up to the leader's first: why the
// answer may miss the latest changes.
const HeaderStale = "Raftha-Stale"

// Events is GET /v1/events: the event history, of one group when group is
// not "".
func (c *Client) Events(ctx context.Context, group string) ([]fsm.Event, error) {
	path := "/v1/events"
	if group != "" {
		path += "?group=" + url.QueryEscape(group)
	}
	var evs []fsm.Event
	err := c.get(ctx, path, &evs)
	return evs, err
}

// Members is GET /v1/members.
func (c *Client) Members(ctx context.Context) ([]MemberStatus, error) {
	var ms []MemberStatus
	err := c.get(ctx, "/v1/members", &ms)
	return ms, err
}

// AddMember is POST /v1/members.
func (c *Client) AddMember(ctx context.Context, m MemberRequest) error {
	return c.post(ctx, "/v1/members", m, nil)
}

// RemoveMember is DELETE /v1/members/{id}.
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	return c.delete(ctx, "/v1/members/"+url.PathEscape(id))
}

// Settings is GET /v1/cluster/settings.
func (c *Client) Settings(ctx context.Context) (*SettingsView, error) {
	var v SettingsView
	return &v, c.get(ctx, "/v1/cluster/settings", &v)
}

// SetSettings is POST /v1/cluster/settings: it changes the settings req
// sets and keeps the others.
func (c *Client) SetSettings(ctx context.Context, req SettingsRequest) (*SettingsView, error) {
	var v SettingsView
	return &v, c.post(ctx, "/v1/cluster/settings", req, &v)
}

// IsCode reports whether err is an API error with code.
func IsCode(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
