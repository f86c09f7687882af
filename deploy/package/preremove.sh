#!/bin/sh
# raftha package: before removal (deb prerm, rpm %preun). On removal (not
# on upgrade) stop the agent, which hands its groups over first, and
# disable both units.
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now raftha.service raftha-witness.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
