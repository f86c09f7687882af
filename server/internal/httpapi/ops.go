package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/raftha/raftha/api"
)

// opsRoutes adds the day-two read endpoints: one group in detail, and
// this member's own status view.
func (a *API) opsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/groups/{name}", a.handleGroupDetail)
	mux.HandleFunc("GET /v1/status/local", a.handleLocalStatus)
}

func (a *API) handleGroupDetail(w http.ResponseWriter, r *http.Request) {
	serveRead(a, w, r, func(ctx context.Context) (*api.GroupDetail, error) {
		return a.d.Backend.GroupDetail(ctx, r.PathValue("name"))
	})
}

func (a *API) handleLocalStatus(w http.ResponseWriter, r *http.Request) {
	serveRead(a, w, r, a.d.Backend.LocalStatus)
}

// serveRead answers a read with get's result, or its error, within 5s.
func serveRead[T any](a *API, w http.ResponseWriter, r *http.Request, get func(ctx context.Context) (T, error)) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	v, err := get(ctx)
	if err != nil {
		a.Fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
