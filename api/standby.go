package api

import (
	"context"
	"net/url"
	"time"
)

// StandbyResult is the answer of POST /v1/members/{id}/standby and
// /unstandby.
type StandbyResult struct {
	// Member is the member asked about.
	Member string `json:"member"`
	// Standby is the member's mark after the call.
	Standby bool `json:"standby"`
	// Moving lists the groups the member owns and that the leader moves
	// away (standby), or is empty.
	Moving []string `json:"moving,omitempty"`
}

// StandbyInfo is who put a member on standby and since when
// (MemberStatus.Standby).
type StandbyInfo struct {
	// By is the operator who put the member on standby.
	By string `json:"by,omitempty"`
	// Since is when (the proposer's clock).
	Since time.Time `json:"since"`
}

// Standby is POST /v1/members/{id}/standby: the node keeps voting, but
// nothing new is placed on it and its groups move away by planned moves.
func (c *Client) Standby(ctx context.Context, id string) (*StandbyResult, error) {
	var r StandbyResult
	return &r, c.post(ctx, "/v1/members/"+url.PathEscape(id)+"/standby", nil, &r)
}

// Unstandby is POST /v1/members/{id}/unstandby: the node may own groups
// again (placement and failback); nothing moves back by itself.
func (c *Client) Unstandby(ctx context.Context, id string) (*StandbyResult, error) {
	var r StandbyResult
	return &r, c.post(ctx, "/v1/members/"+url.PathEscape(id)+"/unstandby", nil, &r)
}
