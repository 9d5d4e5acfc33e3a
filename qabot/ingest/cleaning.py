"""Split a scraped article into clean paragraphs, dropping site chrome.

The rules are general ones for scraped news pages, not lists of lines from our seeds:

* a block that *starts* like page furniture ("Leave a Reply", "Related Articles",
  "Follow us on ...", "See also", "Back to top", "Source link", ...) is dropped;
* a footer marker (comments, related/trending lists, social links) in the second half of
  the page ends the article: everything after it is dropped (trending teasers, author bios);
* truncated teasers ("... becomes...") and bare photo credits are dropped;
* a block repeated verbatim (a photo caption printed twice) is kept once;
* an author bio ("X, a dedicated blog writer ...") near the end is dropped.

Offsets are kept exact: every block is ``text[start:end]`` of the original file.
"""

from __future__ import annotations

import re

from qabot.records import Block, Document

_BLOCK_SPLIT = re.compile(r"\n[ \t\r\f\v]*\n")
_WORD = re.compile(r"\w+")

# Page furniture: a short block that begins with one of these is never article text.
_CHROME_START = re.compile(
    r"""^\W*(?:
        leave\ a\ (?:reply|comment) | post\ a\ comment | comments?\b\W*$ |
        your\ email\ address\ will\ not\ be\ published | required\ fields\ are\ marked |
        related\ (?:articles|posts|stories|news|content|topics)\b |
        (?:you\ (?:may|might)\ also\ like) | more\ (?:from|stories|news)\b |
        (?:top\ \d+\ )?trending\b | popular\ (?:categories|posts|stories|articles)\b |
        recommended\ (?:for\ you|stories|articles)\b |
        read\ (?:more|next|also)\b | see\ also\b | also\ read\b |
        follow\ us\b | share\ (?:this|on|via)\b | join\ (?:our\ )?(?:whatsapp|telegram)\b |
        (?:sign\ up|subscribe)\b | newsletter\b |
        back\ to\ top\b | source\ link\b | (?:error:\s*)?content\ is\ protected |
        all\ rights\ reserved | copyright\b | © | advertisement\b | click\ here\b |
        tags?:
    )""",
    re.IGNORECASE | re.VERBOSE,
)

# Markers after which a page holds no more article text (when in its second half).
_FOOTER_START = re.compile(
    r"""^\W*(?:
        leave\ a\ (?:reply|comment) | post\ a\ comment |
        related\ (?:articles|posts|stories|news|content)\b | you\ (?:may|might)\ also\ like |
        (?:top\ \d+\ )?trending\b | popular\ (?:categories|posts|stories)\b |
        more\ (?:from|stories)\b | recommended\b | follow\ us\b | source\ link\b |
        share\ this\b | about\ the\ author\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)

_CREDIT = re.compile(
    r"\((?:[^()]*\b(?i:photo|photos|image|credit|file)\b[^()]*|"
    r"\s*(?:AP|AFP|REUTERS|Reuters|Getty Images|EPA|UPI)(?:/[^()]*)?)\)"
)
_BIO = re.compile(
    r"^[\w .'-]{2,40},\s+(?:an?|our|the)\s+(?:[\w-]+\s+){0,3}"
    r"(?:writer|journalist|reporter|blogger|author|editor|correspondent|contributor)\b",
    re.IGNORECASE,
)
_TEASER_END = re.compile(r"(?:\.\.\.|…)\s*$")
_TERMINAL = re.compile(r"[.!?…\"”’)\]:;]\s*$")
_MD_HEADING = re.compile(r"^#{1,6}\s")

MAX_CHROME_WORDS = 30
MAX_HEADING_WORDS = 16


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def split_blocks(text: str) -> list[tuple[int, int]]:
    """Blank-line separated blocks as ``(start, end)``, trimmed of surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for sep in [*_BLOCK_SPLIT.finditer(text), None]:
        end = sep.start() if sep else len(text)
        chunk = text[pos:end]
        stripped = chunk.strip()
        if stripped:
            left = pos + (len(chunk) - len(chunk.lstrip()))
            spans.append((left, left + len(stripped)))
        if sep:
            pos = sep.end()
    return spans


def _is_chrome(block: str) -> bool:
    if _words(block) <= MAX_CHROME_WORDS and _CHROME_START.search(block):
        return True
    if _TEASER_END.search(block) and _words(block) <= 40:
        return True
    if _CREDIT.search(block) and _words(_CREDIT.sub(" ", block)) <= 4:
        return True  # a bare photo credit such as "Name (AP Photo/X)"
    # a block with no word of two letters or more ("(AP)", "***", "—") carries nothing
    return not any(len(w) >= 2 and not w.isdigit() for w in _WORD.findall(_CREDIT.sub(" ", block)))


def _normal(block: str) -> str:
    return " ".join(block.split()).casefold()


def clean(document: Document) -> list[Block]:
    """Paragraphs of ``document`` that are article text, with exact offsets.

    The rules for page furniture apply to plain text, which is what a scraped page saved
    as text is; the text of a web page is already its article (trafilatura), and a PDF,
    a Word file or Markdown is a document someone wrote, where "Recommended reading"
    starts a section, not the page's footer.
    """
    text = document.text
    spans = split_blocks(text)
    kept: list[Block] = []
    seen: set[str] = set()
    half = len(text) * 0.5
    scraped = document.kind == "text"
    for start, end in spans:
        block = text[start:end]
        if scraped:
            footer = _FOOTER_START.search(block) and _words(block) <= MAX_CHROME_WORDS
            if footer and start >= half:
                break
            if _is_chrome(block) or (start >= half and _BIO.search(block)):
                continue
        key = _normal(block)
        if key in seen:
            continue
        seen.add(key)
        kept.append(Block(document.name, start, end, block, _kind(block)))
    return kept


def _kind(block: str) -> str:
    if _MD_HEADING.match(block):
        return "heading"
    if "\n" not in block and _words(block) <= MAX_HEADING_WORDS and not _TERMINAL.search(block):
        return "heading"
    return "body"


def title_of(document: Document, blocks: list[Block]) -> str:
    """The article's title: its first block of three words or more, else its file name."""
    for block in blocks[:3]:
        if _words(block.text) >= 3:
            return " ".join(block.text.lstrip("# ").split())[:200]
    return document.name
