package httpapi

import (
	"embed"
	"io/fs"
	"net/http"
)

// uiFiles holds the dashboard's static assets (HTML, JavaScript, CSS). They
// are compiled into the binary, so the dashboard needs no files on disk and
// loads nothing from outside the member it is served by.
//
//go:embed ui
var uiFiles embed.FS

// uiContentSecurityPolicy lets the dashboard load only its own files and
// call only the API of the member that served it.
const uiContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// uiRoutes registers the web dashboard on mux: GET / redirects to /ui/, and
// GET /ui/ serves the embedded static files. These routes need no
// credentials because they serve only static files: every API call the
// dashboard makes carries the operator's bearer token and is authorized
// like any other API request.
func (a *API) uiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})
	mux.Handle("GET /ui/", uiHandler())
}

// uiHandler serves the embedded dashboard under /ui/ with headers that keep
// it self-contained (CSP), uncached across upgrades and out of frames.
func uiHandler() http.Handler {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic("httpapi: embedded dashboard: " + err.Error()) // the embed directive guarantees ui/
	}
	files := http.StripPrefix("/ui", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", uiContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
