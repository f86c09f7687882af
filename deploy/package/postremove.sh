#!/bin/sh
# raftha package: after removal (deb postrm, rpm %postun). Reloads systemd.
# The raftha user, /var/lib/raftha (the Raft log) and /etc/raftha/raftha.yaml
# with its keys are kept, even on purge: they are the member's identity and
# state, and removing them by accident loses a cluster member. Delete them
# by hand when the member is gone for good (docs/packaging.md).
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
