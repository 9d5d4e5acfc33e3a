from qabot.conversation import resolve


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
