package disk

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

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
