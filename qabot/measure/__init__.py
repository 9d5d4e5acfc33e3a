"""Measuring qabot: its accuracy (``qabot eval``) here, its speed (``qabot bench``) in ``speed``.

Accuracy, in the order a run goes: ``questions`` (question sets in JSON Lines), ``runner``
(a set through ``QABot.ask``, or the retriever alone), ``judge`` (one answer checked against
its question), ``metrics`` (SQuAD answer matching, ranking metrics), ``reports`` (judgements
averaged, overall and per question type), ``tables`` (text tables and ``--compare``);
``public_sets`` turns SQuAD and SciFact into corpora and question sets, read from where
``locations`` says.

Only the CLI's ``eval`` and ``bench`` commands import this package: the pipeline never
depends on how it is measured.
"""
