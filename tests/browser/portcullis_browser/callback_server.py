"""The relying party's loopback redirect target (RFC 8252 §7.3: any port on 127.0.0.1).

The issuer redirects the browser to /callback (authorization responses) and
/logged-out (post-logout redirects); this server records every such hit so a
step can check the query the issuer sent, and answers anything else with 404.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

REDIRECT_PATHS = ("/callback", "/logged-out")


@dataclass
class Hit:
    path: str
    query: dict[str, str]


class CallbackServer:
    """Loopback redirect target: records every /callback and /logged-out hit."""

    def __init__(self) -> None:
        hits: queue.Queue[Hit] = queue.Queue()
        self._hits = hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                if parts.path not in REDIRECT_PATHS:
                    self.send_response(404)
                    self.end_headers()
                    return
                query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                hits.put(Hit(parts.path, query))
                body = f"<!doctype html><title>rp</title><p id=rp>{parts.path}</p>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.callback = f"{base}/callback"
        self.logged_out = f"{base}/logged-out"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def clear(self) -> None:
        while self.take() is not None:
            pass

    def take(self) -> Hit | None:
        try:
            return self._hits.get_nowait()
        except queue.Empty:
            return None

    def has_hits(self) -> bool:
        return not self._hits.empty()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
