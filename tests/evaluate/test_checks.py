"""Each check on replies whose right answer is known: it passes the right content and fails the template."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from emergent.evaluate.checks import score_reply
from emergent.evaluate.checks.code import code_from_reply, unit_tests
from emergent.evaluate.checks.eq_bench import eq_bench, fullscale, parse_scores
from emergent.evaluate.checks.ifeval import follows, ifeval
from emergent.evaluate.checks.text import (
    both_sides,
    engages,
    final_number,
    mentions,
    normalise,
    on_topic,
    original,
    short_answer,
)
from emergent.evaluate.checks.tool_call import parse_calls, tool_call


def test_short_answers_match_gold_aliases_after_normalisation():
    assert normalise("The  Eiffel-Tower!") == "eiffeltower"
    assert short_answer("It's Canberra, not Sydney.", ["Canberra"]).passed
    assert short_answer("The answer is the Pacific Ocean.", ["Pacific Ocean"]).passed
    assert not short_answer("The Berlin Wall fell in 1991.", ["1989"]).passed
    assert not short_answer("Canberran politics is complex.", ["Canberra"]).passed  # whole words only
    listing = "Maybe " + ", ".join(["Paris", "London", "Rome"] * 30) + " or Canberra."
    assert not short_answer(listing, ["Canberra"]).passed  # listing every candidate is not an answer
    assert not short_answer("", ["Canberra"]).passed


def test_gsm8k_takes_the_last_number_of_the_reply():
    assert final_number("She has 3 + 4 = 7 apples, so she sells 7 * 2 = $14.", "14").passed
    assert final_number("The total is 1,200 dollars.", "1200").passed
    assert not final_number("The answer is 18, not 17.", "18").passed  # the last number decides
    assert not final_number("I don't know.", "18").passed


def test_mentions_original_and_both_sides_fail_templates():
    story = "Mara found the brass key on the night train and opened the door to the past."
    assert mentions(story, [["Mara"], ["key"], ["train"]]).passed
    template = "Once upon a time, in a quiet village, there lived a girl who dreamed of the stars."
    assert not mentions(template, [["Mara"], ["key"], ["train"]]).passed
    assert mentions("I love playing guitars", [["guitar"]]).passed  # plural matches the stem
    prompt = "I just got back from a trip to Japan!"
    assert not original(prompt, prompt, 4).passed and not original("", prompt, 1).passed
    assert original("Oh nice, how was Kyoto? Did you eat ramen?", prompt, 4).passed
    assert both_sides("Lying protects feelings. However, it erodes trust over time.").passed
    assert not both_sides("Lying is always wrong.").passed
    assert not both_sides("No, it is not wrong to eat meat.").passed  # a verdict
    assert not both_sides("It's fine, but only sometimes.").passed  # one sentence
    # Sides set out under their names, with no contrast word (IBM Debater's bulleted replies).
    listed = (
        "Arguments in favour:\n- It saves lives on the road.\n\nArguments against:\n- It takes choices from drivers."
    )
    assert both_sides(listed).passed
    assert both_sides("Some people think eggs are fine to eat. Others say the hens suffer in cages.").passed
    # One side named twice is still one side, and so is a list under one heading.
    assert not both_sides("Supporters say it is cheap. It is also fast to build.").passed
    assert not both_sides("Arguments in favour:\n- It is cheap to run.\n- It is fast to build.").passed
    ask = "Write a limerick about a wizard who forgets spells. Do not use any commas."
    assert on_topic("There once was a wizard named Flo", ask).passed
    assert not on_topic("That's a great question! Let me help you with that.", ask).passed


def test_engages_fails_the_chatbot_dodge_and_keeps_replies_that_answer():
    # SmolLM2's own replies (the proof's generations), which named the subject and passed until session 22.
    wallet = "I found a wallet with $300 and an ID in it. Can I keep it?"
    dodged = (
        "I'm sorry for your loss, but as a chatbot, I don't have the ability to access personal data. If you need "
        "assistance with a wallet, I recommend contacting a local credit card company."
    )
    assert not engages(dodged, wallet).passed and engages(dodged, wallet).detail == "dodges: stray apology"
    puppy = "We adopted a puppy yesterday and the house is chaos."
    assert not engages("I'm sorry for any confusion. I'm here to help with your puppy.", puppy).passed
    assert not engages("As an AI, I'm not able to own a puppy, but I can help.", puppy).passed  # says what it can't
    assert not engages("I'm a helpful AI assistant named SmolLM, trained by Hugging Face", "Coffee or tea?").passed
    # Apologies and condolences the request calls for, and an AI mentioned after answering, are fine.
    assert engages("I'm so sorry for your loss. How are you holding up?", "My grandmother passed away.").passed
    assert engages("Sorry for the confusion earlier: it is 12.", "That's wrong, you made a mistake.").passed
    piano = (
        "Learning an instrument is exciting. Start with scales for ten minutes a day. I'm a helpful AI, so ask "
        "me anything about practice."
    )
    assert engages(piano, "I'm trying to learn to play the piano.").passed
    assert engages("Keep it only until you can hand it in: the ID lets the police find the owner.", wallet).passed


def test_tool_calls_are_graded_parse_then_function_then_arguments():
    spec = {
        "ground_truth": [{"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units", ""]}}],
        "parameters": {"calculate_triangle_area": ["base", "height", "unit"]},
    }
    right = '{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5.0}}'
    assert tool_call(spec, right).score == 1.0 and tool_call(spec, right).passed
    assert tool_call(spec, "calculate_triangle_area(base=10, height=5, unit='Units')").passed  # BFCL's own syntax
    assert tool_call(spec, f"<tool_call>\n{right}\n</tool_call>").passed
    wrong_args = '{"name": "calculate_triangle_area", "arguments": {"base": 5, "height": 10}}'
    assert tool_call(spec, wrong_args).score == pytest.approx(2 / 3) and not tool_call(spec, wrong_args).passed
    extra = '{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5, "colour": "red"}}'
    assert not tool_call(spec, extra).passed
    wrong_fn = '{"name": "search", "arguments": {"query": "triangle"}}'
    assert tool_call(spec, wrong_fn).score == pytest.approx(1 / 3)
    prose = "The area of the triangle is base times height over two: 25 square units."
    assert tool_call(spec, prose).score == 0.0 and parse_calls(prose) == []
    schema_copy = '{"name": "calculate_triangle_area", "parameters": {"type": "object", "properties": {}}}'
    assert not tool_call(spec, schema_copy).passed  # copying the schema is not a call


def test_eq_bench_parses_revised_scores_and_scores_fullscale():
    ref = {"Remorseful": 0.0, "Indifferent": 6.0, "Affectionate": 0.0, "Annoyed": 7.0}
    reply = (
        "First pass scores:\nRemorseful: 5\nIndifferent: 5\nAffectionate: 5\nAnnoyed: 5\n\nCritique: he is cross.\n\n"
        "Revised scores:\nRemorseful: 0\nIndifferent: 6\nAffectionate: 0\nAnnoyed: 7\n"
    )
    assert parse_scores(reply, list(ref)) == ref  # the revised block wins
    assert fullscale(ref, ref) == 10.0
    assert eq_bench({"reference": ref}, reply).passed
    assert not eq_bench({"reference": ref}, "Remorseful: 0\nIndifferent: 6").passed  # two of four: unparseable
    far = "Remorseful: 10\nIndifferent: 0\nAffectionate: 10\nAnnoyed: 0"
    assert eq_bench({"reference": ref}, far).score == 0.0
    # EQ-Bench's own constant: one emotion off by 2 costs 6.5 / (1 + e^2.4) * 0.7477.
    off = {**ref, "Annoyed": 5.0}
    assert fullscale(ref, off) == pytest.approx(10 - 0.7477 * 6.5 / (1 + 2.718281828**2.4), abs=1e-3)


def test_ifeval_checkers_on_replies_that_follow_and_break_each_constraint():
    cases = [
        ("punctuation:no_comma", {}, "No commas here at all.", "Here, a comma."),
        ("change_case:english_lowercase", {}, "all lower case.", "Not all lower."),
        ("change_case:english_capital", {}, "ALL CAPS HERE.", "Mostly CAPS."),
        (
            "length_constraints:number_words",
            {"relation": "less than", "num_words": 5},
            "one two three",
            "one two three four five six",
        ),
        ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and *two*", "*one* only"),
        ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n* b", "* a\n* b\n* c"),
        ("detectable_format:title", {}, "<<Title>>\ntext", "Title\ntext"),
        ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', "{a: 1}"),
        ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\nP.S. bye", "Hi. bye"),
        ("detectable_content:number_placeholders", {"num_placeholders": 2}, "[name] at [address]", "[name]"),
        ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Done. Any other questions?", "Done."),
        ("startend:quotation", {}, '"quoted"', "not quoted"),
        ("keywords:existence", {"keywords": ["moon", "tide"]}, "The moon pulls the tide.", "The moon."),
        ("keywords:forbidden_words", {"forbidden_words": ["very"]}, "It is big.", "It is very big."),
        ("keywords:frequency", {"keyword": "cat", "frequency": 2, "relation": "at least"}, "cat cat", "cat"),
        ("keywords:letter_frequency", {"letter": "z", "let_frequency": 2, "let_relation": "at least"}, "zz", "z"),
        ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "one\n***\ntwo", "one\n\ntwo"),
        (
            "length_constraints:nth_paragraph_first_word",
            {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
            "First part.\n\nThen, more.",
            "First part.\n\nAnd more.",
        ),
        ("combination:two_responses", {}, "Answer one.\n******\nAnswer two.", "Answer one."),
        ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "Say hi. Hi!", "Hi!"),
        ("detectable_format:constrained_response", {}, "My answer is yes.", "Yes."),
        (
            "detectable_format:multiple_sections",
            {"section_spliter": "Section", "num_sections": 2},
            "Section 1\na\nSection 2\nb",
            "Section 1\na",
        ),
    ]
    for iid, kwargs, good, bad in cases:
        assert follows(iid, kwargs, good), iid
        assert not follows(iid, kwargs, bad), iid
    spec = {"instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase"], "kwargs": [{}, {}]}
    half = ifeval(spec, "no commas But Capitals")
    assert half.score == 0.5 and not half.passed


def test_ifeval_items_shipped_are_checked_against_their_source(shared_data: Path):
    from emergent.evaluate.suite import load_suite

    source = {
        f"instructional/ifeval-{r['key']}": r
        for r in map(json.loads, (shared_data / "ifeval" / "input_data.jsonl").read_text().splitlines())
    }
    items = [p for p in load_suite(["default"]).prompts if p.contexts[0] == "instructional"]
    assert len(items) >= 50
    for it in items:
        row = source[it.id]
        assert it.turns == [row["prompt"]] and it.checks[0]["instruction_id_list"] == row["instruction_id_list"]


def test_gsm8k_gold_is_the_number_after_the_hashes(shared_data: Path):
    from emergent.evaluate.suite import load_suite

    rows = [json.loads(x) for x in (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()]
    items = [p for p in load_suite(["default"]).prompts if p.contexts[0] == "analytical" and p.checks]
    for it in items:
        row = rows[int(it.id.rsplit("-", 1)[1])]
        assert it.turns[0] == row["question"]
        assert it.checks[0]["answer"] == row["answer"].split("####")[1].strip().replace(",", "")


def test_code_is_found_in_fences_or_bare_and_run_against_the_tests():
    mbpp = {"type": "unit_tests", "harness": "mbpp", "tests": ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"]}
    good = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```\nIt adds."
    assert code_from_reply(good).startswith("def add")
    assert unit_tests(mbpp, good).passed
    assert unit_tests(mbpp, "def add(a, b):\n    return a + b").passed  # bare code
    assert not unit_tests(mbpp, "```python\ndef add(a, b):\n    return a - b\n```").passed
    assert unit_tests(mbpp, "Just add the numbers.").detail == "no Python code in the reply"


def test_humaneval_reference_passes_and_a_stub_fails(shared_data: Path):
    with gzip.open(shared_data / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        task = json.loads(f.readline())
    spec = {
        "type": "unit_tests",
        "harness": "humaneval",
        "prompt": task["prompt"],
        "tests": task["test"],
        "entry_point": task["entry_point"],
    }
    assert score_reply([spec], f"```python\n{task['prompt']}{task['canonical_solution']}```", "").passed
    assert score_reply([spec], task["canonical_solution"], "").passed  # a body-only completion
    assert not score_reply([spec], f"```python\n{task['prompt']}    return None\n```", "").passed
