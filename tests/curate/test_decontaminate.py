from curate_helpers import conv

from emergent.curate.decontaminate import Decontaminate, read_prompts

PROMPT = "Write a Python function that returns the nth Fibonacci number using memoisation and explain its complexity."


def test_thirteen_gram_overlap_is_dropped():
    d = Decontaminate([PROMPT], n=13)
    leaked = conv("Please help. " + PROMPT.upper() + " Thanks!", "def fib(n): ...")
    assert d.keep(leaked) == (False, "eval_overlap")
    near_miss = conv("Write a Python function that returns the nth Fibonacci number.", "def fib(n): ...")
    assert d.keep(near_miss) is True


def test_short_prompts_match_whole_and_very_short_are_skipped():
    d = Decontaminate(["What is the boiling point of water at sea level?", "Hi there"], n=13)
    assert d.skipped_short == 1
    assert d.keep(conv("Q: what is the boiling point of water at sea level", "100 C")) == (False, "eval_overlap")
    assert d.keep(conv("Hi there", "Hello! How can I help you today with your question?")) is True


def test_read_prompts_from_yaml_suite_and_jsonl(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "cases:\n  - id: a\n    prompt: first prompt\n  - id: b\n    messages:\n      - {role: system, content: sys}\n      - {role: user, content: second prompt}\n"
    )
    assert read_prompts(suite) == ["first prompt", "second prompt"]
    jl = tmp_path / "p.jsonl"
    jl.write_text('{"question": "q1"}\n{"messages": [{"role": "user", "content": "q2"}]}\n')
    assert read_prompts(jl) == ["q1", "q2"]
