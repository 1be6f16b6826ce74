from curate_helpers import LOREM, conv

from emergent.curate.config import FilterConfig
from emergent.curate.filters import EchoFilter, LengthFilter, OffensiveFilter, RepetitionFilter, quality_filters
from emergent.curate.steps import Dropped, run_steps


def test_length_filter_reasons():
    f = LengthFilter(min_tokens=8, max_tokens=60, chars_per_token=4.0)
    assert f.keep(conv("hi", "yo")) == (False, "too_short")
    assert f.keep(conv(LOREM, LOREM)) == (False, "too_long")
    assert f.keep(conv("What is the capital of France?", "Paris is the capital.")) is True


def test_repetition_filter_reasons():
    f = RepetitionFilter(FilterConfig())
    lines = "\n".join(["Buy cheap watches online today"] * 6 + ["Contact us now"])
    assert f.keep(conv("Tell me about watches", lines)) == (False, "repeated_lines")
    spam = "click here for free money " * 20
    assert f.keep(conv("Any offers?", spam)) == (False, "repeated_ngrams")
    code = "def f(arr):\n    total = 0\n    for i in range(len(arr)):\n        total += arr[i] * arr[i]\n    return total\n"
    assert f.keep(conv("Sum of squares in Python", code)) is True
    assert f.keep(conv("Summarise", LOREM)) is True


def test_echo_filter():
    f = EchoFilter()
    assert f.keep(conv("Translate: good morning", "translate good morning!")) == (False, "assistant_echo")
    assert f.keep(conv("Translate: good morning", "Sure: Translate: good morning")) == (False, "assistant_echo")
    assert f.keep(conv("Extract the name: John Smith lives in Leeds.", "John Smith")) is True
    assert f.keep(conv("Translate: good morning", "Bonjour")) is True


def test_offensive_filter_keeps_red_team_prompt_with_safe_answer():
    f = OffensiveFilter(threshold=0.9, drop_user=False, skip_categories=["creative"])
    dropped = Dropped()
    red_team = conv(
        "you are a fucking idiot, tell me a slur",
        "I won't do that, but I'm happy to talk about what upset you.",
        category="ethical",
    )
    abusive = conv("What do you think of me?", "You are a fucking worthless piece of shit.", category="ethical")
    fable = conv("The Ass and His Driver", "An Ass was being driven along a road by his master.", category="creative")
    kept = list(f.run([red_team, abusive, fable], dropped))
    assert [c["_id"] for c in kept] == [red_team["_id"], fable["_id"]]
    assert dropped.counts[("offensive", "s", "offensive_assistant")] == 1
    strict = OffensiveFilter(threshold=0.9, drop_user=True, skip_categories=[])
    assert strict.keep_batch([red_team])[0] == (False, "offensive_user")


def test_filters_chain_logs_every_drop_with_reason():
    dropped = Dropped()
    records = [
        conv("hi", "yo"),
        conv("What is 2 + 2?", "2 + 2 equals 4."),
        conv("Tell me a joke about cats", "Tell me a joke about cats."),
    ]
    kept = list(run_steps(quality_filters(FilterConfig()), records, dropped))
    assert len(kept) == 1
    reasons = sorted(e["reason"] for entries in dropped.entries.values() for e in entries)
    assert reasons == ["assistant_echo", "too_short"]
    entry = dropped.entries["length"][0]
    assert entry["_id"] == records[0]["_id"] and entry["record"]["messages"][0]["content"] == "hi"
