"""`python -m processor.demo thursday`: the seed article's Thursday bug, end to end, in one command.

1. Traffic: a week of multilingual support-bot calls plus day 8 (promtool's clock starts on Thursday
   1970-01-01, so day 8 is a Thursday), about `--peak-calls` LLM calls an hour at the busiest hour,
   quiet nights, lighter weekends, Poisson volumes, an hour-to-hour varying share of unhelpful
   answers. es-ES has 4 % of the traffic. The real sampler (`sampling.rate`, every trace by default)
   keeps whole traces by trace id. On day 8 at 10:00 es-ES starts citing the retired policy (v3 figures)
   while retrieval still returns the current article (v4): answers that read fine.
2. Scores: every sampled call is an `EvalCase` scored by the configured scorers (`scorers.enabled`,
   built by `processor.scorers`), and counted in the workers' own histograms (`WorkerMetrics`).
   Scorers are pure functions of the case, so a case identical to one already scored reuses its
   scores.
3. Alerts: the `_sum`/`_count` of every `app_eval_*` series, sampled every 5 simulated minutes,
   become promtool input series; `promtool test rules` replays them through the rules
   `python -m processor.alerts` writes for the same config and reports when each alert fired.
4. Picture: each locale's hourly mean of the scorer that paged, the bug's start and the page marked
   (matplotlib: `pip install 'evalstream[demo]'`).
5. Golden set: the alerting slice's day-8 results (the results topic, as a JSONL export) go through
   `python -m processor.offline.harvest`; a person would write `expected` into each candidate, the demo writes
   the current figure. Then `python -m processor.offline --target` gates the app as deployed on day 8
   (`bugged_app`: red, exit 1) and the fixed app (`fixed_app`: green, exit 0).

Exit 0 when the story holds (only the bugged locale pages, within 1 hour; the gate is red, then
green), 1 when it does not, 2 on a bad config or a missing promtool.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import pathlib
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from google.protobuf import json_format
from prometheus_client import CollectorRegistry

from processor.alerts.rules import rules_file
from processor.config import Config, load
from processor.demo.corpus import CURRENT, FALLBACK, RETIRED, TOPICS
from processor.errors import ConfigError
from processor.metrics.instruments import WorkerMetrics
from processor.model import EvalCase, Outcome, Score
from processor.sampler.trace_id import TraceIdSampler
from processor.scorers import Scorer, build_scorers, run_scorers
from processor.worker.results import eval_result

PROG = "python -m processor.demo thursday"
SHARES = {"en-US": 0.56, "de-DE": 0.26, "fr-FR": 0.14, "es-ES": 0.04}
COLOURS = {"en-US": "tab:blue", "de-DE": "tab:orange", "fr-FR": "tab:green", "es-ES": "tab:purple"}
BUGGED = "es-ES"
DAYS = 8
BUG_HOUR = (DAYS - 1) * 24 + 10  # day 8, 10:00
END_HOUR = (DAYS - 1) * 24 + 16  # six hours of incident
STEP_S = 300  # one histogram sample every 5 simulated minutes (promtool's evaluation interval too)
FALLBACK_SHARE = 0.08  # unhelpful answers on an average hour; each hour draws its own share
BASE_LABELS = {
    "service": "support-bot",
    "tenant": "acme",
    "model": "gpt-4o-mini",
    "prompt_version": "support-v7",
}


def diurnal(hour: int) -> float:
    """Share of the peak hour's traffic: quiet nights, busy office hours, lighter weekends."""
    h, weekday = hour % 24, (3 + hour // 24) % 7  # day 1 is a Thursday; 5, 6 are Saturday, Sunday
    shape = 0.15 + 0.85 * max(0.0, math.sin(math.pi * (h - 6) / 16)) if 6 <= h <= 22 else 0.15
    return shape * (0.6 if weekday >= 5 else 1.0)


def shares_with(bugged_share: float) -> dict[str, float]:
    """SHARES with the bugged locale at `bugged_share` of the traffic, the others scaled to the rest."""
    scale = (1.0 - bugged_share) / (1.0 - SHARES[BUGGED])
    return {loc: bugged_share if loc == BUGGED else share * scale for loc, share in SHARES.items()}


def when(seconds: float) -> str:
    """`day 8 (Thu) 10:45` for a promtool timestamp (seconds since Thursday 1970-01-01)."""
    day, rest = divmod(int(seconds), 86400)
    weekday = ("Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed")[day % 7]
    return f"day {day + 1} ({weekday}) {rest // 3600:02d}:{rest % 3600 // 60:02d}"


# --- traffic and scores ------------------------------------------------------------------------------


@dataclass
class Call:
    """One sampled LLM call: when, which locale and topic, and whether it cites the retired policy."""

    at_s: int
    locale: str
    topic: int
    question: int
    answer: int  # -1: the fallback answer
    retired: bool

    def case(self, trace_id: str) -> EvalCase:
        topic = TOPICS[self.locale][self.topic]
        figures = RETIRED if self.retired else CURRENT
        output = FALLBACK[self.locale] if self.answer < 0 else topic.answers[self.answer].format(**figures)
        return EvalCase(
            input=topic.questions[self.question],
            output=output,
            context=(topic.context.format(**CURRENT),),
            labels={**BASE_LABELS, "locale": self.locale},
            trace_id=trace_id,
            span_id=trace_id[:16],
            model=BASE_LABELS["model"],
            source="demo",
        )


def traffic(
    config: Config,
    peak_calls: float,
    rng: random.Random,
    *,
    shares: dict[str, float] = SHARES,
    flat: bool = False,
) -> tuple[list[Call], list[str], int]:
    """(sampled calls in time order, their trace ids, calls offered to the sampler); `flat`: every
    hour as busy as the peak hour."""
    sampler = TraceIdSampler(config.sampling)
    calls: list[tuple[Call, str]] = []
    offered = 0
    for hour in range(END_HOUR):
        for locale, share in shares.items():
            expected = peak_calls * share * (1.0 if flat else diurnal(hour))
            n = max(0, round(rng.gauss(expected, math.sqrt(expected))))
            offered += n
            fallback = min(0.3, max(0.0, rng.gauss(FALLBACK_SHARE, 0.03)))
            for _ in range(n):
                trace = rng.getrandbits(128).to_bytes(16, "big")
                if not sampler.keep(trace):
                    continue
                topic = rng.randrange(len(TOPICS[locale]))
                call = Call(
                    at_s=hour * 3600 + rng.randrange(3600),
                    locale=locale,
                    topic=topic,
                    question=rng.randrange(2),
                    answer=-1 if rng.random() < fallback else rng.randrange(2),
                    retired=locale == BUGGED and hour >= BUG_HOUR,
                )
                calls.append((call, trace.hex()))
    calls.sort(key=lambda pair: pair[0].at_s)
    return [c for c, _ in calls], [t for _, t in calls], offered


@dataclass
class Scored:
    """The histogram samples every STEP_S, hourly sums per (scorer, locale), and the day-8 results."""

    series: dict[str, list[float | None]] = field(default_factory=dict)
    hourly: dict[tuple[str, str], list[tuple[int, float]]] = field(default_factory=dict)
    day8: list[tuple[int, EvalCase, list[Score]]] = field(default_factory=list)  # (second, case, scores)
    cases: int = 0
    distinct: int = 0


def _series_name(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}"


def score_all(config: Config, scorers: Sequence[Scorer], calls: list[Call], traces: list[str]) -> Scored:
    registry = CollectorRegistry()
    metrics = WorkerMetrics.configured(registry, config.metrics, config.slices)
    metrics.prepare([s.name for s in scorers])
    scored = Scored()
    memo: dict[tuple[str, str, tuple[str, ...]], list[Score]] = {}
    steps = END_HOUR * 3600 // STEP_S
    histogram_prefix = config.metrics.prefix + "_"
    index = 0
    for step in range(steps + 1):
        while index < len(calls) and calls[index].at_s < step * STEP_S:
            call = calls[index]
            case = call.case(traces[index])
            key = (case.input, case.output, case.context)
            scores = memo.get(key)
            if scores is None:
                scores = memo[key] = run_scorers(scorers, case)
            for score in scores:
                metrics.record(case, score)
                if score.outcome is Outcome.SCORED and score.value is not None:
                    hours = scored.hourly.setdefault((score.name, call.locale), [(0, 0.0)] * END_HOUR)
                    n, total = hours[call.at_s // 3600]
                    hours[call.at_s // 3600] = (n + 1, total + score.value)
            if call.at_s >= (DAYS - 1) * 86400:
                scored.day8.append((call.at_s, case, scores))
            index += 1
        for metric in registry.collect():
            for sample in metric.samples:
                if sample.name.startswith(histogram_prefix) and sample.name.endswith(("_sum", "_count")):
                    values = scored.series.setdefault(_series_name(sample.name, sample.labels), [])
                    values.extend([None] * (step - len(values)))
                    values.append(sample.value)
    scored.cases, scored.distinct = len(calls), len(memo)
    return scored


# --- promtool ------------------------------------------------------------------------------------------

_FIRING = 'ALERTS{alertstate="firing"}'
_SAMPLE = re.compile(r"\{([^{}]*)\} ([-+0-9.eE]+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Fired:
    labels: dict[str, str]
    first_s: float
    last_s: float

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "?")

    def who(self) -> str:
        slice_label = self.labels.get("slice", "")
        where = f" {slice_label}={self.labels.get(slice_label, '')}" if slice_label else ""
        return f"{self.name}{where}"


def _fmt(value: float | None) -> str:
    return "_" if value is None else f"{value:.6f}".rstrip("0").rstrip(".")


def promtool_test(scored: Scored, rules_name: str) -> str:
    """A promtool unit test whose only expectations are "no alert": its failures list what fired."""
    end = f"{END_HOUR}h"
    lines = [
        f"rule_files: [{rules_name}]",
        "evaluation_interval: 5m",
        "tests:",
        "  - name: thursday",
        "    interval: 5m",
        "    input_series:",
    ]
    for name, values in scored.series.items():
        lines.append(f"      - series: '{name}'")
        lines.append(f"        values: '{' '.join(_fmt(v) for v in values)}'")
    lines.append("    promql_expr_test:")
    for fn in ("min_over_time", "max_over_time"):
        lines += [
            f"      - expr: {fn}(timestamp({_FIRING})[{end}:5m])",
            f"        eval_time: {end}",
            "        exp_samples: []",
        ]
    return "\n".join(lines) + "\n"


def run_promtool(promtool: str, directory: pathlib.Path) -> tuple[list[Fired], str]:
    result = subprocess.run(
        [promtool, "test", "rules", "thursday_test.yaml"], cwd=directory, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    if result.returncode == 0:
        return [], output
    firsts: dict[tuple[tuple[str, str], ...], float] = {}
    lasts: dict[tuple[tuple[str, str], ...], float] = {}
    target: dict[tuple[tuple[str, str], ...], float] | None = None
    for line in output.splitlines():
        stripped = line.strip()
        if stripped.startswith("expr:"):
            target = firsts if "min_over_time" in stripped else lasts
        elif stripped.startswith("got:") and target is not None:
            for labels_text, value in _SAMPLE.findall(stripped):
                labels = tuple(sorted(_LABEL.findall(labels_text)))
                target[labels] = float(value)
    if not firsts:
        raise RuntimeError(f"promtool failed without reporting alerts:\n{output}")
    fired = [Fired(dict(k), firsts[k], lasts.get(k, firsts[k])) for k in firsts]
    return sorted(fired, key=lambda f: (f.first_s, f.who())), output


# --- picture -------------------------------------------------------------------------------------------


def draw(
    scored: Scored, scorer: str, fired: list[Fired], path: pathlib.Path, shares: dict[str, float], rate: float
) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"{PROG}: no picture: matplotlib is not installed (pip install 'evalstream[demo]')")
        return False
    figure, axes = plt.subplots(figsize=(9, 3.6), dpi=90)
    for locale in shares:
        hours = scored.hourly.get((scorer, locale), [])
        xs = [(h + 0.5) / 24 for h, (n, _) in enumerate(hours) if n]
        ys = [total / n for n, total in hours if n]
        label = f"{locale} ({shares[locale]:.0%} of traffic)"
        axes.plot(xs, ys, color=COLOURS[locale], linewidth=1.6 if locale == BUGGED else 0.8, label=label)
    axes.axvline(BUG_HOUR / 24, color="grey", linestyle=":", linewidth=1)
    axes.annotate("retired policy\nin es-ES", (BUG_HOUR / 24, 0.05), fontsize=8, ha="right")
    for alert in fired:
        if alert.labels.get("scorer") == scorer and alert.labels.get("slice") == "locale":
            axes.axvline(alert.first_s / 86400, color="red", linewidth=1.2)
            axes.annotate(
                f"page: {alert.labels.get('locale')}\n{when(alert.first_s)[-5:]}",
                (alert.first_s / 86400, 0.05),
                fontsize=8,
                color="red",
                xytext=(4, 0),
                textcoords="offset points",
            )
    axes.set_xlim(0, END_HOUR / 24)
    axes.set_ylim(0, 1.02)
    axes.set_xticks(range(DAYS + 1))
    axes.set_xticklabels([f"day {d + 1}" if d < DAYS else "" for d in range(DAYS + 1)], fontsize=8)
    axes.set_ylabel(f"hourly mean {scorer}", fontsize=9)
    axes.set_title(
        f"evalstream: the Thursday bug (one locale, {shares[BUGGED]:.0%} of traffic, {rate:.0%} sampled)",
        fontsize=10,
    )
    axes.legend(loc="lower left", fontsize=7, ncol=2)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


# --- harvest and gate ----------------------------------------------------------------------------------


def _answer(question: str, *, retired_in: str = "") -> str:
    """The support bot's answer: the matching topic's answer, with the retired figures in `retired_in`."""
    for locale, topics in TOPICS.items():
        for topic in topics:
            if question in topic.questions:
                figures = RETIRED if locale == retired_in else CURRENT
                return topic.answers[topic.questions.index(question)].format(**figures)
    return FALLBACK["en-US"]


def bugged_app(question: str) -> str:
    """The app as deployed on day 8: es-ES answers cite the retired policy (`--target` of the gate)."""
    return _answer(question, retired_in=BUGGED)


def fixed_app(question: str) -> str:
    """The app after the fix: every locale cites the current policy."""
    return _answer(question)


def _expected(question: str) -> str:
    for topics in TOPICS.values():
        for topic in topics:
            if question in topic.questions:
                return topic.expected
    return ""


def harvest_and_gate(
    scored: Scored, alert: Fired, scorer_threshold: float, out: pathlib.Path
) -> tuple[int, int, int]:
    """(candidates, bugged gate exit, fixed gate exit): the alerting slice's low scores -> golden set."""
    from processor.offline.__main__ import main as offline_main
    from processor.offline.harvest import main as harvest_main

    slice_label, scorer = alert.labels["slice"], alert.labels["scorer"]
    value = alert.labels[slice_label]
    results = out / "results.jsonl"
    with results.open("w", encoding="utf-8") as f:
        for at_s, case, scores in scored.day8:
            if case.labels.get(slice_label) != value:
                continue
            for score in scores:
                message = json_format.MessageToDict(
                    eval_result(case, score, now_ns=at_s * 10**9), preserving_proto_field_name=True
                )
                f.write(json.dumps(message, ensure_ascii=False) + "\n")
    candidates = out / "candidates.jsonl"
    harvest_args = ["--results", str(results), "--scorer", scorer, "--below", f"{scorer_threshold:g}"]
    print(f"$ python -m processor.offline.harvest {' '.join(harvest_args)} -o {candidates}")
    with contextlib.redirect_stderr(io.StringIO()) as summary:
        code = harvest_main([*harvest_args, "-o", str(candidates)])
    print("  " + summary.getvalue().strip().removeprefix("python -m processor.offline.harvest: "))
    if code != 0:
        raise RuntimeError(f"harvest exited {code}")
    golden = out / "golden.jsonl"
    rows = [json.loads(line) for line in candidates.read_text(encoding="utf-8").splitlines() if line]
    with golden.open("w", encoding="utf-8") as g:
        for row in rows:
            # A person reads each candidate and writes the right answer's key figure into `expected`.
            line = {k: row[k] for k in ("input", "context", "metadata") if k in row}
            g.write(json.dumps({**line, "expected": _expected(row["input"])}, ensure_ascii=False) + "\n")
    codes = []
    for app in ("bugged_app", "fixed_app"):
        target = f"{__name__}:{app}"
        args = [str(golden), "--target", target, "--scorer", f"{scorer}:{scorer_threshold:g}"]
        report = out / f"gate-{app}.txt"
        with contextlib.redirect_stdout(io.StringIO()) as console, contextlib.redirect_stderr(console):
            code = offline_main([*args, "--report", str(out / f"gate-{app}.json")])
        report.write_text(console.getvalue(), encoding="utf-8")
        verdict = {0: "green", 1: "RED"}.get(code, f"error {code}")
        print(
            f"$ python -m processor.offline {golden} --target {target} --scorer {scorer}:{scorer_threshold:g}"
        )
        print(f"  {verdict} (exit {code}); console report in {report}")
        codes.append(code)
    return len(rows), codes[0], codes[1]


# --- the command ---------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="FILE", help="evalstream YAML (default: built-in defaults)")
    parser.add_argument(
        "--out", default="thursday-demo", metavar="DIR", help="where files go (default %(default)s)"
    )
    parser.add_argument("--picture", metavar="PNG", help="write the picture here (default DIR/thursday.png)")
    parser.add_argument(
        "--peak-calls",
        type=float,
        default=1200,  # every call is scored at the default sampling.rate
        metavar="N",
        help="LLM calls in the busiest hour, all locales (default %(default)g)",
    )
    parser.add_argument("--seed", type=int, default=8, help="random seed (default %(default)s)")
    parser.add_argument(
        "--bugged-share",
        type=float,
        default=SHARES[BUGGED],
        metavar="SHARE",
        help=f"{BUGGED}'s share of the traffic (default %(default)g); the other locales share the rest",
    )
    parser.add_argument(
        "--flat", action="store_true", help="every hour as busy as the peak hour (no nights, no weekends)"
    )


def run(args: argparse.Namespace) -> int:
    promtool = shutil.which("promtool")
    if promtool is None:
        print(f"{PROG}: promtool not found (Debian/Ubuntu: apt-get install prometheus)", file=sys.stderr)
        return 2
    try:
        config = load(args.config)
        scorers = build_scorers(config.scorers.enabled)
        rules = rules_file(config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    names = [s.name for s in scorers]
    print(f"scorers (scorers.enabled): {', '.join(names)}; sampling.rate {config.sampling.rate:g}")
    if "groundedness" not in names:
        print("note: groundedness is not enabled: the scorers that see this bug may be missing")

    if not 0.0 < args.bugged_share < 1.0:
        print(f"{PROG}: --bugged-share must be between 0 and 1, got {args.bugged_share:g}", file=sys.stderr)
        return 2
    shares = shares_with(args.bugged_share)
    calls, traces, offered = traffic(config, args.peak_calls, rng, shares=shares, flat=args.flat)
    scored = score_all(config, scorers, calls, traces)
    per_locale = {loc: sum(1 for c in calls if c.locale == loc) for loc in shares}
    print(
        f"traffic: {offered} LLM calls over {END_HOUR // 24} days {END_HOUR % 24} h, {scored.cases} sampled "
        f"({scored.distinct} distinct cases scored); "
        + ", ".join(f"{loc} {n}" for loc, n in per_locale.items())
    )
    print(f"incident: {BUGGED} cites the retired policy from {when(BUG_HOUR * 3600)}")

    (out / "rules.yaml").write_text(rules, encoding="utf-8")
    (out / "thursday_test.yaml").write_text(promtool_test(scored, "rules.yaml"), encoding="utf-8")
    print(f"$ promtool test rules thursday_test.yaml  # in {out}, rules from python -m processor.alerts")
    try:
        fired, _ = run_promtool(promtool, out)
    except RuntimeError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    if not fired:
        print("alerts: none fired")
    for alert in fired:
        print(
            f"  {alert.who():55s} scorer={alert.labels.get('scorer', '-'):18s} "
            f"fired {when(alert.first_s)} .. {when(alert.last_s)}"
        )

    pages = [a for a in fired if a.labels.get("severity") == "page"]
    bug_pages = [a for a in pages if a.labels.get("slice") == "locale" and a.labels.get("locale") == BUGGED]
    other_pages = [a for a in pages if a not in bug_pages]
    first = min(bug_pages, key=lambda a: a.first_s) if bug_pages else None
    scorer = first.labels["scorer"] if first else ("groundedness" if "groundedness" in names else names[0])
    picture = pathlib.Path(args.picture) if args.picture else out / "thursday.png"
    if draw(scored, scorer, fired, picture, shares, config.sampling.rate):
        print(f"picture: {picture}")

    ok = True
    if first is None:
        print(f"FAIL: no page for locale={BUGGED}")
        return 1
    delay_min = (first.first_s - BUG_HOUR * 3600) / 60
    print(f"{BUGGED} paged {delay_min:.0f} minutes after the bug started ({first.name})")
    if delay_min > 60:
        print("FAIL: the page came later than 1 hour after the bug started")
        ok = False
    if other_pages:
        print(f"FAIL: other pages: {', '.join(a.who() for a in other_pages)}")
        ok = False
    threshold = next(s.threshold for s in scorers if s.name == scorer) or 0.5
    candidates, red, green = harvest_and_gate(scored, first, threshold, out)
    print(f"golden candidates: {candidates} (in {out / 'golden.jsonl'})")
    if candidates == 0 or red != 1 or green != 0:
        print(
            "FAIL: the gate should be red (exit 1) on the bugged answers and green (exit 0) on the fixed ones"
        )
        ok = False
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
