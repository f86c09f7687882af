package cluster

// The member port binds every request to the caller's TLS identity (see
// DESIGN.md, "Who may do what on the member port"): the mux admits only
// member certificates of members, the RPC endpoint of each stream knows
// the member id its certificate proved, and every leader call checks that
// the member asks only for itself, or carries the API caller it forwards
// an operator's call for.

import (
	"fmt"
	"slices"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/errs"
	"github.com/raftha/raftha/server/internal/rpcwire"
	"github.com/raftha/raftha/transport"
)

// AdmitPeer is the member port's authorizer: a member certificate of a
// member of this cluster; a legacy certificate (no kind) of a member only
// while tls.allow_legacy_member_certs is set, loudly.
func (c *Cluster) AdmitPeer(id transport.Identity) bool {
	switch id.Kind {
	case transport.KindMember:
		return c.mayConnect(id.Name)
	case transport.KindLegacy:
		if !c.cfg.TLS.AllowLegacyMemberCerts || !c.mayConnect(id.Name) {
			return false
		}
		c.log.Warn("admitted a legacy member certificate (it has no raftha://member/ID name): re-issue it with `raftha tls cert create --member ID`, roll the member, then turn tls.allow_legacy_member_certs off", "peer", id.Name)
		c.legacy.WithLabelValues(id.Name).Inc()
		return true
	}
	return false
}

// MemberAt is the member id addr belongs to, for the dialer's check: the
// log's members first (a removed member's address may be reused), then
// the configured ones; "" when none. Two log members with one address
// (refused since, see checkAddressFree) resolve to the configured one,
// else to the smaller id: never a random one.
func (c *Cluster) MemberAt(addr string) string {
	var ids []string
	c.fsm.Read(func(st *fsm.State) {
		for _, m := range st.Members {
			if m.Address == addr {
				ids = append(ids, m.ID)
			}
		}
	})
	configured := ""
	for _, m := range c.cfg.Members {
		if m.Address == addr {
			configured = m.ID
			break
		}
	}
	switch {
	case len(ids) == 1:
		return ids[0]
	case len(ids) > 1:
		if slices.Contains(ids, configured) {
			return configured
		}
		return slices.Min(ids)
	}
	return configured
}

// CheckAddressFree refuses to record addr for member id when another
// member of the log has it: the dialer's check (MemberAt) would then
// refuse one of them, and a member could take another's address to cut
// it off.
func (c *Cluster) CheckAddressFree(id, addr string) error {
	var other string
	c.fsm.Read(func(st *fsm.State) {
		for _, m := range st.Members {
			if m.ID != id && addr != "" && m.Address == addr {
				other = m.ID
			}
		}
	})
	if other != "" {
		return fmt.Errorf("%w: address %s belongs to member %s", errs.ErrRefused, addr, other)
	}
	return nil
}

// memberRole is id's role, from the log or the configuration.
func (c *Cluster) memberRole(id string) (fsm.Role, bool) {
	var role fsm.Role
	c.fsm.Read(func(st *fsm.State) {
		if m, ok := st.Members[id]; ok {
			role = m.Role
		}
	})
	if role != "" {
		return role, true
	}
	for _, m := range c.cfg.Members {
		if m.ID == id {
			return fsm.Role(m.Role), true
		}
	}
	return "", false
}

// selfOnly refuses a member asking for another member.
func selfOnly(peer, node, what string) error {
	if peer == "" || node != peer {
		return fmt.Errorf("%w: member %s may not send %s for member %q", errs.ErrForbidden, peer, what, node)
	}
	return nil
}

// anyMember lets every member make a read-only call.
func anyMember[A any](*Cluster, string, *A) error { return nil }

// operatorOf checks, on the leader, the API caller a member forwarded an
// operator call for, and returns the identity to record. Only a node
// forwards operator calls: a witness's API refuses changes it does not
// lead (the witness's certificate is the one most likely to sit on a
// small, shared host, and a witness needs no operate role), so a stolen
// witness key cannot vouch for a forged operator. The role is this
// leader's for the caller (roleOf), never the one the member sent; a Go
// call of the forwarding node's own process (Local) is the node's.
func (c *Cluster) operatorOf(peer string, caller *rpcwire.Caller) (string, error) {
	if r, _ := c.memberRole(peer); r != fsm.RoleNode {
		return "", fmt.Errorf("%w: member %s is a %s; a witness does not forward changes: send them to a node's API or the leader's", errs.ErrForbidden, peer, r)
	}
	if caller == nil || caller.Identity == "" {
		return "", fmt.Errorf("%w: member %s forwarded an operator call without its API caller", errs.ErrForbidden, peer)
	}
	if caller.Local {
		return caller.Identity, nil
	}
	if role := c.host.RoleOf(caller.Identity, transport.CertKind(caller.Kind)); !role.CanChange() {
		return "", fmt.Errorf("%w: %s (via member %s) has role %q on the leader; changing the cluster needs role %s", errs.ErrForbidden, caller.Identity, peer, role, api.RoleOperate)
	}
	return caller.Identity, nil
}

// memberNotes are the event kinds a member records about itself.
var memberNotes = map[fsm.EventKind]bool{
	fsm.KindFenceFailed:     true,
	fsm.KindSelfFenceAction: true,
	fsm.KindResourceRestart: true,
	fsm.KindSelfFenced:      true,
	fsm.KindStartRetry:      true, // counts this node's start retries at an epoch (startretry.go)
}

// authorizeProposal checks a command peer forwarded and rewrites its
// author (Header.By) to the authenticated one:
//   - what an owner says about itself (Report, Fenced, its Notes): only
//     for peer itself, and only from a member with role node;
//   - an operator's command: only with an API caller whose role may
//     change the cluster, recorded as its author;
//   - anything else (Assign, member changes, placement, settings seeds,
//     the leader's notes): only the leader originates it, never a peer.
func (c *Cluster) authorizeProposal(peer string, a *rpcwire.ProposeArgs) error {
	cmd, err := fsm.Decode(a.Cmd)
	if err != nil {
		return fmt.Errorf("refusing undecodable command: %w", err)
	}
	owner := func(node, what string) error {
		if err := selfOnly(peer, node, what); err != nil {
			return err
		}
		if r, _ := c.memberRole(peer); r != fsm.RoleNode {
			return fmt.Errorf("%w: member %s has role %q; only a node may send %s", errs.ErrForbidden, peer, r, what)
		}
		return nil
	}
	operator := func(h *fsm.Header) error {
		by, err := c.operatorOf(peer, a.Caller)
		h.By = by
		return err
	}
	switch cmd := cmd.(type) {
	case *fsm.Report:
		err = owner(cmd.Node, "a report")
		cmd.By = peer
	case *fsm.Fenced:
		err = owner(cmd.Node, "a fence")
		cmd.By = peer
	case *fsm.Note:
		err = owner(cmd.Node, "a note")
		if err == nil && !memberNotes[cmd.Kind] {
			err = fmt.Errorf("%w: only the leader records %s events", errs.ErrForbidden, cmd.Kind)
		}
		cmd.By = peer
	case *fsm.ApplyGroups:
		err = operator(&cmd.Header)
	case *fsm.DeleteGroup:
		err = operator(&cmd.Header)
	case *fsm.SetSuspended:
		err = operator(&cmd.Header)
	case *fsm.SetStandby:
		err = operator(&cmd.Header)
	case *fsm.FenceOverride:
		err = operator(&cmd.Header)
	case *fsm.BeginTransfer:
		err = operator(&cmd.Header)
	case *fsm.SetClusterSettings:
		if cmd.Seed {
			return fmt.Errorf("%w: only the leader seeds the cluster settings", errs.ErrForbidden)
		}
		err = operator(&cmd.Header)
	default:
		return fmt.Errorf("%w: only the leader originates %T; member %s may not propose it", errs.ErrForbidden, cmd, peer)
	}
	if err != nil {
		return err
	}
	a.Cmd, err = fsm.Encode(cmd)
	return err
}

// CheckOwnCert refuses to start with a certificate the other members
// would refuse: an operator's, another member's, or a legacy one while
// tls.allow_legacy_member_certs is off.
func CheckOwnCert(cfg config.Config, b *transport.Bundle) error {
	id, err := transport.CertIdentityOf(b.Certificate.Leaf)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errs.ErrNotMemberCert, cfg.TLS.Cert, err)
	}
	fix := fmt.Sprintf("issue one with `raftha tls cert create --dir DIR --member %s`", cfg.NodeID)
	switch {
	case id.Name != cfg.NodeID:
		return fmt.Errorf("%w: %s names %s, not node_id %s; %s", errs.ErrNotMemberCert, cfg.TLS.Cert, id, cfg.NodeID, fix)
	case id.Kind == transport.KindOperator:
		return fmt.Errorf("%w: %s is an operator certificate; %s", errs.ErrNotMemberCert, cfg.TLS.Cert, fix)
	case id.Kind == transport.KindLegacy && !cfg.TLS.AllowLegacyMemberCerts:
		return fmt.Errorf("%w: %s has no member identity (issued before certificate kinds); %s, or set tls.allow_legacy_member_certs while migrating (docs/security.md, Migrating certificates)", errs.ErrNotMemberCert, cfg.TLS.Cert, fix)
	}
	return nil
}

// IsMember reports whether a certificate identity names a member: one of
// the configured initial members or one the log knows (members add
// records a member in the log before adding it to Raft).
func (c *Cluster) IsMember(id string) bool {
	return c.memberNow(id)
}

// mayConnect is who the member port admits: a member, or a configured
// member that was removed (it may only probe, to rejoin; serve refuses
// it everything else).
func (c *Cluster) mayConnect(id string) bool {
	if c.memberNow(id) {
		return true
	}
	for _, m := range c.cfg.Members {
		if m.ID == id {
			return true
		}
	}
	return false
}

// memberNow is IsMember's answer.
func (c *Cluster) memberNow(id string) bool {
	known := false
	c.fsm.Read(func(st *fsm.State) { _, known = st.Members[id] })
	if known {
		return true
	}
	configured := false
	for _, m := range c.cfg.Members {
		configured = configured || m.ID == id
	}
	if !configured {
		return false
	}
	servers, open := c.host.Servers()
	if !open {
		return true // before Raft opens, the configuration is all there is
	}
	// A configured member the log does not list yet (a new cluster, before
	// its leader seeded the log) is one while it is in the Raft
	// configuration, or while this member has none yet (it is joining). A
	// member removed with `raftha members remove` is in neither, so every
	// call its certificate makes is refused from then on (serve;
	// TestRemovedMemberRefused); only the rejoin probe answers it.
	if len(servers) == 0 {
		return true
	}
	for _, srv := range servers {
		if string(srv.ID) == id {
			return true
		}
	}
	return false
}
