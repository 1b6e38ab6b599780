"""A fake OpenAI-compatible server on 127.0.0.1 for testing the whole stack offline.

Real ``openai`` client, real HTTP, scripted answers and injected faults:

>>> from optimizers.llm.fakeserver import FakeOpenAIServer, Fault
>>> with FakeOpenAIServer(["hello", Fault.rate_limit(retry_after=0), "again"]) as server:
...     llm = server.client(backoff=0.001)
...     llm.complete([{"role": "user", "content": "hi"}]).text
'hello'

Each request takes the next scripted item (a reply text or a :class:`Fault`); when the script is
used up, ``responder(body)`` is asked, and without one the server answers 400 saying so.
Requests are kept in ``server.requests`` (JSON bodies) and ``server.headers`` (lower-cased
names; the key headers are never kept).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optimizers.llm.openai_client import OpenAIClient

__all__ = ["FakeOpenAIServer", "Fault"]

Responder = Callable[[dict[str, Any]], "str | Fault"]


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour; build with the class methods."""

    kind: str
    status: int = 500
    message: str = ""
    retry_after: float | None = None
    seconds: float = 0.0
    text: str = ""

    @classmethod
    def rate_limit(cls, retry_after: float | None = 1.0) -> Fault:
        """HTTP 429 with a ``Retry-After`` header (none when ``retry_after`` is None)."""
        return cls("status", 429, "Rate limit reached", retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """An HTTP 5xx."""
        return cls("status", status, "The server had an error")

    @classmethod
    def http_error(cls, status: int, message: str = "error") -> Fault:
        """Any HTTP error status with an OpenAI-style error body."""
        return cls("status", status, message)

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Fault:
        """Say nothing for ``seconds`` (past the client's timeout), then answer ``"late"``."""
        return cls("hang", seconds=seconds, text="late")

    @classmethod
    def truncated(cls, text: str) -> Fault:
        """Answer ``text`` cut in half, ``finish_reason="length"`` (as when max_tokens cuts it)."""
        return cls("truncated", text=text)

    @classmethod
    def trickle(cls, text: str = "slow", every: float = 0.5) -> Fault:
        """Answer ``text``, but send the body one byte every ``every`` seconds (each read is
        quick, so only a deadline on the whole call stops it)."""
        return cls("trickle", seconds=every, text=text)

    @classmethod
    def huge(cls, size: int, declare_length: bool = True) -> Fault:
        """A ``size``-byte body (sent in 64 KB chunks; with ``Content-Length`` or chunked)."""
        return cls("huge", status=200 if declare_length else 0, seconds=float(size))

    @classmethod
    def drop(cls) -> Fault:
        """Send the headers and half the body, then close the connection."""
        return cls("drop")


class FakeOpenAIServer:
    """Serve ``/v1/chat/completions`` on a free port of 127.0.0.1.

    Args:
        script: reply texts and faults, served one per request in order.
        responder: called with the request body when the script is used up.
        latency: seconds to wait before every answer (as a model would).
        formats: the ``response_format`` types accepted; others get an error that says so.
        reject_status: the status of that error (400; llama-cpp-python answers 500).
    """

    def __init__(
        self,
        script: Iterable[str | Fault] = (),
        *,
        responder: Responder | None = None,
        latency: float = 0.0,
        formats: Iterable[str] = ("json_schema", "json_object", "text"),
        reject_status: int = 400,
    ) -> None:
        self._script: deque[str | Fault] = deque(script)
        self.responder = responder
        self.latency = latency
        self.formats = frozenset(formats)
        self.reject_status = reject_status
        self.requests: list[dict[str, Any]] = []
        self.authorization_seen = 0  # requests that carried a bearer key
        self.headers: list[dict[str, str]] = []  # each request's headers, keys left out
        self.in_flight = 0
        self.peak_in_flight = 0  # the most requests being answered at once
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- control ------------------------------------------------------------------------------
    def script(self, *items: str | Fault) -> None:
        """Append items to the script."""
        with self._lock:
            self._script.extend(items)

    @property
    def url(self) -> str:
        """The base URL to give a client (ends in ``/v1``)."""
        if self._http is None:
            raise RuntimeError("the fake server is not running; use it in a `with` block")
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def request_count(self) -> int:
        """How many chat-completion requests arrived."""
        with self._lock:
            return len(self.requests)

    def client(self, model: str = "fake-model", **kwargs: Any) -> OpenAIClient:
        """An :class:`OpenAIClient` for this server (cache off unless ``cache=`` is given)."""
        from optimizers.llm.openai_client import OpenAIClient

        kwargs.setdefault("cache", None)
        kwargs.setdefault("api_key", "fake-key-not-secret")
        return OpenAIClient(model=model, base_url=self.url, **kwargs)

    def start(self) -> FakeOpenAIServer:
        """Start serving in a daemon thread."""
        http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        http.request_queue_size = 256  # many concurrent clients connect at once
        http.daemon_threads = True
        http.server_bind()
        http.server_activate()
        http.fake = self  # type: ignore[attr-defined]
        self._http = http
        self._thread = threading.Thread(
            target=http.serve_forever, args=(0.02,), name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging answers are released."""
        self._stop.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- used by the handler --------------------------------------------------------------------
    def _next(self, body: dict[str, Any], authorized: bool) -> str | Fault:
        with self._lock:
            self.requests.append(body)
            self.authorization_seen += authorized
            if self._script:
                return self._script.popleft()
        if body.get("stream"):
            return Fault.http_error(400, "FakeOpenAIServer does not stream; call without stream")
        if self.responder is None:
            return Fault.http_error(
                400, "FakeOpenAIServer: no scripted reply left for this request"
            )
        try:
            return self.responder(body)
        except Exception as exc:  # a broken responder is the test's bug: say so, do not retry
            return Fault.http_error(400, f"FakeOpenAIServer responder raised {exc!r}")

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stop.wait(seconds)


_SECRET_HEADERS = ("authorization", "api-key")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        fake: FakeOpenAIServer = self.server.fake  # type: ignore[attr-defined]
        if self.path.rstrip("/").endswith("/_fake/stats"):  # for a server in another process
            with fake._lock:
                stats = {"requests": len(fake.requests), "peak_in_flight": fake.peak_in_flight}
            self._json(200, stats)
        elif self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        fake: FakeOpenAIServer = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length", 0))
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._error(400, "request body is not JSON")
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, f"no route {self.path}")
            return
        authorized = self.headers.get("Authorization", "").startswith("Bearer ")
        seen = {k.lower(): v for k, v in self.headers.items()}
        with fake._lock:
            fake.headers.append({k: v for k, v in seen.items() if k not in _SECRET_HEADERS})
        kind = (body.get("response_format") or {}).get("type", "text")
        if kind not in fake.formats:
            with fake._lock:
                fake.requests.append(body)
            message = f"response_format type {kind!r} is not supported by this server"
            self._error(fake.reject_status, message)
            return
        item = fake._next(body, authorized)
        with fake._lock:
            fake.in_flight += 1
            fake.peak_in_flight = max(fake.peak_in_flight, fake.in_flight)
        try:
            fake._wait(fake.latency)
            self._serve(fake, body, item)
        finally:
            with fake._lock:
                fake.in_flight -= 1

    def _serve(self, fake: FakeOpenAIServer, body: dict[str, Any], item: str | Fault) -> None:
        if isinstance(item, str):
            self._json(200, _completion(body, item, "stop"))
        elif item.kind == "status":
            headers = {} if item.retry_after is None else {"Retry-After": f"{item.retry_after:g}"}
            self._error(item.status, item.message, headers)
        elif item.kind == "hang":
            fake._wait(item.seconds)
            self._json(200, _completion(body, item.text, "stop"))
        elif item.kind == "truncated":
            self._json(200, _completion(body, item.text[: len(item.text) // 2], "length"))
        elif item.kind == "trickle":
            self._trickle(fake, _completion(body, item.text, "stop"), item.seconds)
        elif item.kind == "huge":
            self._huge(int(item.seconds), declare_length=item.status == 200)
        elif item.kind == "drop":
            data = json.dumps(_completion(body, "never complete", "stop")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:
            self._error(500, f"unknown fault {item.kind!r}")

    def _trickle(self, fake: FakeOpenAIServer, payload: dict[str, Any], every: float) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                if fake._stop.wait(every):
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _huge(self, size: int, *, declare_length: bool) -> None:
        chunk = b" " * 65536
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if declare_length:
                self.send_header("Content-Length", str(size))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent = 0
            while sent < size:
                part = chunk[: min(len(chunk), size - sent)]
                if declare_length:
                    self.wfile.write(part)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                sent += len(part)
            if not declare_length:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what a size cap does
        self.close_connection = True

    def _json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a hang past its timeout)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        kind = "rate_limit_exceeded" if status == 429 else "invalid_request_error"
        self._json(status, {"error": {"message": message, "type": kind, "code": None}}, headers)


def _words(text: str) -> int:
    return len(text.split())


def _completion(body: dict[str, Any], text: str, finish: str) -> dict[str, Any]:
    prompt = sum(_words(str(m.get("content", ""))) for m in body.get("messages", []))
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": _words(text),
            "total_tokens": prompt + _words(text),
        },
    }


def hashed_answer(body: dict[str, Any]) -> str:
    """A deterministic answer that differs for every distinct last message."""
    messages = body.get("messages") or [{}]
    last = str(messages[-1].get("content", ""))
    return "answer " + hashlib.sha256(last.encode()).hexdigest()[:12]


def main(argv: list[str] | None = None) -> None:
    """Serve in this process until its stdin closes.

    Run it as ``python -c "from optimizers.llm.fakeserver import main; main()" --latency 0.2``.

    Prints the base URL on the first line of stdout; every request gets :func:`hashed_answer`.
    Running the server in its own process keeps its work off the client's interpreter lock.
    """
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    with FakeOpenAIServer(responder=hashed_answer, latency=args.latency) as server:
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            sys.stdin.read()  # until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main()
