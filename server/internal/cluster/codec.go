package cluster

import (
	"context"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/errs"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// Codec is the member RPC's one error registry, most specific first (an
// error may wrap more than one sentinel). A code is a stable wire name:
// never reuse or rename one; the API answers with it too.
var Codec = rpcwire.NewCodec(
	entry(api.CodeInProgress, errs.ErrInProgress),
	entry(api.CodeMoveFailed, errs.ErrMoveFailed),
	entry(api.CodeTimeout, context.DeadlineExceeded),
	entry(api.CodeEnqueueTimeout, raft.ErrEnqueueTimeout),
	entry(api.CodeStaleEpoch, fsm.ErrStaleEpoch),
	entry(api.CodeNotOwner, fsm.ErrNotOwner),
	entry(api.CodeNotEligible, fsm.ErrNotEligible),
	entry(api.CodeRoleMismatch, fsm.ErrRoleMismatch),
	entry(api.CodeNoGroup, fsm.ErrNoGroup),
	entry(api.CodeNoMember, fsm.ErrNoMember),
	entry(api.CodeBusy, fsm.ErrBusy),
	entry(api.CodeInvalid, fsm.ErrInvalid),
	entry(api.CodeUnknownCommand, fsm.ErrUnknownCommand),
	entry(api.CodeNoQuorum, errs.ErrNoQuorum),
	entry(api.CodeNoLeader, errs.ErrNoLeader),
	entry(api.CodeLeadershipLost, errs.ErrLeadershipLost),
	entry(api.CodeOutcomeUnknown, errs.ErrOutcomeUnknown),
	entry(api.CodeNotLeader, errs.ErrNotLeader),
	entry(api.CodeOwnership, errs.ErrNotOwner),
	entry(api.CodeSettingsMismatch, errs.ErrSettingsMismatch),
	entry(api.CodeRefused, errs.ErrRefused),
	entry(api.CodeForbidden, errs.ErrForbidden),
	entry(api.CodeCanceled, context.Canceled),
)

// entry registers sentinel err under the API's code c: one set of codes
// for the member RPC and the HTTP API.
func entry(c api.Code, err error) rpcwire.Entry {
	return rpcwire.Entry{Code: rpcwire.Code(c), Err: err}
}

// ErrorCode is err's wire code ("" when it wraps no registered sentinel).
func ErrorCode(err error) api.Code { return api.Code(Codec.Code(err)) }
