"""A stand-in for llama.cpp inside the shared-server process, for tests without the weights.

``python -m optimizers.llm.local.server_process --backend _fake_llama_backend:start`` serves
this tiny HTTP server instead of loading a model: ``GET /v1/models`` and ``POST
/v1/chat/completions``
answer only with the right key, like the real server, and the reply names the server's pid.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    api_key = ""

    def _send(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.api_key}":
            return True
        self._send(401, {"error": {"message": "Invalid API Key"}})
        return False

    def do_GET(self) -> None:
        if self._authorized():
            self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self._authorized():
            return
        message = {"role": "assistant", "content": f"served by pid {os.getpid()}"}
        usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        self._send(
            200,
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "fake",
                "choices": [choice],
                "usage": usage,
            },
        )

    def log_message(self, *args: object) -> None:
        pass


class FakeBackend:
    """An HTTP server on 127.0.0.1, a port picked by the OS, in a daemon thread."""

    def __init__(self, api_key: str) -> None:
        handler = type("Handler", (_Handler,), {"api_key": api_key})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def start(args: argparse.Namespace, api_key: str) -> FakeBackend:
    """The backend factory named on the server's command line."""
    if args.model.endswith("fail.gguf"):
        raise RuntimeError("fake load failure: model file is damaged")
    return FakeBackend(api_key)
