// Package api holds the HTTP API's wire types and a Go client for it.
package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/raftha/raftha/config/yamlstrict"
)

// Code is the stable, machine-readable code of an API error (the "code"
// of its JSON body). Clients match errors by code or by the sentinel the
// code belongs to (errors.Is), never by the message.
type Code string

// The API's error codes.
const (
	// CodeInvalid: the request or a submitted file is invalid.
	CodeInvalid Code = "invalid"
	// CodeNotFound: no such endpoint.
	CodeNotFound Code = "not_found"
	// CodeNoGroup: no group of that name.
	CodeNoGroup Code = "no_group"
	// CodeNoMember: no member of that id.
	CodeNoMember Code = "no_member"
	// CodeNotEligible: the node may not own the group.
	CodeNotEligible Code = "not_eligible"
	// CodeBusy: the group is in the middle of another change.
	CodeBusy Code = "busy"
	// CodeStaleEpoch: the request was made against an older epoch.
	CodeStaleEpoch Code = "stale_epoch"
	// CodeRoleMismatch: the member's role does not allow it.
	CodeRoleMismatch Code = "role_mismatch"
	// CodeNotOwner: the log refused a node that does not own the group.
	CodeNotOwner Code = "not_owner"
	// CodeOwnership: the leader refused a node that does not own the
	// group at that epoch.
	CodeOwnership Code = "ownership"
	// CodeRefused: the request was refused (unknown or unhealthy target,
	// a failed or abandoned move, ...).
	CodeRefused Code = "refused"
	// CodeNoLeader: the cluster has no leader (no quorum, or electing).
	CodeNoLeader Code = "no_leader"
	// CodeNotLeader: the member asked is not (or no longer) the leader.
	CodeNotLeader Code = "not_leader"
	// CodeNoQuorum: the leader could not confirm its leadership.
	CodeNoQuorum Code = "no_quorum"
	// CodeTimeout: the call ran out of time; nothing says it took effect.
	CodeTimeout Code = "timeout"
	// CodeInProgress: a planned move was committed but did not finish in
	// time; it goes on.
	CodeInProgress Code = "in_progress"
	// CodeUnauthorized: the caller presented no valid credentials.
	CodeUnauthorized Code = "unauthorized"
	// CodeForbidden: the caller's role does not allow the call.
	CodeForbidden Code = "forbidden"
	// CodeUnknownCommand: a member sent a command this leader's log does
	// not know (a newer version); nothing was applied.
	CodeUnknownCommand Code = "unknown_command"
	// CodeLeadershipLost: the leader lost its leadership while applying;
	// the change may still commit (see raftha status).
	CodeLeadershipLost Code = "leadership_lost"
	// CodeSettingsMismatch: a member's settings differ from the cluster's.
	CodeSettingsMismatch Code = "settings_mismatch"
	// CodeCanceled: the call was cancelled before it finished.
	CodeCanceled Code = "canceled"
	// CodeEnqueueTimeout: the leader could not queue the change in time
	// (it is overloaded); nothing was applied. A timeout (ErrTimeout).
	CodeEnqueueTimeout Code = "enqueue_timeout"
	// CodeMoveFailed: a planned move was committed (the group got a new
	// epoch for the target) but the group did not come online there: it
	// failed, went to another node or the move was abandoned. A refusal
	// (ErrRefused); the status in the answer says where the group is.
	CodeMoveFailed Code = "move_failed"
	// CodeOutcomeUnknown: the change was sent but its answer was lost (the
	// connection to the leader broke); it may have taken effect. Read the
	// status before sending it again. A timeout (ErrTimeout).
	CodeOutcomeUnknown Code = "outcome_unknown"
	// CodeMethodNotAllowed: the path exists but not with this method
	// (HTTP 405; the Allow header lists the methods it takes).
	CodeMethodNotAllowed Code = "method_not_allowed"
	// CodeOverloaded: the API has too many connections (in total or from
	// the caller's address); try again later (HTTP 503).
	CodeOverloaded Code = "overloaded"
	// CodeInternal: an error the API has no other code for (HTTP 500).
	CodeInternal Code = "internal"
)

// The classes of API errors: an *Error wraps the one its Code belongs to,
// so that errors.Is(err, ErrNotFound) holds for no_group, no_member and
// not_found alike.
var (
	// ErrInvalid: the request or a submitted file is invalid (HTTP 400).
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound: the group, member or endpoint does not exist (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrRefused: the cluster refused the change (HTTP 409).
	ErrRefused = errors.New("refused")
	// ErrNoLeader: no ready leader could serve the call (HTTP 503).
	ErrNoLeader = errors.New("no leader")
	// ErrTimeout: the call timed out (HTTP 504).
	ErrTimeout = errors.New("timed out")
	// ErrInProgress: a planned move was committed and goes on, but did
	// not finish before the deadline (HTTP 202).
	ErrInProgress = errors.New("the move was committed and is still in progress")
	// ErrUnauthorized: the caller is not authenticated (HTTP 401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the caller's role does not allow the call (HTTP 403).
	ErrForbidden = errors.New("forbidden")
	// ErrOverloaded: the API has too many connections; try again later
	// (HTTP 503, code overloaded).
	ErrOverloaded = errors.New("overloaded")
	// ErrInternal: the server failed in a way it has no code for (HTTP
	// 500).
	ErrInternal = errors.New("internal error")
)

// codeClasses maps each code to its class and HTTP status.
var codeClasses = map[Code]struct {
	class  error
	status int
}{
	CodeInvalid:          {ErrInvalid, http.StatusBadRequest},
	CodeNotFound:         {ErrNotFound, http.StatusNotFound},
	CodeNoGroup:          {ErrNotFound, http.StatusNotFound},
	CodeNoMember:         {ErrNotFound, http.StatusNotFound},
	CodeNotEligible:      {ErrRefused, http.StatusConflict},
	CodeBusy:             {ErrRefused, http.StatusConflict},
	CodeStaleEpoch:       {ErrRefused, http.StatusConflict},
	CodeRoleMismatch:     {ErrRefused, http.StatusConflict},
	CodeNotOwner:         {ErrRefused, http.StatusConflict},
	CodeOwnership:        {ErrRefused, http.StatusConflict},
	CodeRefused:          {ErrRefused, http.StatusConflict},
	CodeNoLeader:         {ErrNoLeader, http.StatusServiceUnavailable},
	CodeNotLeader:        {ErrNoLeader, http.StatusServiceUnavailable},
	CodeNoQuorum:         {ErrNoLeader, http.StatusServiceUnavailable},
	CodeTimeout:          {ErrTimeout, http.StatusGatewayTimeout},
	CodeInProgress:       {ErrInProgress, http.StatusAccepted},
	CodeUnauthorized:     {ErrUnauthorized, http.StatusUnauthorized},
	CodeForbidden:        {ErrForbidden, http.StatusForbidden},
	CodeUnknownCommand:   {ErrInvalid, http.StatusBadRequest},
	CodeLeadershipLost:   {ErrNoLeader, http.StatusServiceUnavailable},
	CodeSettingsMismatch: {ErrRefused, http.StatusConflict},
	CodeCanceled:         {ErrTimeout, http.StatusServiceUnavailable},
	CodeEnqueueTimeout:   {ErrTimeout, http.StatusGatewayTimeout},
	CodeMoveFailed:       {ErrRefused, http.StatusConflict},
	CodeOutcomeUnknown:   {ErrTimeout, http.StatusGatewayTimeout},
	CodeMethodNotAllowed: {ErrInvalid, http.StatusMethodNotAllowed},
	CodeOverloaded:       {ErrOverloaded, http.StatusServiceUnavailable},
	CodeInternal:         {ErrInternal, http.StatusInternalServerError},
}

// HTTPStatus is the HTTP status the API answers with for c: 500 for an
// unknown or empty code (the API itself answers 500 with CodeInternal).
func (c Code) HTTPStatus() int {
	if k, ok := codeClasses[c]; ok {
		return k.status
	}
	return http.StatusInternalServerError
}

// Class is the sentinel c belongs to (ErrNotFound, ErrRefused, ...); nil
// for an unknown or empty code.
func (c Code) Class() error { return codeClasses[c].class }

// statusClasses is the class of an answer without a known code (from a
// proxy, or an older server), by its HTTP status.
var statusClasses = map[int]error{
	http.StatusBadRequest:            ErrInvalid,
	http.StatusMethodNotAllowed:      ErrInvalid,
	http.StatusRequestEntityTooLarge: ErrInvalid,
	http.StatusUnauthorized:          ErrUnauthorized,
	http.StatusForbidden:             ErrForbidden,
	http.StatusNotFound:              ErrNotFound,
	http.StatusConflict:              ErrRefused,
	http.StatusServiceUnavailable:    ErrNoLeader,
	http.StatusGatewayTimeout:        ErrTimeout,
}

// FieldError is one problem in a submitted file: the 1-based line (0 when
// unknown), the dotted key path ("" when unknown) and what is wrong. It is
// the strict YAML decoder's own error, so a file's problems travel over
// the API unchanged.
type FieldError = yamlstrict.FieldError

// Error is the JSON body of every failed API call and, with the HTTP
// status filled in, the error the Client returns for it. It wraps the
// sentinel of its Code (Code.Class), or of its status when the code is
// unknown, so errors.Is(err, ErrNotFound) and the like match it.
type Error struct {
	// Status is the HTTP status of the answer (set by the Client; never
	// sent).
	Status int `json:"-"`
	// Message is the message for a person.
	Message string `json:"error"`
	// Code is the stable machine-readable code.
	Code Code `json:"code,omitempty"`
	// Errors lists per-line problems of a submitted file.
	Errors []*FieldError `json:"errors,omitempty"`
}

// Error returns the API's message, followed by one line per problem when
// the API listed them.
func (e *Error) Error() string {
	if len(e.Errors) > 0 {
		lines := make([]string, len(e.Errors))
		for i, fe := range e.Errors {
			lines[i] = fe.Error()
		}
		return e.Message + ":\n" + strings.Join(lines, "\n")
	}
	return e.Message
}

// Unwrap returns the sentinel of e's code, or of its HTTP status when the
// code is unknown; nil when neither says.
func (e *Error) Unwrap() error {
	if c := e.Code.Class(); c != nil {
		return c
	}
	return statusClasses[e.Status]
}
