"""Words and BM25 terms: one tokenizer shared by indexing and querying."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache

import snowballstemmer

# Words, keeping acronyms with dots ("U.S.") and inner hyphens/apostrophes together at first.
_WORD = re.compile(r"\w+(?:[.'’\-]\w+)*\.?")
_POSSESSIVE = re.compile(r"['’]s$")
_INNER = re.compile(r"[.'’\-]+")

# Function words that carry no evidence. "us" is kept: after folding it is mostly "U.S.".
STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your
    yours yourself yourselves also according said says say did does whether s t
    """.split()  # noqa: SIM905
)


@cache
def _stemmer() -> snowballstemmer.stemmer:
    """Snowball's English stemmer: PyStemmer's C build, which snowballstemmer returns when it
    is installed (a dependency); stemming the words of a large index took minutes in Python."""
    return snowballstemmer.stemmer("english")


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a string (for matching, never for display)."""
    if text.isascii():  # most text: no accents to drop, and casefold() is lower() (3x faster)
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """Folded surface words: "U.S." -> "us", "Israel’s" -> "israel", "six-week" -> six, week.

    Most words are letters and digits alone and are kept as they are; only the others go
    through the rules (two regexes a word were most of writing a large index's vocabulary).
    """
    out: list[str] = []
    for w in _WORD.findall(fold(text)):
        if w.isalnum():
            out.append(w)
        else:
            out += _parts(w)
    return out


def _parts(word: str) -> list[str]:
    """The words in one match of ``_WORD`` that holds punctuation (or an underscore)."""
    w = _POSSESSIVE.sub("", word)
    if "." in w.rstrip("."):  # an acronym such as u.s. or u.n.
        return [w.replace(".", "")]
    return [p for p in _INNER.split(w) if p]


@lru_cache(maxsize=1 << 18)
def stem(word: str) -> str:
    """Snowball stem, memoised: the answerer stems every word of every candidate sentence
    for every question (the pure-Python stemmer was most of a question's time; a cache hit
    still takes half as long as the C stemmer)."""
    return _stemmer().stemWord(word)


def content_words(text: str) -> set[str]:
    """Words the answerer compares by meaning (soft matching): no stopwords, 3+ letters.
    The index embeds every one of them in the corpus once, so questions need not."""
    return {w for w in words(text) if w not in STOPWORDS and len(w) > 2}


def terms(text: str) -> list[str]:
    """BM25 terms: stems of content words."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def vocabulary(texts: Iterable[str]) -> dict[str, str]:
    """Surface words of ``texts`` (folded, no stopwords) -> their BM25 stem, in order of first
    use: what fuzzy spelling expansion searches. Built at index time and stored."""
    vocab: dict[str, str] = {}
    for text in texts:
        for w in words(text):
            if w not in vocab and w not in STOPWORDS:
                vocab[w] = stem(w)
    return vocab


# Words a letter or two apart that name different things ("tuesday"/"thursday",
# "june"/"july"): fuzzy matching must never treat one as a misspelling of another.
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday"
_MONTHS = "january february march april may june july august september october november december"
_CLOSED_CLASSES = (frozenset(_WEEKDAYS.split()), frozenset(_MONTHS.split()))


def closed_class(word: str) -> bool:
    return any(word in cls for cls in _CLOSED_CLASSES)


def distinct(a: str, b: str) -> bool:
    """Whether two different words are members of one closed class (weekdays, months)."""
    return a != b and any(a in cls and b in cls for cls in _CLOSED_CLASSES)
