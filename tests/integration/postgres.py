"""A throw-away PostgreSQL 15 server for the tests (standard library only, so ctest can run it
before anything else is installed): its own cluster in a temporary directory, on a free loopback
port, trust authentication for the role `dxhub`, durability off (nothing in it outlives the
test). It can be stopped and started again on the same port, so tests can take the database away
mid-ingest. The same server as tests/store/postgres_server.h, for the Python suites.

Benchmarks want the opposite: `PostgresServer(durable=True)`, `postgres.py start --durable DIR`
or DXHUB_PG_DURABLE=1 run it with fsync=on, synchronous_commit=on and full_page_writes=on
(PostgreSQL's defaults), so that a commit is on disk before it is acknowledged, as a production
server's would be.

The binaries come from /usr/lib/postgresql/15/bin, or the directory DXHUB_PG_BIN names.
PostgreSQL refuses to run as root, so under root they run as the user `postgres` (runuser) and
the directory is handed to it.

As a script it is ctest's fixture for the unit tests, one server for all of them:

    postgres.py start STATE_DIR   # starts a server, writes its URL to STATE_DIR/url
    postgres.py start --durable STATE_DIR   # the same, durability on (benchmarks)
    postgres.py stop STATE_DIR    # stops it and removes its cluster

The cluster itself lives under /tmp (the user postgres cannot always reach the build tree);
STATE_DIR/cluster says where."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PG_BIN = os.environ.get("DXHUB_PG_BIN") or "/usr/lib/postgresql/15/bin"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL binaries (or the user to run them as) are missing. Tests skip on it only
    when DXHUB_ALLOW_NO_POSTGRES=1; otherwise it is a failure."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _durable_from_env():
    return os.environ.get("DXHUB_PG_DURABLE", "") not in ("", "0")


def _as_postgres(argv):
    """`argv` as the user postgres when we are root (PostgreSQL will not run as root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + list(argv)
    return list(argv)


class PostgresServer:
    """A PostgreSQL server in its own cluster: `start()`, `url(db)`, `create_database(name)`,
    `stop()`, `restart()`; as a context manager it starts, and on exit stops at once and removes
    its directory. `durable`: fsync, synchronous_commit and full_page_writes on (default: off,
    or on when DXHUB_PG_DURABLE=1)."""

    START_ATTEMPTS = 5

    def __init__(self, directory=None, durable=None):
        self.durable = _durable_from_env() if durable is None else bool(durable)
        for tool in ("initdb", "pg_ctl", "postgres", "psql"):
            if not os.access(os.path.join(PG_BIN, tool), os.X_OK):
                raise PostgresUnavailable(
                    f"PostgreSQL binaries not found: no {os.path.join(PG_BIN, tool)} (install "
                    "postgresql-15, or set DXHUB_PG_BIN to their directory)")
        if os.geteuid() == 0:
            try:
                import pwd
                self._pg_user = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable("PostgreSQL will not run as root, and there is no user "
                                          "'postgres' to run it as") from None
        else:
            self._pg_user = None
        # Under /tmp, not TMPDIR: the user postgres must be able to reach it.
        self._own_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="dxhub-pg-", dir="/tmp")
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "log")
        self.port = None
        self.running = False

    # -- the server -------------------------------------------------------------------------

    def start(self):
        """Creates the cluster (first time) and starts it on a free port, retrying with another
        when one is taken between the probe and the server's bind; creates database `dxhub`."""
        if self._pg_user is not None:
            os.chown(self.dir, self._pg_user.pw_uid, self._pg_user.pw_gid)
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self._run("initdb", "-A", "trust", "-U", "dxhub",
                      *([] if self.durable else ["--no-sync"]), "-E", "UTF8",
                      "--locale=C.UTF-8", "-D", self.data, log="initdb.log")
        error = None
        for _ in range(self.START_ATTEMPTS):
            try:
                self._start_on(free_port())
                break
            except RuntimeError as e:
                error = e
        else:
            raise RuntimeError(f"PostgreSQL did not start ({self.START_ATTEMPTS} attempts): "
                               f"{error}\n{self.read_log()[-2000:]}")
        self.create_database("dxhub")
        return self

    def stop(self, immediate=False):
        """Fast shutdown (connections are ended, the server checkpoints), or with `immediate`
        the way a crash would (recovery runs at the next start)."""
        if self.running:
            self._pg_ctl("stop", "-w", "-t", "60", "-D", self.data, "-m",
                         "immediate" if immediate else "fast")
            self.running = False

    def restart(self):
        """Stops the server if it runs and starts it again on the same port (clients keep their
        URL)."""
        self.stop()
        error = None
        for _ in range(self.START_ATTEMPTS):
            try:
                self._start_on(self.port)
                return self
            except RuntimeError as e:
                error = e
                time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not restart on port {self.port}: {error}\n"
                           f"{self.read_log()[-2000:]}")

    def cleanup(self):
        """Stops at once and removes the directory (if this object made it)."""
        try:
            self.stop(immediate=True)
        finally:
            if self._own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.cleanup()

    # -- clients ----------------------------------------------------------------------------

    def url(self, db="dxhub"):
        return f"postgresql://dxhub@127.0.0.1:{self.port}/{db}"

    def psql(self, sql, db="dxhub"):
        """Runs `sql` with psql; returns its output (unaligned, tuples only)."""
        r = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t",
                            "-v", "ON_ERROR_STOP=1", "-d", self.url(db), "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {r.stderr.strip()}")
        return r.stdout

    def create_database(self, name):
        quoted = '"' + name.replace('"', '""') + '"'
        self.psql(f"CREATE DATABASE {quoted}", db="postgres")

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- internals --------------------------------------------------------------------------

    def _start_on(self, port):
        # pg_ctl hands -o to the server through a shell; the directory is mkdtemp's or the
        # caller's, and must not need quoting.
        durability = "on" if self.durable else "off"
        options = (f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   f"-c fsync={durability} -c synchronous_commit={durability} "
                   f"-c full_page_writes={durability} -c max_connections=200")
        try:
            self._pg_ctl("start", "-w", "-t", "60", "-D", self.data, "-l", self.log_path,
                         "-o", options)
        except RuntimeError:
            # A server that came up too late for pg_ctl's wait must not linger.
            subprocess.run(_as_postgres([os.path.join(PG_BIN, "pg_ctl"), "stop", "-w", "-D",
                                         self.data, "-m", "immediate"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            raise
        self.port = port
        self.running = True

    def _pg_ctl(self, action, *args):
        self._run("pg_ctl", action, *args, log="pg_ctl.log")

    def _run(self, tool, *args, log):
        argv = _as_postgres([os.path.join(PG_BIN, tool), *args])
        with open(os.path.join(self.dir, log), "ab") as out:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                               stderr=subprocess.STDOUT, timeout=120)
        if r.returncode != 0:
            with open(os.path.join(self.dir, log), "rb") as f:
                tail = f.read()[-1000:].decode("utf-8", "replace")
            what = f"{tool} {args[0]}" if tool == "pg_ctl" else tool
            raise RuntimeError(f"{what} exited with {r.returncode}:\n{tail}")


# -- ctest fixture ------------------------------------------------------------------------------

def _fixture_stop(state):
    cluster_file = os.path.join(state, "cluster")
    if os.path.exists(cluster_file):
        with open(cluster_file) as f:
            cluster = f.read().strip()
        if cluster and os.path.isdir(os.path.join(cluster, "data")):
            subprocess.run(_as_postgres([os.path.join(PG_BIN, "pg_ctl"), "stop", "-w", "-D",
                                         os.path.join(cluster, "data"), "-m", "immediate"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if cluster.startswith("/tmp/dxhub-pg-"):
            shutil.rmtree(cluster, ignore_errors=True)
        os.unlink(cluster_file)
    try:
        os.unlink(os.path.join(state, "url"))
    except FileNotFoundError:
        pass


def main(argv):
    durable = "--durable" in argv[2:]
    argv = [a for a in argv if a != "--durable"]
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print(f"usage: {argv[0]} start [--durable]|stop STATE_DIR", file=sys.stderr)
        return 2
    state = os.path.abspath(argv[2])
    os.makedirs(state, exist_ok=True)
    _fixture_stop(state)  # a server a killed run left behind
    if argv[1] == "stop":
        return 0
    try:
        server = PostgresServer(durable=durable or None)
    except PostgresUnavailable as e:
        if os.environ.get("DXHUB_ALLOW_NO_POSTGRES") == "1":
            print(f"{e}; DXHUB_ALLOW_NO_POSTGRES=1: no server", file=sys.stderr)
            return 0
        print(e, file=sys.stderr)
        return 1
    with open(os.path.join(state, "cluster"), "w") as f:
        f.write(server.dir + "\n")
    try:
        server.start()
    except Exception as e:
        print(e, file=sys.stderr)
        _fixture_stop(state)
        return 1
    # The maintenance database: each test creates its own beside it.
    with open(os.path.join(state, "url.tmp"), "w") as f:
        f.write(server.url("postgres") + "\n")
    os.replace(os.path.join(state, "url.tmp"), os.path.join(state, "url"))
    print(f"PostgreSQL test server: {server.url()} (cluster {server.dir}"
          f"{', durable' if server.durable else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
