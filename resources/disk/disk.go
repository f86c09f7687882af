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
// Writes from other hosts are kept out by the cluster's fencing, not by
// this resource.
package disk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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
func unwiredResolveVolume(volumeID string) (string, error) {
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
	return errors.Join(errs...)
}

func (p *Params) fstype() string {
	if p.FSType == "" {
		return "ext4"
	}
	return p.FSType
}

// Mount options that only mount(8) and fstab understand.
var userspaceOptions = map[string]bool{
	"auto": true, "noauto": true, "nofail": true, "_netdev": true, "loop": true,
	"user": true, "nouser": true, "users": true, "owner": true, "group": true,
	"bind": true, "rbind": true, "remount": true, "move": true,
}

// parseOptions splits a mount -o string into mount(2) flags and the
// filesystem-specific data string.
func parseOptions(opts string) (uintptr, string, error) {
	var flags uintptr
	var data []string
	if strings.ContainsAny(opts, " \t\n") {
		return 0, "", fmt.Errorf("%q contains whitespace (separate options with commas)", opts)
	}
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "", "defaults", "rw", "async":
			if o == "rw" {
				flags &^= unix.MS_RDONLY
			}
			if o == "async" {
				flags &^= unix.MS_SYNCHRONOUS
			}
		case "ro":
			flags |= unix.MS_RDONLY
		case "noatime":
			flags |= unix.MS_NOATIME
		case "atime":
			flags &^= unix.MS_NOATIME
		case "nodiratime":
			flags |= unix.MS_NODIRATIME
		case "diratime":
			flags &^= unix.MS_NODIRATIME
		case "relatime":
			flags |= unix.MS_RELATIME
		case "norelatime":
			flags &^= unix.MS_RELATIME
		case "strictatime":
			flags |= unix.MS_STRICTATIME
			flags &^= unix.MS_NOATIME | unix.MS_RELATIME
		case "lazytime":
			flags |= unix.MS_LAZYTIME
		case "nolazytime":
			flags &^= unix.MS_LAZYTIME
		case "nodev":
			flags |= unix.MS_NODEV
		case "dev":
			flags &^= unix.MS_NODEV
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "suid":
			flags &^= unix.MS_NOSUID
		case "noexec":
			flags |= unix.MS_NOEXEC
		case "exec":
			flags &^= unix.MS_NOEXEC
		case "sync":
			flags |= unix.MS_SYNCHRONOUS
		case "dirsync":
			flags |= unix.MS_DIRSYNC
		case "silent":
			flags |= unix.MS_SILENT
		case "loud":
			flags &^= unix.MS_SILENT
		default:
			if userspaceOptions[o] || strings.HasPrefix(o, "x-") || strings.HasPrefix(o, "comment=") {
				return 0, "", fmt.Errorf("%q is a mount(8)/fstab option, not a kernel mount option", o)
			}
			data = append(data, o)
		}
	}
	return flags, strings.Join(data, ","), nil
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

	mu sync.Mutex // serialises Start and Stop

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
		p, err := resolve(r.p.VolumeID)
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

	dev, mounts, mp, top, err := r.observe()
	if err != nil {
		return err
	}
	if top != nil && dev.matches(*top) {
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
	err = bounded(ctx, func() error { return unix.Mount(dev.Path, mp, r.fstype, r.flags, r.data) })
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

// Stop implements resources.Resource.
func (r *Resource) Stop(ctx context.Context, tok resources.Token) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.stopTimeout)
	defer cancel()

	dev, devErr := r.device()
	if devErr != nil {
		if r.p.Device == "" {
			// Without a path we cannot tell whether mount_point is ours.
			mounts, err := readMountinfo()
			if err == nil && topMountAt(mounts, r.mountPointPath()) == nil {
				return nil
			}
			return fmt.Errorf("cannot tell whether %s holds our volume: %w", r.mountPoint, devErr)
		}
		// The node may be gone (volume detached): match mounts by path.
		r.log.Warn("cannot resolve device; matching mounts by path", "device", r.p.Device, "error", devErr)
		dev = blockDevice{Configured: r.p.Device}
	}
	mp := r.mountPointPath()
	// Bounded: a few stacked mounts of our device at most.
	for i := 0; ; i++ {
		if i == 8 {
			return fmt.Errorf("%s is still mounted on %s after repeated unmounts", dev, mp)
		}
		mounts, err := readMountinfo()
		if err != nil {
			return err
		}
		top := topMountAt(mounts, mp)
		if top == nil || !dev.matches(*top) {
			if top != nil && i == 0 {
				r.log.Warn("mount_point holds another filesystem; leaving it alone", "mount_point", mp, "source", top.Source)
			}
			if where := mountsOf(mounts, dev); len(where) > 0 {
				return fmt.Errorf("device %s is still mounted at %s on this host (not by this resource); it is not safe to hand it over",
					dev, strings.Join(where, ", "))
			}
			break
		}
		r.log.Info("unmounting", "device", dev.Configured, "mount_point", mp, "group", tok.Group, "epoch", tok.Epoch)
		if err := r.syncfs(ctx, mp); err != nil {
			return err
		}
		if err := r.unmount(ctx, mp, mounts); err != nil {
			return err
		}
	}
	// Gone from our mount namespace; make sure the filesystem is really
	// shut down and not still mounted in another namespace's copy.
	if dev.Path == "" {
		return nil
	}
	if err := waitReleased(ctx, dev, releaseWait); err != nil {
		return fmt.Errorf("unmounted from %s, but %w; processes there can still write to it", mp, err)
	}
	return nil
}

// releaseWait bounds how long Start and Stop wait for a device to be
// released by a short-lived holder.
const releaseWait = 3 * time.Second

// waitReleased waits, for at most max (and ctx), until nothing on this
// host claims dev exclusively. A process that unshared its mount namespace
// while the filesystem was mounted (`ip -n`, `unshare -m`, a container, a
// systemd unit with PrivateTmp= when / is not a shared mount) holds a copy
// of the mount that an unmount in raftha's namespace does not remove; the
// filesystem stays live until that namespace goes.
func waitReleased(ctx context.Context, dev blockDevice, max time.Duration) error {
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	for {
		busy, err := exclusiveBusy(dev.Path)
		if err != nil {
			return err
		}
		if !busy {
			return nil
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
			continue
		case <-ctx.Done():
		case <-deadline.C:
		}
		t.Stop()
		if busy, err := exclusiveBusy(dev.Path); err == nil && !busy {
			return nil
		}
		if where := foreignMounts(dev); len(where) > 0 {
			return fmt.Errorf("device %s is still mounted in other mount namespaces: %s", dev, strings.Join(where, "; "))
		}
		return fmt.Errorf("device %s is in use on this host (claimed exclusively: RAID, LVM, swap, or an open O_EXCL)", dev)
	}
}

func (r *Resource) syncfs(ctx context.Context, mp string) error {
	err := bounded(ctx, func() error {
		fd, err := unix.Open(mp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Syncfs(fd)
	})
	if err != nil {
		return fmt.Errorf("sync %s: %w", mp, err)
	}
	return nil
}

// unmount unmounts mp once, retrying EBUSY briefly and killing holders
// when force_unmount is set.
func (r *Resource) unmount(ctx context.Context, mp string, mounts []mountEntry) error {
	err := r.umountRetry(ctx, mp)
	if !errors.Is(err, unix.EBUSY) {
		return err
	}
	holders := findHolders(mp)
	if !r.p.ForceUnmount {
		return fmt.Errorf("umount %s: device or resource busy (EBUSY); in use by %s%s; set force_unmount: true to kill them on stop (raftha never lazy-unmounts)",
			mp, describeHolders(holders), submountHint(mounts, mp))
	}
	logf := func(format string, args ...any) { r.log.Warn(fmt.Sprintf(format, args...), "mount_point", mp) }
	killed, kerr := killHolders(ctx, mp, r.killTimeout, logf)
	err = r.umountRetry(ctx, mp)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EBUSY) {
		return errors.Join(fmt.Errorf("umount %s: still busy (EBUSY) after killing %s; now in use by %s%s",
			mp, describeHolders(killed), describeHolders(findHolders(mp)), submountHint(mounts, mp)), kerr)
	}
	return errors.Join(err, kerr)
}

func submountHint(mounts []mountEntry, mp string) string {
	if sub := submountsOf(mounts, mp); len(sub) > 0 {
		return "; mounts below it: " + strings.Join(sub, ", ")
	}
	return ""
}

// umountRetry calls umount2(mp, 0), retrying EBUSY for about a second.
func (r *Resource) umountRetry(ctx context.Context, mp string) error {
	var err error
	for attempt := 0; attempt < 6; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(200 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("umount %s: %w (last error: %v)", mp, ctx.Err(), err)
			case <-t.C:
			}
		}
		err = bounded(ctx, func() error { return unix.Unmount(mp, 0) })
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINVAL):
			// Not a mount point any more (raced with someone else).
			mounts, merr := readMountinfo()
			if merr == nil && topMountAt(mounts, mp) == nil {
				return nil
			}
		case errors.Is(err, unix.EBUSY):
			continue
		default:
			return fmt.Errorf("umount %s: %w", mp, err)
		}
	}
	return fmt.Errorf("umount %s: %w", mp, err)
}

// Check implements resources.Resource.
func (r *Resource) Check(ctx context.Context, tok resources.Token) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	dev, _, mp, top, err := r.observe()
	if err != nil {
		return err
	}
	if top == nil {
		return fmt.Errorf("%s is not mounted", mp)
	}
	if !dev.matches(*top) {
		return fmt.Errorf("%s holds %s (%d:%d), not %s", mp, top.Source, top.Major, top.Minor, dev)
	}
	if r.flags&unix.MS_RDONLY == 0 && top.readOnly() {
		return fmt.Errorf("%s is mounted read-only (remounted after filesystem errors?)", mp)
	}
	if !r.p.Probe {
		return nil
	}
	return r.probe(ctx, mp, tok)
}

// probe writes, fsyncs, reads back (bypassing the page cache where the
// filesystem allows) and removes .raftha-probe-<node>. A probe stuck in
// the kernel is not stacked: later checks fail until it returns.
func (r *Resource) probe(ctx context.Context, mp string, tok resources.Token) error {
	r.probeMu.Lock()
	if r.probeBusy {
		r.probeMu.Unlock()
		return fmt.Errorf("probe of %s: an earlier probe is still blocked in I/O", mp)
	}
	r.probeBusy = true
	r.probeMu.Unlock()

	node := r.env.NodeID
	if node == "" {
		node = tok.Node
	}
	name := filepath.Join(mp, ".raftha-probe-"+sanitize(node))
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	payload := []byte(fmt.Sprintf("raftha probe group=%s node=%s epoch=%d time=%s nonce=%s\n",
		tok.Group, node, tok.Epoch, time.Now().UTC().Format(time.RFC3339Nano), hex.EncodeToString(rnd[:])))

	done := make(chan error, 1)
	go func() {
		err := probeFile(name, payload)
		r.probeMu.Lock()
		r.probeBusy = false
		r.probeMu.Unlock()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("probe of %s: %w", mp, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("probe of %s did not finish in time: %w", mp, ctx.Err())
	}
}

func probeFile(name string, payload []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(payload); err != nil {
		f.Close()
		os.Remove(name)
		return fmt.Errorf("write: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(name)
		return fmt.Errorf("fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return err
	}
	f, err = os.Open(name)
	if err != nil {
		os.Remove(name)
		return err
	}
	// Drop the cached pages so the read goes to the device.
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	got, err := io.ReadAll(io.LimitReader(f, int64(len(payload))+1))
	f.Close()
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("read back: %w", err)
	}
	if !bytes.Equal(got, payload) {
		os.Remove(name)
		return fmt.Errorf("read back %d bytes that differ from the %d written", len(got), len(payload))
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	return nil
}

func sanitize(s string) string {
	if s == "" {
		return "node"
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

// bounded runs fn (a syscall that cannot be interrupted) on its own
// goroutine and waits for it or ctx. If ctx ends first the goroutine is
// left to finish on its own.
func bounded(ctx context.Context, fn func() error) error {
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
