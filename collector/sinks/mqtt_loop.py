"""paho-mqtt 2.x driven by the asyncio event loop (no paho thread).

paho's socket is watched with `add_reader`/`add_writer` and a 1 s timer calls `loop_misc` for
keepalive; `loop_start()` would cost a second thread spinning at twice the CPU. Only the blocking
TCP connect and TLS handshake run in an executor thread, before any socket callback is installed.

A connection object lives for one network connection: after it is lost, build a new one. That keeps
paho's own resend queue out of the way: the outbox is the only retry mechanism, and message ids
(which wrap at 65,535) never collide because the window of unacknowledged messages is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from collector.config.sinks import Mqtt, MqttVersion
from collector.sinks.base import SinkError

log = logging.getLogger(__name__)

WITH_WILL = 0x04  # MQTT 5 DISCONNECT reason code "Disconnect with Will Message"


class MqttUnavailable(SinkError):
    """Not connected, connection lost, or the broker refused the connection."""


class MqttRefusedMessage(SinkError):
    """The broker answered a publish with a failure reason code (MQTT 5)."""


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True


@dataclass(frozen=True, slots=True)
class MqttOptions:
    host: str
    port: int
    client_id: str
    v5: bool = True
    keepalive: int = 30
    username: str | None = None
    password: str | None = None
    tls: bool = False  # verify the broker against ca_file, else the system's CA store
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: str | None = None
    clean_start: bool = True
    session_expiry: int = 0  # seconds the broker keeps the session (MQTT 5)
    manual_ack: bool = False
    max_inflight: int = 1000
    receive_maximum: int = 0  # MQTT 5: unacknowledged messages the broker may send us (0: its default)
    will: Will | None = None
    failover: tuple[tuple[str, int], ...] = ()  # other nodes of the same cluster, tried in turn

    def addresses(self, start: int = 0) -> list[tuple[int, str, int]]:
        """(index, host, port) of every node, from `start` round: the last node that worked first."""
        nodes = [(self.host, self.port), *self.failover]
        return [(i % len(nodes), *nodes[i % len(nodes)]) for i in range(start, start + len(nodes))]


def _read_secret(value: Any, file: Path | None, base: Path) -> str | None:
    if value is not None:
        return str(value.get_secret_value())
    if file is not None:
        return (base / file).read_text(encoding="utf-8").strip()
    return None


def options_from_config(cfg: Mqtt, client_id: str, base: Path, **extra: Any) -> MqttOptions:
    """Connection options from the plant's `mqtt` section; paths are relative to the plant file."""
    tls = cfg.tls

    def path(p: Path | None) -> Path | None:
        return None if p is None else base / p

    return MqttOptions(
        host=cfg.host, port=cfg.port, client_id=client_id, v5=cfg.version is MqttVersion.V5,
        keepalive=max(5, int(cfg.keepalive)), username=cfg.username,
        password=_read_secret(cfg.password, cfg.password_file, base), tls=tls is not None,
        ca_file=path(tls.ca_file) if tls else None, cert_file=path(tls.cert_file) if tls else None,
        key_file=path(tls.key_file) if tls else None,
        key_password=_read_secret(tls.key_password, tls.key_password_file, base) if tls else None,
        max_inflight=cfg.max_inflight, failover=tuple(cfg.addresses()[1:]), **extra,
    )  # fmt: skip


def _ssl_context(opts: MqttOptions) -> ssl.SSLContext:
    """Server verification always on (system CAs unless ca_file); client cert for mutual TLS."""
    ctx = ssl.create_default_context(cafile=str(opts.ca_file) if opts.ca_file else None)
    if opts.cert_file:
        ctx.load_cert_chain(
            str(opts.cert_file), str(opts.key_file) if opts.key_file else None, opts.key_password
        )
    return ctx


class _Acks:
    """The outcome of one publish_many: a result per message, `done` once the last is known."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.results: list[BaseException | None] = []
        self.done: asyncio.Future[None] = loop.create_future()
        self._open = 0
        self._sealed = False

    def add(self) -> int:
        self.results.append(None)
        self._open += 1
        return len(self.results) - 1

    def settle(self, i: int, error: BaseException | None) -> None:
        self.results[i] = error
        self._open -= 1
        self._finish_if_complete()

    def seal(self) -> None:
        """No more messages will be added."""
        self._sealed = True
        self._finish_if_complete()

    def _finish_if_complete(self) -> None:
        if self._sealed and not self._open and not self.done.done():
            self.done.set_result(None)


class MqttConnection:
    """One MQTT connection: await connect(), publish() resolves on PUBACK, lost is set on loss.

    With failover nodes, connect() tries them in turn from `start` (the index of the node that
    worked last); `node` is then the index of the one it reached."""

    def __init__(
        self, opts: MqttOptions, on_message: Callable[[paho.MQTTMessage], None] | None = None,
        start: int = 0,
    ) -> None:  # fmt: skip
        self.opts = opts
        self.start = start
        self.node = start
        self.address = (opts.host, opts.port)  # the node reached (after connect)
        self.lost = asyncio.Event()
        self.loss_reason = "not connected"
        self.connect_sent = False  # a CONNECT packet went out (the TCP connection was made)
        self._loop = asyncio.get_running_loop()
        self._pending: dict[int, tuple[_Acks, int]] = {}  # mid -> (its publish_many, index)
        self._window = asyncio.Semaphore(opts.max_inflight)
        self._connected: asyncio.Future[None] = self._loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._fd: Any = None
        self._client = self._make_client(on_message)

    def _make_client(self, on_message: Callable[[paho.MQTTMessage], None] | None) -> paho.Client:
        o = self.opts
        proto = MQTTProtocolVersion.MQTTv5 if o.v5 else MQTTProtocolVersion.MQTTv311
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=o.client_id, protocol=proto,
            clean_session=None if o.v5 else o.clean_start, reconnect_on_failure=False,
            manual_ack=o.manual_ack,
        )  # fmt: skip
        client.max_inflight_messages_set(0)  # our semaphore bounds the window; paho must never queue
        client.max_queued_messages_set(0)
        if o.username is not None:
            client.username_pw_set(o.username, o.password)
        if o.tls or o.ca_file or o.cert_file:  # `tls: {}` is TLS with the system CAs, never plain text
            client.tls_set_context(_ssl_context(o))
        if o.will is not None:
            client.will_set(o.will.topic, o.will.payload, qos=1, retain=o.will.retain)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        if on_message is not None:
            client.on_message = lambda _c, _u, msg: on_message(msg)
        return client

    @property
    def client(self) -> paho.Client:
        return self._client

    @property
    def in_flight(self) -> int:
        """QoS 1 messages handed to the broker and not yet acknowledged."""
        return len(self._pending)

    async def connect(self, deadline: float = 10.0) -> None:
        """TCP (+TLS) connect in a thread, then wait for CONNACK; raises MqttUnavailable."""
        o, client = self.opts, self._client
        client.connect_timeout = deadline
        kwargs: dict[str, Any] = {}
        if o.v5:  # MQTT 3.1.1 takes clean_session at construction instead
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = o.session_expiry
            if o.receive_maximum:
                props.ReceiveMaximum = o.receive_maximum
            kwargs = {"clean_start": o.clean_start, "properties": props}
        host, port = await self._open_socket(kwargs)
        self.connect_sent = True
        if client.socket() is None:  # e.g. TLS 1.3: a refused client certificate shows after the handshake
            raise MqttUnavailable(f"connect to {host}:{port}: closed by the broker")
        self._attach()
        try:
            async with asyncio.timeout(deadline):
                await self._connected
        except TimeoutError as exc:
            self._close("no CONNACK")
            raise MqttUnavailable(f"no CONNACK from {host}:{port} within {deadline}s") from exc

    async def _open_socket(self, kwargs: dict[str, Any]) -> tuple[str, int]:
        """TCP (+TLS) to the first node that answers, in a thread (the call blocks)."""
        o, client, errors = self.opts, self._client, []
        for index, host, port in o.addresses(self.start):
            try:
                await self._loop.run_in_executor(
                    None, partial(client.connect, host, port, o.keepalive, **kwargs)
                )
            except (OSError, ssl.SSLError, ValueError) as exc:
                errors.append(f"connect to {host}:{port}: {exc}")
                continue
            self.node, self.address = index, (host, port)
            return host, port
        raise MqttUnavailable("; ".join(errors))

    def _attach(self) -> None:
        client = self._client
        sock = client.socket()
        assert sock is not None  # checked by connect()
        self._fd = sock
        client.on_socket_register_write = lambda _c, _u, s: self._loop.add_writer(s, self._on_writable)
        client.on_socket_unregister_write = lambda _c, _u, s: self._unwatch_write(s)
        client.on_socket_close = lambda _c, _u, s: self._detach()
        self._loop.add_reader(sock, self._on_readable)
        if client.want_write():
            self._loop.add_writer(sock, self._on_writable)
        self._timer = self._loop.call_later(1.0, self._tick)

    def _unwatch_write(self, sock: Any) -> None:
        self._loop.remove_writer(sock)

    def _detach(self) -> None:
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
            self._fd = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_readable(self) -> None:
        client = self._client
        rc = client.loop_read()
        sock = client.socket()
        # TLS: decrypted bytes waiting in the SSL object do not make the fd readable again
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and isinstance(sock, ssl.SSLSocket) and sock.pending():
            rc = client.loop_read()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._close(f"read: {paho.error_string(rc)}")

    def _on_writable(self) -> None:
        rc = self._client.loop_write()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._close(f"write: {paho.error_string(rc)}")

    def _tick(self) -> None:
        rc = self._client.loop_misc()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._close(f"keepalive: {paho.error_string(rc)}")
        elif self._fd is not None:
            self._timer = self._loop.call_later(1.0, self._tick)

    def _on_connect(self, _c: Any, _u: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        if self._connected.done():
            return
        if reason.is_failure:
            self._connected.set_exception(MqttUnavailable(f"connection refused: {reason}"))
            self._loop.call_soon(self._close, f"refused: {reason}")
        else:
            self._connected.set_result(None)

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        self._close(f"disconnected: {reason}")

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _props: Any) -> None:
        entry = self._pending.pop(mid, None)
        if entry is None:
            return
        self._window.release()
        entry[0].settle(entry[1], MqttRefusedMessage(str(reason)) if reason.is_failure else None)

    def _close(self, reason: str) -> None:
        """Mark the connection lost once: fail every waiter, release the socket."""
        if self.lost.is_set():
            return
        self.loss_reason = reason
        self.lost.set()
        self._detach()
        with contextlib.suppress(Exception):
            self._client.disconnect()
        error = MqttUnavailable(reason)
        if not self._connected.done():
            self._connected.set_exception(error)
            self._connected.exception()  # retrieved: nobody may be awaiting it any more
        pending, self._pending = self._pending, {}
        for acks, i in pending.values():
            self._window.release()
            acks.settle(i, error)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Returns once the broker acknowledged (QoS 1) or the bytes were queued (QoS 0)."""
        (error,) = await self.publish_many([(topic, payload, retain)], qos=qos)
        if error is not None:
            raise error

    async def publish_many(
        self, messages: Iterable[tuple[str, bytes, bool]], *, qos: int = 1, yield_every: int = 100
    ) -> list[BaseException | None]:
        """Publish (topic, payload, retain) in iteration order; one result per message, None once
        acknowledged. No task or future per message, and the loop gets a turn every `yield_every`
        messages: a batch of a thousand neither holds the loop in one stretch nor floods it with
        a thousand completion callbacks when the PUBACKs arrive."""
        acks = _Acks(self._loop)
        for i, (topic, payload, retain) in enumerate(messages, 1):
            await self._window.acquire()  # returns at once while the window has room
            self._send(acks, topic, payload, qos, retain)
            if i % yield_every == 0:
                await asyncio.sleep(0)
        acks.seal()
        await acks.done
        return acks.results

    def _send(self, acks: _Acks, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Hand one message to paho; its window slot is held until its PUBACK or the loss."""
        i = acks.add()
        if self.lost.is_set() or not self._connected.done():
            error: MqttUnavailable | None = MqttUnavailable(self.loss_reason)
        else:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
            ok = info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS
            if ok and qos > 0:
                self._pending[info.mid] = (acks, i)
                return
            error = None if ok else MqttUnavailable(paho.error_string(info.rc))
        self._window.release()
        acks.settle(i, error)

    async def subscribe(self, topic: str, qos: int = 1, deadline: float = 10.0) -> None:
        done: asyncio.Future[list[ReasonCode]] = self._loop.create_future()

        def on_subscribe(_c: Any, _u: Any, _mid: int, codes: list[ReasonCode], _p: Any) -> None:
            if not done.done():
                done.set_result(codes)

        self._client.on_subscribe = on_subscribe
        rc, _mid = self._client.subscribe(topic, qos)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise MqttUnavailable(paho.error_string(rc))
        async with asyncio.timeout(deadline):
            codes = await done
        if any(c.is_failure for c in codes):
            raise MqttUnavailable(f"subscribe {topic} refused: {codes}")

    def ack(self, mid: int, qos: int = 1) -> None:
        if not self.lost.is_set():
            self._client.ack(mid, qos)

    async def disconnect(self, deadline: float = 5.0, *, with_will: bool = False) -> None:
        """Clean DISCONNECT: the broker then discards the Will, unless `with_will` on MQTT 5, where
        reason code 0x04 "Disconnect with Will Message" asks it to publish the Will all the same."""
        if self.lost.is_set():
            return
        if with_will and self.opts.v5:
            self._client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=WITH_WILL))
        else:
            self._client.disconnect()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(deadline):
                await self.lost.wait()
        self._close("closed")
