"""context_relevance and groundedness: skip without context, separate supported from unsupported."""

from __future__ import annotations

import pytest

from processor.model import EvalCase, Outcome
from processor.scorers import build_scorer
from processor.scorers.config import ScorerSpec

POLICY_EN = (
    "Refund policy v3: annual plans are refundable within 30 days of purchase. "
    "Monthly plans are not refundable.",
    "Shipping: parcels to Canada arrive in 5 to 8 business days.",
)
POLICY_DE = ("Rückgaberichtlinie v2: Das Rückgaberecht gilt 14 Tage ab Kauf. Gutscheine sind ausgenommen.",)
POLICY_FR = (
    "Politique de remboursement v3 : les abonnements annuels sont remboursables sous 30 jours après l'achat.",
)


@pytest.fixture
def groundedness():
    return build_scorer(ScorerSpec(name="groundedness"))


@pytest.fixture
def context_relevance():
    return build_scorer(ScorerSpec(name="context_relevance"))


@pytest.mark.parametrize("name", ["groundedness", "context_relevance"])
@pytest.mark.parametrize("ctx", [(), ("",), ("  ", "\n")])
def test_no_context_is_skipped(name, ctx):
    scorer = build_scorer(ScorerSpec(name=name))
    score = scorer(EvalCase(input="What is the refund window?", output="30 days.", context=ctx))
    assert score.outcome is Outcome.SKIPPED
    assert score.reason == "no_context"


@pytest.mark.parametrize(
    ("context", "supported", "unsupported"),
    [
        (
            POLICY_EN,
            "Annual plans can be refunded within 30 days of purchase, per refund policy v3.",
            "Our office in Dublin is open Monday to Friday.",
        ),
        (
            POLICY_DE,
            "Das Rückgaberecht gilt 14 Tage ab Kauf (Richtlinie v2).",
            "Unsere App gibt es für iOS und Android.",
        ),
        (
            POLICY_FR,
            "Les abonnements annuels sont remboursables dans les 30 jours suivant l'achat.",
            "Nos bureaux ferment à 18 h le vendredi.",
        ),
    ],
)
def test_groundedness_separates_supported_from_unsupported(groundedness, context, supported, unsupported):
    good = groundedness(EvalCase(input="q", output=supported, context=context))
    bad = groundedness(EvalCase(input="q", output=unsupported, context=context))
    assert good.passed is True
    assert bad.passed is False
    assert good.value > bad.value


@pytest.mark.parametrize(
    ("context", "right", "wrong_figures"),
    [
        (
            POLICY_EN,
            "Annual plans can be refunded within 30 days of purchase, per refund policy v3.",
            "Annual plans can be refunded within 60 days of purchase, per refund policy v2.",
        ),
        (
            POLICY_DE,
            "Das Rückgaberecht gilt 14 Tage ab Kauf (Richtlinie v2).",
            "Das Rückgaberecht gilt 30 Tage ab Kauf (Richtlinie v3).",
        ),
    ],
)
def test_wrong_numbers_or_policy_versions_fail_groundedness(groundedness, context, right, wrong_figures):
    # The opening bug of the seed article: fluent answers citing the wrong policy version.
    good = groundedness(EvalCase(input="q", output=right, context=context))
    bad = groundedness(EvalCase(input="q", output=wrong_figures, context=context))
    assert good.passed is True
    assert bad.passed is False
    assert "0 of 2 numbers" in bad.explanation


def test_groundedness_of_empty_answer_is_zero(groundedness):
    score = groundedness(EvalCase(input="q", output="", context=POLICY_EN))
    assert score.outcome is Outcome.SCORED
    assert score.value == 0.0


def test_groundedness_explanation_never_quotes_the_answer(groundedness):
    answer = "Annual plans can be refunded within 60 days, says policy v9."
    score = groundedness(EvalCase(input="q", output=answer, context=POLICY_EN))
    assert "60" not in score.explanation and "v9" not in score.explanation


@pytest.mark.parametrize(
    ("question", "context"),
    [
        ("What is the refund window for annual plans?", POLICY_EN),
        ("Wie lange gilt das Rückgaberecht?", POLICY_DE),
        ("Quel est le délai de remboursement des abonnements annuels ?", POLICY_FR),
    ],
)
def test_context_relevance_passes_on_topic_documents(context_relevance, question, context):
    score = context_relevance(EvalCase(input=question, output="", context=context))
    assert score.passed is True


@pytest.mark.parametrize(
    ("question", "context"),
    [
        ("How do I reset my password?", POLICY_EN),
        ("Wie kann ich mein Passwort zurücksetzen?", POLICY_DE),
        ("Comment réinitialiser mon mot de passe ?", POLICY_FR),
    ],
)
def test_context_relevance_fails_off_topic_documents(context_relevance, question, context):
    score = context_relevance(EvalCase(input=question, output="", context=context))
    assert score.passed is False


def test_context_relevance_takes_the_best_document(context_relevance):
    question = "How long does shipping to Canada take?"
    only_refunds = context_relevance(EvalCase(input=question, output="", context=POLICY_EN[:1]))
    with_shipping = context_relevance(EvalCase(input=question, output="", context=POLICY_EN))
    assert with_shipping.value > only_refunds.value
    assert with_shipping.passed is True


@pytest.mark.parametrize(("name", "default"), [("groundedness", 0.6), ("context_relevance", 0.5)])
def test_default_and_configured_thresholds(name, default):
    assert build_scorer(ScorerSpec(name=name)).threshold == default
    assert build_scorer(ScorerSpec(name=name, threshold=0.9)).threshold == 0.9
