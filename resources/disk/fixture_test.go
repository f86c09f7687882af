package disk

import (
	"context"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fixture is a 64 MiB ext4 filesystem on a loop device plus directories.
type fixture struct {
	dir, img, dev string
	mnt, other    string
}

// newFixture creates the loop device; its cleanup unmounts everything on
// it (in reverse mount order), detaches it and removes the files.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	needTools(t, "losetup", "mkfs.ext4", "e2fsck", "tune2fs")
	f := newLoop(t, "raftha-disk-test-")
	run(t, "mkfs.ext4", "-q", "-F", f.dev)
	if err := os.Mkdir(f.other, 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

// newLoop creates the directory, a 64 MiB image and its loop device
// (losetup with extra arguments, e.g. --partscan), skipping the test when
// loop devices are not usable; its cleanup unmounts everything under the
// directory or on the device, detaches it and removes the files.
func newLoop(t *testing.T, prefix string, losetupArgs ...string) *fixture {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, img: filepath.Join(dir, "disk.img"), mnt: filepath.Join(dir, "mnt"), other: filepath.Join(dir, "other")}
	t.Cleanup(func() { f.cleanup(t) })
	if err := os.WriteFile(f.img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(f.img, 64<<20); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--find", "--show"}, losetupArgs...)
	out, err := osexec.CommandContext(ctx, "losetup", append(args, f.img)...).CombinedOutput()
	if err != nil {
		t.Skipf("loop devices are not usable here (losetup %s: %v: %s); skipping", strings.Join(args, " "), err, out)
	}
	f.dev = strings.TrimSpace(string(out))
	return f
}

func (f *fixture) cleanup(t *testing.T) {
	if f.dev != "" {
		if d, err := statBlockDevice(f.dev); err == nil {
			for try := 0; try < 10; try++ {
				mounts, _ := readMountinfo()
				var mine []string
				for _, e := range mounts {
					if d.matches(e) || under(e.MountPoint, f.dir) {
						mine = append(mine, e.MountPoint)
					}
				}
				if len(mine) == 0 {
					break
				}
				for i := len(mine) - 1; i >= 0; i-- {
					if err := unix.Unmount(mine[i], 0); err != nil {
						t.Logf("cleanup: umount %s: %v", mine[i], err)
						if try == 9 {
							// Test cleanup only (never in the product): do not leak mounts.
							_ = unix.Unmount(mine[i], unix.MNT_DETACH)
						}
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if out, err := osexec.CommandContext(ctx, "losetup", "-d", f.dev).CombinedOutput(); err != nil {
			t.Logf("cleanup: losetup -d %s: %v: %s", f.dev, err, out)
		}
		cancel()
	}
	if err := os.RemoveAll(f.dir); err != nil {
		t.Logf("cleanup: %v", err)
	}
}
