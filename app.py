"""The web app: `python app.py [--checkpoint PATH] [--host 127.0.0.1] [--port 7860]`, then open the printed address.

Needs the `app` extra (`pip install -e ".[app]"`: Gradio). Without --checkpoint it serves the
bundled model (weights/chromafill.pt), so a fresh clone restores photos without training.
"""

from __future__ import annotations

import argparse
import os

from trainers.bundled_name import BUNDLED
from utils.cli import run_cli
from utils.errors import ChromaFillError



def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Serve a web page that restores one photo at a time on the CPU: damage a colour photo (a random "
        "DACON-style hole, or one you paint) or upload a damaged gray one, then see the restoration, its colour "
        "uncertainty and, when the original is known, its competition score.",
        epilog="example: python app.py   (the bundled model, http://127.0.0.1:7860)",
    )
    parser.add_argument("--checkpoint", default=BUNDLED, help="a ChromaFill checkpoint, an exported .onnx, or `bundled` "
                        "(the default): the model shipped in weights/chromafill.pt")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port: got {args.port}, expected 1..65535")
    return args


def main() -> int:
    args = parse_args()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home: the page works offline
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ChromaFillError("the web app needs Gradio: pip install -e \".[app]\"") from None
    from trainers.bundled import resolve_model
    from trainers.restore_service import load_restorer
    from webapp.page import MAX_FILE_SIZE, build_page

    restorer = load_restorer(resolve_model(args.checkpoint))  # before serving: a bad model file fails in a second
    page = build_page(restorer)
    print(f"serving {restorer.label} at http://{args.host}:{args.port} (Ctrl-C stops)", flush=True)
    page.queue(default_concurrency_limit=1).launch(server_name=args.host, server_port=args.port, max_file_size=MAX_FILE_SIZE,
                                                   show_error=False, quiet=True, footer_links=["api"])
    return 0


if __name__ == "__main__":
    run_cli(main)
