"""Real local mail servers for tests and the demo: Debian's Dovecot (IMAP, optionally IMAPS) and an aiosmtpd
SMTP server that captures what we send and can deliver it into Dovecot (the "internet" between a customer and
our mailbox).

Not mocks: the poller talks IMAP to Dovecot and the sender talks SMTP to aiosmtpd, exactly as in production
(email contract §1: "a real local IMAP server, e.g. Debian's dovecot-imapd, started by the tests").

    with DovecotServer(users={"soporte@example.test": "secreto"}) as imap, SmtpServer(deliver_to=imap) as smtp:
        imap.append("soporte@example.test", raw_bytes)          # a mail arrives
        smtp.messages[-1].parsed["Message-ID"]                   # what we sent

Demo (both servers in the foreground; prints the `mail_connect` line to configure Centralita):

    python -m fakes.mailservers --imap-port 1143 --smtp-port 1025
    python -m fakes.mailservers send --smtp-port 1025 --to soporte@example.test --subject Hola --body "Necesito…"
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import email
import email.policy
import imaplib
import ipaddress
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
_UID = re.compile(rb"UID (\d+)")
_APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost; it is also the CA the client trusts (MAIL_CA_FILE)."""

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "centralita test mail")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "mail-cert.pem", directory / "mail-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o640)
    return cert_path, key_path


# --- Dovecot -----------------------------------------------------------------------------------------------


class DovecotServer:
    """A private Dovecot instance: its own config, base_dir, maildirs and ports under one temporary folder.

    As root, mail is owned by `nobody` (Dovecot refuses uid 0 for mail); otherwise by the current user."""

    def __init__(self, *, users: dict[str, str] | None = None, tls: bool = False, port: int = 0,
                 ssl_port: int = 0) -> None:
        self.users = dict(users or {"soporte@example.test": "secreto"})
        self.tls = tls
        self.host = "127.0.0.1"
        self.port = port  # 0: a free port
        self.ssl_port = ssl_port
        self.cert_path: Path | None = None
        self.root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def _config(self, root: Path, uid: int, gid: int, internal_user: str, login_user: str) -> str:
        ssl_lines = "ssl = no\n"
        imaps = "  inet_listener imaps {\n    port = 0\n  }\n"
        if self.tls:
            cert, key = make_certificate(root)
            self.cert_path = cert
            os.chown(key, 0 if os.getuid() == 0 else -1, -1)
            ssl_lines = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n"
            imaps = (f"  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {self.ssl_port}\n"
                     "    ssl = yes\n  }\n")
        return (
            f"base_dir = {root}/run\nstate_dir = {root}/state\n"
            f"log_path = {root}/dovecot.log\ninfo_log_path = {root}/dovecot.log\n"
            "protocols = imap\nlisten = 127.0.0.1\n" + ssl_lines
            + "disable_plaintext_auth = no\nauth_mechanisms = plain login\n"
            # Tests try wrong passwords on purpose: no failure delay, no per-IP penalty for the next logins.
            "auth_failure_delay = 0\nlogin_trusted_networks = 127.0.0.0/8\n"
            f"mail_location = maildir:{root}/mail/%u\nfirst_valid_uid = 1\nlast_valid_uid = 0\n"
            f"default_internal_user = {internal_user}\ndefault_login_user = {login_user}\n"
            f"passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {root}/users\n}}\n"
            f"userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={root}/mail/%u\n}}\n"
            "service imap-login {\n  chroot =\n  inet_listener imap {\n    address = 127.0.0.1\n"
            f"    port = {self.port}\n  }}\n" + imaps + "}\n"
            "service anvil {\n  chroot =\n}\n"
        )

    def start(self) -> Self:
        if not Path(DOVECOT).exists():
            raise RuntimeError("dovecot is not installed: `make setup` as root, or apt-get install dovecot-imapd")
        root = Path(tempfile.mkdtemp(prefix="centralita-dovecot-"))
        root.chmod(0o755)  # the mail and login users must reach their folders
        self.root = root
        if os.getuid() == 0:
            nobody = pwd.getpwnam("nobody")
            uid, gid, internal, login = nobody.pw_uid, nobody.pw_gid, "dovecot", "dovenull"
        else:
            me = pwd.getpwuid(os.getuid())
            uid, gid, internal, login = me.pw_uid, me.pw_gid, me.pw_name, me.pw_name
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir()
        os.chown(root / "mail", uid, gid)
        (root / "users").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in self.users.items()))
        self.port = self.port or free_port()
        self.ssl_port = (self.ssl_port or free_port()) if self.tls else 0
        conf = root / "dovecot.conf"
        conf.write_text(self._config(root, uid, gid, internal, login))
        self._proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,  # noqa: S603
                                      stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port)
            if self.tls:
                wait_for_port(self.ssl_port)
        except TimeoutError:
            log = (root / "dovecot.log").read_text(errors="replace") if (root / "dovecot.log").exists() else ""
            self.stop()
            raise RuntimeError(f"dovecot did not start:\n{log[-2000:]}") from None
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- client helpers (what a customer's provider or webmail would do) ---

    def client(self, user: str, folder: str = "INBOX") -> imaplib.IMAP4:
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        conn.login(user, self.users[user])
        conn.select(folder)
        return conn

    def append(self, user: str, raw: bytes, *, seen: bool = False, folder: str = "INBOX") -> int:
        """Delivers a mail into the user's folder and returns its UID."""
        conn = self.client(user, folder)
        try:
            typ, data = conn.append(folder, r"(\Seen)" if seen else None, None, raw)
            if typ != "OK":
                raise RuntimeError(f"APPEND failed: {data!r}")
            match = _APPENDUID.search(data[0] or b"")
            return int(match.group(1)) if match else 0
        finally:
            conn.logout()

    def flags(self, user: str, uid: int) -> set[str]:
        conn = self.client(user)
        try:
            _typ, data = conn.uid("FETCH", str(uid), "(FLAGS)")
            raw = b" ".join(d if isinstance(d, bytes) else d[0] for d in data if d)
            found = re.search(rb"FLAGS \(([^)]*)\)", raw)
            return set(found.group(1).decode().split()) if found else set()
        finally:
            conn.logout()

    def uids(self, user: str) -> list[int]:
        conn = self.client(user)
        try:
            _typ, data = conn.uid("SEARCH", "ALL")
            return [int(u) for u in (data[0] or b"").split()]
        finally:
            conn.logout()

    def set_seen(self, user: str, uid: int) -> None:
        conn = self.client(user)
        try:
            conn.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)")
        finally:
            conn.logout()


# --- SMTP ----------------------------------------------------------------------------------------------------


@dataclass
class Captured:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def parsed(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class _Handler:
    server: SmtpServer
    messages: list[Captured] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  # aiosmtpd's hook name
        if self.server.fail_next:
            code, text = self.server.fail_next.pop(0)
            return f"{code} {text}"
        data = envelope.original_content or envelope.content
        captured = Captured(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), data=bytes(data))
        self.messages.append(captured)
        self.server.received.set()
        target = self.server.deliver_to
        if target is not None:
            for rcpt in captured.rcpt_tos:
                local, _at, domain = rcpt.lower().partition("@")
                base = f"{local.split('+', 1)[0]}@{domain}"  # plus-addresses land in the main mailbox
                if base in target.users:
                    target.append(base, captured.data)
        return "250 OK"


class SmtpServer:
    """aiosmtpd on a free port. `messages` holds what was sent; `fail_next` scripts the next DATA answers
    ((451, "4.3.0 try later") is temporary, (550, "5.1.1 no such user") permanent); `deliver_to` drops
    every message for a known Dovecot user (plus-addresses included) into their INBOX."""

    def __init__(self, *, deliver_to: DovecotServer | None = None, tls_cert: tuple[Path, Path] | None = None,
                 auth: tuple[str, str] | None = None, port: int = 0) -> None:
        self.deliver_to = deliver_to
        self.tls_cert = tls_cert
        self.auth = auth
        self.host = "127.0.0.1"
        self.port = port
        self.fail_next: list[tuple[int, str]] = []
        self.received = threading.Event()
        self._handler = _Handler(self)
        self._controller: Any = None

    @property
    def messages(self) -> list[Captured]:
        return self._handler.messages

    def start(self) -> Self:
        from aiosmtpd.controller import Controller  # noqa: PLC0415 - aiosmtpd is a development dependency
        from aiosmtpd.smtp import AuthResult  # noqa: PLC0415 - aiosmtpd is a development dependency

        kwargs: dict[str, Any] = {}
        if self.tls_cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls_cert[0]), str(self.tls_cert[1]))
            kwargs.update(tls_context=context, require_starttls=True)
        if self.auth is not None:
            expected = self.auth

            def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
                ok = (data.login.decode(), data.password.decode()) == expected
                return AuthResult(success=ok, handled=False)

            kwargs.update(authenticator=authenticator, auth_required=True,
                          auth_require_tls=self.tls_cert is not None)
        self.port = self.port or free_port()
        self._controller = Controller(self._handler, hostname=self.host, port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def customer_mail(*, sender: str, to: str, subject: str, body: str, message_id: str = "",
                  in_reply_to: str = "", references: str = "", html: str = "",
                  headers: dict[str, str] | None = None,
                  attachments: Sequence[tuple[str, str, bytes]] = ()) -> bytes:
    """An RFC 5322 mail as a customer's client would write it."""

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = message_id or make_msgid(domain=sender.rsplit("@", 1)[-1].strip(">"))
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    for name, ctype, data in attachments:
        maintype, _sep, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakes.mailservers")
    sub = parser.add_subparsers(dest="command")
    send = sub.add_parser("send", help="send a customer mail through the fake SMTP server")
    send.add_argument("--smtp-port", type=int, default=1025)
    send.add_argument("--from", dest="sender", default="Ana Pérez <ana@cliente.test>")
    send.add_argument("--to", default="soporte@example.test")
    send.add_argument("--subject", default="Consulta")
    send.add_argument("--body", default="Hola, necesito ayuda con mi pedido.")
    send.add_argument("--in-reply-to", default="")
    parser.add_argument("--imap-port", type=int, default=1143)
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--user", default="soporte@example.test:secreto", help="address:password")
    args = parser.parse_args(argv)
    if args.command == "send":
        raw = customer_mail(sender=args.sender, to=args.to, subject=args.subject, body=args.body,
                            in_reply_to=args.in_reply_to, references=args.in_reply_to)
        with smtplib.SMTP("127.0.0.1", args.smtp_port, timeout=10) as client:
            client.sendmail(email.utils.parseaddr(args.sender)[1], [args.to], raw)
        print(f"sent to {args.to}")
        return 0
    address, _sep, password = args.user.partition(":")
    imap = DovecotServer(users={address: password}, port=args.imap_port)
    with imap, SmtpServer(deliver_to=imap, port=args.smtp_port) as smtp:
        print(f"IMAP 127.0.0.1:{imap.port} · SMTP 127.0.0.1:{smtp.port} · user {address} / {password}")
        print("configure Centralita with:")
        print(f"  DEBUG=1 .venv/bin/python manage.py mail_connect --address {address} --imap-host 127.0.0.1 "
              f"--imap-port {imap.port} --imap-security none --imap-password {password} --poll-interval 10 "
              f"--smtp-host 127.0.0.1 --smtp-port {smtp.port} --smtp-security none")
        print("a customer writes:  python -m fakes.mailservers send --to", address, flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        shown = 0
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(1):
                for m in smtp.messages[shown:]:
                    print(f"SMTP got {m.parsed['Message-ID']!s} «{m.parsed['Subject']!s}» {m.mail_from} → "
                          f"{', '.join(m.rcpt_tos)}", flush=True)
                shown = len(smtp.messages)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
