// Package ebsdev finds the block device of an attached EBS volume (Nitro NVMe serials, then the requested name); it imports no AWS SDK, so the disk type and the agent use it without linking one.
package ebsdev

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// DefaultByIDDir is where udev publishes stable block device names. On
// Nitro instances an EBS volume is an NVMe namespace whose model is
// "Amazon Elastic Block Store" and whose serial is the volume id without
// its dash, so udev's 60-persistent-storage rule links
// DefaultByIDDir/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0 to
// it.
const DefaultByIDDir = "/dev/disk/by-id"

// Finder finds the block devices of attached EBS volumes. The zero Finder
// looks in DefaultByIDDir; tests set ByIDDir to a directory of symlinks.
type Finder struct {
	// ByIDDir is udev's by-id directory ("" means DefaultByIDDir).
	ByIDDir string
}

func (f Finder) byIDDir() string {
	if f.ByIDDir == "" {
		return DefaultByIDDir
	}
	return f.ByIDDir
}

// DevicePath is Finder{}.DevicePath: it looks in DefaultByIDDir.
func DevicePath(volumeID, requested string) (string, error) {
	return Finder{}.DevicePath(volumeID, requested)
}

// WaitDevicePath is Finder{}.WaitDevicePath: it looks in DefaultByIDDir.
func WaitDevicePath(ctx context.Context, volumeID, requested string, timeout time.Duration) (string, error) {
	return Finder{}.WaitDevicePath(ctx, volumeID, requested, timeout)
}

// ErrDeviceNotFound is returned by DevicePath when no host device for the
// volume is visible (yet: udev may need a moment after an attachment).
var ErrDeviceNotFound = errors.New("EBS volume device not found")

// nvmeByIDPrefix is the by-id name of an EBS NVMe namespace before its
// serial.
const nvmeByIDPrefix = "nvme-Amazon_Elastic_Block_Store_"

// DevicePath returns the host block device of EBS volume volumeID
// (vol-...), resolved through symlinks (e.g. /dev/nvme1n1).
//
// On Nitro instances the device name given to AttachVolume is only a hint
// and the kernel names the disk nvmeXn1 in probe order, so the volume is
// found by its serial in f's by-id directory. Otherwise (Xen instances, or hosts
// without udev's by-id links) it falls back to requested (the attachment's
// device name, e.g. /dev/sdf) or its alias (/dev/sdf ↔ /dev/xvdf: Xen
// kernels rename sd* to xvd*). A fallback that resolves to an NVMe device
// is refused: on a Nitro host an NVMe disk without our serial link is some
// other volume, and handing it out would put a file system on the wrong
// disk. requested may be empty (only the by-id lookup is tried).
func (f Finder) DevicePath(volumeID, requested string) (string, error) {
	serial, err := ebsSerial(volumeID)
	if err != nil {
		return "", err
	}
	tried := []string{}
	for _, name := range []string{nvmeByIDPrefix + serial, nvmeByIDPrefix + volumeID} {
		link := filepath.Join(f.byIDDir(), name)
		tried = append(tried, link)
		if _, err := os.Stat(link); err != nil {
			continue
		}
		p, err := filepath.EvalSymlinks(link)
		if err != nil {
			return "", fmt.Errorf("EBS volume %s: resolve %s: %w", volumeID, link, err)
		}
		return p, nil
	}
	for _, cand := range deviceAliases(requested) {
		tried = append(tried, cand)
		if _, err := os.Stat(cand); err != nil {
			continue
		}
		p, err := filepath.EvalSymlinks(cand)
		if err != nil {
			return "", fmt.Errorf("EBS volume %s: resolve %s: %w", volumeID, cand, err)
		}
		if strings.HasPrefix(filepath.Base(p), "nvme") {
			return "", fmt.Errorf("EBS volume %s: %s resolves to %s, an NVMe device without the volume's serial link %s; refusing to guess (is this another volume?)",
				volumeID, cand, p, filepath.Join(f.byIDDir(), nvmeByIDPrefix+serial))
		}
		return p, nil
	}
	return "", fmt.Errorf("%w: %s (looked for %s)", ErrDeviceNotFound, volumeID, strings.Join(tried, ", "))
}

// WaitDevicePath polls f.DevicePath until the device appears (udev creates
// the links shortly after an attachment), ctx ends or timeout passes.
func (f Finder) WaitDevicePath(ctx context.Context, volumeID, requested string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		p, err := f.DevicePath(volumeID, requested)
		if err == nil || !errors.Is(err, ErrDeviceNotFound) {
			return p, err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (waited %s)", err, timeout)
		case <-time.After(delay):
		}
		if delay < time.Second {
			delay *= 2
		}
	}
}

// VolumeIDPattern matches an EBS volume id (vol- and hexadecimal digits).
var VolumeIDPattern = regexp.MustCompile(`^vol-[0-9a-f]+$`)

// ebsSerial is the NVMe serial of an EBS volume: its id without the dash.
func ebsSerial(volumeID string) (string, error) {
	if !VolumeIDPattern.MatchString(volumeID) {
		return "", fmt.Errorf("EBS volume id %q: expected vol- followed by hexadecimal digits", volumeID)
	}
	return strings.Replace(volumeID, "-", "", 1), nil
}

// deviceAliases lists requested and its Xen alias: /dev/sdX ↔ /dev/xvdX.
func deviceAliases(requested string) []string {
	if requested == "" {
		return nil
	}
	out := []string{requested}
	dir, base := filepath.Split(requested)
	switch {
	case strings.HasPrefix(base, "sd"):
		out = append(out, dir+"xvd"+strings.TrimPrefix(base, "sd"))
	case strings.HasPrefix(base, "xvd"):
		out = append(out, dir+"sd"+strings.TrimPrefix(base, "xvd"))
	}
	return out
}
