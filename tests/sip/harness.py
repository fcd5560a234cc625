"""Kamailio (contrib/kamailio) and SIPp on free loopback ports beside the live test server.

The portal is reached through `ApiSwitch`, a TCP forwarder the tests can switch off: what
Kamailio sees then is a real outage (connection refused, kept-alive connections cut).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRIB = ROOT / "contrib" / "kamailio"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
PACKAGES = "kamailio kamailio-python3-modules kamailio-utils-modules sip-tester"


def missing() -> str | None:
    """Why the SIP tests cannot run here, or None when Kamailio and SIPp are installed."""
    if not os.path.exists(KAMAILIO):
        return f"kamailio is not installed (.ci/run installs: apt-get install {PACKAGES})"
    if not glob.glob("/usr/lib/*/kamailio/modules/app_python3.so"):
        return "Kamailio's app_python3 module is not installed (kamailio-python3-modules)"
    if not os.path.exists(SIPP):
        return "sipp is not installed (the sip-tester package)"
    return None


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check, timeout: float, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


class ApiSwitch:
    """127.0.0.1:port forwarding to the live server, until `down()` closes it and every
    connection through it; `up()` listens on the same port again."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_tcp_port()
        self.listener: socket.socket | None = None
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self.lock:
            listener, self.listener = self.listener, None
            doomed, self.sockets = self.sockets, set()
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in doomed:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                _close(client)
                continue
            with self.lock:
                if self.listener is not listener:
                    _close(client)
                    _close(server)
                    return
                self.sockets |= {client, server}
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other end
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class Kamailio:
    """contrib/kamailio/kamailio.cfg as an operator would start it, on a free UDP port."""

    def __init__(
        self, workdir: Path, portal_url: str, next_hop: str, environment: dict | None = None
    ) -> None:
        self.workdir = workdir
        self.port = free_udp_port()
        self.mapping = workdir / "mapping.json"
        self.spool = workdir / "spool"
        self.log = workdir / "kamailio.log"
        self.mapping.write_text("{}")
        (workdir / "run").mkdir(exist_ok=True)
        self.command = [
            KAMAILIO,
            "-DD",
            "-E",
            "-f",
            str(CONTRIB / "kamailio.cfg"),
            "-l",
            f"udp:127.0.0.1:{self.port}",
            "-Y",
            str(workdir / "run"),
            "-A",
            f'KSR_SCRIPT="{CONTRIB / "credits_portal.py"}"',
            "-A",
            "CHILDREN=8",
        ]
        self.environment = {
            **os.environ,
            "CREDITS_PORTAL_URL": portal_url,
            "CREDITS_PORTAL_MAPPING": str(self.mapping),
            "CREDITS_PORTAL_SPOOL": str(self.spool),
            "CREDITS_PORTAL_NEXT_HOP": next_hop,
            "CREDITS_PORTAL_TIMEOUT_MS": "5000",  # a busy 2-core test machine
            **(environment or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if not wait_until(self._answers_options, timeout=15):
            self.stop()
            raise RuntimeError(f"Kamailio did not start:\n{self.log.read_text()[-3000:]}")

    def _answers_options(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"Kamailio exited:\n{self.log.read_text()[-3000:]}")
        probe = (
            f"OPTIONS sip:ping@127.0.0.1:{self.port} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-probe\r\n"
            "From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:ping@127.0.0.1>\r\n"
            "Call-ID: probe@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            sock.bind(("127.0.0.1", 0))
            # The Via names another port: the answer goes there, so ask with rport's help.
            probe = probe.replace("branch=z9hG4bK-probe", "rport;branch=z9hG4bK-probe")
            sock.sendto(probe.encode(), ("127.0.0.1", self.port))
            try:
                return sock.recv(4096).startswith(b"SIP/2.0 200")
            except OSError:
                return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def map(self, *, users: dict, organisations: dict) -> None:
        """Replaces the mapping file (the script re-reads it when it changes)."""
        temporary = self.mapping.with_suffix(".tmp")
        temporary.write_text(json.dumps({"users": users, "organisations": organisations}))
        os.replace(temporary, self.mapping)

    def spooled(self) -> list[Path]:
        return sorted(self.spool.glob("*.json"))

    def log_lines(self, needle: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if needle in line]


class Uas:
    """SIPp with scenarios/uas.xml: answers every INVITE (180, 200) and every BYE, either side's."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_udp_port()
        self.log = workdir / "uas.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    *(SIPP, "-sf", str(SCENARIOS / "uas.xml"), "-i", "127.0.0.1"),
                    *("-p", str(self.port), "-nostdin", "-max_socket", "5000"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@dataclass
class Outcome:
    returncode: int
    events: dict[str, list[str]] = field(default_factory=dict)  # "answered" -> [call ids]
    messages: str = ""

    def count(self, event: str) -> int:
        return len(self.events.get(event, []))

    def received(self, first_line: str) -> list[datetime]:
        """When each message starting with `first_line` arrived or left (SIPp's trace)."""
        times, stamp = [], None
        for line in self.messages.splitlines():
            if line.startswith("-----") and len(line.split()) >= 3:
                stamp = datetime.fromisoformat(" ".join(line.split()[1:3]))
            elif line.startswith(first_line) and stamp is not None:
                times.append(stamp)
                stamp = None
        return times

    def timeline(self) -> list[str]:
        """Each message of SIPp's trace as "time sent|received first-line"."""
        lines, stamp, direction = [], "", ""
        for line in self.messages.splitlines():
            if line.startswith("-----"):
                stamp = " ".join(line.split()[1:3])
            elif line.startswith("UDP message"):
                direction = "received" if "received" in line else "sent"
            elif line[:1].isalpha() and "SIP/2.0" in line and stamp:
                lines.append(f"{stamp} {direction:>8} {line.strip()}")
                stamp = ""
        return lines

    def statuses(self) -> list[str]:
        """The final responses' status lines the caller received ("403 Some reason"), each
        once however often it was retransmitted."""
        lines = [
            line.removeprefix("SIP/2.0 ").strip()
            for line in self.messages.splitlines()
            if line.startswith("SIP/2.0 ") and not line.startswith(("SIP/2.0 1", "SIP/2.0 200"))
        ]
        return list(dict.fromkeys(lines))


class Caller:
    """Runs tests/sip/scenarios/uac_call.xml through Kamailio and tells what happened."""

    def __init__(self, workdir: Path, kamailio: Kamailio) -> None:
        self.workdir = workdir
        self.kamailio = kamailio
        self.runs = 0

    def start(
        self,
        *,
        caller: str,
        dialled: str,
        hold_ms: int,
        calls: int = 1,
        domain: str = "pbx.contoso.example",
    ) -> tuple[subprocess.Popen, Path]:
        self.runs += 1
        run = self.workdir / f"uac-{self.runs}"
        run.mkdir()
        scenario = (SCENARIOS / "uac_call.xml").read_text().replace("[hold]", str(hold_ms))
        (run / "uac.xml").write_text(scenario)
        command = [
            SIPP,
            f"127.0.0.1:{self.kamailio.port}",
            "-sf", str(run / "uac.xml"),
            "-key", "caller", caller,
            "-key", "domain", domain,
            "-key", "dialled", dialled,
            "-i", "127.0.0.1",
            "-p", str(free_udp_port()),
            "-m", str(calls),
            "-l", str(calls),
            "-r", str(calls),
            "-rp", "1000",
            "-nostdin",
            "-timeout", f"{hold_ms // 1000 + 30}s",
            "-trace_msg", "-message_file", str(run / "messages.log"),
            "-trace_logs", "-log_file", str(run / "events.log"),
        ]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=run, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return process, run

    def finish(self, process: subprocess.Popen, run: Path) -> Outcome:
        returncode = process.wait(timeout=120)
        events: dict[str, list[str]] = {}
        for line in _read(run / "events.log").splitlines():
            event, _, call_id = line.rpartition(" ")
            events.setdefault(event, []).append(call_id)
        return Outcome(returncode, events, _read(run / "messages.log"))

    def call(self, **kwargs) -> Outcome:
        return self.finish(*self.start(**kwargs))


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""
