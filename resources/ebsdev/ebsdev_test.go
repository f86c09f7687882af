package ebsdev_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/resources/ebsdev"
)

// nvmeHost lays out a fake /dev in a temporary directory and returns a
// Finder that looks in its disk/by-id.
func nvmeHost(t *testing.T) (dev string, fd ebsdev.Finder) {
	t.Helper()
	dev = t.TempDir()
	fd = ebsdev.Finder{ByIDDir: filepath.Join(dev, "disk", "by-id")}
	if err := os.MkdirAll(fd.ByIDDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"nvme0n1", "nvme1n1", "nvme2n1", "xvdg"} {
		if err := os.WriteFile(filepath.Join(dev, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// As udev's 60-persistent-storage rules make them (relative links).
	links := map[string]string{
		"nvme-Amazon_Elastic_Block_Store_vol0aaaaaaaaaaaaaaa0":       "../../nvme0n1",
		"nvme-Amazon_Elastic_Block_Store_vol0abc":                    "../../nvme1n1",
		"nvme-Amazon_Elastic_Block_Store_vol0abc-part1":              "../../nvme1n1p1",
		"nvme-nvme.1d0f-766f6c30616263-416d617a6f6e20456c6173746963": "../../nvme1n1",
	}
	for n, target := range links {
		if err := os.Symlink(target, filepath.Join(fd.ByIDDir, n)); err != nil {
			t.Fatal(err)
		}
	}
	// Amazon Linux's ec2-utils also links the requested name.
	if err := os.Symlink("nvme2n1", filepath.Join(dev, "sdh")); err != nil {
		t.Fatal(err)
	}
	return dev, fd
}

func TestDevicePathNVMeByID(t *testing.T) {
	dev, fd := nvmeHost(t)
	p, err := fd.DevicePath("vol-0abc", "/dev/xvdf")
	if err != nil || p != filepath.Join(dev, "nvme1n1") {
		t.Fatalf("DevicePath(vol-0abc) = %q, %v; want %s", p, err, filepath.Join(dev, "nvme1n1"))
	}
	// The by-id link wins over an existing requested name.
	p, err = fd.DevicePath("vol-0aaaaaaaaaaaaaaa0", filepath.Join(dev, "xvdg"))
	if err != nil || p != filepath.Join(dev, "nvme0n1") {
		t.Fatalf("DevicePath(vol-0aaa…) = %q, %v", p, err)
	}
}

func TestDevicePathFallsBackToRequestedName(t *testing.T) {
	dev, fd := nvmeHost(t)
	// Xen: /dev/sdg was requested, the kernel calls it xvdg.
	p, err := fd.DevicePath("vol-0def", filepath.Join(dev, "sdg"))
	if err != nil || p != filepath.Join(dev, "xvdg") {
		t.Fatalf("DevicePath(sdg) = %q, %v; want the xvdg alias", p, err)
	}
	p, err = fd.DevicePath("vol-0def", filepath.Join(dev, "xvdg"))
	if err != nil || p != filepath.Join(dev, "xvdg") {
		t.Fatalf("DevicePath(xvdg) = %q, %v", p, err)
	}
}

func TestDevicePathMissingOrWrongErrorsClearly(t *testing.T) {
	dev, fd := nvmeHost(t)
	_, err := fd.DevicePath("vol-0def", filepath.Join(dev, "xvdz"))
	if !errors.Is(err, ebsdev.ErrDeviceNotFound) || !strings.Contains(err.Error(), "vol-0def") ||
		!strings.Contains(err.Error(), "vol0def") || !strings.Contains(err.Error(), "sdz") {
		t.Fatalf("missing device: %v", err)
	}
	if _, err := fd.DevicePath("vol-0def", ""); !errors.Is(err, ebsdev.ErrDeviceNotFound) {
		t.Fatalf("missing device, nothing requested: %v", err)
	}
	// A requested name that is some other volume's NVMe device is refused.
	_, err = fd.DevicePath("vol-0def", filepath.Join(dev, "sdh"))
	if err == nil || errors.Is(err, ebsdev.ErrDeviceNotFound) || !strings.Contains(err.Error(), "nvme2n1") {
		t.Fatalf("fallback to an unrelated NVMe device: %v", err)
	}
	if _, err := fd.DevicePath("0abc", ""); err == nil || !strings.Contains(err.Error(), "vol-") {
		t.Fatalf("bad volume id: %v", err)
	}
}

func TestDevicePathWaitsForUdev(t *testing.T) {
	dev, fd := nvmeHost(t)
	byID := fd.ByIDDir
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(200 * time.Millisecond)
		_ = os.Symlink("../../nvme2n1", filepath.Join(byID, "nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"))
	}()
	defer func() { <-done }()
	p, err := fd.WaitDevicePath(context.Background(), "vol-0123456789abcdef0", "", 5*time.Second)
	if err != nil || p != filepath.Join(dev, "nvme2n1") {
		t.Fatalf("WaitDevicePath = %q, %v", p, err)
	}
	_, err = fd.WaitDevicePath(context.Background(), "vol-0fff", "", 150*time.Millisecond)
	if !errors.Is(err, ebsdev.ErrDeviceNotFound) {
		t.Fatalf("WaitDevicePath for a device that never appears: %v", err)
	}
}
