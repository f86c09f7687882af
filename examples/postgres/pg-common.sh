# shellcheck shell=sh
# pg-common.sh: settings and helpers shared by pg-start, pg-stop and
# pg-check (sourced, not run). POSIX sh. Every setting comes from the
# environment, which the group file's `env:` sets (raftha adds
# RAFTHA_GROUP, RAFTHA_NODE, RAFTHA_EPOCH and RAFTHA_RESOURCE).
#
#   PGDATA                     data directory, on the shared disk (required)
#   PGBIN                      directory of pg_ctl, postgres, pg_isready
#                              (default: the newest /usr/lib/postgresql/*/bin,
#                              else the directory of pg_ctl on PATH)
#   PG_OS_USER                 the account PostgreSQL runs as (default postgres)
#   PGPORT                     port (default 5432)
#   PG_CHECK_HOST              where pg-check connects (default 127.0.0.1)
#   PG_CHECK_USER              the role pg_isready names (default postgres; it
#                              needs no password, but an unknown role is logged)
#   PG_LOGFILE                 pg_ctl's server log (default $PGDATA/log/startup-NODE.log)
#   PG_OPTIONS                 extra postgres options for pg_ctl -o
#   PG_START_TIMEOUT           seconds pg_ctl start waits for "ready" (default 50)
#   PG_STOP_FAST_TIMEOUT       seconds for a fast shutdown (default 20; fractions ok)
#   PG_STOP_IMMEDIATE_TIMEOUT  seconds for the immediate shutdown after it (default 5)

set -u

: "${PGDATA:?PGDATA must name the data directory on the shared disk}"
PG_OS_USER=${PG_OS_USER:-postgres}
PGPORT=${PGPORT:-5432}
PG_CHECK_HOST=${PG_CHECK_HOST:-127.0.0.1}
PG_CHECK_USER=${PG_CHECK_USER:-postgres}
PG_START_TIMEOUT=${PG_START_TIMEOUT:-50}
PG_STOP_FAST_TIMEOUT=${PG_STOP_FAST_TIMEOUT:-20}
PG_STOP_IMMEDIATE_TIMEOUT=${PG_STOP_IMMEDIATE_TIMEOUT:-5}
PG_OPTIONS=${PG_OPTIONS:-}
export PGDATA PGPORT

log() {
	echo "pg-${PG_ACTION:-?} ${RAFTHA_GROUP:-}@${RAFTHA_NODE:-local}/${RAFTHA_EPOCH:-0}: $*" >&2
}

die() {
	log "$*"
	exit 1
}

# find_pgbin sets PGBIN when the environment does not.
find_pgbin() {
	if [ -n "${PGBIN:-}" ]; then
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
		if [ -x "$d/pg_ctl" ]; then
			PGBIN=$d
			return
		fi
	done
	p=$(command -v pg_ctl 2>/dev/null) || die "no PostgreSQL found: set PGBIN"
	PGBIN=$(dirname "$(readlink -f "$p")")
}
find_pgbin

PG_LOGFILE=${PG_LOGFILE:-$PGDATA/log/startup-${RAFTHA_NODE:-local}.log}

# as_pg runs a command as PG_OS_USER (pg_ctl and initdb refuse root).
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$PG_OS_USER" -- "$@"
	else
		"$@"
	fi
}

# data_dir is PGDATA with symlinks resolved: what /proc/PID/cwd of its
# postmaster shows (the postmaster changes into its data directory).
data_dir() {
	readlink -f "$PGDATA"
}

# postmaster_pid prints the pid on the first line of postmaster.pid, if
# the file is there and starts with a number.
postmaster_pid() {
	[ -f "$PGDATA/postmaster.pid" ] || return 0
	pid=$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null) || return 0
	case $pid in
	'' | *[!0-9]*) return 0 ;;
	esac
	echo "$pid"
}

# is_our_postmaster PID: PID is a live (not zombie) postgres process on
# THIS host whose working directory is this data directory. A pid from
# postmaster.pid that fails this test is stale: it was written by a
# postmaster that is gone, maybe on another host, and the number may now
# belong to anything else.
is_our_postmaster() {
	p=$1
	[ -d "/proc/$p" ] || return 1
	state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$p/status" 2>/dev/null)
	case $state in
	'' | Z | X) return 1 ;;
	esac
	exe=$(readlink "/proc/$p/exe" 2>/dev/null) || return 1
	exe=${exe% (deleted)}
	case ${exe##*/} in
	postgres | postmaster) ;;
	*) return 1 ;;
	esac
	[ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$(data_dir)" ]
}

# tenths SECONDS prints SECONDS (fractions allowed) in tenths, at least 1.
tenths() {
	awk -v s="$1" 'BEGIN { t = int(s * 10 + 0.5); if (t < 1) t = 1; print t }'
}

# wait_gone PID SECONDS: wait until PID is no longer a running process.
wait_gone() {
	n=$(tenths "$2")
	while [ "$n" -gt 0 ]; do
		is_our_postmaster "$1" || return 0
		sleep 0.1
		n=$((n - 1))
	done
	! is_our_postmaster "$1"
}
