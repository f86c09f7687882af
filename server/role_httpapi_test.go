package server

import (
	"net/http"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/server/internal/httpapi"
)

// Accessors of the HTTP API role (server/internal/httpapi) for the tests
// of this package that run it against real agents.

// healthAnswer is the health listener's JSON answer.
type healthAnswer = httpapi.HealthAnswer

// The health answers' statuses.
const (
	healthOK          = "ok"
	healthUnavailable = "unavailable"
)

// healthLimits are the health listener's limits.
var healthLimits = httpapi.HealthLimits

// apiHandler is the whole API of s as it serves it, within lim.
func (s *Server) apiHandler(lim APILimits) http.Handler { return s.httpAPI.Handler(lim) }

// fail answers err as the API does, classified by this package's codes.
func fail(w http.ResponseWriter, err error) {
	httpapi.New(httpapi.Deps{Backend: apiBackend{}}).Fail(w, err)
}

// writeTransferResult answers a transfer's result as the API does.
func writeTransferResult(w http.ResponseWriter, g api.GroupStatus, err error) {
	httpapi.New(httpapi.Deps{Backend: apiBackend{}}).WriteTransferResult(w, g, err)
}
