"""The Gradio page: upload, damage or paint, Restore, and the results side by side.

Only layout and wiring live here; webapp/handlers.py does the work. The elem_ids are what the
browser test (tests/test_webapp_browser.py) finds the controls by.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from trainers.restore_service import MAX_SIDE, MODEL_MAX_SIDE, Restorer
from webapp.handlers import MODES, SEEDED, load_upload, restore_upload

MAX_FILE_SIZE = "50mb"  # refused by Gradio before it reaches the handlers
INTRO = f"""# ChromaFill: restore a damaged photo

Upload a colour photo and damage it here (a random DACON-style hole, or one you paint with the brush),
or upload a photo that is already damaged (gray, with one region filled with a constant gray).
**Restore** fills the hole and colourises the photo on the CPU. Photos above {MODEL_MAX_SIDE} px on the
long side are restored at {MODEL_MAX_SIDE} px with their colour upsampled onto the full-resolution
gray; photos above {MAX_SIDE} px are refused."""
UNCERTAINTY_HELP = "Colour uncertainty: entropy of the chroma-bin distribution (dark = sure, yellow = unsure)"


def build_page(restorer: Restorer, out_dir: Path | None = None) -> gr.Blocks:
    """The page for `restorer`; restored PNGs are written under `out_dir` (a temporary folder by default)."""
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="chromafill_app_"))
    with gr.Blocks(title="ChromaFill") as page:
        gr.Markdown(INTRO)
        gr.Markdown(f"Model: `{restorer.label}`")
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="Photo (PNG or JPEG)", file_types=["image"], type="filepath", elem_id="upload")
                canvas = gr.ImageEditor(label="Paint a hole (brush), for the 'paint' modes", type="numpy", sources=(),
                                        layers=False, transforms=(), brush=gr.Brush(colors=["#ff3030"], color_mode="fixed"),
                                        elem_id="canvas")
                mode = gr.Radio([(label, key) for key, label in MODES.items()], value=SEEDED, label="Damage", elem_id="mode")
                seed = gr.Number(value=0, precision=0, minimum=0, label="Seed of the random hole", elem_id="seed")
                button = gr.Button("Restore", variant="primary", elem_id="restore")
                status = gr.Markdown("Upload a photo (PNG or JPEG).", elem_id="status")
            with gr.Column(scale=2):
                with gr.Row():
                    input_view = gr.Image(label="Input (hole outlined)", format="png", interactive=False, elem_id="input_view")
                    restored = gr.Image(label="Restoration", format="png", interactive=False, elem_id="restored")
                    original = gr.Image(label="Original", format="png", interactive=False, elem_id="original")
                uncertainty = gr.Image(label=UNCERTAINTY_HELP, format="png", interactive=False, elem_id="uncertainty")
                score = gr.Markdown(elem_id="score")
                download = gr.File(label="Restored PNG", interactive=False, elem_id="download")

        def on_upload(path: str | None) -> tuple[Any, Any, str]:
            loaded = load_upload(path)
            canvas_value = None if loaded.canvas is None else {"background": loaded.canvas, "layers": [], "composite": loaded.canvas}
            return canvas_value, (gr.update() if loaded.mode is None else loaded.mode), loaded.status

        def on_restore(path: str | None, editor: dict | None, mode_key: str, seed_value: float | None) -> tuple:
            out = restore_upload(restorer, path, editor, mode_key, seed_value, out_dir)
            png = None if out.png is None else str(out.png)
            return out.input_view, out.restored, out.original, out.uncertainty, out.score_markdown, png, out.status

        upload.change(on_upload, upload, [canvas, mode, status], api_name="load")
        button.click(on_restore, [upload, canvas, mode, seed],
                     [input_view, restored, original, uncertainty, score, download, status], api_name="restore")
    return page
