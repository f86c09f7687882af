package groupfile

import (
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

// DiskLock is one resource of a group file that keeps a disk lock.
type DiskLock struct {
	// Group and Resource name it.
	Group, Resource string
	// Path is its place in the file, e.g. groups[0].resources[1].
	Path string
	// Layout is its lock settings, defaults applied.
	Layout resources.DiskLockLayout
}

// eachParams calls fn with the decoded parameters of every resource of
// specs whose type is known and whose parameters decode (Parse reported
// the others), with its path in the file, in file order.
func eachParams(specs []fsm.GroupSpec, reg *resources.Registry, fn func(path string, g fsm.GroupSpec, r fsm.ResourceSpec, p any)) {
	for i, g := range specs {
		for j, r := range g.Resources {
			t, err := reg.Lookup(r.Type)
			if err != nil {
				continue
			}
			p := t.NewParams()
			if len(r.Params) > 0 && json.Unmarshal(r.Params, p) != nil {
				continue
			}
			fn(fmt.Sprintf("groups[%d].resources[%d]", i, j), g, r, p)
		}
	}
}

// DiskLocks lists the resources of specs whose parameters keep a disk
// lock (resources.DiskLocker), in file order.
func DiskLocks(specs []fsm.GroupSpec, reg *resources.Registry) []DiskLock {
	var out []DiskLock
	eachParams(specs, reg, func(path string, g fsm.GroupSpec, r fsm.ResourceSpec, p any) {
		if dl, ok := p.(resources.DiskLocker); ok {
			if l, ok := dl.DiskLockLayout(); ok {
				out = append(out, DiskLock{Group: g.Name, Resource: r.Name, Path: path, Layout: l})
			}
		}
	})
	return out
}

// dataDevices maps each data device named in specs (a resource's device)
// to the path of the first resource that names it.
func dataDevices(specs []fsm.GroupSpec, reg *resources.Registry) map[string]string {
	out := map[string]string{}
	eachParams(specs, reg, func(path string, _ fsm.GroupSpec, _ fsm.ResourceSpec, p any) {
		if dl, ok := p.(resources.DiskLocker); ok {
			if l, _ := dl.DiskLockLayout(); l.DataDevice != "" {
				if _, seen := out[l.DataDevice]; !seen {
					out[l.DataDevice] = path
				}
			}
		}
	})
	return out
}

// checkLockDevices refuses a lock_device that another resource of the
// file also names as its lock_device (the lock block holds one group's
// owner and epoch: two holders would refuse or supersede each other), or
// as its data device (the lock block would overwrite that file system).
// Paths are compared as written: two names of one device (a by-id link
// and its /dev/nvme name) are caught at start by the device numbers.
func checkLockDevices(root *yaml.Node, specs []fsm.GroupSpec, reg *resources.Registry) yamlstrict.ErrorList {
	var errs yamlstrict.ErrorList
	first := map[string]DiskLock{}
	data := dataDevices(specs, reg)
	for _, d := range DiskLocks(specs, reg) {
		key := d.Path + ".lock_device"
		if prev, dup := first[d.Layout.LockDevice]; dup {
			errs = append(errs, &yamlstrict.FieldError{Line: yamlstrict.LineOf(root, key), Path: key, Msg: fmt.Sprintf(
				"lock_device %s is also the lock_device of %s (group %s, resource %s, line %d): each disk lock needs its own lock partition",
				d.Layout.LockDevice, prev.Path, prev.Group, prev.Resource, yamlstrict.LineOf(root, prev.Path+".lock_device"))})
			continue
		}
		first[d.Layout.LockDevice] = d
		if other, ok := data[d.Layout.LockDevice]; ok && other != d.Path {
			errs = append(errs, &yamlstrict.FieldError{Line: yamlstrict.LineOf(root, key), Path: key, Msg: fmt.Sprintf(
				"lock_device %s is the data device of %s (line %d): the lock block would overwrite its file system",
				d.Layout.LockDevice, other, yamlstrict.LineOf(root, other+".device"))})
		}
	}
	return errs
}

// CheckDiskLocks checks every disk lock of a parsed group file against
// the cluster settings cs (config.CheckDiskLock), with the line of the
// key concerned: errs refuse the file, warns are printed.
func CheckDiskLocks(root *yaml.Node, specs []fsm.GroupSpec, reg *resources.Registry, cs fsm.ClusterSettings) (errs, warns yamlstrict.ErrorList) {
	for _, d := range DiskLocks(specs, reg) {
		e, w := config.CheckDiskLock(cs, d.Layout)
		for _, err := range e {
			errs = append(errs, &yamlstrict.FieldError{Line: lineOfKey(root, d.Path, "lock_settle"), Path: d.Path + ".lock_settle", Msg: err.Error()})
		}
		for _, msg := range w {
			warns = append(warns, &yamlstrict.FieldError{Line: lineOfKey(root, d.Path, "lock_lost_after"), Path: d.Path + ".lock_lost_after", Msg: msg})
		}
	}
	return errs, warns
}

// lineOfKey is the line of path.key, or of path when the key is not
// written (its default is in effect).
func lineOfKey(root *yaml.Node, path, key string) int {
	if l := yamlstrict.LineOf(root, path+"."+key); l > 0 {
		return l
	}
	return yamlstrict.LineOf(root, path)
}

// CheckLockDevicesAgainst refuses a group file whose disk resources share
// a device with the groups already applied (applied: the cluster's groups;
// those the file redefines are left out, the file replaces them): a
// lock_device that an applied group uses as its lock_device or data
// device, or a data device that an applied group uses as its lock_device.
// Parse already checks the file against itself.
func CheckLockDevicesAgainst(root *yaml.Node, specs, applied []fsm.GroupSpec, reg *resources.Registry) yamlstrict.ErrorList {
	inFile := map[string]bool{}
	for _, g := range specs {
		inFile[g.Name] = true
	}
	var others []fsm.GroupSpec
	for _, g := range applied {
		if !inFile[g.Name] {
			others = append(others, g)
		}
	}
	lockOf, dataOf := map[string]string{}, map[string]string{}
	eachParams(others, reg, func(_ string, g fsm.GroupSpec, r fsm.ResourceSpec, p any) {
		if dl, ok := p.(resources.DiskLocker); ok {
			l, locked := dl.DiskLockLayout()
			who := fmt.Sprintf("group %s (resource %s), already applied", g.Name, r.Name)
			if locked {
				lockOf[l.LockDevice] = who
			}
			if l.DataDevice != "" {
				dataOf[l.DataDevice] = who
			}
		}
	})
	var errs yamlstrict.ErrorList
	add := func(key, msg string) {
		errs = append(errs, &yamlstrict.FieldError{Line: yamlstrict.LineOf(root, key), Path: key, Msg: msg})
	}
	eachParams(specs, reg, func(path string, _ fsm.GroupSpec, _ fsm.ResourceSpec, p any) {
		dl, ok := p.(resources.DiskLocker)
		if !ok {
			return
		}
		l, locked := dl.DiskLockLayout()
		if locked {
			if who, ok := lockOf[l.LockDevice]; ok {
				add(path+".lock_device", fmt.Sprintf("lock_device %s is the lock_device of %s: each disk lock needs its own lock partition", l.LockDevice, who))
			} else if who, ok := dataOf[l.LockDevice]; ok {
				add(path+".lock_device", fmt.Sprintf("lock_device %s is the data device of %s: the lock block would overwrite its file system", l.LockDevice, who))
			}
		}
		if who, ok := lockOf[l.DataDevice]; ok && l.DataDevice != "" {
			add(path+".device", fmt.Sprintf("device %s is the lock_device of %s: mounting it would destroy that group's disk lock", l.DataDevice, who))
		}
	})
	errs.SortByLine()
	return errs
}
