"""What a question asks for, beyond its subject: a sentence about the subject is not yet an answer.

- **A kind of value.** "How many …", "When …", "What date …" ask for a number, a date or a time: a unit
  that holds none does not answer, however close it is to the question ("Enable speedy meetings …" does
  not say by how many minutes).
- **A picture.** Lore reads text; images, diagrams and screenshots are not indexed. A question about
  what a figure shows ("In the circular diagram …", "the option highlighted in the menu shown") is
  answered only by a unit that speaks of such a figure itself; the text around an image is about the
  same subject and would otherwise pass for its content.
"""

from __future__ import annotations

import re
from typing import Literal

Asked = Literal["number", "date"]

_EN_NUMBER = re.compile(r"\bhow (?:many|much|long|often|old|far)\b|\bwhat (?:percentage|number)\b", re.I)
_EN_DATE = re.compile(
    # "when" of a fact (was, did, does …), not of advice ("When should I …": "after your manager approves")
    r"^\s*(?:until |since )?when (?!should|can|could|must|may|would|do (?:i|we|you)\b)|"
    r"\b(?:what|which) (?:date|day|year|month|time(?! zones?\b))\b|"
    r"\bby when\b|\b(?:on|by|until) what date\b",
    re.I,
)
_ZH_NUMBER = re.compile(r"多少|几[个天年次名位家所项门种人]|多长|多久|多大|多高")
_ZH_DATE = re.compile(r"什么时候|何时|哪一?年|哪一?天|几月|几号|哪个月|什么时间|几点")
_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec "
    "monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday"
)
_DATE_WORD = re.compile(
    r"\b(?:" + "|".join(_MONTHS.split()) + r")\b|\b(?:day|week|month|quarter|year)s?\b", re.I
)
_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty "
    "hundred thousand million billion dozen half once twice daily weekly monthly quarterly annually yearly "
    "single double"
)
_NUMBER_WORD = re.compile(r"\b(?:" + "|".join(_NUMBER_WORDS.split()) + r")\b", re.I)
_DIGIT = re.compile(r"\d|[一二三四五六七八九十百千万两半]")

_FIGURES = (
    "diagram diagrams chart charts figure figures image images picture pictures screenshot screenshots "
    "icon icons logo logos illustration illustrations graphic graphics photo photos infographic "
    "depicted pictured"
)
_FIGURE = re.compile(r"\b(?:" + "|".join(_FIGURES.split()) + r")\b(?! out\b)", re.I)  # not "figure out"
# "shown", "highlighted" point at a figure in a question; in a text they are common words
_POINTING = re.compile(r"\b(?:shown|highlighted)\b", re.I)
_VISUAL_ZH = re.compile(r"图中|图片|截图|图表|图标|示意图|如图|所示|图示|照片")


def asked(question: str) -> Asked | None:
    """The kind of value `question` asks for: a number, a date (or time), or None (anything)."""
    if _EN_DATE.search(question) or _ZH_DATE.search(question):
        return "date"
    if _EN_NUMBER.search(question) or _ZH_NUMBER.search(question):
        return "number"
    return None


def holds(text: str, kind: Asked | None) -> bool:
    """True when `text` holds a value of `kind` (a date: a digit, a month or day name; a number: a digit
    or a number word)."""
    if kind is None:
        return True
    if _DIGIT.search(text):
        return True
    return bool(_DATE_WORD.search(text) if kind == "date" else _NUMBER_WORD.search(text))


def asks_about_a_picture(question: str) -> bool:
    """True when `question` asks about a figure: a diagram, a screenshot, an icon, what is shown in one."""
    return bool(_FIGURE.search(question) or _POINTING.search(question) or _VISUAL_ZH.search(question))


def speaks_of_a_picture(text: str) -> bool:
    """True when `text` names a figure (a diagram, a screenshot, an icon …)."""
    return bool(_FIGURE.search(text) or _VISUAL_ZH.search(text))
