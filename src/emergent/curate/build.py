"""`emergent data build`: ingest -> quality filters -> decontamination -> categories -> exact and
near-duplicate dedup -> caps (every bucket at most max_bucket_share, plus curate.caps) -> the curated
mixture, curriculum phase files and a manifest.

Two passes keep memory flat: pass 1 streams records through the per-record steps (pipeline.py),
staging survivors to disk and keeping only compact per-row arrays (hash, band keys, category...);
the dedup/caps plan is decided on those arrays; pass 2 streams the staged records and writes them.
Everything is built in `.<out>.partial` and renamed at the end, so a killed build leaves no half
output and a rerun starts clean.
"""

from __future__ import annotations

import shutil
from collections import Counter
from enum import IntEnum
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from emergent.config import RunConfig
from emergent.curate.categorise import load_classifier, needs_classifier, predicted_sources
from emergent.curate.composition import (
    cap_limits,
    composition,
    composition_warnings,
    diversity,
    downsample,
    fair_shares,
    feasible_caps,
    target_feasibility,
)
from emergent.curate.decontaminate import held_out_key
from emergent.curate.dedup import keep_rank, plan_exact, plan_near
from emergent.curate.eval_sets import EVALUATION_PART_EVERY, evaluation_splits, load_eval_sets
from emergent.curate.jaccard import StagedTexts
from emergent.curate.phases import file_positions, phase_members, validation_rows
from emergent.curate.pipeline import lsh_shape, make_executor, pairs_finder
from emergent.curate.steps import Dropped
from emergent.curate.window import TrainingWindow
from emergent.curate.writers import DroppedFiles, PhaseBuckets, ShardSink, Staging
from emergent.data.ingest import IngestStream, QuarantineFile
from emergent.data.store import VALIDATION_FILE, row_to_conversation
from emergent.handoff import write_manifest
from emergent.overlap import MIN_PROMPT_WORDS, EvalSet
from emergent.progress import counter_progress
from emergent.schema import CATEGORIES


class RowStatus(IntEnum):
    """What the plan decided for a row (an int8 per row in the plan's arrays)."""

    KEPT = 0
    EXACT = 1  # exact duplicate of another row
    NEAR = 2  # near duplicate
    CAPPED = 3  # over a cap (which one: CapKind)
    PROMPT = 4  # another answer to a prompt a kept row has


class CapKind(IntEnum):
    """Which cap dropped a CAPPED row: it names the drop reason (`_CAP_REASONS`)."""

    NONE = 0
    SOURCE = 1  # curate.caps.sources
    CATEGORY = 2  # curate.caps.categories (or the targets' upper bounds)
    SHARE = 3  # max_bucket_share, where it is the tighter bound


KEPT, EXACT, NEAR, CAPPED, PROMPT = RowStatus
ARRAY_KEYS = ("hashes", "lengths", "band_keys", "prompt_hashes", "category", "source", "tokens", "ids")


def build(cfg: RunConfig, out: Path, show_progress: bool = True) -> dict:
    """Build the curated mixture into `out` and return its manifest (also written to out/manifest.json)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    if partial.exists():
        shutil.rmtree(partial)  # left by a killed build
    partial.mkdir()
    manifest = _build_into(cfg, partial, show_progress)
    shutil.rmtree(partial / "_work")
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        if old.exists():
            shutil.rmtree(old)
        out.rename(old)
        partial.rename(out)
        shutil.rmtree(old)
    else:
        partial.rename(out)
    return manifest


def _pass1(
    cfg: RunConfig, dst: Path, work: Path, eval_sets: list[EvalSet], classify: bool, show_progress: bool
) -> tuple[dict, Dropped, IngestStream, TrainingWindow]:
    cur = cfg.curate
    names = [s.name for s in cfg.sources]
    executor = make_executor(cur, eval_sets, names, classify)  # forks workers before any progress thread exists
    quarantine = QuarantineFile(dst / "quarantine.jsonl")
    dropped_files = DroppedFiles(dst / "dropped")
    stream = IngestStream(cfg.sources, cfg.ingest, quarantine)
    log = Dropped(keep_records=False)
    # Before the other steps: a record that would train no token must not be counted anywhere.
    window, window_log = TrainingWindow(cfg.training.max_seq_len, cur.filters.chars_per_token), Dropped()
    arrays: dict[str, list[np.ndarray]] = {k: [] for k in ARRAY_KEYS}
    staging = Staging(work / "staging.arrow")
    try:
        with open(work / "signatures.u32", "wb") as sig_file, counter_progress(show_progress) as progress:
            task = progress.add_task("curate pass 1: filter, categorise, fingerprint", total=None)
            for res in executor.map(window.run(stream, window_log)):
                staging.write(res.table)
                sig_file.write(np.ascontiguousarray(res.arrays["signatures"]).tobytes())
                for k in ARRAY_KEYS:
                    arrays[k].append(res.arrays[k])
                dropped_files.write(res.dropped.take_entries())
                log.merge(res.dropped)
                progress.advance(task, res.rows + sum(res.dropped.counts.values()))
                dropped_files.write(window_log.take_entries())
            dropped_files.write(window_log.take_entries())
            log.merge(window_log)
    finally:
        executor.close()
        quarantine.close()
        dropped_files.close()
        staging.close()
    merged = {k: np.concatenate(v) if v else np.zeros(0) for k, v in arrays.items()}
    if not arrays["ids"]:
        merged["ids"] = np.zeros((0, 12), np.uint8)
        merged["band_keys"] = np.zeros((0, 0), np.uint64)
    if executor.band_keys_in_cluster is not None:  # Ray: merged["band_keys"] has zero columns
        merged["band_keys_in_cluster"] = executor.band_keys_in_cluster
    return merged, log, stream, window


def _plan(cfg: RunConfig, a: dict, work: Path, warnings: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(status per row, the row each duplicate duplicates, cap kind per row) — decided on arrays only."""
    cur = cfg.curate
    n = len(a["hashes"])
    status = np.zeros(n, dtype=np.int8)
    dup_of = np.arange(n)
    cap_kind = np.zeros(n, dtype=np.int8)
    rank = keep_rank(a["source"].astype(np.int64), a["lengths"].astype(np.int64), list(cur.keep_priority))
    if cur.exact_dedup.enabled and n:
        keeper = plan_exact(a["hashes"], rank)
        dup = keeper != np.arange(n)
        status[dup], dup_of[dup] = EXACT, keeper[dup]
    if cur.near_dedup.enabled and n:
        nd = cur.near_dedup
        sig = (
            np.memmap(work / "signatures.u32", dtype=np.uint32, mode="r", shape=(n, nd.num_perm)) if nd.verify else None
        )
        texts = StagedTexts(work / "staging.arrow", a["hashes"]) if nd.verify and nd.exact_jaccard else None
        rows = np.nonzero(status == KEPT)[0]
        # On Ray the band keys stayed in the cluster; the shuffle selects the rows there.
        in_cluster = a.get("band_keys_in_cluster")
        keys = a["band_keys"][rows] if in_cluster is None else in_cluster.select(rows)
        keeper = plan_near(keys, sig, rank, rows, nd.threshold, pairs_fn=pairs_finder(cur), texts=texts, ngram=nd.ngram)
        dup = keeper != rows
        status[rows[dup]], dup_of[rows[dup]] = NEAR, keeper[dup]
    names = [s.name for s in cfg.sources]
    if cur.prompt_dedup.enabled and n:
        live = status == KEPT
        if cur.prompt_dedup.sources is not None:
            live &= np.isin(a["source"], [names.index(s) for s in cur.prompt_dedup.sources])
        rows = np.nonzero(live)[0]
        keeper = rows[plan_exact(a["prompt_hashes"][rows], rank[rows])]
        dup = keeper != rows
        status[rows[dup]], dup_of[rows[dup]] = PROMPT, keeper[dup]
    category_caps = dict(cur.caps.categories)
    if cur.caps.categories_from_targets:
        # Every bucket at the upper bound of its target range; explicit caps override.
        category_caps = {c: hi for c, (_lo, hi) in cur.targets.items() if hi < 1} | category_caps
    # max_bucket_share caps every bucket; a tighter cap of its own wins. Which one bound a bucket
    # names the reason its rows were dropped.
    share_bound = {c for c in CATEGORIES if cur.max_bucket_share < category_caps.get(c, 1.0)}
    category_caps |= {c: cur.max_bucket_share for c in share_bound}
    for kind, code, caps, labels, codes in (
        ("source", CapKind.SOURCE, cur.caps.sources, names, a["source"]),
        ("category", CapKind.CATEGORY, category_caps, list(CATEGORIES), a["category"]),
    ):
        unknown = sorted(set(caps) - set(labels))
        if unknown:
            warnings.append(
                f"curate.caps.{kind}s names {unknown}, which the mixture does not have — check the spelling"
            )
        if not caps:
            continue
        live = status == KEPT
        counts = {label: int(np.sum(live & (codes == i))) for i, label in enumerate(labels)}
        present = {k: v for k, v in caps.items() if counts.get(k)}
        limits = cap_limits(counts, feasible_caps(present, counts, f"curate.caps ({kind}s)", warnings))
        for i, label in enumerate(labels):
            if limits[label] < counts[label]:
                idx = np.nonzero(live & (codes == i))[0]
                seed = cfg.seed * 1000 + code * 100 + i
                if kind == "source":
                    keep = downsample(len(idx), limits[label], seed)
                else:
                    keep = _level_sources(a["source"][idx], limits[label], seed)
                bound = CapKind.SHARE if kind == "category" and label in share_bound else code
                status[idx[~keep]], cap_kind[idx[~keep]] = CAPPED, bound
    return status, dup_of, cap_kind


def _level_sources(sources: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Mask keeping `limit` rows of a capped bucket, taken from its largest sources first (`fair_shares`),
    each source's rows chosen by its own seeded order."""
    counts = {int(s): int(n) for s, n in zip(*np.unique(sources, return_counts=True), strict=True)}
    keep = np.zeros(len(sources), dtype=bool)
    for s, k in fair_shares(counts, limit).items():
        rows = np.nonzero(sources == s)[0]
        keep[rows] = downsample(len(rows), k, seed * 1000 + s)
    return keep


_DEDUP_FILES = {
    EXACT: ("exact_dedup", "exact_duplicate"),
    NEAR: ("near_dedup", "near_duplicate"),
    PROMPT: ("prompt_dedup", "same_prompt"),
}
_CAP_REASONS = {
    CapKind.SOURCE: "capped_source",
    CapKind.CATEGORY: "capped_category",
    CapKind.SHARE: "capped_max_bucket_share",
}


def _pass2(
    cfg: RunConfig,
    dst: Path,
    work: Path,
    a: dict,
    status: np.ndarray,
    dup_of: np.ndarray,
    cap_kind: np.ndarray,
    members: list[np.ndarray],
    held: np.ndarray,
    show_progress: bool,
) -> None:
    buckets = PhaseBuckets(work / "phase_buckets", file_positions(cfg, members, held))
    shards = ShardSink(dst / "conversations", cfg.ingest.shard_size)
    dropped = DroppedFiles(dst / "dropped")
    offset = 0
    with pa.OSFile(str(work / "staging.arrow"), "rb") as f, counter_progress(show_progress) as progress:
        reader = ipc.open_file(f)
        task = progress.add_task("curate pass 2: write mixture and phases", total=len(status))
        for i in range(reader.num_record_batches):
            table = pa.Table.from_batches([reader.get_batch(i)])
            k = table.num_rows
            st = status[offset : offset + k]
            shards.write(table.take(np.nonzero(st == KEPT)[0]))
            entries: dict[str, list[dict]] = {}
            for j in np.nonzero(st != KEPT)[0]:
                row = row_to_conversation(table.slice(int(j), 1).to_pylist()[0])
                g = offset + int(j)
                if st[j] == CAPPED:
                    step, entry = "caps", {"reason": _CAP_REASONS[int(cap_kind[g])]}
                else:
                    step, reason = _DEDUP_FILES[int(st[j])]
                    entry = {"reason": reason, "duplicate_of": a["ids"][dup_of[g]].tobytes().hex()}
                entry.update({"_id": row["_id"], "_source": row["_source"], "_origin": row["_origin"]})
                entry["record"] = {"messages": row["messages"], "tools": row["tools"], "_category": row["_category"]}
                entries.setdefault(step, []).append(entry)
            dropped.write(entries)
            buckets.route(table, offset)
            offset += k
            progress.advance(task, k)
    shards.close()
    dropped.close()
    buckets.finish([dst / "phases" / f"{p.name}.parquet" for p in cfg.curriculum.phases] + [dst / VALIDATION_FILE])


def _build_into(cfg: RunConfig, dst: Path, show_progress: bool) -> dict:
    """Both passes into `dst` (a partial folder `build` swaps in when the build is complete)."""
    cur = cfg.curate
    work = dst / "_work"
    work.mkdir()
    warnings = target_feasibility(cur.targets)
    eval_sets: list[EvalSet] = load_eval_sets(cfg) if cur.decontaminate.enabled else []
    if cur.decontaminate.enabled and not any(s.prompts for s in eval_sets) and not cur.decontaminate.evaluation_parts:
        warnings.append(
            "decontamination found no eval prompts (no src/emergent/evaluate/suites/*.yaml and no curate.decontaminate files or sets): nothing was checked"
        )
    warnings += [f"decontamination skipped {s.name}: {s.skipped}" for s in eval_sets if s.skipped]
    warnings += [f"TRAINING ON AN EVALUATION SPLIT — {why}" for why in evaluation_splits(cfg)]
    classify = needs_classifier(cfg.sources)
    missing = load_classifier()[1] if classify else None
    if missing:
        warnings.append(
            f"no category classifier: {missing}; records without a source category were put in {cur.categorise.fallback_category!r}"
        )

    arrays, log, stream, window = _pass1(cfg, dst, work, eval_sets, classify, show_progress)
    status, dup_of, cap_kind = _plan(cfg, arrays, work, warnings)
    held = validation_rows(cfg, status == KEPT, arrays["category"], arrays["prompt_hashes"])
    members = phase_members(cfg, status == KEPT, arrays["category"], held)
    _pass2(cfg, dst, work, arrays, status, dup_of, cap_kind, members, held, show_progress)
    return _manifest(
        cfg, dst, arrays, status, cap_kind, members, held, log, stream, warnings,
        _decontamination(cfg, eval_sets, log), window.summary(),
    )  # fmt: skip


def _manifest(
    cfg: RunConfig,
    dst: Path,
    a: dict,
    status: np.ndarray,
    cap_kind: np.ndarray,
    members: list[np.ndarray],
    held: np.ndarray,
    log: Dropped,
    stream: IngestStream,
    warnings: list[str],
    decontamination: dict,
    window: dict,
) -> dict:
    cur = cfg.curate
    names = [s.name for s in cfg.sources]
    ingest = stream.summary()
    reasons: Counter = Counter(ingest["reasons"])
    per_source: dict[str, Counter] = {name: Counter() for name in names}
    for (step, source, reason), n in log.counts.items():
        reasons[reason] += n
        per_source[source]["contaminated" if step == "decontaminate" else "filtered"] += n
    kept = status == KEPT
    for code, key, reason in (
        (EXACT, "exact_duplicates", "exact_duplicate"),
        (NEAR, "near_duplicates", "near_duplicate"),
        (PROMPT, "prompt_duplicates", "same_prompt"),
    ):
        if np.any(status == code):
            reasons[reason] += int(np.sum(status == code))
        for i, name in enumerate(names):
            per_source[name][key] = int(np.sum((status == code) & (a["source"] == i)))
    for code, reason in _CAP_REASONS.items():
        if np.any(cap_kind == code):
            reasons[reason] += int(np.sum(cap_kind == code))
    sources: dict[str, dict] = {}
    for i, src in enumerate(cfg.sources):
        s_in = ingest["sources"].get(src.name, {})
        c = per_source[src.name]
        sel = a["source"] == i
        out_n = int(np.sum(kept & sel))
        sources[src.name] = {
            "input": s_in.get("input", 0),
            "quarantined": s_in.get("quarantined", 0),
            "filtered": c["filtered"],
            "contaminated": c["contaminated"],
            "exact_duplicates": c["exact_duplicates"],
            "near_duplicates": c["near_duplicates"],
            "prompt_duplicates": c["prompt_duplicates"],
            "capped": int(np.sum((status == CAPPED) & sel)),
            "output": out_n,
            "share": round(out_n / max(1, int(kept.sum())), 6),
            "license": s_in.get("license"),
            "category": s_in.get("category") or "classified",
            "categories": _bucket_counts(a["category"][kept & sel]),
        }
    counts = {
        "input": ingest["counts"]["input"],
        "quarantined": ingest["counts"]["quarantined"],
        "filtered": sum(s["filtered"] for s in sources.values()),
        "exact_duplicates": int(np.sum(status == EXACT)),
        "near_duplicates": int(np.sum(status == NEAR)),
        "prompt_duplicates": int(np.sum(status == PROMPT)),
        "contaminated": sum(s["contaminated"] for s in sources.values()),
        "capped": int(np.sum(status == CAPPED)),
        "output": int(kept.sum()),
    }
    _check_identity(counts, "total")
    for name, s in sources.items():
        _check_identity(s, f"source {name}")

    before = Counter(_bucket_counts(a["category"]))
    after = Counter(_bucket_counts(a["category"][kept]))
    classified = np.isin(a["source"], predicted_sources(cfg.sources))
    predicted = Counter(_bucket_counts(a["category"][kept & classified]))
    comp = composition(after, cur.targets, cur.max_bucket_share, predicted=predicted)
    warnings += composition_warnings(comp, cur.targets, cur.max_bucket_share, "after dedup")
    phases = {}
    for phase, member in zip(cfg.curriculum.phases, members, strict=True):
        pf = pq.ParquetFile(dst / "phases" / f"{phase.name}.parquet")
        phases[phase.name] = {
            "examples": pf.metadata.num_rows,
            "tokens": int(a["tokens"][member].sum()),
            "categories": _bucket_counts(a["category"][member]),
            "file": f"phases/{phase.name}.parquet",
        }
    bands, rows = lsh_shape(cur)
    manifest = {
        "stage": "build",
        "name": cfg.name,
        "seed": cfg.seed,
        "counts": counts,
        "reasons": dict(sorted(reasons.items())),
        "sources": sources,
        "composition": comp,
        "composition_before_dedup": composition(before, cur.targets, cur.max_bucket_share),
        "diversity": diversity(after),
        "diversity_before_dedup": diversity(before),
        "phases": phases,
        "validation": {
            "examples": int(held.sum()),
            "tokens": int(a["tokens"][held].sum()),
            "categories": _bucket_counts(a["category"][held]),
            "file": VALIDATION_FILE,
            **cur.validation.model_dump(),
        },
        "notes": dict(sorted(log.notes.items())),
        "dedup": {
            "exact": cur.exact_dedup.enabled,
            "prompt": cur.prompt_dedup.model_dump() if cur.prompt_dedup.enabled else False,
            "near": {**cur.near_dedup.model_dump(), "bands": bands, "rows": rows} if cur.near_dedup.enabled else False,
            "keep_priority": list(cur.keep_priority),
        },
        "decontamination": decontamination,
        "tokens": f"approximate: characters / {cur.filters.chars_per_token} (curate.filters.chars_per_token)",
        "shards": len(list((dst / "conversations").glob("*.parquet"))),
        "persona_tags_stripped": ingest.get("persona_tags_stripped", 0),
        "warnings": warnings,
        "window": window,  # tool records with results / call-only, schema trims, per source
    }
    write_manifest(dst / "manifest.json", manifest)
    return manifest


def _decontamination(cfg: RunConfig, eval_sets: list[EvalSet], log: Dropped) -> dict:
    """What decontamination checked: each set with its prompt count and the records it caught."""
    dc = cfg.curate.decontaminate
    hits = {key: n for (step, key), n in log.breakdown.items() if step == "decontaminate"}
    sets = [
        {"name": s.name, "from": s.origin, "prompts": len(s.prompts), "hits": hits.get(s.name, 0)}
        | ({"skipped": s.skipped} if s.skipped else {})
        for s in eval_sets
    ]
    parts = {
        name: {"held_out": hits.get(held_out_key(name), 0), "one_in": EVALUATION_PART_EVERY}
        for name in (dc.evaluation_parts if dc.enabled else [])
    }
    return {
        "enabled": dc.enabled,
        "ngram": dc.ngram,
        "exact_below_words": MIN_PROMPT_WORDS,
        "prompts": sum(len(s.prompts) for s in eval_sets),
        "sets": sets,
        "evaluation_parts": parts,
        "evaluation_splits_trained_on": evaluation_splits(cfg),
    }


def _bucket_counts(codes: np.ndarray) -> dict[str, int]:
    counts = (
        np.bincount(codes.astype(np.int64), minlength=len(CATEGORIES))
        if len(codes)
        else np.zeros(len(CATEGORIES), np.int64)
    )
    return {CATEGORIES[i]: int(n) for i, n in enumerate(counts) if n}


# Where every input record ends up: input == sum of these, in total and per source.
ACCOUNTED_PARTS = (
    "quarantined",
    "filtered",
    "exact_duplicates",
    "near_duplicates",
    "prompt_duplicates",
    "contaminated",
    "capped",
    "output",
)


def _check_identity(c: dict, where: str) -> None:
    parts = ACCOUNTED_PARTS
    if c["input"] != sum(c[k] for k in parts):
        raise RuntimeError(
            f"curation accounting broke for {where}: input {c['input']} != " + " + ".join(f"{k} {c[k]}" for k in parts)
        )
