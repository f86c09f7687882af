package httpapi

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/raftha/raftha/api"
)

// TestUIRoutes checks the dashboard routes without a browser: / redirects
// to /ui/, the assets are served with their types and a strict CSP, and
// paths the dashboard does not own still reach the API's JSON 404.
func TestUIRoutes(t *testing.T) {
	mux := http.NewServeMux()
	(&API{}).uiRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, &api.Error{Message: "no such endpoint", Code: api.CodeNotFound})
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	get := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, ts.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	for _, tc := range []struct{ path, to string }{{"/", "/ui/"}, {"/ui", "/ui/"}} {
		resp, _ := get("GET", tc.path)
		if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != tc.to {
			t.Errorf("GET %s: %d Location %q, want a redirect to %s", tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.to)
		}
	}
	for _, tc := range []struct{ path, ctype, body string }{
		{"/ui/", "text/html", "raftha dashboard"},
		{"/ui/app.js", "javascript", "/v1/status"},
		{"/ui/ops.js", "javascript", "/v1/events?group="},
		{"/ui/style.css", "text/css", "--bg"},
	} {
		resp, body := get("GET", tc.path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.body, strings.Contains(body, tc.body))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: CSP %q", tc.path, csp)
		}
	}
	for _, tc := range []struct{ method, path string }{{"GET", "/ui/nope.js"}, {"GET", "/v1/nope"}, {"POST", "/"}, {"GET", "/favicon.ico"}} {
		if resp, _ := get(tc.method, tc.path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", tc.method, tc.path, resp.StatusCode)
		}
	}

	// Offline by construction: no asset names another host.
	err := fs.WalkDir(uiFiles, "ui", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := uiFiles.ReadFile(path)
		if err != nil {
			return err
		}
		for _, bad := range []string{"http://", "https://", "//fonts.", "@import"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s contains %q: the dashboard must load nothing from outside", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
