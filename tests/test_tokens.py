from qabot.search import tokens

from .conftest import seed_paragraph_texts


def test_words_fold_acronyms_and_possessives() -> None:
    assert tokens.words("The U.S. and Israel’s six-week truce") == [
        "the",
        "us",
        "and",
        "israel",
        "six",
        "week",
        "truce",
    ]


def test_terms_drop_stopwords_and_stem() -> None:
    assert tokens.terms("Who leads the meetings?") == ["lead", "meet"]


def test_fold_removes_accents_and_case() -> None:
    assert tokens.fold("Centré") == "centre"


def test_plain_words_skip_the_rules_without_changing_the_result() -> None:
    # words() keeps letters-and-digits words as they are and sends only the others through
    # the rules; on every seed paragraph (and odd words) that must be what the rules give.
    texts = [*seed_paragraph_texts(), "snake_case x² Ⅻ l'été U.N.'s co-op ’90s rock-’n’-roll."]
    for text in texts:
        ruled = [p for w in tokens._WORD.findall(tokens.fold(text)) for p in tokens._parts(w)]
        assert tokens.words(text) == ruled
    assert tokens.words("l'été U.N.'s co-op") == ["l", "ete", "un", "s", "co", "op"]


def test_the_c_stemmer_gives_snowballs_stems() -> None:
    # The index stores stems: the C stemmer it uses must stem as Snowball's Python one does,
    # on the seeds' words and on made-up words with accents and apostrophes.
    import random

    from snowballstemmer.english_stemmer import EnglishStemmer

    stemmer = tokens._stemmer()
    assert type(stemmer).__module__ == "Stemmer"  # PyStemmer, not the Python fallback
    rng = random.Random(0)
    made_up = ["".join(rng.choices("abcdeilnorstuyéü'", k=rng.randint(1, 12))) for _ in range(5000)]
    words = sorted(tokens.vocabulary(seed_paragraph_texts())) + made_up
    python = EnglishStemmer()
    assert [stemmer.stemWord(w) for w in words] == [python.stemWord(w) for w in words]
