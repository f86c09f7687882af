package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/errs"
	"github.com/raftha/raftha/server/internal/leader"
)

// ErrSettingsMismatch is wrapped when a member's configured fencing
// settings differ from the cluster's (the ones in the log): the leader
// refuses its heartbeats and confirmations, so it never holds a lease or a
// group.
var ErrSettingsMismatch = errs.ErrSettingsMismatch

// settingDiff is one configuration key whose value differs.
type settingDiff struct {
	Key, Member, Cluster string
}

// diffSettings lists the keys whose member value differs from the
// cluster's, in a fixed order.
func diffSettings(member, cluster fsm.ClusterSettings) []settingDiff {
	var out []settingDiff
	for _, f := range []struct {
		key  string
		m, c string
	}{
		{"fencing.mode", string(member.FencingMode), string(cluster.FencingMode)},
		{"timing.heartbeat", member.Heartbeat.String(), cluster.Heartbeat.String()},
		{"timing.lease", member.Lease.String(), cluster.Lease.String()},
		{"fencing.stop_deadline", member.StopDeadline.String(), cluster.StopDeadline.String()},
	} {
		if f.m != f.c {
			out = append(out, settingDiff{f.key, f.m, f.c})
		}
	}
	return out
}

func describeDiffs(ds []settingDiff) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%s is %s here but %s in the cluster", d.Key, d.Member, d.Cluster)
	}
	return strings.Join(parts, "; ")
}

// settingsOf returns the cluster settings recorded in st, or this member's
// own until the first leader has seeded them.
func (s *Server) settingsOf(st *fsm.State) fsm.ClusterSettings {
	if st.Settings != nil {
		return *st.Settings
	}
	return s.cfg.ClusterSettings()
}

// seedSettings records this leader's settings when the log has none yet.
func (s *Server) seedSettings() {
	if s.fsm.View().Settings != nil {
		return
	}
	cs := s.cfg.ClusterSettings()
	if _, err := s.commitLocal(&fsm.SetClusterSettings{Header: s.header(""), Settings: cs, Seed: true}); err != nil && !errors.Is(err, fsm.ErrBusy) {
		s.logger.Warn("could not record the cluster settings", "error", err)
		return
	}
	s.logger.Info("cluster settings recorded from this member's configuration", "settings", cs.String())
}

// logSettings is a copy of the cluster settings in the applied log, read
// without copying the state (it runs on every heartbeat and lease
// confirmation); ok is false before they are seeded.
func (s *Server) logSettings() (cs fsm.ClusterSettings, ok bool) {
	s.fsm.Read(func(st *fsm.State) {
		if st.Settings != nil {
			cs, ok = *st.Settings, true
		}
	})
	return cs, ok
}

// checkMemberSettings refuses a member whose reported settings differ from
// the log's (or who reports none), and records an event once per member
// and difference.
func (s *Server) checkMemberSettings(refused *leader.Refusals, node string, reported *fsm.ClusterSettings) error {
	cur, ok := s.logSettings()
	if !ok {
		return nil // not seeded yet: nothing to compare with
	}
	var why string
	if reported == nil {
		why = "it reports no fencing settings (an older raftha?)"
	} else if ds := diffSettings(*reported, cur); len(ds) > 0 {
		why = describeDiffs(ds)
	}
	prev := refused.Set(node, why)
	if why == "" {
		return nil
	}
	reason := fmt.Sprintf("member %s refused: its configuration differs from the cluster's settings: %s; fix its configuration (or change the cluster's with `raftha cluster settings set`)", node, why)
	if prev != why {
		s.logger.Error(reason, "node", node)
		n := &fsm.Note{Header: s.header("leader"), Kind: fsm.KindSettingsMismatch, Node: node, Reason: reason}
		s.goFn(func() {
			ctx, cancel := context.WithTimeout(s.ctx, proposeTimeout)
			defer cancel()
			if _, err := s.commit(ctx, n); err != nil {
				s.logger.Warn("could not record event", "kind", n.Kind, "error", err)
			}
		})
	}
	return fmt.Errorf("%w: %s", ErrSettingsMismatch, reason)
}

// refusedSettings reports why node is refused for its settings ("" when
// it is not).
func (s *Server) refusedSettings(refused *leader.Refusals, node string) string {
	if node == s.cfg.NodeID {
		cur, ok := s.logSettings()
		if !ok {
			return ""
		}
		return describeDiffs(diffSettings(s.cfg.ClusterSettings(), cur))
	}
	return refused.Get(node)
}

// watchSettings logs an ERROR, naming each differing key, its value here
// and the cluster's, whenever the settings in this member's applied log
// differ from its configuration (and again whenever they change).
func (s *Server) watchSettings() {
	last := ""
	for {
		ch := s.fsm.Changed()
		if cs, ok := s.logSettings(); ok {
			ds := diffSettings(s.cfg.ClusterSettings(), cs)
			key := describeDiffs(ds)
			if key != last {
				for _, d := range ds {
					s.logger.Error("this member's configuration differs from the cluster's settings in the log: the leader refuses its heartbeats, so it holds no lease and runs no group", "key", d.Key, "this_member", d.Member, "cluster", d.Cluster)
				}
				if len(ds) == 0 && last != "" {
					s.logger.Info("this member's configuration matches the cluster's settings again")
				}
				last = key
			}
		}
		select {
		case <-ch:
		case <-s.ctx.Done():
			return
		}
	}
}

func settingsView(cs fsm.ClusterSettings, recorded bool) api.SettingsView {
	return api.SettingsView{FencingMode: string(cs.FencingMode), Heartbeat: api.Duration(cs.Heartbeat), Lease: api.Duration(cs.Lease), StopDeadline: api.Duration(cs.StopDeadline), LeaseOnlyWait: api.Duration(config.LeaseOnlyWaitOf(cs)), Recorded: recorded}
}

// SetClusterSettings changes the cluster's fencing settings (an explicit
// operator action, recorded with by). Members whose configuration differs
// from the new settings are refused until their configuration is changed
// to match and they restart.
func (s *Server) SetClusterSettings(ctx context.Context, req api.SettingsRequest, by string) (api.SettingsView, error) {
	if err := s.checkRunning(); err != nil {
		return api.SettingsView{}, err
	}
	cs := s.settingsOf(s.fsm.View())
	if req.FencingMode != "" {
		cs.FencingMode = fsm.FencingMode(req.FencingMode)
	}
	for _, f := range []struct {
		dst *time.Duration
		v   *api.Duration
	}{{&cs.Heartbeat, req.Heartbeat}, {&cs.Lease, req.Lease}, {&cs.StopDeadline, req.StopDeadline}} {
		if f.v != nil {
			*f.dst = f.v.D()
		}
	}
	// The same relations a member configuration must satisfy.
	c := s.cfg
	c.Fencing.Mode, c.Timing.Heartbeat, c.Timing.Lease, c.Fencing.StopDeadline = config.FencingMode(cs.FencingMode), config.Duration(cs.Heartbeat), config.Duration(cs.Lease), config.Duration(cs.StopDeadline)
	if errs := c.ValidateSettings(); len(errs) > 0 {
		return api.SettingsView{}, fmt.Errorf("%w: %w", fsm.ErrInvalid, errs)
	}
	if _, err := s.operatorCommit(ctx, &fsm.SetClusterSettings{Header: s.header(by), Settings: cs}); err != nil {
		return api.SettingsView{}, err
	}
	return settingsView(cs, true), nil
}
