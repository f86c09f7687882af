package server

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources/builtin"
)

// TestGroupApplyRefusesStopTimeoutsBeyondStopDeadline: a resource whose
// explicit stop_timeout is longer than fencing.stop_deadline could not be
// stopped by a self-fence in time; the apply names it with its line.
func TestGroupApplyRefusesStopTimeoutsBeyondStopDeadline(t *testing.T) {
	c := newTestCluster(t, "n1")
	c.startAll()
	l := c.leader()
	group := func(stopTimeout string) []byte {
		return []byte(`groups:
  - name: db
    nodes: [n1]
    resources:
      - name: app
        type: exec
        start: "true"
        stop: "true"
        timeout: 60s
        stop_timeout: ` + stopTimeout + "\n")
	}
	_, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), group("30s"), "test")
	var el yamlstrict.ErrorList
	if !errors.As(err, &el) || len(el) != 1 || el[0].Path != "groups[0].resources[0]" || el[0].Line != 5 ||
		!strings.Contains(el[0].Msg, "resource app (exec): stop_timeout 30s is longer than the cluster's fencing.stop_deadline 10s") ||
		!strings.Contains(el[0].Msg, "lower stop_timeout to at most 10s") ||
		!strings.Contains(el[0].Msg, "raftha cluster settings set --stop-deadline") {
		t.Fatalf("apply with stop_timeout 30s and stop_deadline 10s: %v, want one error at line 5 naming app, its stop_timeout and the stop_deadline", err)
	}
	if _, ok := l.srv.State().Groups["db"]; ok {
		t.Fatal("group db applied despite the error")
	}
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), group("10s"), "test"); err != nil {
		t.Fatalf("apply with a stop_timeout equal to stop_deadline: %v", err)
	}
}

// TestGroupApplyAcceptsLongTimeoutWithoutStopTimeout: `timeout` bounds
// start and check; without stop_timeout the stop is bounded by
// min(timeout, stop_deadline), so a long timeout (a slow start) or the
// type's default must not make the group file refused.
func TestGroupApplyAcceptsLongTimeoutWithoutStopTimeout(t *testing.T) {
	c := newTestCluster(t, "n1")
	c.startAll()
	l := c.leader()
	group := []byte(`groups:
  - name: db
    nodes: [n1]
    resources:
      - name: slow
        type: exec
        start: "true"
        stop: "true"
        timeout: 60s
      - name: defaults
        type: exec
        start: "true"
        stop: "true"
`)
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), group, "test"); err != nil {
		t.Fatalf("apply of exec timeout 60s (no stop_timeout) and exec defaults under stop_deadline 10s: %v", err)
	}
	if _, ok := l.srv.State().Groups["db"]; !ok {
		t.Fatal("group db not applied")
	}
}

// TestCheckStopTimeoutsPerType: every type with a stop that waits is
// accepted with a long timeout (or its defaults) and refused only for an
// explicit stop_timeout beyond stop_deadline.
func TestCheckStopTimeoutsPerType(t *testing.T) {
	s := &Server{registry: builtin.Registry()} // the AWS types too
	const deadline = 10 * time.Second
	types := []struct{ name, keys string }{
		{"exec", "type: exec\n        start: \"true\"\n        stop: \"true\"\n"},
		{"disk", "type: disk\n        device: /dev/vdb\n        mount_point: /srv/db\n"},
		{"systemd", "type: systemd\n        unit: app.service\n"},
		{"aws.ebs", "type: aws.ebs\n        volume_id: vol-0123456789abcdef0\n        device: /dev/xvdf\n"},
		{"aws.dns", "type: aws.dns\n        hosted_zone_id: Z0123456789ABC\n        record: db.example.internal\n        delete_on_stop: true\n"},
	}
	timeoutKey := map[string]string{"aws.ebs": "wait_timeout", "aws.dns": "wait_timeout"}
	for _, ty := range types {
		key := timeoutKey[ty.name]
		if key == "" {
			key = "timeout"
		}
		for _, tc := range []struct {
			extra   string
			refused bool
		}{
			{"", false},
			{"        " + key + ": 5m\n", false},
			{"        " + key + ": 5m\n        stop_timeout: 10s\n", false},
			{"        stop_timeout: 30s\n", true},
		} {
			src := "groups:\n  - name: g\n    nodes: [n1]\n    resources:\n      - name: r\n        " + ty.keys + tc.extra
			specs, root, errs := groupfile.Parse([]byte(src), s.registry)
			if len(errs) > 0 {
				t.Fatalf("%s %q: parse: %v", ty.name, tc.extra, errs)
			}
			errs = groupfile.CheckStopTimeouts(root, specs, s.registry, deadline)
			switch {
			case tc.refused && (len(errs) != 1 || errs[0].Line != 5 || !strings.Contains(errs[0].Msg, "resource r ("+ty.name+"): stop_timeout 30s is longer than the cluster's fencing.stop_deadline 10s")):
				t.Errorf("%s %q: %v, want one error at line 5", ty.name, tc.extra, errs)
			case !tc.refused && len(errs) > 0:
				t.Errorf("%s %q: refused: %v", ty.name, tc.extra, errs)
			}
		}
	}
}

// TestGroupApplyRefusesDiskLockLayout: the agent checks a group file's
// disk locks against the cluster's settings and the groups already
// applied, as `config check --groups` does: a lock_settle shorter than
// 2 heartbeats + lock_io_timeout, and a lock_device another applied group
// already uses, are refused with their line.
func TestGroupApplyRefusesDiskLockLayout(t *testing.T) {
	c := newTestCluster(t, "n1")
	c.startAll()
	l := c.leader()
	group := func(name, lock, settle string) []byte {
		s := `groups:
  - name: ` + name + `
    nodes: [n1]
    resources:
      - name: data
        type: disk
        device: /dev/raftha-test-` + name + `
        mount_point: /srv/raftha-test-` + name + `
        lock_device: ` + lock + "\n"
		if settle != "" {
			s += "        lock_settle: " + settle + "\n"
		}
		return []byte(s)
	}
	_, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), group("db", "/dev/raftha-test-lock", "10ms"), "test")
	var el yamlstrict.ErrorList
	if !errors.As(err, &el) || len(el) != 1 || !strings.Contains(el[0].Path, "lock_settle") {
		t.Fatalf("apply with lock_settle 10ms: %v, want one error naming lock_settle", err)
	}
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), group("db", "/dev/raftha-test-lock", ""), "test"); err != nil {
		t.Fatalf("apply of db with the default lock_settle: %v", err)
	}
	_, err = l.srv.ApplyGroups(ctxT(t, 10*time.Second), group("web", "/dev/raftha-test-lock", ""), "test")
	if !errors.As(err, &el) || len(el) != 1 || !strings.Contains(el[0].Msg, "raftha-test-lock") {
		t.Fatalf("apply of web on db's lock_device: %v, want one error naming the device", err)
	}
	if _, ok := l.srv.State().Groups["web"]; ok {
		t.Fatal("group web applied on another group's lock_device")
	}
}
