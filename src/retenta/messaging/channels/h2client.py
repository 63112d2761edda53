"""A small HTTP/2 client for one origin: many streams over one TLS connection (``h2``).

APNs accepts only HTTP/2. httpx speaks it, but here it spent ~2 ms of CPU per request
(~500 requests/s per core); this client drives the same ``h2`` state machine directly over
asyncio streams and spends a fraction of that. It does what a push sender needs and no
more: POST a small body, read a small answer, respect the server's
``MAX_CONCURRENT_STREAMS`` and flow-control windows, and tell apart a request the server
never processed (GOAWAY above ``last_stream_id``, ``REFUSED_STREAM``, a failed connect:
:class:`NotSentError`, safe to send again) from one whose fate is unknown
(:class:`ConnectionLostError`).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
from hpack import NeverIndexedHeaderTuple

READ_CHUNK = 65536
Header = tuple[str, str] | NeverIndexedHeaderTuple


class H2Error(Exception):
    """Base of this client's failures."""


class NotSentError(H2Error):
    """The server did not process the request: sending it again cannot duplicate it."""


class ConnectionLostError(H2Error):
    """The connection failed while the request was in flight: it may have been processed."""


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class _Stream:
    done: asyncio.Future[Response]
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)


class _Connection:
    """One TLS connection, its ``h2`` state and the task that reads from it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        # Our own request headers are built clean (lower-case, no surrounding spaces), so
        # h2's per-request outbound checks and normalization are skipped; answers are checked.
        config = h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8",
            validate_outbound_headers=False, normalize_outbound_headers=False,
        )  # fmt: skip
        self.h2 = h2.connection.H2Connection(config=config)
        # hpack's Huffman coder is pure Python and was most of a request's CPU; plain
        # literals cost a few more octets on the wire.
        encoder = self.h2.encoder
        encoder.encode = functools.partial(type(encoder).encode, encoder, huffman=False)  # type: ignore[method-assign]
        self.streams: dict[int, _Stream] = {}
        self.changed = asyncio.Condition()  # streams closed, windows opened, settings changed
        self.closing = False
        self.h2.initiate_connection()
        self.flush()
        self.reading = asyncio.get_running_loop().create_task(self._read())

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    def room(self, limit: int) -> bool:
        remote = self.h2.remote_settings.max_concurrent_streams
        return len(self.streams) < min(limit, remote)

    async def _read(self) -> None:
        error: H2Error = ConnectionLostError("the server closed the connection")
        try:
            while True:
                data = await self.reader.read(READ_CHUNK)
                if not data:
                    break
                for event in self.h2.receive_data(data):
                    self._on(event)
                self.flush()
                async with self.changed:
                    self.changed.notify_all()
        except (OSError, h2.exceptions.ProtocolError) as exc:
            error = ConnectionLostError(f"{type(exc).__name__}: {exc}")
        finally:
            self.closing = True
            self._fail_all(error)
            self.writer.close()
            async with self.changed:
                self.changed.notify_all()

    def _on(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                for name, value in event.headers or ():
                    stream.headers[str(name)] = str(value)
                stream.status = int(stream.headers.get(":status", "0"))
        elif isinstance(event, h2.events.DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.body += event.data or b""
        elif isinstance(event, h2.events.StreamEnded):
            self._finish(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            refused = event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM
            kind = NotSentError if refused else ConnectionLostError
            self._fail(event.stream_id, kind(f"stream reset: {event.error_code!r}"))
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._goaway(event.last_stream_id or 0, event.error_code)

    def _finish(self, stream_id: int) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is not None and not stream.done.done():
            headers = {k: v for k, v in stream.headers.items() if not k.startswith(":")}
            stream.done.set_result(Response(stream.status, headers, bytes(stream.body)))

    def _fail(self, stream_id: int, error: H2Error) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is not None and not stream.done.done():
            stream.done.set_exception(error)

    def _goaway(self, last_stream_id: int, code: object) -> None:
        """Streams above ``last_stream_id`` were never processed (RFC 9113 §6.8)."""
        self.closing = True
        for stream_id in [s for s in self.streams if s > last_stream_id]:
            self._fail(stream_id, NotSentError(f"GOAWAY ({code!r}) before this stream"))

    def _fail_all(self, error: H2Error) -> None:
        for stream_id in list(self.streams):
            self._fail(stream_id, error)

    async def close(self) -> None:
        self.closing = True
        try:
            self.h2.close_connection()
            self.flush()
            self.writer.close()
            await self.writer.wait_closed()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        self.reading.cancel()


class H2Client:
    """POSTs to one ``https`` origin over one multiplexed connection, reconnecting as needed."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext,
        max_streams: int = 100,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port = host, port
        self.authority = host if port == 443 else f"{host}:{port}"
        self.ssl = ssl_context
        self.ssl.set_alpn_protocols(["h2"])
        self.max_streams = max_streams
        self.connect_timeout = connect_timeout_s
        self._connection: _Connection | None = None
        self._draining: set[_Connection] = set()  # replaced after a GOAWAY, still answering
        self._connect_lock = asyncio.Lock()
        self.connections_made = 0

    async def _live(self) -> _Connection:
        async with self._connect_lock:
            current = self._connection
            if current is not None and not current.closing:
                return current
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port, ssl=self.ssl,
                                            server_hostname=self.host),
                    self.connect_timeout,
                )  # fmt: skip
            except (OSError, TimeoutError) as exc:
                raise NotSentError(f"connecting failed: {type(exc).__name__}: {exc}") from exc
            tls = writer.get_extra_info("ssl_object")
            if tls is None or tls.selected_alpn_protocol() != "h2":
                writer.close()
                raise NotSentError("the server did not agree to HTTP/2 (ALPN h2)")
            # A connection closing after a GOAWAY still answers its streams up to the last
            # one the server named; it is left to finish and closes when the server does.
            if current is not None:
                self._draining = {c for c in self._draining if not c.writer.is_closing()}
                self._draining.add(current)
            self._connection = _Connection(reader, writer)
            self.connections_made += 1
            return self._connection

    async def post(
        self, path: str, headers: Sequence[Header], body: bytes, *, timeout_s: float
    ) -> Response:
        """One POST; raises :class:`NotSentError`, :class:`ConnectionLostError`, TimeoutError.

        Header values unique to one request should be ``hpack.NeverIndexedHeaderTuple``s:
        they would only churn the compression table (the path and length already are).
        """
        connection = await self._live()
        async with connection.changed:
            await connection.changed.wait_for(
                lambda: connection.closing or connection.room(self.max_streams)
            )
        if connection.closing:
            raise NotSentError("the connection is closing")
        try:
            stream_id = connection.h2.get_next_available_stream_id()
        except h2.exceptions.NoAvailableStreamIDError as exc:  # 2^30 requests on it
            connection.closing = True
            raise NotSentError("the connection ran out of stream ids") from exc
        done: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        connection.streams[stream_id] = _Stream(done)
        request: list[Header] = [
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", self.authority),
            NeverIndexedHeaderTuple(":path", path),
            NeverIndexedHeaderTuple("content-length", str(len(body))),
            *headers,
        ]
        try:
            connection.h2.send_headers(stream_id, request)
            await self._send_body(connection, stream_id, body)
        except h2.exceptions.ProtocolError as exc:
            connection.streams.pop(stream_id, None)
            raise NotSentError(f"{type(exc).__name__}: {exc}") from exc
        try:
            return await asyncio.wait_for(asyncio.shield(done), timeout_s)
        except TimeoutError:
            self._cancel(connection, stream_id)
            raise

    async def _send_body(self, connection: _Connection, stream_id: int, body: bytes) -> None:
        view = memoryview(body)
        while True:
            window = min(connection.h2.local_flow_control_window(stream_id),
                         connection.h2.max_outbound_frame_size)  # fmt: skip
            if window <= 0 and view:
                connection.flush()
                async with connection.changed:
                    await connection.changed.wait_for(
                        lambda: (
                            connection.closing
                            or connection.h2.local_flow_control_window(stream_id) > 0
                        )
                    )
                if connection.closing:
                    raise h2.exceptions.ProtocolError("the connection closed")
                continue
            chunk, view = view[:window], view[window:]
            connection.h2.send_data(stream_id, bytes(chunk), end_stream=not view)
            connection.flush()
            if not view:
                return

    @staticmethod
    def _cancel(connection: _Connection, stream_id: int) -> None:
        connection.streams.pop(stream_id, None)
        try:
            connection.h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
            connection.flush()
        except h2.exceptions.ProtocolError:
            pass

    async def close(self) -> None:
        for connection in [*self._draining, self._connection]:
            if connection is not None:
                await connection.close()
        self._connection, self._draining = None, set()
