package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// restoreRequestTimeout bounds a restore call: twice the server's bound on
// raft's Restore (a minute).
const restoreRequestTimeout = 2 * time.Minute

// metricsHandler serves GET /metrics from Deps.Gatherer.
func (a *API) metricsHandler() http.Handler {
	if a.d.Gatherer == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "raftha's metrics are registered on the embedding service's registry (Options.Registerer)", http.StatusNotFound)
		})
	}
	return promhttp.HandlerFor(a.d.Gatherer, promhttp.HandlerOpts{})
}

// WriteTransferResult answers POST /v1/groups/{name}/transfer: 200 with the
// group when it is online on the target; 202 with code in_progress and the
// group when the move was committed but did not finish in time (it goes
// on); otherwise the error as Fail maps it.
func (a *API) WriteTransferResult(w http.ResponseWriter, g api.GroupStatus, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, g)
	case a.d.Backend.ErrorCode(err) == api.CodeInProgress:
		writeJSON(w, http.StatusAccepted, &api.TransferInProgress{Error: err.Error(), Code: api.CodeInProgress, Group: g})
	default:
		a.Fail(w, err)
	}
}

func (a *API) handleFenceOverride(w http.ResponseWriter, r *http.Request) {
	var req api.FenceOverrideRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil || req.AcceptRisk == "" {
		writeError(w, http.StatusBadRequest, &api.Error{Message: "body must be JSON like {\"accept_risk\": \"n1 is powered off in the console\"}: the reason you accept the risk is required", Code: api.CodeInvalid})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	g, err := a.d.Backend.FenceOverride(ctx, r.PathValue("name"), req.AcceptRisk, identity(r))
	if err != nil {
		a.Fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (a *API) handleGetSettings(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.d.Backend.Settings())
}

func (a *API) handleSetSettings(w http.ResponseWriter, r *http.Request) {
	var req api.SettingsRequest
	if err := decodeStrictJSON(r.Body, &req); err != nil {
		badJSON(w, `{"fencing_mode": "lease-only", "lease": "1500ms"}`, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	v, err := a.d.Backend.SetClusterSettings(ctx, req, identity(r))
	if err != nil {
		a.Fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// standbyRoutes adds POST /v1/members/{id}/standby and /unstandby: writes,
// so authorize asks the operate role, like every other change.
func (a *API) standbyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/members/{id}/standby", a.handleStandby(true))
	mux.HandleFunc("POST /v1/members/{id}/unstandby", a.handleStandby(false))
}

func (a *API) handleStandby(standby bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		res, err := a.d.Backend.SetStandby(ctx, r.PathValue("id"), standby, identity(r))
		if err != nil {
			a.Fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// snapshotRoutes adds POST /v1/snapshot (save) and POST
// /v1/snapshot/restore: both POST, so authorize asks the operate role (a
// snapshot holds every group's parameters). Both run on the leader; a
// follower redirects them there (307).
func (a *API) snapshotRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/snapshot", a.handleSnapshotSave)
	mux.HandleFunc("POST /v1/snapshot/restore", a.handleSnapshotRestore)
}

// redirectToLeader answers a snapshot call on a follower with a 307 to
// the leader's API; false when this member serves it (or cannot say
// where the leader is, then it answered with the error).
func (a *API) redirectToLeader(w http.ResponseWriter, r *http.Request) bool {
	addr, ok, err := a.d.Backend.LeaderAPI()
	if !ok {
		return false
	}
	if err != nil {
		a.Fail(w, err)
		return true
	}
	u := url.URL{Scheme: "https", Host: addr, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	http.Redirect(w, r, u.String(), http.StatusTemporaryRedirect)
	return true
}

func (a *API) handleSnapshotSave(w http.ResponseWriter, r *http.Request) {
	if a.redirectToLeader(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	file, _, err := a.d.Backend.SaveSnapshot(ctx)
	if err != nil {
		a.Fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(file)))
	_, _ = w.Write(file)
}

func (a *API) handleSnapshotRestore(w http.ResponseWriter, r *http.Request) {
	if a.redirectToLeader(w, r) {
		return
	}
	var floor uint64
	if v := r.URL.Query().Get("epoch_floor"); v != "" {
		var err error
		if floor, err = strconv.ParseUint(v, 10, 64); err != nil {
			a.Fail(w, fmt.Errorf("%w: epoch_floor %q: %v", fsm.ErrInvalid, v, err))
			return
		}
	}
	const limit = api.MaxSnapshotSize + 1<<20
	file, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		a.Fail(w, err)
		return
	}
	if len(file) > limit {
		a.Fail(w, fmt.Errorf("%w: %w: larger than %d bytes", fsm.ErrInvalid, api.ErrSnapshotInvalid, limit))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), restoreRequestTimeout)
	defer cancel()
	res, err := a.d.Backend.RestoreSnapshot(ctx, file, floor, identity(r))
	if err != nil {
		a.Fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
