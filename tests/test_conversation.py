from qabot.answer.conversation import resolve


def test_no_history_means_no_context() -> None:
    turn = resolve("Who is Israel's defense minister?")
    assert turn.context == "" and turn.resolved == "Who is Israel's defense minister?"


def test_follow_up_carries_the_last_question() -> None:
    turn = resolve(
        "And what did he say about aid?",
        ["Who met Gallant?", "How did Austin describe casualties?"],
    )
    assert turn.context == "How did Austin describe casualties?"
    assert turn.leans_back
    assert "Austin" in turn.resolved


def test_follow_up_carries_the_names_the_earlier_answer_gave() -> None:
    turn = resolve(
        "And who did he meet on Tuesday?", ["Who is Israel's defense minister?"], ["Yoav Gallant"]
    )
    assert turn.leans_back and turn.referents == ("Yoav Gallant",)
    assert turn.retrieval_context == "Who is Israel's defense minister? Yoav Gallant"
    # a question that stands alone is read alone, whatever the chat asked before
    alone = resolve(
        "How many people live in the southern Gaza city of Rafah?",
        ["Who is Israel's defense minister?"],
        ["Yoav Gallant"],
    )
    assert not alone.leans_back and alone.referents == () and alone.context == ""
    assert alone.resolved == "How many people live in the southern Gaza city of Rafah?"
