package disk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/raftha/raftha/resources"
)

// Stop implements resources.Resource.
func (r *Resource) Stop(ctx context.Context, tok resources.Token) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.stopTimeout)
	defer cancel()
	if r.lock != nil {
		r.lock.stopHolding() // no re-assertion once the group stops here
	}
	// A mount a timed-out Start left running may still take effect: wait
	// for it (then it is unmounted below) or fail, never report the
	// volume released before it returned.
	if err := r.mountReturned(ctx); err != nil {
		return fmt.Errorf("cannot stop %s yet: %w", r.mountPoint, err)
	}

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
