"""A topic's own words and vocabularies, read from ``topic.toml`` in the evidence folder.

The library keeps only the generic schema; what a topic calls its populations, interventions,
comparisons and outcome kinds, the report's title, the article under review and the schedule it
states are data (documented in ``evidence/README.md``). Without a ``topic.toml`` a folder is
still valid: vocabulary columns then accept any identifier, and titles fall back to the folder's
name.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Topic", "Article", "Schedule", "VOCABULARIES", "read_topic"]

#: Vocabulary lists a topic may declare, and the columns each one constrains.
VOCABULARIES = {
    "conditions": (("studies.csv", "condition"), ("reviews.csv", "condition")),
    "interventions": (("studies.csv", "intervention"),),
    "comparisons": (("studies.csv", "comparison"), ("outcomes.csv", "comparison"), ("reviews.csv", "comparison")),
    "outcomes": (("outcomes.csv", "outcome"), ("reviews.csv", "outcome"), ("data_status.csv", "outcome")),
}


@dataclass(frozen=True)
class Schedule:
    """A treatment schedule as the article states it (ranges, inclusive); ``None`` = not stated."""

    per_week: tuple[float, float] | None = None
    weeks: tuple[float, float] | None = None
    minutes: tuple[float, float] | None = None
    as_stated: str = ""


@dataclass(frozen=True)
class Article:
    """The publication whose claims the evidence folder tests."""

    title: str = ""
    publisher: str = ""
    date: str = ""
    url: str = ""
    schedule: Schedule | None = None

    def citation(self) -> str:
        """``Title. Publisher, date. URL`` with whatever parts are known."""
        parts = [p for p in (self.title, ", ".join(x for x in (self.publisher, self.date) if x)) if p]
        text = ". ".join(parts)
        return f"{text}. {self.url}".strip(". ") if self.url else text


@dataclass(frozen=True)
class Topic:
    """What ``topic.toml`` declares (every key optional)."""

    title: str = ""
    question: str = ""
    intervention_label: str = "intervention"
    comparator_label: str = "comparator"
    article: Article = field(default_factory=Article)
    vocabularies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    notebooks: tuple[str, ...] = ()

    def allowed(self, vocabulary: str) -> tuple[str, ...] | None:
        """The declared values of a vocabulary, or ``None`` when the topic declares none."""
        return self.vocabularies.get(vocabulary)

    def label(self, code: str) -> str:
        """Display text for a vocabulary code (``labels`` table), else the code with spaces."""
        return self.labels.get(code, str(code).replace("_", " "))


_KEYS = {"title": str, "question": str, "intervention_label": str, "comparator_label": str, "article": dict,
         "vocabulary": dict, "labels": dict, "notebooks": list}
_ARTICLE_KEYS = {"title": str, "publisher": str, "date": str, "url": str, "schedule": dict}
_SCHEDULE_KEYS = {"per_week": list, "weeks": list, "minutes": list, "as_stated": str}


def _check(table: dict, keys: dict, where: str, problems: list) -> bool:
    from hipacu.evidence import Problem

    ok = True
    for key, value in table.items():
        if key not in keys:
            problems.append(Problem("topic.toml", None, f"{where}{key}", f"unknown key (allowed: {', '.join(keys)})"))
            ok = False
        elif not isinstance(value, keys[key]):
            problems.append(Problem("topic.toml", None, f"{where}{key}", f"{value!r} must be a {keys[key].__name__}"))
            ok = False
    return ok


def _range(value: Any, where: str, problems: list) -> tuple[float, float] | None:
    from hipacu.evidence import Problem

    if value is None:
        return None
    if (len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or value[0] > value[1]):
        problems.append(Problem("topic.toml", None, where, f"{value!r} must be [low, high] with low <= high"))
        return None
    return float(value[0]), float(value[1])


def read_topic(path: Path, problems: list) -> Topic:
    """Read ``topic.toml`` (an absent file gives the empty :class:`Topic`); defects go to ``problems``."""
    from hipacu.evidence import Problem

    if not path.exists():
        return Topic(title=path.parent.name)
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        problems.append(Problem("topic.toml", None, None, "is not UTF-8; save the file as UTF-8"))
        return Topic()
    except tomllib.TOMLDecodeError as exc:
        problems.append(Problem("topic.toml", None, None, f"is not valid TOML: {exc}"))
        return Topic()
    if not _check(data, _KEYS, "", problems):
        return Topic()
    art = data.get("article", {})
    schedule = None
    if _check(art, _ARTICLE_KEYS, "article.", problems) and "schedule" in art:
        s = art["schedule"]
        if _check(s, _SCHEDULE_KEYS, "article.schedule.", problems):
            schedule = Schedule(per_week=_range(s.get("per_week"), "article.schedule.per_week", problems),
                                weeks=_range(s.get("weeks"), "article.schedule.weeks", problems),
                                minutes=_range(s.get("minutes"), "article.schedule.minutes", problems),
                                as_stated=s.get("as_stated", ""))
    vocab = {}
    for name, values in data.get("vocabulary", {}).items():
        if name not in VOCABULARIES:
            problems.append(Problem("topic.toml", None, f"vocabulary.{name}",
                                    f"unknown vocabulary (allowed: {', '.join(VOCABULARIES)})"))
        elif not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            problems.append(Problem("topic.toml", None, f"vocabulary.{name}", "must be a non-empty list of strings"))
        else:
            vocab[name] = tuple(values)
    labels = data.get("labels", {})
    for code, text in labels.items():
        if not isinstance(text, str):
            problems.append(Problem("topic.toml", None, f"labels.{code}", f"{text!r} must be a string"))
    notebooks = data.get("notebooks", [])
    for nb in notebooks:
        if not isinstance(nb, str) or not nb.endswith(".ipynb"):
            problems.append(Problem("topic.toml", None, "notebooks", f"{nb!r} must be a path ending in .ipynb"))
        elif not (path.parent / nb).is_file():
            problems.append(Problem("topic.toml", None, "notebooks", f"{nb!r} does not exist (paths are relative to "
                                                                     f"{path.parent})"))
    return Topic(
        title=data.get("title", path.parent.name), question=data.get("question", ""),
        intervention_label=data.get("intervention_label", "intervention"),
        comparator_label=data.get("comparator_label", "comparator"),
        article=Article(title=art.get("title", ""), publisher=art.get("publisher", ""), date=art.get("date", ""),
                        url=art.get("url", ""), schedule=schedule),
        vocabularies=vocab, labels={k: v for k, v in labels.items() if isinstance(v, str)},
        notebooks=tuple(n for n in notebooks if isinstance(n, str)),
    )
