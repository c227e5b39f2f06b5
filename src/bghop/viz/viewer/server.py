"""A local HTTP server for the viewer page (``bghop view`` without ``--static``)."""

from __future__ import annotations

import logging
import os
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bghop.viz.viewer.data import ViewerError

logger = logging.getLogger(__name__)

__all__ = ["ViewerServer", "serve_viewer"]


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files like the stdlib handler, logging requests at debug level instead of to stderr."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        logger.debug("http: " + format, *args)


class ViewerServer(ThreadingHTTPServer):
    """A local HTTP server for one folder (the viewer page is its ``index.html``)."""

    @property
    def url(self) -> str:
        """``http://host:port/`` of the bound socket."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def serve_viewer(directory: str | os.PathLike, host: str = "127.0.0.1", port: int = 0) -> ViewerServer:
    """A (not yet running) server for ``directory``; call ``serve_forever()`` and ``server_close()``.

    Args:
        directory: folder holding ``index.html``.
        host: interface to bind (local only by default).
        port: TCP port (0 picks a free one).
    Returns:
        the bound server.
    Raises:
        ViewerError: the port cannot be bound.
    """
    handler = partial(_QuietHandler, directory=str(directory))
    try:
        return ViewerServer((host, port), handler)
    except OSError as e:
        raise ViewerError(f"cannot listen on {host}:{port}: {e.strerror or e} "
                          "(try another --port; 0 picks a free one)") from e
