"""language_match on py3langid's bundled model: offline; wrong language fails; short or unsure skips."""

from __future__ import annotations

import socket

import pytest

from processor.errors import ConfigError
from processor.model import EvalCase, Outcome
from processor.offline.golden import GoldenCase
from processor.offline.outputs import Produced
from processor.offline.runner import Runner
from processor.scorers import build_scorer, build_scorers, run_scorers
from processor.scorers.config import ScorersConfig, ScorerSpec
from processor.scorers.language_match import LanguageMatchScorer, language_identifier, locale_language

# (locale, question, an answer in the same language)
SAME_LANGUAGE = [
    ("en-US", "How do I reset my password?", "Click Forgot password on the login page and follow the link."),
    (
        "de-DE",
        "Wie setze ich mein Passwort zurück?",
        "Klicken Sie auf der Anmeldeseite auf Passwort vergessen.",
    ),
    ("fr-FR", "Comment résilier mon abonnement ?", "Vous pouvez résilier votre abonnement à tout moment."),
    ("es-ES", "¿Cuánto tarda el envío a Francia?", "El envío suele tardar de 5 a 8 días hábiles."),
    (
        "it-IT",
        "Dove posso scaricare le mie fatture?",
        "Può scaricare le sue fatture in PDF dall'area clienti.",
    ),
    ("pt-BR", "Como cancelo a minha assinatura?", "Pode cancelar a sua assinatura a qualquer momento."),
    ("nl-NL", "Hoe lang duurt verzending?", "Internationale verzending duurt meestal 5 tot 8 werkdagen."),
]
ENGLISH_ANSWER = "International shipping usually takes 5 to 8 business days, depending on the country."


@pytest.fixture(scope="module")
def scorer() -> LanguageMatchScorer:
    built = build_scorer(ScorerSpec(name="language_match"))
    assert isinstance(built, LanguageMatchScorer)
    return built


def test_the_model_loads_from_the_wheel_without_network(monkeypatch):
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    fresh = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)  # not the shared instance
    assert fresh.classify("Wie lange dauert der internationale Versand?")[0] == "de"
    score = LanguageMatchScorer("language_match", threshold=0.5)(
        EvalCase(input=SAME_LANGUAGE[1][1], output=SAME_LANGUAGE[1][2])
    )
    assert score.value == 1.0


@pytest.mark.parametrize(("locale", "question", "answer"), SAME_LANGUAGE)
def test_an_answer_in_the_users_language_passes(scorer, locale, question, answer):
    by_question = scorer(EvalCase(input=question, output=answer))
    by_locale = scorer(EvalCase(input="", output=answer, labels={"locale": locale}))
    assert (by_question.value, by_question.passed) == (1.0, True), by_question.explanation
    assert (by_locale.value, by_locale.passed) == (1.0, True), by_locale.explanation


@pytest.mark.parametrize(("locale", "question", "answer"), SAME_LANGUAGE[1:])
def test_an_english_answer_to_another_language_fails(scorer, locale, question, answer):
    by_question = scorer(EvalCase(input=question, output=ENGLISH_ANSWER))
    by_locale = scorer(EvalCase(input="Where is it?", output=ENGLISH_ANSWER, labels={"locale": locale}))
    assert (by_question.value, by_question.passed) == (0.0, False)
    assert (by_locale.value, by_locale.passed) == (0.0, False)
    assert by_locale.explanation.startswith("answer is en (")
    assert by_locale.explanation.endswith("from the locale label")


def test_a_too_short_answer_or_question_is_skipped_not_guessed(scorer):
    short = scorer(EvalCase(input="Wie lange dauert der internationale Versand?", output="OK, 30 days."))
    assert (short.outcome, short.reason, short.value) == (Outcome.SKIPPED, "too_short", None)
    short_question = scorer(EvalCase(input="Hallo?", output=ENGLISH_ANSWER))
    assert (short_question.outcome, short_question.reason) == (Outcome.SKIPPED, "question_too_short")


def test_an_unsure_detection_is_skipped(scorer):
    # brand names and loanwords: long enough, but no language stands out
    brands = "Visa Mastercard PayPal Stripe Klarna"
    unsure = scorer(EvalCase(input="", output=brands, labels={"locale": "de-DE"}))
    assert (unsure.outcome, unsure.reason) == (Outcome.SKIPPED, "unsure")


def test_the_question_sets_the_language_and_the_locale_label_fills_in(scorer):
    german = "Wie lange dauert der internationale Versand?"
    # a German speaker on the English site gets an English answer: wrong, whatever the UI locale
    assert scorer(EvalCase(input=german, output=ENGLISH_ANSWER, labels={"locale": "en-GB"})).value == 0.0
    # a question too short to tell: the locale label decides
    short = EvalCase(input="Versand?", output=ENGLISH_ANSWER, labels={"locale": "de-DE"})
    assert (scorer(short).value, scorer(short).explanation.endswith("from the locale label")) == (0.0, True)
    only_locale = build_scorer(ScorerSpec(name="language_match", params={"expect": "locale"}))
    assert only_locale(EvalCase(input=german, output=ENGLISH_ANSWER, labels={"locale": "en-GB"})).value == 1.0
    assert only_locale(EvalCase(input=german, output=ENGLISH_ANSWER)).reason == "no_language"
    only_question = build_scorer(ScorerSpec(name="language_match", params={"expect": "question"}))
    assert only_question(short).reason == "question_too_short"


def test_a_custom_locale_label():
    scorer = build_scorer(ScorerSpec(name="language_match", params={"locale_label": "market"}))
    assert scorer(EvalCase(input="", output=ENGLISH_ANSWER, labels={"market": "fr_FR"})).value == 0.0


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("de-DE", "de"),
        ("pt_BR", "pt"),
        ("zh-Hans-CN", "zh"),
        ("nb-NO", "no"),
        ("EN", "en"),
        ("unknown", ""),
        ("", ""),
    ],
)
def test_locale_language(locale, language):
    assert locale_language(locale) == language


def test_long_texts_are_cut_before_detection(scorer):
    german = "Der internationale Versand dauert in der Regel fünf bis acht Werktage. "
    case = EvalCase(input="", output=german + ENGLISH_ANSWER * 50_000, labels={"locale": "de-DE"})
    assert scorer(case).value == 0.0  # ~1 MB, read up to max_chars (1000): mostly English
    head_only = build_scorer(ScorerSpec(name="language_match", params={"max_chars": len(german)}))
    assert head_only(case).value == 1.0  # only the German head is read


def test_the_identifier_is_loaded_once_per_process(scorer):
    other = build_scorer(ScorerSpec(name="lm2", builtin="language_match"))
    assert isinstance(other, LanguageMatchScorer)
    assert other._identifier is scorer._identifier is language_identifier()


def test_it_runs_by_default_and_the_offline_runner_builds_the_same_scorer():
    assert "language_match" in [spec.name for spec in ScorersConfig().enabled]
    question, answer = SAME_LANGUAGE[2][1], ENGLISH_ANSWER
    offline = Runner([ScorerSpec(name="language_match")]).score(
        GoldenCase(EvalCase(input=question, output="")), Produced(answer)
    )
    online = run_scorers(build_scorers([ScorerSpec(name="language_match")]), EvalCase(question, answer))
    assert offline.scores[0].score == online[0]
    assert offline.status == "fail"


def test_the_languages_told_apart_are_configurable():
    galician = "Pode cancelar a súa subscrición en calquera momento desde a configuración da conta."
    case = EvalCase(input="", output=galician, labels={"locale": "gl-ES"})
    assert build_scorer(ScorerSpec(name="language_match"))(case).reason == "unsupported_language"
    with_galician = build_scorer(
        ScorerSpec(name="language_match", params={"languages": ["gl", "es", "pt", "en"]})
    )
    assert with_galician(case).value == 1.0, with_galician(case).explanation


def test_bad_params_are_reported_with_their_key():
    with pytest.raises(ConfigError) as err:
        build_scorer(
            ScorerSpec(
                name="language_match",
                params={"expect": "answer", "min_confidence": 2, "languages": ["de", "xx", "english"]},
            )
        )
    assert err.value.problems == [
        "scorers.enabled[0].params.expect: must be one of auto, locale, question, got 'answer'",
        "scorers.enabled[0].params.min_confidence: must be between 0 and 1, got 2",
        "scorers.enabled[0].params.languages: unknown language codes english, xx (ISO 639-1, e.g. de, pt)",
    ]
