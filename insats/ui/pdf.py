"""HTML → PDF with WeasyPrint, for the compensation basis and the statistics report.

The PDF is a rendering of a file whose bytes are fixed (a closed run's basis, hashed in the
run): it is made on request and is not itself one of the run's files. Nothing is fetched while
rendering: every resource request is refused (the documents carry their styles inline)."""

from __future__ import annotations

from typing import Any


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ValueError(f"no external resources while rendering a PDF ({url[:60]})")


def html_to_pdf(html: bytes) -> bytes:
    """OSError when WeasyPrint's system libraries (Pango) are missing."""
    from weasyprint import HTML  # imported on first use: it loads Pango

    pdf: bytes = HTML(string=html.decode("utf-8"), url_fetcher=_no_fetch).write_pdf()
    return pdf
