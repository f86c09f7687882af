package disk

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mountEntry is one line of /proc/self/mountinfo (see proc(5)).
type mountEntry struct {
	ID, Parent   int
	Major, Minor uint32
	Root         string // root of the mount within the filesystem
	MountPoint   string // relative to the process's root
	Options      string // per-mount options
	FSType       string
	Source       string
	SuperOptions string // per-superblock options
}

// readOnly reports whether the mount or its superblock is read-only.
func (e mountEntry) readOnly() bool {
	return hasOption(e.Options, "ro") || hasOption(e.SuperOptions, "ro")
}

func hasOption(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// mountinfoPath is where mounts are read from (a variable for tests).
var mountinfoPath = "/proc/self/mountinfo"

func readMountinfo() ([]mountEntry, error) {
	f, err := os.Open(mountinfoPath)
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	return parseMountinfo(f)
}

func parseMountinfo(r io.Reader) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := parseMountinfoLine(line)
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	return out, nil
}

func parseMountinfoLine(line string) (mountEntry, error) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if len(f) < 7 || sep < 0 || len(f) < sep+3 {
		return mountEntry{}, fmt.Errorf("malformed: %q", line)
	}
	var e mountEntry
	var err error
	if e.ID, err = strconv.Atoi(f[0]); err != nil {
		return e, fmt.Errorf("mount id %q: %w", f[0], err)
	}
	if e.Parent, err = strconv.Atoi(f[1]); err != nil {
		return e, fmt.Errorf("parent id %q: %w", f[1], err)
	}
	maj, min, ok := strings.Cut(f[2], ":")
	if !ok {
		return e, fmt.Errorf("major:minor %q", f[2])
	}
	ma, err1 := strconv.ParseUint(maj, 10, 32)
	mi, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return e, fmt.Errorf("major:minor %q", f[2])
	}
	e.Major, e.Minor = uint32(ma), uint32(mi)
	e.Root = unescapeMountinfo(f[3])
	e.MountPoint = unescapeMountinfo(f[4])
	e.Options = f[5]
	e.FSType = unescapeMountinfo(f[sep+1])
	e.Source = unescapeMountinfo(f[sep+2])
	if len(f) > sep+3 {
		e.SuperOptions = f[sep+3]
	}
	return e, nil
}

// unescapeMountinfo undoes the kernel's octal escaping of space, tab,
// newline and backslash (\040, \011, \012, \134).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// blockDevice identifies the configured device.
type blockDevice struct {
	// Configured is the path as configured (or as resolved from volume_id).
	Configured string
	// Path is Configured with symlinks resolved.
	Path string
	// Major and Minor are the device numbers of the block device node.
	Major, Minor uint32
}

// String formats d as "CONFIGURED (PATH, MAJOR:MINOR)", leaving PATH out
// when it is the configured path.
func (d blockDevice) String() string {
	if d.Path != "" && d.Path != d.Configured {
		return fmt.Sprintf("%s (%s, %d:%d)", d.Configured, d.Path, d.Major, d.Minor)
	}
	return fmt.Sprintf("%s (%d:%d)", d.Configured, d.Major, d.Minor)
}

// statBlockDevice resolves symlinks in path and checks it is a block device.
func statBlockDevice(path string) (blockDevice, error) {
	d := blockDevice{Configured: path}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if os.IsNotExist(err) {
			return d, fmt.Errorf("device %s does not exist (is the volume attached to this instance?)", path)
		}
		return d, fmt.Errorf("device %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(real, &st); err != nil {
		return d, fmt.Errorf("device %s: stat %s: %w", path, real, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return d, fmt.Errorf("device %s (%s) is not a block device", path, real)
	}
	d.Path = real
	d.Major, d.Minor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
	return d, nil
}

// matches reports whether e is a mount of filesystem on d. The device
// numbers decide; the source path is compared too, for filesystems whose
// mounts carry anonymous device numbers (btrfs) and for a device node that
// has disappeared (d.Path == "") while still mounted.
func (d blockDevice) matches(e mountEntry) bool {
	if d.Path != "" && e.Major == d.Major && e.Minor == d.Minor {
		return true
	}
	if !strings.HasPrefix(e.Source, "/") {
		return false
	}
	if e.Source == d.Configured || (d.Path != "" && e.Source == d.Path) {
		return true
	}
	if d.Path != "" {
		if real, err := filepath.EvalSymlinks(e.Source); err == nil && real == d.Path {
			return true
		}
	}
	return false
}

// topMountAt returns the visible (top-most) mount at mp, or nil.
func topMountAt(mounts []mountEntry, mp string) *mountEntry {
	var at []int
	for i := range mounts {
		if mounts[i].MountPoint == mp {
			at = append(at, i)
		}
	}
	if len(at) == 0 {
		return nil
	}
	// A mount stacked on another at the same path has it as parent.
	for _, i := range at {
		covered := false
		for _, j := range at {
			if mounts[j].Parent == mounts[i].ID {
				covered = true
				break
			}
		}
		if !covered {
			return &mounts[i]
		}
	}
	return &mounts[at[len(at)-1]]
}

// mountsOf returns the mount points where d is mounted.
func mountsOf(mounts []mountEntry, d blockDevice) []string {
	var out []string
	for _, e := range mounts {
		if d.matches(e) {
			out = append(out, e.MountPoint)
		}
	}
	return out
}

// submountsOf returns the mounts strictly below mp.
func submountsOf(mounts []mountEntry, mp string) []string {
	var out []string
	for _, e := range mounts {
		if under(e.MountPoint, mp) && e.MountPoint != mp {
			out = append(out, e.MountPoint)
		}
	}
	return out
}

// under reports whether path is mp or below it.
func under(path, mp string) bool {
	return path == mp || strings.HasPrefix(path, mp+"/")
}

// exclusiveBusy reports whether the block device at path is claimed by
// someone (a mounted filesystem in any mount namespace, RAID, LVM,
// swap...): open(2) with O_EXCL on a block device fails with EBUSY then.
func exclusiveBusy(path string) (bool, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
		return false, nil
	}
	if errors.Is(err, unix.EBUSY) {
		return true, nil
	}
	return false, fmt.Errorf("open %s O_EXCL: %w", path, err)
}

// foreignMounts lists mounts of d in mount namespaces other than ours,
// one process per namespace: "pid 123 (ip) at /mnt/x".
func foreignMounts(d blockDevice) []string {
	self, _ := os.Readlink("/proc/self/ns/mnt")
	seen := map[string]bool{self: true}
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	var out []string
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join(procRoot, ent.Name())
		ns, err := os.Readlink(filepath.Join(dir, "ns", "mnt"))
		if err != nil || seen[ns] {
			continue
		}
		seen[ns] = true
		f, err := os.Open(filepath.Join(dir, "mountinfo"))
		if err != nil {
			continue
		}
		mounts, err := parseMountinfo(f)
		f.Close()
		if err != nil {
			continue
		}
		for _, e := range mounts {
			if d.matches(e) {
				out = append(out, fmt.Sprintf("pid %d (%s) in %s at %s", pid, comm(pid), ns, e.MountPoint))
				break
			}
		}
	}
	return out
}
