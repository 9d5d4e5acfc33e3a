from qabot import tokens


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
