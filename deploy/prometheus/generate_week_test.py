"""Write deploy/prometheus/rules_test_week.yaml: a full week of history, then the Thursday bug, for promtool.

    python deploy/prometheus/generate_week_test.py          # rewrite the file
    python deploy/prometheus/generate_week_test.py --check  # exit 1 when the committed file is stale

The scenario (promtool's clock starts on Thursday 1970-01-01 00:00 UTC, so day 8 is a Thursday):
one support bot, five locales with different healthy levels and volumes (day/night), 5 % sampling of
about 24,000 LLM calls an hour at peak, so a locale with 4 % of the traffic scores ~48 cases an hour
by day and ~7 at night. Hourly case counts are Poisson, hourly means wobble around each locale's
level, per-case scores have a spread. The benign week holds a hard hour (en-US dips for one hour, as
much as its hourly means usually wobble), quiet nights (small locales fall under the minimum-sample
guard) and a new small slice (it-IT, born on day 6, scoring low from its first case). On day 8:
- 10:00 es-ES (4 %, healthy ~0.92) starts citing the retired policy: its scores fall to ~0.50;
- 15:00 ja-JP (4 %, healthy ~0.52: a low-scoring locale) does the same: its scores fall to ~0.27.
Both must page within an hour of their start; nothing may page before.

The series are the `_sum` and `_count` of one scorer's histogram (the drift rules are the same for
every scorer); each hour's increments are written in promtool's expanding notation `a+bxN`.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import random
import sys

from processor.alerts.rules import alert_name
from processor.demo.thursday import diurnal  # the same day/night and weekday curve as the demo

HERE = pathlib.Path(__file__).resolve().parent
OUTPUT = HERE / "rules_test_week.yaml"

SCORER = "groundedness"  # the default scorer that sees the bug; every app_eval_<scorer> gets the same rules
STEP_MIN = 5  # input sample interval
PEAK_SAMPLED_PER_HOUR = 1200  # 24,000 LLM calls an hour at 5 % sampling
BUG_DAY = 7  # 0-based: day 8
ES_BUG_HOUR = BUG_DAY * 24 + 10
JA_BUG_HOUR = BUG_DAY * 24 + 15
HARD_HOUR = 4 * 24 + 14  # day 5, 14:00
NEW_SLICE_HOUR = 5 * 24 + 12  # it-IT appears on day 6 at noon
END_HOUR = BUG_DAY * 24 + 17
LABELS = 'service="support-bot",tenant="acme",model="gpt-4o-mini",prompt_version="support-v7"'


class Locale:
    def __init__(
        self, name: str, share: float, level: float, hour_wobble: float, case_sd: float, start_hour: int = 0
    ) -> None:
        self.name, self.share, self.level = name, share, level
        self.hour_wobble, self.case_sd, self.start_hour = hour_wobble, case_sd, start_hour

    def mean(self, hour: int, rng: random.Random) -> float:
        level = self.level + rng.gauss(0.0, self.hour_wobble)
        if self.name == "en-US" and hour == HARD_HOUR:
            level -= 0.07  # off-corpus questions after a product announcement
        if self.name == "es-ES" and hour >= ES_BUG_HOUR:
            level = 0.50 + rng.gauss(0.0, self.hour_wobble)
        if self.name == "ja-JP" and hour >= JA_BUG_HOUR:
            level = 0.25 + rng.gauss(0.0, self.hour_wobble)
        return level


LOCALES = [
    Locale("en-US", 0.50, 0.86, 0.025, 0.15),
    Locale("de-DE", 0.26, 0.78, 0.015, 0.18),
    Locale("fr-FR", 0.14, 0.74, 0.015, 0.18),
    Locale("es-ES", 0.04, 0.92, 0.015, 0.10),
    Locale("ja-JP", 0.04, 0.52, 0.015, 0.18),
    Locale("it-IT", 0.02, 0.35, 0.015, 0.18, start_hour=NEW_SLICE_HOUR),
]


def poisson(lam: float, rng: random.Random) -> int:
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def hourly(locale: Locale, rng: random.Random) -> list[tuple[int, float]]:
    """(cases, score sum) per hour: Poisson volume, a wobbling hourly level, per-case spread."""
    hours = []
    for hour in range(END_HOUR + 1):
        if hour < locale.start_hour:
            hours.append((0, 0.0))
            continue
        cases = poisson(PEAK_SAMPLED_PER_HOUR * locale.share * diurnal(hour), rng)
        mean = locale.mean(hour, rng)
        total = sum(min(1.0, max(0.0, rng.gauss(mean, locale.case_sd))) for _ in range(cases))
        hours.append((cases, total))
    return hours


def _fmt(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".") or "0"


def counter_values(per_hour: list[float], start_hour: int) -> str:
    """A counter growing by `per_hour[h]` spread evenly over hour h, as promtool segments `a+bxN`."""
    steps = 60 // STEP_MIN
    segments = [f"_x{start_hour * steps}"] if start_hour else []
    value = 0.0
    for hour, increment in enumerate(per_hour):
        if hour < start_hour:
            continue
        step = increment / steps
        segments.append(f"{_fmt(value)}+{_fmt(step)}x{steps - 1}")
        value += step * steps
    return " ".join(segments)


def _t(hour: int, minute: int = 0) -> str:
    return f"{hour // 24}d{hour % 24}h{minute}m" if minute else f"{hour // 24}d{hour % 24}h"


def render() -> str:
    rng = random.Random(20260108)
    series = []
    for locale in LOCALES:
        hours = hourly(locale, rng)
        selector = f'{LABELS},locale="{locale.name}",pod="worker-1"'
        series.append(
            f"      - series: 'app_eval_{SCORER}_count{{{selector}}}'\n"
            f"        values: '{counter_values([c for c, _ in hours], locale.start_hour)}'\n"
        )
        series.append(
            f"      - series: 'app_eval_{SCORER}_sum{{{selector}}}'\n"
            f"        values: '{counter_values([s for _, s in hours], locale.start_hour)}'\n"
        )
    alert = alert_name(SCORER, "DropVsBaseline")
    lead = (
        "# GENERATED by deploy/prometheus/generate_week_test.py (read it for the scenario); do not edit.\n"
        "# promtool test rules rules_test_week.yaml, run by tests/deploy/test_prometheus_rules.py.\n"
        "rule_files: [rules.yaml]\n"
        "evaluation_interval: 5m  # 7 days at 1m take minutes; the rules do not depend on it\n\n"
        "tests:\n"
        "  - name: a benign week, then the Thursday bug in a high- and a low-scoring locale\n"
        f"    interval: {STEP_MIN}m\n"
        "    input_series:\n"
    )

    def firing(hour: int, minute: int, locales: list[str]) -> str:
        samples = "".join(
            f"          - labels: '{{__name__=\"ALERTS\",alertname=\"{alert}\",alertstate=\"firing\","
            f"severity=\"page\",scorer=\"{SCORER}\",slice=\"locale\",service=\"support-bot\","
            f"locale=\"{name}\"}}'\n            value: 1\n"
            for name in locales
        )
        body = f"\n{samples}" if samples else " []\n"
        return (
            f"      - expr: ALERTS{{alertstate=\"firing\"}}\n        eval_time: {_t(hour, minute)}\n"
            f"        exp_samples:{body}"
        )

    level, en = f"slice_locale:app_eval_{SCORER}", 'locale="en-US"'

    def check(comment: str, expr: str, hour: int, locale: str) -> str:
        return (
            f"      # {comment}\n      - expr: '{expr}'\n        eval_time: {_t(hour)}\n"
            f"        exp_samples:\n          - labels: '{{service=\"support-bot\",locale=\"{locale}\"}}'\n"
            "            value: 1\n"
        )

    checks = (
        "    promql_expr_test:\n"
        "      # Nothing paged, or even went pending, during the benign week: ALERTS holds both states.\n"
        "      - expr: count_over_time(ALERTS[8d])\n"
        f"        eval_time: {_t(ES_BUG_HOUR)}\n"
        "        exp_samples: []\n"
        + check(
            "The hard hour: en-US falls further below its 7-day mean than the margin alone allows ...",
            f"({level}:mean7d{{{en}}} - {level}:mean1h{{{en}}}) > bool 0.05",
            HARD_HOUR + 1,
            "en-US",
        )
        + check(
            "... but less than its usual spread allows: no page.",
            f"({level}:mean7d{{{en}}} - {level}:mean1h{{{en}}}) < bool {level}:max_drop{{{en}}}",
            HARD_HOUR + 1,
            "en-US",
        )
        + check(
            "ja-JP's healthy level is below the article's 0.75 baseline: the absolute rule could never page.",
            f'{level}:mean7d{{locale="ja-JP"}} < bool 0.75',
            JA_BUG_HOUR,
            "ja-JP",
        )
        + "      # es-ES pages within an hour of its start (10:00), alone; ja-JP (15:00) joins it.\n"
        + firing(ES_BUG_HOUR, 55, ["es-ES"])
        + firing(JA_BUG_HOUR, 0, ["es-ES"])
        + firing(JA_BUG_HOUR, 55, ["es-ES", "ja-JP"])
    )
    return lead + "".join(series) + checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file is out of date")
    args = parser.parse_args(argv)
    text = render()
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else None
    if current == text:
        return 0
    if args.check:
        print(f"{OUTPUT}: out of date, run python {pathlib.Path(__file__).name}", file=sys.stderr)
        return 1
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
