#!/bin/sh
# raftha package: after unpacking (deb postinst configure, rpm %post).
# /etc/raftha and /etc/raftha/tls are root's and readable by group raftha
# (the witness reads its configuration and keys as raftha). Nothing is
# enabled or started: the operator writes /etc/raftha/raftha.yaml first,
# then enables raftha (nodes) or raftha-witness (the witness). An upgrade
# does not restart a running agent either: restart one member at a time
# (docs/packaging.md).
set -e
chgrp raftha /etc/raftha /etc/raftha/tls
chmod 0750 /etc/raftha /etc/raftha/tls
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
