import json
from pathlib import Path

import pytest
from curate_helpers import conv

from emergent.config import load_config, parse_config
from emergent.curate.decontaminate import Decontaminate
from emergent.curate.eval_sets import (
    SUITES_DIR,
    evaluation_splits,
    in_evaluation_part,
    load_eval_sets,
    read_prompts,
    suite_prompts,
)
from emergent.evaluate.suite import load_suite, load_suite_file
from emergent.overlap import EvalSet
from emergent.schema import make_conversation
from emergent.text import match_key

PROMPT = "Write a Python function that returns the nth Fibonacci number using memoisation and explain its complexity."
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real corpora not found at {SHARED}")


def _sets(*prompts: str) -> list[EvalSet]:
    return [EvalSet("t", "test", list(prompts))]


def test_thirteen_gram_overlap_is_dropped():
    d = Decontaminate(_sets(PROMPT), n=13)
    leaked = conv("Please help. " + PROMPT.upper() + " Thanks!", "def fib(n): ...")
    assert d.keep(leaked) == (False, "eval_overlap")
    near_miss = conv("Write a Python function that returns the nth Fibonacci number.", "def fib(n): ...")
    assert d.keep(near_miss) is True


def test_mid_length_prompts_match_as_a_phrase_and_short_ones_as_a_whole_turn():
    d = Decontaminate(_sets("What is the boiling point of water at sea level?", "Who painted the Mona Lisa?"), n=13)
    assert d.keep(conv("Q: what is the boiling point of water at sea level", "100 C")) == (False, "eval_overlap")
    # Short: the same user turn whatever its case, spacing and punctuation...
    assert d.keep(conv("who  painted the MONA LISA", "Leonardo da Vinci.")) == (False, "eval_prompt")
    # ...in any user turn of a dialogue...
    later = make_conversation(
        [
            {"role": "user", "content": "Quiz time."},
            {"role": "assistant", "content": "Go on."},
            {"role": "user", "content": "Who painted the Mona Lisa?!"},
            {"role": "assistant", "content": "Leonardo."},
        ],
        source="s",
        origin="t",
    )
    assert d.keep(later) == (False, "eval_prompt")
    # ...but not as a phrase inside a longer request, nor in an assistant turn.
    assert d.keep(conv("Tell me who painted the Mona Lisa and when", "Leonardo, around 1503.")) is True
    assert d.keep(conv("Name a famous painting.", "Who painted the Mona Lisa? Leonardo.")) is True


def test_every_prompt_and_dialogue_turn_of_the_shipped_suite_is_read():
    path = SUITES_DIR / "default.yaml"
    yaml_suite = load_suite_file(path)
    assert read_prompts(path) == [t for item in yaml_suite.items for t in item.turns]
    assert len(yaml_suite.prompts) >= 175 and yaml_suite.consistency and yaml_suite.transitions
    suite = load_suite(["default"])  # checked items too (GSM8K, HumanEval, BFCL, ...), where shipped
    prompts = suite_prompts()
    assert prompts == [t for item in suite.items for t in item.turns]
    (default,) = [s for s in load_eval_sets(_config_for_suite()) if s.name == "suite default"]
    assert default.prompts == prompts
    # Plain-string prompts, a consistency turn and a transition turn, short or long, all checkable.
    d = Decontaminate([default])
    for item in (yaml_suite.prompts[0], yaml_suite.consistency[0], yaml_suite.transitions[-1], suite.prompts[0]):
        for turn in item.turns:
            assert d.keep(conv(turn, "An answer long enough to be a record.")) is not True, turn


def _config_for_suite():
    return parse_config({"name": "t", "sources": [], "output_dir": "/tmp/unused"}, CONFIGS / "t.yaml")


def test_read_prompts_from_other_files(tmp_path):
    yml = tmp_path / "cases.yaml"
    yml.write_text("cases:\n  - prompt: first prompt\n  - messages:\n      - {role: user, content: second prompt}\n")
    assert read_prompts(yml) == ["first prompt", "second prompt"]
    jl = tmp_path / "p.jsonl"
    jl.write_text('{"question": "q1", "answer": "a"}\n{"messages": [{"role": "user", "content": "q2"}]}\n')
    assert read_prompts(jl) == ["q1", "q2"]
    items = tmp_path / "items.jsonl"  # the shape `emergent eval suite --export` writes
    items.write_text(json.dumps({"id": "x", "turns": ["t1", "t2"], "messages": [{"role": "user", "content": "t1"}]}))
    assert read_prompts(items) == ["t1", "t2"]
    ids = tmp_path / "tasks.jsonl"
    ids.write_text("".join(json.dumps({"task_id": i, "text": f"task {i}"}) + "\n" for i in (5, 11, 510, 511)))
    assert read_prompts(ids, task_ids=(11, 510)) == ["task 11", "task 510"]


def test_partition_is_stable_and_ignores_case_and_punctuation():
    assert in_evaluation_part("who sang i ran all the way home") == in_evaluation_part(
        "Who sang I ran all the way home?"
    )
    questions = [f"question number {i}" for i in range(5000)]
    share = sum(map(in_evaluation_part, questions)) / len(questions)
    assert 0.18 < share < 0.22


def test_evaluation_part_records_are_held_out_by_source():
    held = next(q for q in (f"question {i}" for i in range(100)) if in_evaluation_part(q))
    kept = next(q for q in (f"question {i}" for i in range(100)) if not in_evaluation_part(q))
    d = Decontaminate([], evaluation_parts=["nq_open"])
    assert d.keep(conv(held, "Yes.", source="nq_open")) == (False, "evaluation_part")
    assert d.keep(conv(kept, "Yes.", source="nq_open")) is True
    assert d.keep(conv(held, "Yes.", source="other")) is True  # only the listed sources are split


def _config(tmp_path: Path, decontaminate: dict, sources: list[dict] | None = None):
    (tmp_path / "a.jsonl").write_text(json.dumps({"question": "who wrote hamlet", "answer": ["Shakespeare"]}) + "\n")
    cfg = {
        "name": "t",
        "output_dir": str(tmp_path / "run"),
        "sources": sources or [{"name": "nq_open", "format": "nq_open", "path": "a.jsonl"}],
        "curate": {"decontaminate": {"eval_suites": False, **decontaminate}},
    }
    return parse_config(cfg, tmp_path / "config.yaml")


def test_a_missing_set_or_source_is_skipped_and_said_so(tmp_path):
    cfg = _config(tmp_path, {"sets": [{"name": "gone", "path": "nowhere/test.jsonl"}], "evaluation_parts": ["hh"]})
    gone, hh = load_eval_sets(cfg)
    assert gone.prompts == [] and gone.skipped.startswith("file not found")
    assert hh.prompts == [] and "not among the sources" in hh.skipped


def test_training_on_an_evaluation_split_is_named(tmp_path):
    he = {"name": "he", "format": "humaneval", "path": "a.jsonl"}
    mbpp = {"name": "mb", "format": "mbpp", "path": "a.jsonl", "options": {"splits": ["test", "train"]}}
    (tmp_path / "cm_test.csv").write_text("label,input\n0,x\n")
    cm = {"name": "cm", "format": "ethics", "path": "cm_test.csv"}
    nq = {"name": "nq", "format": "nq_open", "path": "NQ-open.dev.jsonl"}
    (tmp_path / "NQ-open.dev.jsonl").write_text("")
    cfg = _config(tmp_path, {}, [he, mbpp, cm, nq])
    named = evaluation_splits(cfg)
    assert [w.split("'")[1] for w in named] == ["he", "mb", "cm", "nq"]
    assert evaluation_splits(_config(tmp_path, {"evaluation_parts": ["nq"]}, [nq])) == []


@pytest.mark.parametrize("name", ["corpora.yaml", "seed.yaml", "quickstart.yaml"])
def test_default_configs_train_on_no_evaluation_split(name):
    cfg = load_config(CONFIGS / name)
    assert evaluation_splits(cfg) == []
    assert set(cfg.curate.decontaminate.evaluation_parts) == {"nq_open", "hh_rlhf"}
    assert not any(s.format == "humaneval" for s in cfg.sources)


@needs_shared
def test_the_public_evaluation_sets_are_read_whole():
    cfg = load_config(CONFIGS / "corpora.yaml")
    sets = {s.name: s for s in load_eval_sets(cfg)}
    counts = {name: len(s.prompts) for name, s in sets.items()}
    assert counts["gsm8k_test"] == 1319 and counts["humaneval"] == 164 and counts["mbpp_test"] == 500
    assert counts["ifeval"] == 541 and counts["eq_bench"] == 171
    assert counts["suite default"] >= 232
    # The evaluation parts: about one question in five of NQ-open dev (3,610) and hh-rlhf test (2,312).
    assert 600 < counts["nq_open (evaluation part)"] < 850
    assert 350 < counts["hh_rlhf (evaluation part)"] < 560
    assert not any(s.skipped for s in sets.values())


@needs_shared
def test_real_eval_prompts_catch_real_rows():
    """GSM8K test questions, an IFEval prompt and a short NQ-open question, as rows of other corpora would hold them."""
    gsm_test = [json.loads(line)["question"] for line in (SHARED / "gsm8k" / "test.jsonl").open()]
    ifeval = [json.loads(line)["prompt"] for line in (SHARED / "ifeval" / "input_data.jsonl").open()]
    nq = [json.loads(line)["question"] for line in (SHARED / "nq-open" / "NQ-open.dev.jsonl").open()]
    short = next(q for q in nq if len(match_key(q).split()) < 8 and in_evaluation_part(q))
    sets = [EvalSet("gsm8k_test", "", gsm_test), EvalSet("ifeval", "", ifeval), EvalSet("nq", "", [short])]
    d = Decontaminate(sets)
    assert d.keep(conv(gsm_test[0], "Let me think step by step.")) == (False, "eval_overlap")
    assert d.keep(conv("Please do this: " + ifeval[7], "Sure.")) == (False, "eval_overlap")
    assert d.keep(conv(short.capitalize() + "?", "An answer.")) == (False, "eval_prompt")
    gsm_train = [json.loads(line)["question"] for line in (SHARED / "gsm8k" / "train.jsonl").open()][:500]
    assert sum(d.keep(conv(q, "An answer.")) is not True for q in gsm_train) <= 2


@needs_shared
def test_mbpp_reads_no_test_task_by_default():
    from emergent.data.ingest import IngestStream

    cfg = load_config(CONFIGS / "corpora.yaml")
    quarantined: list[dict] = []
    source = next(s for s in cfg.sources if s.name == "mbpp")
    source.options = {}  # the reader's own default
    kept = list(IngestStream([source], cfg.ingest, quarantined.append).source_records(source))
    assert len(kept) == 974 - 500
    assert {q["reason"] for q in quarantined} == {"evaluation_split"} and len(quarantined) == 500
    # Tasks 602, 704 and 872 repeat a test task's text word for word, and 16 more share a 13-gram
    # with one ("matches a string that has an a followed by ..."): decontamination against the test
    # ids (the mbpp_test set of corpora.yaml) is what keeps them out.
    mbpp_test = next(s for s in load_eval_sets(cfg) if s.name == "mbpp_test")
    d = Decontaminate([mbpp_test])
    caught = {int(c["_origin"].rsplit(":", 1)[-1]) for c in kept if d.keep(c) is not True}  # line = task id
    assert {602, 704, 872} <= caught and len(caught) == 19


def test_the_evaluation_contamination_check_follows_the_same_rule(tmp_path):
    from emergent.data.store import write_conversations
    from emergent.evaluate.contamination import contamination
    from emergent.evaluate.suite import Item

    items = [
        Item("long", "prompt", [PROMPT], ["technical"]),
        Item("short", "prompt", ["Who painted the Mona Lisa?"], ["factual"]),
        Item("dialogue", "consistency", ["Hi! I just finished a long hike.", "Good morning!"], ["conversational"] * 2),
        Item("clean", "prompt", ["What is the smallest prime number?"], ["factual"]),
    ]
    training = [
        conv("Could you: " + PROMPT, "Sure."),
        conv("who painted the mona lisa", "Leonardo."),
        conv("GOOD MORNING", "Morning!"),
        conv("Tell me: what is the smallest prime number and why", "2."),  # a short prompt inside a longer turn
    ]
    (tmp_path / "conversations").mkdir()
    write_conversations(training, tmp_path / "conversations" / "part-0.parquet")
    result = contamination(items, tmp_path)
    assert result["contaminated"] == ["dialogue", "long", "short"] and result["records"] == 4
    assert contamination(items, tmp_path / "absent")["checked"] is False
