from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from qabot.ingest.cleaning import clean, split_blocks, title_of
from qabot.ingest.loading import read_document, scan
from qabot.records import Document

SEEDS = Path(__file__).parent.parent / "seeds"

# Site chrome present in the seed files: none of it may survive cleaning.
CHROME = [
    "Leave a Reply",
    "Related Articles",
    "TOP 10 TRENDING",
    "Popular Categories",
    "error: Content is protected",
    "Back to top button",
    "Follow us on Google news",
    "See also",
    "Surja, a dedicated blog writer",
    "Your email address will not be published",
    "The beauty of the Milky Way",
    "Source link",
    "Yove Gallant (AP Photo",
    "Pentagon Chief Lloyd Austin (REUTERS",
]


def seed_documents() -> list[Document]:
    stats, _ = scan(SEEDS)
    return [d for d in (read_document(s) for s in stats) if isinstance(d, Document)]


def test_offsets_are_exact_on_the_seeds() -> None:
    for doc in seed_documents():
        for block in clean(doc):
            assert doc.text[block.start : block.end] == block.text


def test_site_chrome_is_dropped() -> None:
    for doc in seed_documents():
        kept = "\n".join(b.text for b in clean(doc))
        for chrome in CHROME:
            assert chrome not in kept, (doc.name, chrome)


def test_article_text_is_kept() -> None:
    kept = {d.name: "\n".join(b.text for b in clean(d)) for d in seed_documents()}
    assert (
        "VOA’s Jeff Seldin and Nike Ching contributed to this report."
        in kept["003_62429cb743f4ab61.txt"]
    )
    assert "With its nuclear ambitions" in kept["000_816a538e2e2ec7f8.txt"]
    assert "March 26, 2024, at the Pentagon" in kept["004_5b45645508210cee.txt"]


def test_a_caption_printed_twice_is_kept_once() -> None:
    doc = next(d for d in seed_documents() if d.name.startswith("003"))
    caption = "Palestinians inspect damage to residential buildings"
    assert doc.text.count(caption) == 2
    assert sum(caption in b.text for b in clean(doc)) == 1


def test_titles() -> None:
    titles = {d.name[:3]: title_of(d, clean(d)) for d in seed_documents()}
    assert titles["002"] == "Israeli Defense Minister Visits US Amid Tensions Over Gaza War"
    assert titles["004"].startswith("Defense leaders from Israel")  # not the "USA" label


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_blocks_are_exact_ordered_and_in_bounds(text: str) -> None:
    doc = Document("x.txt", text, "0", len(text), 0)
    last = 0
    for start, end in split_blocks(text):
        assert last <= start < end <= len(text)
        last = end
    for block in clean(doc):
        assert text[block.start : block.end] == block.text


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
            st.sampled_from(["\n\n", "\n \t\n", "Related Articles", "(AP Photo)", "# Head\n"]),
        ),
        max_size=30,
    ).map("".join)
)
def test_kept_blocks_are_stripped_ordered_and_disjoint(text: str) -> None:
    doc = Document("x.txt", text, "0", len(text), 0)
    last = 0
    for block in clean(doc):
        assert last <= block.start < block.end <= len(text)
        assert text[block.start : block.end] == block.text == block.text.strip()
        last = block.end
    title_of(doc, clean(doc))  # never fails, whatever the text


def test_page_furniture_rules_apply_to_scraped_text_not_to_written_documents() -> None:
    text = (
        "Harbour report 2026\n\nThe breakwater will be finished in 2028, the board said.\n\n"
        "Costs rose by a third over the year because steel prices climbed.\n\n"
        "Recommended reading\n\nThe board's own history of the harbour, from 1890 on.\n\n"
        "Copyright of the photographs lies with the city archive.\n"
    )

    def kept(kind: str) -> list[str]:
        doc = Document("report", text, "0" * 64, len(text), 0, kind)
        return [b.text for b in clean(doc)]

    written = kept("docx")
    assert "The board's own history of the harbour, from 1890 on." in written
    assert "Copyright of the photographs lies with the city archive." in written
    scraped = kept("text")  # a saved web page: "Recommended" starts the footer
    assert "The board's own history of the harbour, from 1890 on." not in scraped
    assert scraped[:2] == written[:2]
