// Package disk is the `disk` resource: a filesystem mounted on the group's
// owner, like CLUSTERPRO's disk resource on an EBS Multi-Attach volume
// (every node keeps the volume attached; only the owner mounts it).
//
// Start checks that the device is not mounted anywhere else on this host
// and that nothing else is mounted on mount_point, runs fsck -p, mounts
// and verifies the mount in /proc/self/mountinfo. Stop syncs and unmounts
// (retrying briefly while busy, killing the processes that hold the mount
// when force_unmount is set) and verifies the mount is gone; it never
// falls back to a lazy unmount, which would hide a filesystem that is still
// being written. Check verifies the mount and, with probe, writes, fsyncs,
// reads back and removes a small file.
//
// Mount tables are per mount namespace. Start refuses a device mounted
// anywhere in raftha's namespace, and both Start and Stop also require the
// device to be free of exclusive claims (open with O_EXCL): a process that
// unshared its mount namespace while the filesystem was mounted keeps a
// live copy of the mount that raftha's unmount does not remove (on hosts
// where / is not a shared mount), and Stop fails, naming that process,
// rather than report a filesystem that can still be written as stopped.
// Writes from other hosts are kept out by the cluster's fencing; with
// lock_device, the disk lock (lock.go) also makes a stale owner refuse to
// mount, and gives the group up while a newer owner's epoch is on disk.
package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/raftha/raftha/resources"
)

// unwiredResolveVolume stands in for resources.Env.ResolveVolume when the
// agent passed none: volume_id cannot be used.
func unwiredResolveVolume(volumeID, _ string) (string, error) {
	return "", fmt.Errorf("volume_id %s: aws.ebs device resolution is not wired into the disk resource (use device: instead)", volumeID)
}

// Params are the disk resource's YAML settings.
type Params struct {
	// Device is the block device to mount, e.g. /dev/nvme1n1p2 or a
	// /dev/disk/by-id/... symlink. Exactly one of Device and VolumeID.
	Device string `yaml:"device" json:"device,omitempty"`
	// VolumeID is an EBS volume id (vol-...), resolved to its local device
	// with resources.Env.ResolveVolume.
	VolumeID string `yaml:"volume_id" json:"volume_id,omitempty"`
	// MountPoint is the absolute directory to mount on (required).
	MountPoint string `yaml:"mount_point" json:"mount_point,omitempty"`
	// FSType is the filesystem type (default ext4).
	FSType string `yaml:"fstype" json:"fstype,omitempty"`
	// Options are mount options as for mount -o, e.g. "noatime,nodev".
	Options string `yaml:"options" json:"options,omitempty"`
	// Fsck runs fsck -p (e2fsck -p for ext2/3/4) before mounting (default
	// true). Exit codes 0 and 1 are fine; anything else refuses the mount.
	Fsck *bool `yaml:"fsck" json:"fsck,omitempty"`
	// Mkdir creates MountPoint if missing (default true).
	Mkdir *bool `yaml:"mkdir" json:"mkdir,omitempty"`
	// ForceUnmount makes Stop kill the processes holding the mount
	// (SIGTERM, then SIGKILL after KillTimeout) when it is busy (default
	// false: Stop fails and names them).
	ForceUnmount bool `yaml:"force_unmount" json:"force_unmount,omitempty"`
	// KillTimeout is the grace between SIGTERM and SIGKILL (default 5s,
	// at most half the stop timeout); it must fit in the stop timeout.
	KillTimeout string `yaml:"kill_timeout" json:"kill_timeout,omitempty"`
	// Probe makes Check write, fsync, read back and remove a small file
	// .raftha-probe-<node> in the mount (default false).
	Probe bool `yaml:"probe" json:"probe,omitempty"`
	// Timeout bounds each Start (fsck included) and Check (default 60s).
	Timeout string `yaml:"timeout" json:"timeout,omitempty"`
	// StopTimeout bounds each Stop (default: min(timeout, the cluster's
	// fencing.stop_deadline)).
	StopTimeout string `yaml:"stop_timeout" json:"stop_timeout,omitempty"`
	// LockDevice is a small partition (at least 1 MiB) beside the data
	// partition that holds the group's disk lock: an epoch-stamped block
	// Start reads and writes with direct I/O before it mounts, and the
	// agent re-reads every heartbeat while the group runs here (lock.go).
	// Empty: no disk lock.
	LockDevice string `yaml:"lock_device" json:"lock_device,omitempty"`
	// LockIOTimeout bounds each read and write of the lock block (default
	// 2s); a read that does not return counts as a failed read.
	LockIOTimeout string `yaml:"lock_io_timeout" json:"lock_io_timeout,omitempty"`
	// LockLostAfter is how long the holder tolerates failed, hung or
	// invalid reads of the lock block before it gives the group up as if
	// superseded (default 10s).
	LockLostAfter string `yaml:"lock_lost_after" json:"lock_lost_after,omitempty"`
	// LockSettle is how long Start waits after writing its epoch before
	// the final read (default 2 heartbeats + lock_io_timeout: long
	// enough for a holder to see the write and for a stale writer's
	// overwrite to show).
	LockSettle string `yaml:"lock_settle" json:"lock_settle,omitempty"`
}

var volumeIDRe = regexp.MustCompile(`^vol-[0-9a-f]{8,17}$`)
var fstypeRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Validate implements resources.Validator.
func (p *Params) Validate() error {
	var errs []error
	switch {
	case p.Device == "" && p.VolumeID == "":
		errs = append(errs, errors.New("one of device or volume_id is required"))
	case p.Device != "" && p.VolumeID != "":
		errs = append(errs, errors.New("device and volume_id are mutually exclusive"))
	case p.Device != "" && !filepath.IsAbs(p.Device):
		errs = append(errs, fmt.Errorf("device: expected an absolute path like /dev/nvme1n1p2, got %q", p.Device))
	case p.VolumeID != "" && !volumeIDRe.MatchString(p.VolumeID):
		errs = append(errs, fmt.Errorf("volume_id: expected an EBS volume id like vol-0123456789abcdef0, got %q", p.VolumeID))
	}
	switch {
	case p.MountPoint == "":
		errs = append(errs, errors.New("mount_point is required"))
	case !filepath.IsAbs(p.MountPoint):
		errs = append(errs, fmt.Errorf("mount_point: expected an absolute path, got %q", p.MountPoint))
	case filepath.Clean(p.MountPoint) == "/":
		errs = append(errs, errors.New("mount_point: / cannot be a failover mount point"))
	case strings.ContainsAny(p.MountPoint, "\n\t"):
		errs = append(errs, fmt.Errorf("mount_point: %q contains a tab or newline", p.MountPoint))
	}
	if p.FSType != "" && !fstypeRe.MatchString(p.FSType) {
		errs = append(errs, fmt.Errorf("fstype: %q is not a filesystem type name", p.FSType))
	}
	if flags, _, err := parseOptions(p.Options); err != nil {
		errs = append(errs, fmt.Errorf("options: %w", err))
	} else if p.Probe && flags&unix.MS_RDONLY != 0 {
		errs = append(errs, errors.New("probe: cannot write a probe file on a filesystem mounted with options: ro"))
	}
	for _, d := range []struct{ key, val string }{{"timeout", p.Timeout}, {"kill_timeout", p.KillTimeout}, {"stop_timeout", p.StopTimeout}} {
		if err := resources.CheckDuration(d.key, d.val, "5s"); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.checkKillTimeout(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, p.validateLock()...)
	return errors.Join(errs...)
}

func (p *Params) fstype() string {
	if p.FSType == "" {
		return "ext4"
	}
	return p.FSType
}

// Type is the disk resource type for a resources.Registry.
var Type = resources.Type{
	Name:      "disk",
	NewParams: func() any { return &Params{} },
	Build: func(params any, env resources.Env) (resources.Resource, error) {
		p, ok := params.(*Params)
		if !ok {
			return nil, fmt.Errorf("disk: params of type %T", params)
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		flags, data, _ := parseOptions(p.Options)
		r := &Resource{
			p:           *p,
			env:         env,
			log:         env.Logger,
			mountPoint:  filepath.Clean(p.MountPoint),
			fstype:      p.fstype(),
			flags:       flags,
			data:        data,
			fsck:        p.Fsck == nil || *p.Fsck,
			mkdir:       p.Mkdir == nil || *p.Mkdir,
			timeout:     resources.DurationOr(p.Timeout, 60*time.Second),
			stopTimeout: p.stopTimeout(env),
			killTimeout: p.killTimeout(env),
		}
		if r.log == nil {
			r.log = hclog.NewNullLogger()
		}
		r.lock = newDiskLock(p, env, r.log)
		return r, nil
	},
}

// Resource is one disk resource instance.
type Resource struct {
	p           Params
	env         resources.Env
	log         hclog.Logger
	mountPoint  string
	fstype      string
	flags       uintptr
	data        string
	fsck        bool
	mkdir       bool
	timeout     time.Duration
	stopTimeout time.Duration // stop_timeout, or min(timeout, stop_deadline)
	killTimeout time.Duration
	lock        *diskLock // nil without lock_device

	mu sync.Mutex // serialises Start and Stop
	// mountLeft is closed when a mount(2) that a Start left running (its
	// context ended first) returns; nil when none. Under mu. Stop waits
	// for it: until it returns the volume may still be mounted here.
	mountLeft chan struct{}

	probeMu   sync.Mutex
	probeBusy bool // a probe is still stuck in the kernel
}

// device resolves the configured device. When the device node has
// disappeared (a detached volume) but device: names a path, the returned
// blockDevice still matches mounts by that source path, so Stop can
// unmount what is left; the error is returned alongside.
func (r *Resource) device() (blockDevice, error) {
	path := r.p.Device
	if r.p.VolumeID != "" {
		resolve := r.env.ResolveVolume
		if resolve == nil {
			resolve = unwiredResolveVolume
		}
		p, err := resolve(r.p.VolumeID, "")
		if err != nil {
			return blockDevice{}, fmt.Errorf("resolve volume_id: %w", err)
		}
		path = p
	}
	return statBlockDevice(path)
}

// mountPointPath returns mount_point as it appears in mountinfo.
func (r *Resource) mountPointPath() string {
	if real, err := filepath.EvalSymlinks(r.mountPoint); err == nil {
		return real
	}
	return r.mountPoint
}

// observe resolves the device and reads what is mounted now: the whole
// mount table, the mount point, and the mount on top of it (nil if none).
func (r *Resource) observe() (blockDevice, []mountEntry, string, *mountEntry, error) {
	dev, err := r.device()
	if err != nil {
		return blockDevice{}, nil, "", nil, err
	}
	mounts, err := readMountinfo()
	if err != nil {
		return blockDevice{}, nil, "", nil, err
	}
	mp := r.mountPointPath()
	return dev, mounts, mp, topMountAt(mounts, mp), nil
}

// Start implements resources.Resource.
func (r *Resource) Start(ctx context.Context, tok resources.Token) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	if err := r.mountReturned(nil); err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	dev, mounts, mp, top, err := r.observe()
	if err != nil {
		return err
	}
	if top != nil && dev.matches(*top) {
		if r.lock != nil {
			if err := r.lock.acquire(ctx, dev, tok); err != nil {
				return err
			}
		}
		r.log.Debug("already mounted", "device", dev.Configured, "mount_point", mp, "epoch", tok.Epoch)
		return nil
	}
	if where := mountsOf(mounts, dev); len(where) > 0 {
		return fmt.Errorf("device %s is already mounted at %s on this host; refusing to mount it on %s as well",
			dev, strings.Join(where, ", "), mp)
	}
	if top != nil {
		return fmt.Errorf("mount_point %s is busy (device busy): %s (%s) is mounted there", mp, top.Source, top.FSType)
	}
	if err := waitReleased(ctx, dev, releaseWait); err != nil {
		return fmt.Errorf("refusing to mount: %w", err)
	}
	// The disk lock before fsck: e2fsck -p writes too (journal replay).
	if r.lock != nil {
		if err := r.lock.acquire(ctx, dev, tok); err != nil {
			return err
		}
	}

	if err := r.prepareMountPoint(); err != nil {
		return err
	}
	if r.fsck {
		if err := r.runFsck(ctx, dev); err != nil {
			return err
		}
	}
	r.log.Info("mounting", "device", dev.Configured, "mount_point", mp, "fstype", r.fstype,
		"options", r.p.Options, "group", tok.Group, "epoch", tok.Epoch)
	err = r.mountBounded(ctx, func() error { return mountSyscall(dev.Path, mp, r.fstype, r.flags, r.data) })
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return fmt.Errorf("mount %s on %s did not return in time (%w); it may still complete, and Stop unmounts it", dev.Configured, mp, err)
		}
		return fmt.Errorf("mount -t %s -o %q %s %s: %w%s", r.fstype, r.p.Options, dev.Path, mp, err, mountHint(err))
	}
	// Verify.
	mounts, err = readMountinfo()
	if err != nil {
		return err
	}
	top = topMountAt(mounts, mp)
	if top == nil || !dev.matches(*top) {
		return fmt.Errorf("mount of %s on %s returned success but mountinfo does not show it", dev, mp)
	}
	if r.flags&unix.MS_RDONLY == 0 && top.readOnly() {
		return fmt.Errorf("%s is mounted on %s read-only although options do not ask for ro (filesystem errors?)", dev.Configured, mp)
	}
	return nil
}

// mountSyscall is mount(2) (tests slow it down).
var mountSyscall = unix.Mount

// errMountInFlight: a mount(2) issued by an earlier Start has not
// returned; it may still mount the volume here.
var errMountInFlight = errors.New("a mount issued by an earlier start has not returned yet; it may still take effect")

// mountBounded is bounded for the mount (r.mu held): when ctx ends first,
// the call is remembered (mountLeft) so that Stop does not report the
// volume released while the mount may still take effect.
func (r *Resource) mountBounded(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		done <- fn()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		r.mountLeft = returned
		return ctx.Err()
	}
}

// mountReturned (r.mu held) waits, up to ctx (nil: not at all), for a
// mount an earlier Start left running; errMountInFlight if it has not
// returned.
func (r *Resource) mountReturned(ctx context.Context) error {
	if r.mountLeft == nil {
		return nil
	}
	if ctx == nil {
		select {
		case <-r.mountLeft:
			r.mountLeft = nil
			return nil
		default:
			return errMountInFlight
		}
	}
	select {
	case <-r.mountLeft:
		r.mountLeft = nil
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w (%w)", errMountInFlight, ctx.Err())
	}
}

func mountHint(err error) string {
	switch {
	case errors.Is(err, unix.EINVAL):
		return " (wrong fstype, bad option, or bad superblock; see dmesg)"
	case errors.Is(err, unix.EBUSY):
		return " (device busy: in use by another mount, swap, RAID or device-mapper?)"
	case errors.Is(err, unix.ENODEV):
		return " (filesystem type not supported by the kernel)"
	case errors.Is(err, unix.EROFS), errors.Is(err, unix.EACCES):
		return " (device is read-only; use options: ro)"
	}
	return ""
}

func (r *Resource) prepareMountPoint() error {
	st, err := os.Stat(r.mountPoint)
	switch {
	case err == nil && !st.IsDir():
		return fmt.Errorf("mount_point %s exists and is not a directory", r.mountPoint)
	case err == nil:
		return nil
	case !os.IsNotExist(err):
		return fmt.Errorf("mount_point %s: %w", r.mountPoint, err)
	case !r.mkdir:
		return fmt.Errorf("mount_point %s does not exist (and mkdir is false)", r.mountPoint)
	}
	if err := os.MkdirAll(r.mountPoint, 0o755); err != nil {
		return fmt.Errorf("mount_point: mkdir %s: %w", r.mountPoint, err)
	}
	return nil
}

// fsckCommand returns the preen-mode check command for the filesystem.
func (r *Resource) fsckCommand(dev string) []string {
	switch r.fstype {
	case "ext2", "ext3", "ext4":
		return []string{"e2fsck", "-p", dev}
	}
	return []string{"fsck", "-T", "-t", r.fstype, "-p", dev}
}

func (r *Resource) runFsck(ctx context.Context, dev blockDevice) error {
	argv := r.fsckCommand(dev.Path)
	c := osexec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On timeout ask fsck to stop cleanly first; SIGKILL 5s later.
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGTERM) }
	c.WaitDelay = 5 * time.Second
	start := time.Now()
	err := c.Run()
	code := 0
	var ee *osexec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		code = ee.ExitCode()
	case ctx.Err() != nil:
		return fmt.Errorf("%s did not finish within the timeout (%w): %s", strings.Join(argv, " "), ctx.Err(), tail(out.String()))
	default:
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, tail(out.String()))
	}
	r.log.Info("fsck", "command", strings.Join(argv, " "), "exit", code, "took", time.Since(start).Round(time.Millisecond))
	if code >= 2 {
		return fmt.Errorf("%s exited with status %d (%s); refusing to mount: %s",
			strings.Join(argv, " "), code, fsckMeaning(code), tail(out.String()))
	}
	return nil
}

func fsckMeaning(code int) string {
	switch {
	case code&4 != 0:
		return "errors left uncorrected; run fsck manually"
	case code&8 != 0:
		return "operational error"
	case code&16 != 0:
		return "usage or syntax error"
	case code&32 != 0:
		return "cancelled"
	case code&2 != 0:
		return "system should be rebooted"
	}
	return "failed"
}

// bounded runs fn (a syscall that cannot be interrupted) on its own
// goroutine and waits for it or ctx. If ctx ends first the goroutine is
// left to finish on its own. fn is not started at all when ctx has
// already ended (a mount must not be issued after the lease ran out).
func bounded(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func tail(s string) string {
	const max = 600
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return strconv.Quote(s)
}
