package disk

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"
)

func TestParseMountinfo(t *testing.T) {
	const in = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw,discard
42 27 7:0 / /mnt/with\040space rw,noatime shared:5 master:2 - ext4 /dev/loop0 rw
43 42 0:50 / /mnt/with\040space rw - tmpfs tmpfs rw
44 27 7:1 /sub /srv/bind ro,relatime - ext4 /dev/loop1 rw
`
	m, err := parseMountinfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 5 {
		t.Fatalf("got %d entries", len(m))
	}
	e := m[2]
	if e.ID != 42 || e.Parent != 27 || e.Major != 7 || e.Minor != 0 || e.MountPoint != "/mnt/with space" ||
		e.FSType != "ext4" || e.Source != "/dev/loop0" || e.Options != "rw,noatime" || e.SuperOptions != "rw" {
		t.Fatalf("entry: %+v", e)
	}
	if top := topMountAt(m, "/mnt/with space"); top == nil || top.ID != 43 {
		t.Fatalf("top mount: %+v (want the tmpfs stacked on top, id 43)", top)
	}
	if !m[4].readOnly() || m[2].readOnly() {
		t.Fatal("readOnly")
	}
	d := blockDevice{Configured: "/dev/loop0", Path: "/dev/loop0", Major: 7, Minor: 0}
	if got := mountsOf(m, d); len(got) != 1 || got[0] != "/mnt/with space" {
		t.Fatalf("mountsOf: %v", got)
	}
	// A vanished node still matches by source path.
	if !(blockDevice{Configured: "/dev/loop1"}).matches(m[4]) {
		t.Fatal("match by source path")
	}
	if sub := submountsOf(m, "/mnt"); len(sub) != 2 {
		t.Fatalf("submounts: %v", sub)
	}
	if _, err := parseMountinfo(strings.NewReader("1 2 3\n")); err == nil {
		t.Fatal("malformed line accepted")
	}
}

func TestParseOptions(t *testing.T) {
	flags, data, err := parseOptions("noatime,nodev,data=ordered,ro,rw,errors=remount-ro")
	if err != nil {
		t.Fatal(err)
	}
	if flags != unix.MS_NOATIME|unix.MS_NODEV {
		t.Fatalf("flags %#x", flags)
	}
	if data != "data=ordered,errors=remount-ro" {
		t.Fatalf("data %q", data)
	}
	for _, bad := range []string{"loop", "noauto", "x-systemd.automount", "noatime, nodev"} {
		if _, _, err := parseOptions(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	f := false
	ok := Params{Device: "/dev/loop0", MountPoint: "/mnt/sd1", Fsck: &f, Timeout: "10s", KillTimeout: "1s"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid params: %v", err)
	}
	if err := (&Params{VolumeID: "vol-0123456789abcdef0", MountPoint: "/mnt/sd1"}).Validate(); err != nil {
		t.Fatalf("volume_id: %v", err)
	}
	cases := []struct {
		p    Params
		want string
	}{
		{Params{MountPoint: "/mnt/x"}, "one of device or volume_id"},
		{Params{Device: "/dev/a", VolumeID: "vol-0123456789abcdef0", MountPoint: "/mnt/x"}, "mutually exclusive"},
		{Params{Device: "dev/a", MountPoint: "/mnt/x"}, "device:"},
		{Params{VolumeID: "volume-1", MountPoint: "/mnt/x"}, "volume_id:"},
		{Params{Device: "/dev/a"}, "mount_point is required"},
		{Params{Device: "/dev/a", MountPoint: "mnt"}, "mount_point:"},
		{Params{Device: "/dev/a", MountPoint: "/"}, "mount_point:"},
		{Params{Device: "/dev/a", MountPoint: "/m", FSType: "Ext 4"}, "fstype:"},
		{Params{Device: "/dev/a", MountPoint: "/m", Options: "loop"}, "options:"},
		{Params{Device: "/dev/a", MountPoint: "/m", Options: "ro", Probe: true}, "probe:"},
		{Params{Device: "/dev/a", MountPoint: "/m", Timeout: "soon"}, "timeout:"},
		{Params{Device: "/dev/a", MountPoint: "/m", KillTimeout: "-1s"}, "kill_timeout:"},
	}
	for _, c := range cases {
		err := c.p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want error naming %q", c.p, err, c.want)
		}
	}
}

func TestResolveVolumeNotWired(t *testing.T) {
	r, err := Type.Build(&Params{VolumeID: "vol-0123456789abcdef0", MountPoint: "/mnt/raftha-never"}, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	err = r.Start(t.Context(), tok())
	if err == nil || !strings.Contains(err.Error(), "aws.ebs device resolution is not wired") {
		t.Fatalf("Start with unwired ResolveVolume: %v", err)
	}
}

func TestYAMLDecoding(t *testing.T) {
	const doc = "device: /dev/nvme1n1p2\nmount_point: /mnt/sd1\nfstype: xfs\noptions: noatime\nfsck: false\nmkdir: false\nforce_unmount: true\nkill_timeout: 2s\nprobe: true\ntimeout: 30s\n"
	p := Type.NewParams().(*Params)
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		t.Fatal(err)
	}
	if p.Fsck == nil || *p.Fsck || p.Mkdir == nil || *p.Mkdir || !p.ForceUnmount || !p.Probe || p.FSType != "xfs" || p.KillTimeout != "2s" {
		t.Fatalf("decoded %+v", p)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}
