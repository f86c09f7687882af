package groupfile

import (
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources/builtin"
)

const twoLocks = `groups:
  - name: db
    nodes: [n1, n2]
    resources:
      - name: data
        type: disk
        device: /dev/nvme1n1p2
        mount_point: /srv/db
        lock_device: /dev/nvme1n1p1
  - name: web
    nodes: [n2, n1]
    resources:
      - name: www
        type: disk
        device: /dev/nvme2n1p2
        mount_point: /srv/www
        lock_device: /dev/nvme1n1p1/
        lock_settle: 1s
`

// TestParseRefusesSharedLockDevice: ParseContext (what the agent's group
// apply runs) refuses a second resource on the same lock_device, at the
// line of the second one, comparing cleaned paths.
func TestParseRefusesSharedLockDevice(t *testing.T) {
	_, _, errs := Parse([]byte(twoLocks), builtin.Registry())
	if len(errs) != 1 || errs[0].Line != 17 || errs[0].Path != "groups[1].resources[0].lock_device" || !strings.Contains(errs[0].Msg, "also the lock_device of groups[0].resources[0] (group db, resource data, line 9)") {
		t.Fatalf("errs = %v; want one error at line 17 naming the first lock_device", errs)
	}
	fixed := strings.Replace(twoLocks, "lock_device: /dev/nvme1n1p1/", "lock_device: /dev/nvme2n1p1", 1)
	specs, root, errs := Parse([]byte(fixed), builtin.Registry())
	if len(errs) != 0 {
		t.Fatalf("distinct lock devices: %v", errs)
	}
	locks := DiskLocks(specs, builtin.Registry())
	if len(locks) != 2 || locks[1].Layout.LockDevice != "/dev/nvme2n1p1" || locks[1].Layout.Settle != time.Second || locks[0].Layout.IOTimeout != 2*time.Second || locks[0].Layout.LostAfter != 10*time.Second {
		t.Fatalf("DiskLocks = %+v", locks)
	}
	cs := fsm.ClusterSettings{FencingMode: fsm.FencingAWSStop, Heartbeat: 300 * time.Millisecond, Lease: 1500 * time.Millisecond, StopDeadline: 10 * time.Second}
	cerrs, warns := CheckDiskLocks(root, specs, builtin.Registry(), cs)
	if len(cerrs) != 1 || cerrs[0].Line != 18 || cerrs[0].Path != "groups[1].resources[0].lock_settle" || len(warns) != 0 {
		t.Fatalf("CheckDiskLocks = %v, %v; want one lock_settle error at line 18", cerrs, warns)
	}
}

// TestCheckLockDevicesAgainstApplied: a file that reuses the lock or data
// partition of a group already in the cluster is refused at its line; a
// group the file redefines is not compared with its old self.
func TestCheckLockDevicesAgainstApplied(t *testing.T) {
	reg := builtin.Registry()
	applied, _, errs := Parse([]byte(strings.Replace(twoLocks, "lock_device: /dev/nvme1n1p1/", "lock_device: /dev/nvme2n1p1", 1)), reg)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	// db as applied; app (new) on web's partitions the other way round.
	file := strings.NewReplacer("name: web", "name: app", "name: www", "name: files",
		"/dev/nvme2n1p2", "/dev/nvme2n1p1", "lock_device: /dev/nvme1n1p1/", "lock_device: /dev/nvme2n1p2",
		"        lock_settle: 1s\n", "").Replace(twoLocks)
	specs, root, errs := Parse([]byte(file), reg)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	got := CheckLockDevicesAgainst(root, specs, applied, reg)
	// db is redefined by the file (no clash with its old self); app's
	// device is web's lock_device, and app's lock_device is web's data.
	if len(got) != 2 ||
		got[0].Line != 15 || got[0].Path != "groups[1].resources[0].device" || !strings.Contains(got[0].Msg, "is the lock_device of group web (resource www), already applied") ||
		got[1].Line != 17 || got[1].Path != "groups[1].resources[0].lock_device" || !strings.Contains(got[1].Msg, "is the data device of group web (resource www), already applied") {
		t.Fatalf("CheckLockDevicesAgainst = %v", got)
	}
}
