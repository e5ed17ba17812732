"""Language-neutral text matching shared by the heuristic scorers: tokens, soft token match, n-grams.

Nothing here knows English. Text is NFKC-normalised and casefolded, words are `\\w+` runs (Unicode),
and accents are compared loosely (`é` matches `e`, `ü` matches `u`). Scripts written without spaces
(Chinese, Japanese, Thai...) are split into character bigrams so they still yield comparable units.
Inflection and German compounds are handled without stemmers: two words match when they share a
long prefix (`refund` / `refunded`, `rembourser` / `remboursement`) or one ends the other
(`Laufzeit` / `Vertragslaufzeit`).

Stopword lists are small, cover a few languages, and only sharpen the score: a language without a
list still works, since its function words simply count as ordinary words.

Cost is linear in the text: `coverage` looks each needle up in prefix and suffix indexes of the
haystack instead of comparing every pair of words, words are cut at `MAX_WORD_CHARS`, and the
scorers read at most `DEFAULT_MAX_TEXT_CHARS` of each text (`capped`, the `max_text_chars` param).
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from processor.decode import out_of_range

#: Characters of each text (question, answer, all context documents together) a heuristic scorer reads.
DEFAULT_MAX_TEXT_CHARS = 20_000

#: A `\\w+` run longer than this (a base64 blob, a hash) is cut: no word of any language is longer.
MAX_WORD_CHARS = 64

_WORD = re.compile(r"\w+", re.UNICODE)

# Scripts written without spaces between words: CJK ideographs, kana, Thai, Lao, Khmer, Myanmar.
_NO_SPACE = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f]"
)

_STOPWORDS_TEXT = """
a an the and or but if then than so of to in on at by for with from about into over under as is are
was were be been being am do does did done have has had having i me my mine we us our ours you your
yours he him his she her hers it its they them their theirs this that these those there here what
which who whom whose when where why how can could will would shall should may might must not no nor
yes please thanks thank hi hello just also very too any some all each every such only own same other
get got let lets s t ll ve re d m don doesn didn isn aren wasn weren won cannot
der die das den dem des ein eine einer eines einem einen und oder aber wenn dann als ist sind war
waren sein bin bist seid wird werden wurde wurden hat haben hatte hatten habe ich du er sie es wir
ihr mich mir dich dir uns euch ihm ihn ihnen mein meine meinen meinem meiner dein deine sein seine
unser unsere euer eure ihre ihren ihrem zu zum zur im in an am auf aus bei mit nach von vor um über
unter für durch gegen ohne bis nicht kein keine keinen auch noch schon nur sehr wie was wer wo wann
warum welche welcher welches wieso weshalb kann können könnte muss müssen soll sollte darf dürfen
will wollen man so ja nein bitte danke hallo
le la les l un une des du de d et ou mais si alors que qu qui quoi dont où est sont était étaient
être suis es sommes êtes ont ai as avons avez avoir a je j tu il elle on nous vous ils elles me m
te se s lui leur leurs mon ma mes ton ta tes son sa ses notre nos votre vos ce cet cette ces c au
aux en dans par pour sur sous avec sans chez vers entre ne n pas plus peut peux pouvez pouvons
comment quand pourquoi quel quelle quels quelles combien oui non merci bonjour svp y
el los las lo una unos unas y o pero que qué cual cuál quien es son era fue ser estar está están
he ha han hay yo tú él ella nosotros vosotros ellos ellas mi mis tu tus su sus nuestro del al en
por para con sin sobre entre no sí cómo como cuándo dónde porqué puedo puede gracias hola
il lo gli le una uno di da e o ma che chi cosa è sono era essere ho hai ha abbiamo avete hanno io
noi voi loro mio mia tuo tua suo sua nel nella per con su tra fra non come quando dove perché
posso può grazie ciao
de het een en of maar dat die dit wat wie waar wanneer hoe waarom is zijn was waren ben bent heb
hebt heeft hebben ik jij je hij zij wij we jullie mijn jouw uw ons onze van voor met op aan uit
bij naar om niet geen ook nog wel kan kunnen moet moeten mag graag bedankt
o os as um uma uns umas do da dos das e ou mas que se é são era foi ser estar está eu você ele ela
nós eles elas meu minha seu sua no na nos nas em por para com sem não sim como quando onde porque
posso pode obrigado olá
"""

#: Function words of English, German, French, Spanish, Italian, Dutch and Portuguese (casefolded).
STOPWORDS: frozenset[str] = frozenset(
    unicodedata.normalize("NFKC", w).casefold() for w in _STOPWORDS_TEXT.split()
)


def normalize(text: str) -> str:
    """NFKC then casefold: full-width forms, ligatures and `ß` compare like their plain forms."""
    return unicodedata.normalize("NFKC", text).casefold()


def fold_accents(word: str) -> str:
    """Drop combining marks: `é` → `e`, `ü` → `u`, so accent slips (or ASCII typing) still match."""
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _split_no_space(word: str) -> list[str]:
    """Cut runs of space-less scripts into overlapping character bigrams; keep other runs whole."""
    if not _NO_SPACE.search(word):
        return [word]
    out: list[str] = []
    run: list[str] = []
    rest: list[str] = []

    def flush_run() -> None:
        if len(run) == 1:
            out.append(run[0])
        out.extend(run[i] + run[i + 1] for i in range(len(run) - 1))
        run.clear()

    for ch in word:
        if _NO_SPACE.match(ch):
            if rest:
                out.append("".join(rest))
                rest.clear()
            run.append(ch)
        else:
            if run:
                flush_run()
            rest.append(ch)
    if run:
        flush_run()
    if rest:
        out.append("".join(rest))
    return out


def capped(text: str, max_chars: int) -> str:
    """The first `max_chars` characters of `text`: what a heuristic scorer reads of it."""
    return text if len(text) <= max_chars else text[:max_chars]


def capped_all(texts: Iterable[str], max_chars: int) -> list[str]:
    """The texts in order, cut so that together they hold at most `max_chars` characters."""
    out: list[str] = []
    left = max_chars
    for text in texts:
        if left <= 0:
            break
        out.append(capped(text, left))
        left -= len(out[-1])
    return out


def words(text: str) -> list[str]:
    """Every word of `text`, normalised, accent-folded, space-less scripts split into bigrams."""
    return list(_words(text))


# Several scorers read the same question, answer and documents of one case: tokenise each once.
@functools.lru_cache(maxsize=32)
def _words(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for match in _WORD.finditer(normalize(text)):
        for piece in _split_no_space(match.group(0)[:MAX_WORD_CHARS]):
            folded = fold_accents(piece).strip("_")
            if folded:
                out.append(folded)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Terms:
    """The content words of a text: stopwords removed unless nothing else remains."""

    words: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.words


_FOLDED_STOPWORDS = frozenset(fold_accents(w) for w in STOPWORDS)


def content_terms(text: str, *, stopwords: Iterable[str] | None = _FOLDED_STOPWORDS) -> Terms:
    """Words that carry meaning: stopwords and 1-letter tokens dropped (unless that drops everything)."""
    every = words(text)
    stop = frozenset(stopwords) if stopwords is not None else frozenset()
    kept = [w for w in every if w not in stop and (len(w) > 1 or not w.isascii())]
    # A question made only of function words ("what is it?") still has to match something.
    return Terms(tuple(dict.fromkeys(kept or every)))


def default_stopwords(extra: Iterable[str] = (), *, builtin: bool = True) -> frozenset[str]:
    """The built-in multilingual list (unless `builtin` is False) plus `extra`, folded like `words`."""
    own = frozenset(fold_accents(normalize(w)) for w in extra)
    return _FOLDED_STOPWORDS | own if builtin else own


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def word_match(a: str, b: str) -> float:
    """How well word `a` is matched by word `b`: 1 same word, 0.9 same stem or compound part, else 0.

    Numbers and codes (anything with a digit) must match exactly: `v2` is not `v3`, 14 is not 30.
    """
    if a == b:
        return 1.0
    if any(c.isdigit() for c in a) or any(c.isdigit() for c in b):
        return 0.0
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) < 4:
        return 0.0
    prefix = _common_prefix(a, b)
    # Shared stem: inflection and derivation (refund/refunded, livraison/livrer, Lieferung/Lieferzeit).
    if prefix >= 5 or (prefix >= 4 and prefix >= 0.75 * len(short)):
        return 0.9
    # German compounds put the head last (Vertragslaufzeit ends in Laufzeit) and modifiers first.
    if len(short) >= 5 and long_.endswith(short):
        return 0.8
    return 0.0


class _SoftIndex:
    """The haystack indexed so that `best(needle)` equals `max(word_match(needle, h) for h in hay)`.

    `word_match` gives 0.9 for a shared prefix of 5+ characters, or of 4 when the shorter word has at
    most 5 (4 >= 0.75 * len); 0.8 when the shorter word (5+ characters) ends the longer one. Words with
    digits only match exactly. So a needle needs: its 5-prefix among the hay's 5-prefixes, its 4-prefix
    among those of hay words no longer than 5 (or any hay word, when the needle has at most 5), a hay
    word ending in it (a bisect in the sorted reversed hay words), or one of its own 5+ character
    suffixes in the hay. Each lookup costs O(word length), so coverage is linear in the text.
    """

    def __init__(self, haystack: Iterable[str]) -> None:
        self.exact = set(haystack)
        soft = [w for w in self.exact if len(w) >= 4 and not any(c.isdigit() for c in w)]
        self._prefix5 = {w[:5] for w in soft if len(w) >= 5}
        self._prefix4_any = {w[:4] for w in soft}
        self._prefix4_short = {w[:4] for w in soft if len(w) <= 5}
        self._reversed = sorted(w[::-1] for w in soft if len(w) >= 5)

    def _ends_with(self, needle: str) -> bool:
        """Some longer hay word ends with `needle`."""
        key = needle[::-1]
        i = bisect.bisect_right(self._reversed, key)  # past an exact equal: a longer word is wanted
        return i < len(self._reversed) and self._reversed[i].startswith(key)

    def best(self, needle: str) -> float:
        if needle in self.exact:
            return 1.0
        if len(needle) < 4 or any(c.isdigit() for c in needle):
            return 0.0
        if len(needle) >= 5 and needle[:5] in self._prefix5:
            return 0.9
        if needle[:4] in (self._prefix4_any if len(needle) <= 5 else self._prefix4_short):
            return 0.9
        if len(needle) >= 5 and self._ends_with(needle):
            return 0.8
        if any(needle[-k:] in self.exact for k in range(5, len(needle))):
            return 0.8
        return 0.0


def coverage(needles: Sequence[str], haystack: Iterable[str]) -> float:
    """Share of `needles` found in `haystack` (soft match, `word_match`), longer needles weighing more.

    Length is a cheap, language-neutral stand-in for informativeness: `annual` says more than `get`.
    """
    if not needles:
        return 0.0
    index = _SoftIndex(haystack)
    total = 0.0
    found = 0.0
    for needle in needles:
        weight = min(len(needle), 8) + (4 if any(c.isdigit() for c in needle) else 0)
        total += weight
        found += weight * index.best(needle)
    return found / total


def char_ngrams(terms: Iterable[str], n: int = 4) -> set[str]:
    """Character n-grams of each word, padded with spaces so word starts and ends count."""
    grams: set[str] = set()
    for term in terms:
        padded = f" {term} "
        if len(padded) <= n:
            grams.add(padded)
            continue
        grams.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


def ngram_containment(needles: Iterable[str], haystack: Iterable[str], n: int = 4) -> float:
    """Share of the needles' character n-grams that also occur in the haystack's words."""
    a = char_ngrams(needles, n)
    if not a:
        return 0.0
    b = char_ngrams(haystack, n)
    return len(a & b) / len(a)


@dataclass(frozen=True)
class TextParams:
    """The `params` of the word-overlap scorers (relevance, context_relevance, groundedness)."""

    stopwords: bool = True  # false turns the built-in stopword lists off
    extra_stopwords: list[str] = field(default_factory=list)  # words of your own to ignore
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS  # how much of each text is read (bounds the cost)

    def validate(self, path: str) -> list[str]:
        return out_of_range(f"{path}.max_text_chars", self.max_text_chars, low=100)
