package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/raftha/raftha/api"
)

// URL hooks (hooks[].url): the member POSTs the event as JSON
// (api.HookEvent) instead of running a command. They go through the same
// queue and worker as command hooks (hooks.go): bounded by the hook's
// timeout, at which the request is abandoned, never on the safety path,
// failures logged and counted in raftha_hook_runs_total. The bearer
// token (bearer_token_file) is read at each POST and never logged, and
// neither is the URL's path or query (a webhook URL often is a secret
// itself): logs name the hook and the URL's scheme and host only.

// errHookStatus is a POST answered with a status other than 2xx.
var errHookStatus = errors.New("answered")

// errHookToken is a bearer token file that cannot be used.
var errHookToken = errors.New("bearer_token_file")

// newHookHTTPClient is the client of the URL hooks: proxies from the
// environment, no redirects (a redirect is a failure: the token is never
// sent elsewhere), no cookies.
func newHookHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        4,
			IdleConnTimeout:     30 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checkTokenFiles warns, at start, of a URL hook whose bearer token file
// cannot be read: its POSTs fail (counted) until it can. The member
// starts anyway: a notification never keeps it from serving.
func (h *Runner) checkTokenFiles() {
	for _, hk := range h.hooks {
		if hk.URL == "" || hk.BearerTokenFile == "" {
			continue
		}
		if _, err := hookBearerToken(hk.BearerTokenFile); err != nil {
			h.logger.Warn("hook cannot read its bearer token: its POSTs fail until it can", "hook", hk.Name, "error", err)
		}
	}
}

// hookOrigin is the scheme and host of a hook URL, what logs show of it.
func hookOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Scheme + "://" + u.Host
}

// hookBearerToken reads a hook's bearer token file.
func hookBearerToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errHookToken, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || strings.ContainsAny(tok, "\r\n") {
		return "", fmt.Errorf("%w %s: empty, or more than one line", errHookToken, path)
	}
	return tok, nil
}

// hookEvent is the body of a URL hook's POST for j.
func (h *Runner) hookEvent(j hookJob) api.HookEvent {
	e := j.ev
	return api.HookEvent{Hook: j.hook.Name, Kind: e.Kind, Group: e.Group, Node: h.nodeID, Epoch: e.Epoch,
		Cause: e.Cause, Reason: e.Reason, From: e.From, To: e.To, Seq: e.Seq, Time: e.At}
}

// runPost POSTs the event of j to the hook's URL, abandoning the request
// at the hook's timeout (the error then wraps context.DeadlineExceeded).
// A 2xx answer is success; it returns the end of the answer's body.
func (h *Runner) runPost(base context.Context, j hookJob) (string, error) {
	ctx, cancel := context.WithTimeout(base, j.hook.Timeout.D())
	defer cancel()
	origin := hookOrigin(j.hook.URL)
	body, err := json.Marshal(h.hookEvent(j))
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.hook.URL, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", origin, errors.Unwrap(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "raftha/"+api.Version)
	if j.hook.BearerTokenFile != "" {
		tok, err := hookBearerToken(j.hook.BearerTokenFile)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			return "", &hookTimeoutError{after: j.hook.Timeout.D(), post: true}
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the whole URL
		}
		return "", fmt.Errorf("POST %s: %w", origin, err)
	}
	defer resp.Body.Close()
	out := &tailBuffer{max: hookOutputBytes}
	_, rerr := io.Copy(out, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return out.String(), fmt.Errorf("POST %s: %w %s", origin, errHookStatus, resp.Status)
	}
	if rerr != nil && ctx.Err() != nil {
		return out.String(), &hookTimeoutError{after: j.hook.Timeout.D(), post: true}
	}
	return out.String(), nil
}
