package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONClusterCommands: against a real three-node cluster, every
// command that prints a result prints JSON under --json, in the API's
// shape where there is one (api.GroupStatus, api.SettingsView, ...).
func TestJSONClusterCommands(t *testing.T) {
	c := newThreeGroupCluster(t, "")
	run := func(args ...string) string {
		t.Helper()
		// Ask the leader of the moment: the cluster may elect another
		// one on a loaded machine.
		out, errs, code := c.cli(c.leader().id, append(args, "--json")...)
		if code != 0 {
			t.Fatalf("raftha %s --json: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
		}
		return out
	}
	object := func(args ...string) map[string]any {
		t.Helper()
		return decodeJSON(t, strings.Join(args, " "), run(args...))
	}
	list := func(args ...string) []map[string]any {
		t.Helper()
		var l []map[string]any
		if out := run(args...); json.Unmarshal([]byte(out), &l) != nil || len(l) == 0 {
			t.Fatalf("raftha %s --json: not a non-empty JSON list:\n%s", strings.Join(args, " "), out)
		}
		return l
	}

	hasFields(t, "status", object("status"), "leader", "term", "members", "groups", "answered_by")
	hasFields(t, "group list", list("group", "list")[0], "name", "owner", "epoch", "state")
	hasFields(t, "group show", object("group", "show", "db"), "spec", "status", "changes")
	hasFields(t, "why", list("why", "db")[0], "to", "epoch", "cause")
	hasFields(t, "members list", list("members", "list")[0], "id", "role", "state", "healthy", "voter")
	hasFields(t, "cluster settings show", object("cluster", "settings", "show"), "fencing_mode", "heartbeat", "lease", "stop_deadline", "lease_only_wait", "recorded")
	m := object("cluster", "settings", "set", "--lease", "600ms")
	if m["lease"] != "600ms" {
		t.Errorf("cluster settings set --json: lease %v, want \"600ms\"", m["lease"])
	}

	m = object("snapshot", "save", filepath.Join(c.dir, "backup.snap"))
	hasFields(t, "snapshot save", m, "file", "index", "term", "sha256", "groups")

	file := filepath.Join(c.dir, "groups.yaml")
	m = object("group", "apply", "-f", file)
	if apps, _ := m["applied"].([]any); len(apps) != 3 {
		t.Errorf("group apply --json: %v, want the 3 groups in applied", m)
	}

	// db runs on n2 or n3: move it to the other one.
	owner := c.leader().srv.State().Groups["db"].Status.Owner
	to := map[string]string{"n2": "n3", "n3": "n2"}[owner]
	m = object("ownership", "transfer", "db", "--to", to)
	if m["name"] != "db" || m["owner"] != to || m["state"] != "online" {
		t.Errorf("ownership transfer --json: %v, want db online on %s", m, to)
	}

	for _, tc := range []struct{ args []string }{{[]string{"group", "suspend", "web"}}, {[]string{"group", "resume", "web"}}} {
		m = object(tc.args...)
		hasFields(t, strings.Join(tc.args, " "), m, "group", "action")
	}
	m = object("group", "stop", "cache")
	if m["name"] != "cache" || m["state"] != "offline" {
		t.Errorf("group stop --json: %v, want cache offline", m)
	}
	m = object("group", "delete", "cache")
	if m["group"] != "cache" || m["action"] != "deleted" {
		t.Errorf("group delete --json: %v", m)
	}

	m = object("members", "add", "--id", "n4", "--address", "127.0.0.1:9", "--role", "witness")
	hasFields(t, "members add", m, "id", "address", "role")
	m = object("members", "remove", "n4")
	if m["removed"] != "n4" {
		t.Errorf("members remove --json: %v", m)
	}
	m = object("members", "standby", "n1")
	hasFields(t, "members standby", m, "member", "standby")
	m = object("members", "unstandby", "n1")
	if m["member"] != "n1" || m["standby"] != false {
		t.Errorf("members unstandby --json: %v", m)
	}

	m = object("debug", "bundle", "--out", filepath.Join(t.TempDir(), "b.tar.gz"))
	hasFields(t, "debug bundle", m, "files")
}
