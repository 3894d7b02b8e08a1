"""QR code images for scan-to-pay, drawn with segno: an SVG with no external resources and a PNG."""

from __future__ import annotations

import io

import segno

#: Quiet zone in modules; the QR standard asks for four.
BORDER = 4


def render(code: str, scale: int) -> tuple[str, bytes]:
    """(svg, png) of `code` at `scale` pixels per module. Medium error correction, never a Micro QR.

    The SVG keeps its namespace and has no XML declaration, so it works both as a file (an <img> data
    URI) and pasted inline into HTML.
    """
    qr = segno.make(code, error="m", micro=False)
    svg = io.BytesIO()
    qr.save(svg, kind="svg", xmldecl=False, svgns=True, nl=False, scale=scale, border=BORDER,
            dark="#000", light="#fff", title="Alipay QR code")
    png = io.BytesIO()
    qr.save(png, kind="png", scale=scale, border=BORDER)
    return svg.getvalue().decode("utf-8"), png.getvalue()
