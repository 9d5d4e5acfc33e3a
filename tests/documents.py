"""Small real files of each format, made in the test: PDF (written by hand, one text line a
page line), Word (python-docx), HTML and Markdown."""

from __future__ import annotations

import io


def pdf(pages: list[list[str]], maps: dict[str, str] | None = None) -> bytes:
    """A PDF whose pages hold these lines of text (Helvetica, a real text layer).

    ``maps``: characters the font's ToUnicode map sends elsewhere (as a damaged or careless
    PDF does, to a lone surrogate say); its stream is the last object.
    """
    objects: list[bytes] = []
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    to_unicode = f" /ToUnicode {4 + 2 * len(pages)} 0 R" if maps else ""
    objects.append(f"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica{to_unicode} >>".encode())
    for i, lines in enumerate(pages):
        content = "BT /F1 11 Tf 14 TL 40 760 Td " + " ".join(
            "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
            for line in lines
        )
        stream = (content + " ET").encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    if maps:
        pairs = "".join(f"<{ord(k):02X}> <{ord(v):04X}>\n" for k, v in maps.items())
        cmap = (
            "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /M def "
            "1 begincodespacerange <00> <FF> endcodespacerange "
            f"{len(maps)} beginbfchar\n{pairs}endbfchar endcmap CMapName currentdict "
            "/CMap defineresource pop end end"
        ).encode()
        objects.append(f"<< /Length {len(cmap)} >>\nstream\n".encode() + cmap + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def encrypted_pdf(pages: list[list[str]]) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(pages))))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def blank_pdf() -> bytes:
    """A PDF with a page and no text layer: what a scan without OCR is."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx(paragraphs: list[str]) -> bytes:
    from docx import Document

    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def html(title: str, paragraphs: list[str]) -> bytes:
    """A news page: navigation, the article, comments and a footer."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
        f"{title}</title></head><body><nav><a href='/'>Home</a> <a href='/world'>World</a>"
        f"</nav><article><h1>{title}</h1>{body}</article><section class='comments'>"
        "<h3>Leave a reply</h3><p>Great read, thanks!</p></section><footer>© 2026 The "
        "Harbour Gazette. All rights reserved.</footer></body></html>"
    ).encode()
