"""The parts of an extractive answer, without the model: quotable units, relevance, names, passages."""

import re

import pytest

from knowledge.answering.extractive import quote
from knowledge.answering.quoting.asks import asked, asks_about_a_picture, holds
from knowledge.answering.quoting.compose import Passage, expand
from knowledge.answering.quoting.names import named, said, unmentioned
from knowledge.answering.quoting.relevance import Scored, by_coverage, with_dense
from knowledge.answering.quoting.terms import default_tokenizer, subject_terms
from knowledge.answering.quoting.units import Unit, complete, hit_units
from tests.answer_helpers import hit


@pytest.mark.parametrize(
    ("text", "quotes"),
    [
        ("# Travel\nBook every trip through Navan.", ["Book every trip through Navan."]),
        ("Introduction\n\nThe team meets weekly on Mondays.", ["The team meets weekly on Mondays."]),
        (
            "| Role | Channel |\n|---|---|\n| CEO | #ceo |\n| CFO | #finance |",
            ["| Role | Channel |\n| CEO | #ceo |", "| Role | Channel |\n| CFO | #finance |"],
        ),
        (
            "Team members can expense:\n- a desk\n- an office chair",
            ["Team members can expense: a desk", "Team members can expense: an office chair"],
        ),
        ("The policy applies to:\n\nNothing else follows here.", ["Nothing else follows here."]),
        ("Receipts are filed in Concur. Travel is booked through the", ["Receipts are filed in Concur."]),
        (
            'title: "Expenses"\n{{% panel %}}Use Navan for all travel bookings.{{% /panel %}}',
            ["Use Navan for all travel bookings."],
        ),
        ('scope="col" style="width:11em;"| 发行日期!', []),
    ],
)
def test_quotable_units(text: str, quotes: list[str]) -> None:
    assert [unit.text for unit in hit_units(0, hit(text))] == quotes


def test_a_hit_that_starts_inside_a_sentence_drops_that_piece() -> None:
    later = hit("continues from the chunk before. The next sentence is whole.", chunk_no=3)
    assert [unit.text for unit in hit_units(0, later)] == ["The next sentence is whole."]


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("Hotels must be under 250 EUR per night.", True),
        ("Channel: #ceo; Member: CEO", True),
        ("See the list below:", False),
        ("Travel is booked through the", False),
        ("Receipts, invoices,", False),
        ("年假需提前一周在系统中申请。", True),
    ],
)
def test_complete(text: str, whole: bool) -> None:
    assert complete(text) is whole


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("What is the time zone for Nairobi?", ["Nairobi"]),
        ("In the MEDDPPICC framework, what does 'E' stand for?", ["MEDDPPICC"]),
        ("What comes before 'Show completed tasks' in the menu?", ["Show completed tasks"]),
        ("Excluding GitLab's formal layers like 'Senior Manager', what is it?", ["Senior Manager", "GitLab"]),
        ("Who won the 2018 World Cup?", ["2018", "World", "Cup"]),
        ("How many vacation days do I get?", []),
        ("What permission does the gmail.com user get?", ["gmail.com"]),
    ],
)
def test_named(question: str, names: list[str]) -> None:
    assert named(question) == names


def test_unmentioned_names_are_those_no_text_holds() -> None:
    texts = ["Add world clocks for team members in Berlin and Tokyo."]
    tokenizer = default_tokenizer()
    assert unmentioned("What is the time zone for Nairobi?", texts, tokenizer) == ["Nairobi"]
    assert unmentioned("What is the time zone for Tokyo?", texts, tokenizer) == []


@pytest.mark.parametrize(
    ("question", "missing"),
    [
        ("What is a Jinja in Japan?", []),  # "Japanese" mentions Japan
        ("Do we have staff in Canada?", []),  # "Canadian" mentions Canada
        ("Do we have staff in Japanistan?", ["Japanistan"]),
        ("What does the NYC office do?", ["NYC"]),  # too short to match another form
    ],
)
def test_a_name_is_mentioned_by_another_form_of_its_word(question: str, missing: list[str]) -> None:
    texts = ["“Jinja” is a Japanese Shinto shrine.", "Our Canadian staff work from the NYSE building."]
    assert unmentioned(question, texts, default_tokenizer()) == missing


def unit(core: str, *, rank: int = 0, position: int = 0, kind: str = "sentence", lead: str = "") -> Unit:
    return Unit(rank, position, core, lead, "Heading", kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("dense", "coverage", "lang", "cross", "answers"),
    [
        (0.90, 0.50, "en", False, True),
        (0.86, 0.30, "en", False, True),
        (0.81, 0.90, "en", False, False),  # many shared words, but the question as a whole differs
        (0.86, 0.00, "en", False, False),  # similar, yet not one content word in common
        (0.82, 0.20, "en", False, False),  # one shared word of five, and not close as a whole
        (0.86, 0.50, "zh", False, False),  # Chinese texts sit closer together: a higher floor
        (0.93, 0.50, "zh", False, True),
        (0.88, 0.00, "zh", True, True),  # across languages no term can be shared: dense decides
        (0.85, 0.00, "zh", True, False),
        (None, 0.60, "en", False, True),  # no embedder: coverage alone, strictly
        (None, 0.20, "en", False, False),
    ],
)
def test_answers(dense: float | None, coverage: float, lang: str, cross: bool, answers: bool) -> None:
    assert Scored(unit("Some sentence of a source."), coverage, dense, lang, cross).answers is answers


def test_one_shared_word_covers_little_of_the_question() -> None:
    units = [unit("Instead of boil the ocean, try a smaller scope.", position=0)]
    units.append(unit("Mercury is not mentioned anywhere else in this text.", position=1))
    scored = by_coverage("What is the boiling point of mercury?", units, default_tokenizer())
    assert all(s.coverage < 0.5 for s in scored)
    assert not any(s.answers for s in scored)  # without dense similarity: coverage alone decides


def test_dense_similarity_orders_the_units() -> None:
    units = [unit("Alpha beta gamma.", position=0), unit("Delta epsilon zeta.", position=1)]
    scored = by_coverage("Which one?", units, default_tokenizer())
    ranked = with_dense(scored, {"Alpha beta gamma.": 0.80, "Delta epsilon zeta.": 0.90})
    assert [s.unit.core for s in ranked] == ["Delta epsilon zeta.", "Alpha beta gamma."]


def test_rendered_table_rows_are_quoted_under_one_header() -> None:
    rows = (
        unit("Member: CEO; Channel: #ceo", kind="row"),
        unit("Member: CFO; Channel: #finance", kind="row"),
    )
    assert Passage(rows).render() == "| Member | Channel |\n| CEO | #ceo |\n| CFO | #finance |"


def test_a_passage_takes_the_next_unit_and_a_sentence_it_refers_back_to() -> None:
    units = [
        unit("VP-Directs are VPs who report to a member of E-Group.", position=0),
        unit("They are members of the VP-Directs Group.", position=1),
        unit("x " * 400, position=2),  # too long to join
    ]
    passage = expand(units[1], units)
    assert [u.position for u in passage.units] == [0, 1]


def test_quote_cites_every_source_it_uses_and_ends_every_passage_with_a_marker() -> None:
    hits = [
        hit("Steps to follow:\n- Open the form\n- Submit the form", "Forms", doc="forms.md"),
        hit("Member: CEO; Channel: #ceo\nMember: CFO; Channel: #finance", "Channels", doc="chat.md"),
    ]
    units = [u for rank, h in enumerate(hits) for u in hit_units(rank, h)]
    scored = by_coverage("Which channel reaches the CFO member?", units, default_tokenizer())
    similarity = {s.unit.text: 0.95 if "CFO" in s.unit.text else 0.80 for s in scored}
    answer = quote(
        "Which channel reaches the CFO member?",
        hits,
        units,
        with_dense(scored, similarity),
        default_tokenizer(),
    )
    assert answer.mode == "extractive"
    assert answer.answer.startswith("| Member | Channel |") and "| CFO | #finance |" in answer.answer
    assert answer.answer.endswith("[1]") and [c.doc_id for c in answer.citations] == ["chat.md"]
    assert not re.search(r"[:,]\s*\[\d+\]", answer.answer)  # no passage ends in a dangling lead-in


@pytest.mark.parametrize(
    ("question", "subject"),
    [
        ("And for the next one?", set()),
        ("What about the one after that?", set()),
        ("What about the level above that?", {"level"}),
        ("And for the CFO?", {"cfo"}),
    ],
)
def test_subject_terms(question: str, subject: set[str]) -> None:
    assert subject_terms(default_tokenizer(), question) == subject


def test_a_question_of_references_alone_is_no_answer_however_similar() -> None:
    hits = [hit("The next one is the Location channel, prefixed loc_.", "Channels", doc="chat.md")]
    units = hit_units(0, hits[0])
    scored = by_coverage("And for the next one?", units, default_tokenizer())
    ranked = with_dense(scored, {u.text: 0.99 for u in units})
    answer = quote("And for the next one?", hits, units, ranked, default_tokenizer())
    assert answer.mode == "no_answer"


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many vacation days do employees get?", "number"),
        ("By how many minutes do meetings end early?", "number"),
        ("When did the current fiscal quarter begin?", "date"),
        ("On what date is the meeting scheduled?", "date"),
        ("When should I file an expense report?", None),
        ("What time zone do we schedule meetings in?", None),
        ("What is the prefix for group channels?", None),
        ("财年第四季度是从哪天开始的？", "date"),
        ("酒店住宿每晚最多可以报销多少钱？", "number"),
        ("公司的使命是什么？", None),
    ],
)
def test_asked(question: str, kind: str | None) -> None:
    assert asked(question) == kind


@pytest.mark.parametrize(
    ("text", "kind", "held"),
    [
        ("Full-time employees get 28 days of paid vacation.", "number", True),
        ("Each team member gets twelve days.", "number", True),
        ("Enable speedy meetings to add a buffer at the end of events.", "number", False),
        ("Q4 runs from November through January.", "date", True),
        ("The quarter starts after the board meeting.", "date", True),
        ("Ask your manager before you book.", "date", False),
        ("正式员工每年享有十五天带薪年假。", "number", True),
        ("Ask your manager before you book.", None, True),
    ],
)
def test_holds(text: str, kind: str | None, held: bool) -> None:
    assert holds(text, kind) is held  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("question", "picture"),
    [
        ("In the circular diagram of the journey, what stage follows 'Conversion'?", True),
        ("What is the default duration shown in the Event settings?", True),
        ("Which stage is depicted with a handshake icon?", True),
        ("图中第一个阶段是什么？", True),
        ("What are the stages of the customer journey?", False),
        ("What is shipping an MVC?", False),
        ("How do I figure out who my manager is?", False),
    ],
)
def test_asks_about_a_picture(question: str, picture: bool) -> None:
    assert asks_about_a_picture(question) is picture


def answer_of(question: str, texts: list[str], dense: tuple[float, ...] = (0.95, 0.5)) -> str:
    """`quote`'s answer mode over one hit per text, the units of hit n as similar as `dense[n]`."""
    hits = [hit(text, f"Page {n}", doc=f"p{n}.md") for n, text in enumerate(texts)]
    units = [u for rank, h in enumerate(hits) for u in hit_units(rank, h)]
    similarity = {u.text: dense[u.rank] for u in units}
    ranked = with_dense(by_coverage(question, units, default_tokenizer()), similarity)
    return quote(question, hits, units, ranked, default_tokenizer()).mode


def test_a_question_about_a_picture_is_answered_only_by_text_that_speaks_of_one() -> None:
    question = "In the journey diagram, which stage follows the conversion stage?"
    stages = "The journey stages are awareness, consideration, conversion and expansion."
    assert answer_of(question, [stages]) == "no_answer"
    assert answer_of(question, [stages + " The diagram shows expansion after the conversion stage."]) == (
        "extractive"
    )


def test_a_question_for_a_number_is_not_answered_by_a_sentence_without_one() -> None:
    question = "By how many minutes do speedy meetings end early?"
    assert answer_of(question, ["Enable speedy meetings to give people a break between meetings."]) == (
        "no_answer"
    )
    assert answer_of(question, ["Speedy meetings end 5 minutes early to give people a break."]) == (
        "extractive"
    )


def test_a_quoted_phrase_is_spoken_of_in_the_passage_quoted() -> None:
    question = "What is the first item listed under 'Computer Equipment' in the home office list?"
    elsewhere = "Computer Equipment is ordered through the IT portal."
    listed = "The home office list starts with a keyboard, then a mouse."
    assert answer_of(question, [listed, elsewhere]) == "no_answer"
    assert answer_of(question, ["# Computer Equipment\n\n" + listed, elsewhere]) == "extractive"


def test_a_quoted_phrase_is_said_as_a_phrase_not_word_by_word() -> None:
    question = "On the scheduling page, which meeting does the 'Find a Time' example schedule?"
    apart = "On the scheduling page, find another convenient time for the team meeting."
    assert answer_of(question, [apart]) == "no_answer"
    assert answer_of(question, ["On the scheduling page, Find a Time schedules the team meeting."]) == (
        "extractive"
    )


@pytest.mark.parametrize(
    ("phrase", "text", "is_said"),
    [
        ("Find a Time", "Use Find a time to pick a slot.", True),
        ("Find a Time", "Find another convenient time.", False),
        ("Speedy meetings", "Enable speedy meeting settings.", True),  # stemmed
        ("圆梦计划", "中国人民大学“圆梦 计划”招生", True),  # as written, spaces aside
        ("圆梦计划", "圆梦的计划", False),
    ],
)
def test_said(phrase: str, text: str, is_said: bool) -> None:
    assert said(phrase, [text], default_tokenizer()) is is_said
