"""Build the shipped checked items (items/<context>.jsonl, items/dialogues/<kind>.jsonl) from ../shared/data and written.py.

Run from the repository root: `python -m emergent.evaluate.items.make_items ../shared/data`. Deterministic:
items are taken in file order after skipping those the quickstart's bundled training sample holds, so
the suite and the default training mixture do not share a record. Licences: see SOURCES.md.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path
from typing import Any

from emergent.evaluate.items import make_dialogues, written

HERE = Path(__file__).parent
SAMPLE = HERE.parent.parent / "data" / "sample"
PER_CONTEXT = 60
STOP = set(
    "a an the and or of to in on at for with from about who that this my me i is it was be do did you your our "
    "his her their them they he she we have has had not no so as by if when what which should would can could "
    "last night even though just whole first other each people more some make made show things time also into "
    "than then there these those very much many".split()
)


def ORIGINAL(n: int) -> dict:  # noqa: N802 - reads as a constant in the item tables
    """Some words the prompt does not hold: an echo of the prompt passes nothing."""
    return {"type": "original", "min_new_words": n}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def item(
    context: str, key: str, prompt: str, checks: list[dict], reference: str | None, source: str, **extra: Any
) -> dict:
    return {
        "id": f"{context}/{key}",
        "context": context,
        "kind": "prompt",
        "turns": [prompt],
        "checks": checks,
        "reference": reference,
        "source": source,
        **extra,
    }


def factual() -> list[dict]:
    return [
        item("factual", f"written-{i:03d}", q, [{"type": "short_answer", "aliases": a}, ORIGINAL(1)], a[0], "written")
        for i, (q, a) in enumerate(written.FACTUAL)
    ]


def analytical(shared: Path) -> list[dict]:
    out = []
    for i, row in enumerate(_jsonl(shared / "gsm8k" / "test.jsonl")[:PER_CONTEXT]):
        steps, gold = row["answer"].rsplit("####", 1)
        gold = gold.strip().replace(",", "")
        reference = re.sub(r"<<[^>]*>>", "", steps).strip() + f"\nThe answer is {gold}."
        out.append(
            item("analytical", f"gsm8k-test-{i:04d}", row["question"], [{"type": "final_number", "answer": gold}, ORIGINAL(3)],
                 reference, f"gsm8k test.jsonl line {i + 1}")
        )  # fmt: skip
    return out


# The MBPP tasks of the shipped suite: the first 40 of 11-510 outside the bundled sample as it was when the
# suite was built. The sample was rebuilt later (session 16) with other tasks, and choosing again would move the
# suite; pinned, a rebuild writes the same items, and a task the sample now holds fails here.
MBPP_TASKS = (11, 12, 14, 15, 16, 18, 19, 20, 22, 23, 24, 26, 27, 28, 30, 31, 32, 34, 35, 36)
MBPP_TASKS += (38, 39, 40, 42, 43, 44, 46, 47, 48, 50, 51, 52, 54, 55, 56, 58, 59, 60, 62, 63)


def technical(shared: Path) -> list[dict]:
    trained = {r["task_id"] for r in _jsonl(SAMPLE / "mbpp" / "mbpp.jsonl")} & set(MBPP_TASKS)
    if trained:
        raise SystemExit(f"the bundled sample now holds suite MBPP tasks {sorted(trained)}: take them out of one")
    by_id = {r["task_id"]: r for r in _jsonl(shared / "mbpp" / "mbpp.jsonl")}
    mbpp = [by_id[t] for t in MBPP_TASKS]
    mbpp_items = [
        item(
            "technical",
            f"mbpp-{r['task_id']}",
            f"{r['text']} Your code should pass this test:\n{r['test_list'][0]}",
            [{"type": "unit_tests", "harness": "mbpp", "tests": r["test_list"], "setup": r.get("test_setup_code", "")}],
            f"```python\n{r['code'].replace(chr(13), '')}\n```",
            f"mbpp task_id {r['task_id']}",
        )
        for r in mbpp[:40]
    ]
    he = _jsonl(shared / "humaneval" / "HumanEval.jsonl.gz")
    he_items = [
        item(
            "technical",
            f"humaneval-{r['task_id'].split('/')[1]}",
            f"Complete this Python function:\n```python\n{r['prompt']}```",
            [
                {
                    "type": "unit_tests",
                    "harness": "humaneval",
                    "prompt": r["prompt"],
                    "tests": r["test"],
                    "entry_point": r["entry_point"],
                }
            ],
            f"```python\n{r['prompt']}{r['canonical_solution']}```",
            r["task_id"],
        )  # fmt: skip
        for r in he[: PER_CONTEXT - len(mbpp_items)]
    ]
    # Two MBPP items, then one HumanEval: the quickstart's first three hold both harnesses.
    out, h = [], iter(he_items)
    for i, m in enumerate(mbpp_items):
        out.append(m)
        if i % 2 == 1:
            out.append(next(h))
    return out + list(h)


def tool_use(shared: Path) -> list[dict]:
    from emergent.data.formats.bfcl_calls import gold_arguments, tool_schema

    out = []
    for name in ("simple_python", "multiple"):
        trained = {r["id"] for r in _jsonl(SAMPLE / "gorilla" / f"BFCL_v4_{name}.json")}
        answers = {r["id"]: r for r in _jsonl(shared / "gorilla" / "possible_answer" / f"BFCL_v4_{name}.json")}
        for r in _jsonl(shared / "gorilla" / f"BFCL_v4_{name}.json"):
            gt = answers[r["id"]]["ground_truth"]
            if r["id"] in trained or len(gt) != 1 or len(r["question"]) != 1:
                continue
            tools = [tool_schema(f) for f in r["function"]]
            ((fn, args),) = gt[0].items()
            params = {t["name"]: list(t["parameters"].get("properties") or {}) for t in tools}
            reference = json.dumps({"name": fn, "arguments": gold_arguments(args, r["id"])})
            out.append(
                item("tool_use", f"bfcl-{r['id']}", r["question"][0][-1]["content"],
                     [{"type": "tool_call", "ground_truth": gt, "parameters": {fn: params.get(fn)}}],
                     reference, f"BFCL v4 {r['id']}", tools=tools)
            )  # fmt: skip
    # Alternate the two files: simple and multiple-choice calls in any prefix.
    simple = [o for o in out if "simple" in o["id"]]
    multiple = [o for o in out if "multiple" in o["id"]]
    mixed = [x for pair in zip(simple, multiple, strict=False) for x in pair]
    return mixed[:PER_CONTEXT]


def instructional(shared: Path) -> list[dict]:
    from emergent.evaluate.checks.ifeval import supported

    out = []
    for r in _jsonl(shared / "ifeval" / "input_data.jsonl"):
        ids, kwargs = r["instruction_id_list"], r["kwargs"]
        long = any(k.get("relation") == "at least" and (k.get("num_words") or 0) > 150 for k in kwargs)
        if not supported(ids) or long:
            continue
        kwargs = [{k: v for k, v in kw.items() if v is not None} for kw in kwargs]
        out.append(
            item("instructional", f"ifeval-{r['key']}", r["prompt"],
                 [{"type": "ifeval", "instruction_id_list": ids, "kwargs": kwargs}, {"type": "on_topic", "min_shared": 1}, ORIGINAL(5)], None, f"IFEval key {r['key']}")
        )  # fmt: skip
    return out[:PER_CONTEXT]


def empathetic(shared: Path) -> list[dict]:
    data = json.loads((shared / "eq-bench" / "eq_bench_v2_questions_171.json").read_text(encoding="utf-8"))
    out = []
    for key in sorted(data, key=int)[:PER_CONTEXT]:
        ref = data[key]["reference_answer_fullscale"]
        scores = {ref[f"emotion{i}"]: int(ref[f"emotion{i}_score"]) for i in range(1, 5)}
        lines = "\n".join(f"{e}: {s}" for e, s in scores.items())
        reference = f"First pass scores:\n{lines}\n\nCritique: the reference intensities.\n\nRevised scores:\n{lines}\n"
        out.append(
            item("empathetic", f"eqbench-{int(key):03d}", data[key]["prompt"].strip(),
                 [{"type": "eq_bench", "reference": scores, "pass_at": 7.5}], reference, f"EQ-Bench v2 question {key}")
        )  # fmt: skip
    return out


def _content_words(text: str) -> list[str]:
    return [
        w for w in re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower()) if w not in STOP and len(w) >= 4 and "'" not in w
    ]


def creative() -> list[dict]:
    out = []
    for p, (character, name, thing, thing_word, place, place_word) in enumerate(written.CREATIVE_PARTS):
        for f, form in enumerate(written.CREATIVE_FORMS):
            prompt = f"Write {form} about {character} called {name} who finds {thing} in {place}."
            slots = {"name": name, "thing": thing, "thing_word": thing_word, "place": place, "place_word": place_word}
            checks = [
                {"type": "mentions", "groups": [[name], [thing_word], [place_word]]},
                {"type": "original", "min_new_words": 20 if form == "a poem" else 30},
            ]
            reference = written.CREATIVE_REFERENCES[f].format(**slots)
            out.append(
                item(
                    "creative",
                    f"written-{p:02d}-{f}",
                    prompt,
                    checks,
                    reference,
                    "written",
                    family=f"creative/form-{f}",
                )
            )
    # Round-robin over forms so any prefix holds several forms.
    return sorted(out, key=lambda it: (it["id"][-1], it["id"]))


def _engaged(context: str, table: list, references: list[str], extra_checks: list[dict], min_new: int) -> list[dict]:
    """Items from (template, fillers) rows; the items of one template are one family (primary.py)."""
    out = []
    for t, ((template, fillers), reference) in enumerate(zip(table, references, strict=True)):
        for f, (x, words) in enumerate(fillers):
            group = list(dict.fromkeys(words + _content_words(x)))
            checks = [
                {"type": "mentions", "groups": [group]},
                *extra_checks,
                {"type": "original", "min_new_words": min_new},
            ]
            key = f"written-{t:02d}"
            out.append(
                item(context, f"{key}-{f}", template.format(x=x), checks, reference.format(x=x), "written",
                     family=f"{context}/{key}")
            )  # fmt: skip
    return sorted(out, key=lambda it: (it["id"][-1], it["id"]))


def conversational() -> list[dict]:
    return _engaged("conversational", written.CONVERSATIONAL, written.CONVERSATIONAL_REFERENCES, [], 4)


def ethical() -> list[dict]:
    return _engaged("ethical", written.ETHICAL, written.ETHICAL_REFERENCES, [{"type": "both_sides"}], 20)


def main(shared: Path, out: Path = HERE) -> None:
    """Write every item file under `out` (the package's own folder by default) and the dialogues in `out`/dialogues."""
    sets = {
        "factual": factual(),
        "analytical": analytical(shared),
        "technical": technical(shared),
        "tool_use": tool_use(shared),
        "instructional": instructional(shared),
        "empathetic": empathetic(shared),
        "creative": creative(),
        "conversational": conversational(),
        "ethical": ethical(),
    }
    make_dialogues.write_sets(out, sets, "items")
    make_dialogues.write(make_dialogues.build(shared), out / "dialogues")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
