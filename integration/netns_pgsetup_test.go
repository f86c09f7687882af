package integration

// The PostgreSQL scenario's pieces (netns_postgres_test.go runs them):
// finding the binaries, the account PostgreSQL runs as, the data directory
// made once on the shared disk, the recipe's resources appended to the
// group, and the "VPC router" that makes the route-table virtual IP real.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// pgPort is PostgreSQL's port in every member's namespace.
const pgPort = 5432

// pgTools are the PostgreSQL programs the scenario runs.
var pgTools = []string{"postgres", "initdb", "pg_ctl", "psql", "pg_isready"}

// errNoPostgres: no directory holds every program of pgTools.
var errNoPostgres = errors.New("PostgreSQL not found (Debian: apt-get install postgresql; or set RAFTHA_PG_BIN to the directory of pg_ctl)")

// pgEnv is where PostgreSQL is and whom it runs as.
type pgEnv struct {
	bin      string // directory of pgTools
	user     string // the OS account (initdb and postgres refuse root)
	uid, gid int
	examples string // examples/postgres: the recipe's scripts
}

// findPostgres returns the directory holding every program of pgTools:
// $RAFTHA_PG_BIN, else the newest /usr/lib/postgresql/*/bin (Debian's
// layout, what .ci/run installs), else the directory pg_ctl on PATH
// resolves to.
func findPostgres() (string, error) {
	var cands []string
	if d := os.Getenv("RAFTHA_PG_BIN"); d != "" {
		cands = append(cands, d)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	cands = append(cands, dirs...)
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			cands = append(cands, filepath.Dir(r))
		}
	}
	for _, d := range cands {
		ok := true
		for _, tool := range pgTools {
			if st, err := os.Stat(filepath.Join(d, tool)); err != nil || st.Mode()&0o111 == 0 {
				ok = false
			}
		}
		if ok {
			return d, nil
		}
	}
	return "", errNoPostgres
}

// pgAccount returns the account PostgreSQL runs as: `postgres` (Debian's
// package creates it), else a system user created for the test and
// deleted when it ends.
func pgAccount(t *testing.T) (string, int, int) {
	name := "postgres"
	u, err := user.Lookup(name)
	if err != nil {
		name = "raftha-pgtest"
		if u, err = user.Lookup(name); err != nil {
			if _, err := cmdOut(30*time.Second, "useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name); err != nil {
				t.Fatalf("no postgres account and cannot create %s: %v", name, err)
			}
			t.Cleanup(func() {
				if _, err := cmdOut(30*time.Second, "userdel", name); err != nil {
					t.Errorf("userdel %s: %v", name, err)
				}
			})
			if u, err = user.Lookup(name); err != nil {
				t.Fatal(err)
			}
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return name, uid, gid
}

// pgVIP is the run's virtual IP: outside the VPC (198.19.0.0/16) and the
// bridge's subnet, unique per run (k is).
func (c *fcluster) pgVIP() string { return fmt.Sprintf("198.18.252.%d", c.tb.k) }

func (c *fcluster) pgData() string { return filepath.Join(c.mountPoint, "pgdata") }

// pgConf is appended to the data directory's postgresql.conf: TCP only
// (a Unix socket directory would be shared by the namespaces, which share
// /run), small WAL for the small disk, durability settings at their
// defaults, said out loud, and the recipe's syncfs before crash recovery
// (one syncfs(2) instead of an fsync of every file: 2s less on takeover).
const pgConf = `
# raftha fault suite
listen_addresses = '*'
port = 5432
unix_socket_directories = ''
max_connections = 30
shared_buffers = 16MB
min_wal_size = 2MB
max_wal_size = 16MB
fsync = on
synchronous_commit = on
full_page_writes = on
recovery_init_sync_method = syncfs
`

// pgInitScript makes the data directory, run by pgInitDisk in a private
// mount namespace of its own: the mount is seen by no member (a mount in
// the test's namespace would propagate into the agents' ones, and its
// unmount may not), and it goes with the namespace whatever happens.
const pgInitScript = `set -eu
as_pg() { setpriv --reuid="$PG_UID" --regid="$PG_GID" --clear-groups -- "$@"; }
mount -t ext4 "$DEV" "$MNT"
install -d -o "$PG_UID" -g "$PG_GID" -m 700 "$PGDATA"
as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust --no-sync --wal-segsize=1 -E UTF8 --locale=C >/dev/null
printf '%s\n' "$PG_CONF" >> "$PGDATA/postgresql.conf"
printf '%s\n' "$PG_HBA" >> "$PGDATA/pg_hba.conf"
printf '%s\n' "$PG_DDL" | as_pg "$PGBIN/postgres" --single -D "$PGDATA" -F postgres >/dev/null
printf '%s\n%s\n' "$STALE_PID" "$PGDATA" | as_pg tee "$PGDATA/postmaster.pid" >/dev/null
sync -f "$PGDATA"
umount "$MNT"
`

// pgInitDisk makes the data directory on the shared disk once, as an
// operator does before the first apply (README: initdb on one node with
// the volume mounted): initdb, the settings, the test's table (in
// single-user mode: no server to clean up). It leaves a stale
// postmaster.pid naming a live process of the PostgreSQL account, which
// PostgreSQL alone refuses to start over: the recipe's pg-start must deal
// with it. It returns the pid the stale file names.
func (c *fcluster) pgInitDisk(pg pgEnv) (sleeper int) {
	t := c.t
	t.Helper()
	// The PostgreSQL account must reach the mount point inside the run's
	// directory (0700 directories from t.TempDir).
	for _, d := range []string{filepath.Dir(c.dir), c.dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	// The stale postmaster.pid's process: a sleeper of the PostgreSQL
	// account, as a reused pid on the new owner would be.
	cmd := exec.Command("sleep", "3600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(pg.uid), Gid: uint32(pg.gid)}, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	go func() { _ = cmd.Wait() }()
	c.tb.onTeardown(func() { signalPid(pid, syscall.SIGKILL) })

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := cmdOutCtx(ctx, []string{
		"DEV=" + c.diskDev, "MNT=" + c.mountPoint, "PGDATA=" + c.pgData(), "PGBIN=" + pg.bin,
		"PG_UID=" + strconv.Itoa(pg.uid), "PG_GID=" + strconv.Itoa(pg.gid), "STALE_PID=" + strconv.Itoa(pid),
		"PG_CONF=" + pgConf,
		"PG_HBA=# raftha fault suite: the client in the root namespace, through the virtual IP\nhost all all 198.18.0.0/15 trust",
		"PG_DDL=CREATE TABLE acks (id bigint PRIMARY KEY, node text NOT NULL, epoch bigint NOT NULL, at timestamptz NOT NULL DEFAULT now());",
	}, "unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", pgInitScript)
	if err != nil {
		t.Fatalf("postgres: make the data directory: %v", err)
	}
	c.note("postgres: data directory made on the shared disk (%s), stale postmaster.pid names live pid %d of %s", c.pgData(), pid, pg.user)
	return pid
}

// pgGroupYAML is the recipe's resources (examples/postgres/groups.yaml):
// the virtual IP on lo, the route-table virtual IP, PostgreSQL through
// the exec resource and the recipe's scripts. The harness's group already
// has the disk first.
func (c *fcluster) pgGroupYAML(pg pgEnv) string {
	sh := func(s string) string { return strconv.Quote(filepath.Join(pg.examples, s)) }
	return fmt.Sprintf(`      - name: pg-vip-local
        type: ip
        address: %[1]s/32
        interface: lo
        arp_count: 0
      - name: pg-vip
        type: aws.route
        destination: %[1]s/32
        route_tables: [%[2]s]
      - name: postgres
        type: exec
        start: %[3]s
        stop: %[4]s
        check: %[5]s
        timeout: 25s
        env:
          PGDATA: %[6]s
          PGBIN: %[7]s
          PG_OS_USER: %[8]s
          PGPORT: "%[9]d"
          PG_START_TIMEOUT: "20"
          PG_STOP_FAST_TIMEOUT: "0.4"
          PG_STOP_IMMEDIATE_TIMEOUT: "0.3"
        monitor:
          interval: 2s
          timeout: 10s
`, c.pgVIP(), c.aws.rtb, sh("pg-start"), sh("pg-stop"), sh("pg-check"), c.pgData(), pg.bin, pg.user, pgPort)
}

// startVIPRouter plays the VPC's router for the virtual IP: it follows
// the route table in moto (50ms polls) and routes the address, in the
// root namespace where the client runs, to the member whose ENI the
// route targets. It stops at teardown; the route goes with the bridge.
func (c *fcluster) startVIPRouter(vip string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.tb.onTeardown(func() {
		cancel()
		<-done
	})
	dest := vip + "/32"
	go func() {
		defer close(done)
		cur := ""
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 20*1800; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
			out, err := c.aws.ec2.DescribeRouteTables(cctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{c.aws.rtb}})
			ccancel()
			if err != nil {
				continue
			}
			next := ""
			for _, rt := range out.RouteTables {
				for _, r := range rt.Routes {
					if aws.ToString(r.DestinationCidrBlock) != dest {
						continue
					}
					for _, m := range c.members {
						if m.eni != "" && m.eni == aws.ToString(r.NetworkInterfaceId) {
							next = m.id
						}
					}
				}
			}
			if next == cur {
				continue
			}
			var rerr error
			if next == "" {
				_, rerr = cmdOut(10*time.Second, "ip", "route", "del", dest)
			} else {
				_, rerr = cmdOut(10*time.Second, "ip", "route", "replace", dest, "via", c.member(next).ip, "dev", c.tb.bridge)
			}
			if rerr != nil {
				c.t.Logf("vip router: %v", rerr)
				continue
			}
			c.note("vip router: %s -> %s (the route table's target)", dest, next)
			cur = next
		}
	}()
}

// cmdOutCtx runs a command under ctx with extra environment and returns
// its standard output (its standard error goes into the error).
func cmdOutCtx(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.WaitDelay = time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", filepath.Base(name), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
