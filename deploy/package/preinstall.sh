#!/bin/sh
# raftha package: before unpacking (deb preinst install|upgrade, rpm %pre).
# Creates the system user and group raftha that the witness unit
# (raftha-witness.service) runs as. Nodes run as root and do not use it.
set -e
if ! getent group raftha >/dev/null 2>&1; then
	groupadd --system raftha
fi
if ! getent passwd raftha >/dev/null 2>&1; then
	nologin=/usr/sbin/nologin
	[ -x "$nologin" ] || nologin=/sbin/nologin
	useradd --system --gid raftha --home-dir /var/lib/raftha --no-create-home \
		--shell "$nologin" --comment "raftha witness" raftha
fi
exit 0
