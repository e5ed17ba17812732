"""relevance: separates on-topic from off-topic answers in English, German and French."""

from __future__ import annotations

import pytest

from processor.model import EvalCase, Outcome
from processor.scorers import build_scorer
from processor.scorers._text import content_terms, word_match, words
from processor.scorers.config import ScorerSpec
from processor.scorers.relevance import DEFAULT_THRESHOLD, relevance_value
from tests.scorers.relevance_table import TABLE

TRIPLES = [(lang, *row) for lang, rows in TABLE.items() for row in rows]


@pytest.fixture
def scorer():
    return build_scorer(ScorerSpec(name="relevance"))


@pytest.mark.parametrize("lang", sorted(TABLE))
def test_table_has_enough_realistic_triples_per_language(lang):
    assert len(TABLE[lang]) >= 5


@pytest.mark.parametrize(("lang", "question", "on_topic", "off_topic"), TRIPLES)
def test_on_topic_answer_outscores_off_topic(scorer, lang, question, on_topic, off_topic):
    on = scorer(EvalCase(input=question, output=on_topic))
    off = scorer(EvalCase(input=question, output=off_topic))
    assert on.outcome is Outcome.SCORED and off.outcome is Outcome.SCORED
    assert on.value > off.value, (lang, question)


@pytest.mark.parametrize("lang", sorted(TABLE))
def test_default_threshold_passes_on_topic_and_fails_off_topic_for_most(scorer, lang):
    decisions = []
    for question, on_topic, off_topic in TABLE[lang]:
        decisions.append(scorer(EvalCase(input=question, output=on_topic)).passed is True)
        decisions.append(scorer(EvalCase(input=question, output=off_topic)).passed is False)
    assert sum(decisions) / len(decisions) >= 0.85, f"{lang}: {decisions}"


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        (
            "What is the refund window for annual plans?",
            "Annual plans can be refunded within 30 days of purchase, per refund policy v3.",
        ),
        ("Wie lange gilt das Rückgaberecht?", "Das Rückgaberecht gilt 14 Tage ab Kauf (Richtlinie v2)."),
    ],
)
def test_fixture_pairs_pass_the_default_threshold(scorer, question, answer):
    score = scorer(EvalCase(input=question, output=answer))
    assert score.threshold == DEFAULT_THRESHOLD == 0.5
    assert score.passed is True


@pytest.mark.parametrize("answer", ["", "   ", "?!"])
def test_empty_answer_scores_zero(scorer, answer):
    score = scorer(EvalCase(input="How do I reset my password?", output=answer))
    assert score.outcome is Outcome.SCORED
    assert score.value == 0.0
    assert score.passed is False


def test_question_without_words_is_skipped(scorer):
    score = scorer(EvalCase(input="?", output="Anything."))
    assert score.outcome is Outcome.SKIPPED
    assert score.reason == "no_question"


def test_deterministic(scorer):
    case = EvalCase(
        input="Wie kündige ich meinen Vertrag?", output="Den Vertrag kündigen Sie im Kundenkonto."
    )
    assert {scorer(case).value for _ in range(5)} == {scorer(case).value}


def test_language_without_stopword_list_still_separates():
    # Polish has no stopword list here: it still works, its function words just count as words.
    question = "Jak zresetować hasło do konta?"
    on = relevance_value(
        question, "Aby zresetować hasło, kliknij „Nie pamiętam hasła” na stronie logowania konta."
    )
    off = relevance_value(question, "Nasze biuro jest otwarte od poniedziałku do piątku.")
    assert on > 0.5 > off


def test_space_less_scripts_are_compared_by_character_bigrams():
    question = "年度プランの返金期間は\uff1f"
    on = relevance_value(question, "年度プランは購入後30日以内に返金できます。")
    off = relevance_value(question, "営業時間は平日9時から17時です。")
    assert on > off
    assert on >= 0.5


def test_accents_width_and_case_are_normalised():
    full_width = "\uff21\uff22\uff2f\uff2e\uff2e\uff25\uff2d\uff25\uff2e\uff34"  # full-width ABONNEMENT
    assert words(f"Résilier {full_width} Straße") == ["resilier", "abonnement", "strasse"]


def test_stopwords_dropped_but_never_everything():
    assert content_terms("How do I reset my password?").words == ("reset", "password")
    assert content_terms("what is it?").words == ("what", "is", "it")


@pytest.mark.parametrize(
    ("a", "b", "matches"),
    [
        ("refund", "refunded", True),
        ("remboursement", "rembourser", True),
        ("laufzeit", "vertragslaufzeit", True),
        ("ruckgaberecht", "ruckgabe", True),
        ("plan", "explanation", False),
        ("v2", "v3", False),
        ("14", "30", False),
        ("card", "care", False),
    ],
)
def test_word_match_stems_and_compounds_but_not_numbers(a, b, matches):
    assert (word_match(a, b) > 0) is matches


def test_stopwords_can_be_turned_off_and_extended():
    plain = build_scorer(ScorerSpec(name="relevance"))
    extended = build_scorer(ScorerSpec(name="relevance", params={"extra_stopwords": ["password"]}))
    case = EvalCase(input="How do I reset my password?", output="Your password is stored safely.")
    # With "password" a stopword, only "reset" is left to match, and the answer lacks it.
    assert extended(case).value < plain(case).value
    no_lists = build_scorer(ScorerSpec(name="relevance", params={"stopwords": False}))
    assert no_lists(case).value != plain(case).value
