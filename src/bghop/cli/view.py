"""``bghop view DIR…``: an interactive 3D viewer of result folders in the browser."""

from __future__ import annotations

import argparse

from bghop.cli.checks import check_out_file, int_in
from bghop.cli.main import add_common, user_errors


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="interactive 3D viewer of result folders in the browser",
                       description="Show result folders (DIR/<k>/object.obj, right_hand.obj, left_hand.obj, "
                                   "hands.json) in the browser: object and both hands, a list of samples with "
                                   "their metrics, toggles for contact points and penetration. The page is one "
                                   "self-contained HTML file that works offline. Without --static it is served on "
                                   "localhost until Ctrl-C.")
    p.add_argument("folders", nargs="+", metavar="DIR", help="result folders (or single sample folders)")
    p.add_argument("--static", metavar="OUT.html", default=None,
                   help="write the page to this file and exit (share results as one file)")
    p.add_argument("--port", type=int_in(0, 65535), default=8000, help="port of the local server (default 8000; 0 = any free)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser, just print the URL")
    p.add_argument("--title", default=None, help="page title (default: the folder names)")
    add_common(p, _view)


def _view(args: argparse.Namespace) -> int:
    import shutil
    import tempfile
    import webbrowser
    from pathlib import Path

    from bghop.viz.viewer import ViewerError, serve_viewer, write_viewer

    if args.static:
        check_out_file(args.static, args, inputs=args.folders, ours=_is_viewer_page, what="--static")
        with user_errors(ViewerError):
            out = write_viewer(args.folders, args.static, title=args.title)
        print(out)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bghop-view-"))
    try:
        with user_errors(ViewerError):
            write_viewer(args.folders, tmp / "index.html", title=args.title)
            server = serve_viewer(tmp, port=args.port)
        try:
            print(f"serving {len(args.folders)} folder(s) at {server.url}  (Ctrl-C stops)", flush=True)
            if not args.no_browser:
                webbrowser.open(server.url)
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped")
        finally:
            server.server_close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _is_viewer_page(path) -> bool:
    """``path`` is a page ``bghop view --static`` wrote."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "bghop" in f.read(4096)
    except OSError:
        return False
