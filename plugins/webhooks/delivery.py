"""One webhook request: URL rules, SSRF checks on every address, a pinned connection, bounded time and size.

Why hand-made on urllib3 rather than an "SSRF-safe" client: the maintained HTTP clients offer no hook
that checks the resolved address *and* connects to that same address, and the SSRF wrappers on PyPI
are unmaintained (advocate, last release 2020) or too young to trust. urllib3 (maintained, already a
dependency through minio) lets us open the connection to an address we checked ourselves while
keeping the Host header, TLS SNI and certificate verification on the URL's name; the standard
library's `ipaddress` classifies the addresses.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

SCHEMES = {"http": 80, "https": 443}
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Characters no URL we send may hold: controls, spaces and DEL (http.client would refuse them later).
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class UrlRefused(ValueError):
    """The URL cannot be a webhook target; the message says why (it is shown to the user)."""


@dataclass(frozen=True)
class Target:
    """A checked webhook URL, split into what the connection needs."""

    scheme: str
    host: str  # the name (IDNA-encoded) or the address, without brackets
    port: int
    path: str  # path and query, as sent in the request line
    host_header: str

    @property
    def literal(self) -> IPAddress | None:
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


@dataclass
class Outcome:
    """What one attempt gave. `kind`: success, http_error, timeout, connection_error, refused."""

    kind: str
    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind == "success"

    @property
    def retryable(self) -> bool:
        # A refused address is a decision, not an accident: retrying would ask DNS the same question.
        return self.kind not in ("success", "refused")


def parse_networks(values: list[str]) -> list[Network]:
    """The allow-list setting as networks. :raises ValueError: naming a value that is no CIDR."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"'{value}' is not an address or CIDR network (e.g. 10.0.0.0/8)") from None
    return networks


def address_problem(address: IPAddress, allowed: list[Network]) -> str | None:
    """Why `address` may not be reached (e.g. "loopback"), or None when it may.

    Addresses inside an allow-listed network are allowed whatever they are. IPv6 forms that embed an
    IPv4 address (mapped, NAT64, 6to4, Teredo) are judged by that IPv4 address too.
    """
    if any(address in network for network in allowed):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour]
        if address in NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.teredo:
            embedded.extend(address.teredo)
        for inner in embedded:
            if inner is not None:
                problem = address_problem(inner, allowed)
                if problem:
                    return problem
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not globally routable"
    return None


def parse_url(url: str) -> Target:
    """Split and check the form of a webhook URL (no address check). :raises UrlRefused: why not."""
    if _UNSAFE.search(url):
        raise UrlRefused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise UrlRefused(f"is not a valid URL ({err})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UrlRefused("must be an http or https URL")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("must not carry credentials (user:password@); receivers check the signature")
    host = parts.hostname or ""
    if not host:
        raise UrlRefused("has no host")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is None:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UrlRefused(f"host '{host}' is not a valid name") from None
        if port == 0:
            raise UrlRefused("port 0 cannot be reached")
    if port == 0:
        raise UrlRefused("port 0 cannot be reached")
    port = port or SCHEMES[scheme]
    shown = f"[{host}]" if isinstance(literal, ipaddress.IPv6Address) else host
    host_header = shown if port == SCHEMES[scheme] else f"{shown}:{port}"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, str(literal) if literal else host, port, path, host_header)


def check_url(url: str, allowed: list[Network]) -> Target:
    """The checks made when a webhook is saved: the URL's form, and its host when it is an address.

    Names are resolved only when delivering (their addresses may change); a name that always means
    this machine (localhost) and numeric hosts that are no canonical address (127.1, 2130706433,
    0x7f.0.0.1, which resolvers still take for addresses) are refused here.

    :raises UrlRefused: why the URL cannot be used.
    """
    target = parse_url(url)
    literal = target.literal
    if literal is None:
        name = target.host.rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            literal = ipaddress.ip_address("127.0.0.1")
        elif re.fullmatch(r"[0-9a-fx.]+", name) and _inet_aton_accepts(name):
            raise UrlRefused(f"host '{target.host}' is a numeric address in a non-standard form")
    if literal is not None:
        problem = address_problem(literal, allowed)
        if problem:
            raise UrlRefused(
                f"host {target.host} is a {problem} address; webhooks may only reach public addresses "
                "unless plugins.webhooks.allow_private_cidrs allows it"
            )
    return target


def _inet_aton_accepts(name: str) -> bool:
    try:
        socket.inet_aton(name)
    except OSError:
        return False
    return True


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (tests replace this to play DNS). :raises OSError: it does not."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen = []
    for info in infos:
        address = info[4][0]
        if address not in seen:
            seen.append(address)
    return seen


def checked_addresses(target: Target, allowed: list[Network]) -> list[IPAddress]:
    """The addresses to connect to, each checked (DNS rebinding: the name may now point elsewhere).

    :raises UrlRefused: one of the addresses may not be reached (all of them are refused then: a
        name that also points inside the network is not trusted for its other addresses).
    :raises OSError: the name does not resolve.
    """
    literal = target.literal
    if literal is not None:
        addresses = [literal]
    else:
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(target.host, target.port)]
    for address in addresses:
        problem = address_problem(address, allowed)
        if problem:
            raise UrlRefused(
                f"{target.host} resolves to {address}, a {problem} address; refused "
                "(plugins.webhooks.allow_private_cidrs can allow it)"
            )
    return addresses


def send(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allowed: list[Network],
    connect_timeout: float,
    total_timeout: float,
    max_response_bytes: int,
    ca_file: str = "",
) -> Outcome:
    """POST `body` to `url` once; never raises for anything the network or the receiver does.

    The connection goes to an address checked just now, with the URL's name in the Host header and
    as the TLS server name (SNI and certificate check). Redirects are not followed (a 3xx is a failed
    attempt: its Location was never checked). `total_timeout` bounds the whole attempt, connection
    included: a receiver that answers slowly, byte by byte, is cut off at that time.
    """
    started = time.monotonic()
    deadline = started + total_timeout

    def done(kind: str, **fields) -> Outcome:
        return Outcome(kind, duration=time.monotonic() - started, **fields)

    try:
        target = parse_url(url)
        addresses = _within(deadline, checked_addresses, target, allowed)
    except UrlRefused as err:
        return done("refused", error=str(err))
    except _Timeout:
        return done("timeout", error=f"resolving {urlsplit(url).hostname} took over {total_timeout:g} s")
    except OSError as err:
        return done("connection_error", error=f"cannot resolve {urlsplit(url).hostname}: {err}")
    headers = {**headers, "Host": target.host_header}
    last_error = "no address"
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return done("timeout", error=f"no answer within {total_timeout:g} s")
        try:
            return done(
                "success",
                **_attempt(
                    target,
                    str(address),
                    body,
                    headers,
                    connect_timeout,
                    deadline,
                    max_response_bytes,
                    ca_file,
                ),
            )
        except _HttpError as err:
            return done("http_error", status_code=err.status, response_body=err.body, error=err.message)
        except _Timeout as err:
            return done("timeout", error=str(err) or f"no answer within {total_timeout:g} s")
        except _Unreachable as err:
            last_error = str(err)  # the next address may answer
        except _Tls as err:
            return done("connection_error", error=f"TLS: {err}")
        except (http.client.HTTPException, ValueError) as err:
            return done("connection_error", error=f"invalid HTTP answer: {type(err).__name__} {err}")
        except OSError as err:
            if time.monotonic() >= deadline:
                return done("timeout", error=f"no answer within {total_timeout:g} s")
            return done("connection_error", error=f"{type(err).__name__}: {err}")
    return done("connection_error", error=last_error)


def _within(deadline: float, func, *args):
    """func(*args), or _Timeout at the deadline. Name resolution has no timeout of its own (the
    system resolver retries for many seconds): it runs in a thread that is left behind if it is late."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = func(*args)
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            outcome["error"] = err

    thread = threading.Thread(target=run, name="webhook-resolve", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        raise _Timeout()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class _HttpError(Exception):
    def __init__(self, status: int, body: str, message: str):
        super().__init__(message)
        self.status, self.body, self.message = status, body, message


class _Timeout(Exception):
    pass


class _Unreachable(Exception):
    pass


class _Tls(Exception):
    pass


def _attempt(
    target: Target,
    address: str,
    body: bytes,
    headers: dict,
    connect_timeout: float,
    deadline: float,
    max_bytes: int,
    ca_file: str,
) -> dict:
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    from urllib3.util.ssl_match_hostname import CertificateError

    connect_within = max(0.001, min(connect_timeout, deadline - time.monotonic()))
    if target.scheme == "https":
        conn = HTTPSConnection(
            address,
            target.port,
            timeout=connect_within,
            # The checked address is dialled; the certificate must still be the URL name's.
            server_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_file or None,
        )
    else:
        conn = HTTPConnection(address, target.port, timeout=connect_within)
    expired = threading.Event()

    def cut_off():
        # The socket timeout bounds each read, not the sum of them: a receiver trickling bytes
        # would hold the worker. At the deadline the socket is shut down under the reader.
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), cut_off)
    watchdog.daemon = True
    watchdog.start()
    try:
        try:
            conn.connect()
        except NewConnectionError as err:  # before ConnectTimeoutError: it is a subclass of it
            if expired.is_set():
                raise _Timeout() from err
            cause = err.__cause__ or err
            raise _Unreachable(f"cannot connect to {address} port {target.port}: {cause}") from err
        except (ConnectTimeoutError, TimeoutError) as err:
            if expired.is_set() or time.monotonic() >= deadline:
                raise _Timeout() from err
            raise _Timeout(f"no connection to {address} within {connect_within:g} s") from err
        except (ssl.SSLError, CertificateError) as err:
            if expired.is_set():
                raise _Timeout() from err
            raise _Tls(getattr(err, "reason", None) or str(err)) from err
        except OSError as err:
            if expired.is_set():
                raise _Timeout() from err
            raise _Unreachable(f"cannot connect to {address} port {target.port}: {err}") from err
        conn.timeout = max(0.001, deadline - time.monotonic())
        try:
            conn.request("POST", target.path, body=body, headers=headers, preload_content=False)
            response = conn.getresponse()
            excerpt = response.read(max_bytes, decode_content=False) if max_bytes else b""
        except TimeoutError as err:
            raise _Timeout() from err
        except OSError as err:
            if expired.is_set():
                raise _Timeout() from err
            raise
        except Exception as err:
            if expired.is_set():
                raise _Timeout() from err
            raise
        if expired.is_set():
            raise _Timeout()
        text = excerpt.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        status = response.status
        if 200 <= status < 300:
            return {"status_code": status, "response_body": text}
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            raise _HttpError(
                status,
                text,
                f"the receiver redirected ({status}) to {location!r}; redirects are not followed",
            )
        raise _HttpError(status, text, f"the receiver answered {status}")
    finally:
        watchdog.cancel()
        conn.close()
