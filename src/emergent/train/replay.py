"""Self-distillation replay: the base model's own replies in place of the corpus replies of a share of the
conversations a phase trains on.

Why: fine-tuning a small instruct model on corpora whose replies are shorter and plainer than its own
moves every context towards them, the ones it never trained on included (docs/proof.md, the ethical-only
diagnostic). Training on the model's own answers to some of the same requests keeps that behaviour in the
data, as SSR (self-synthesised rehearsal) and SDFT (self-distillation fine-tuning) do for continual learning.

How, per phase:
1. The phase is planned as usual; the conversations its steps would draw (the first steps x rows-per-step
   positions of its row order) are the ones it trains on, so no reply is generated for a conversation
   the phase would not see.
2. A seeded share of them (of the replayed buckets, outside `exclude_sources`; never tool conversations) is
   chosen. The base model (no adapter), greedy, answers each one's last request given the turns before it
   (`turn: last`), or its first request, the conversation then ending with that reply (`turn: first`).
3. A reply that did not end within `max_new_tokens` is cut after its last whole sentence (`unended:
   trim`; a small model's long answers often run past any budget, and the evaluation reads only its first
   tokens too) or refused (`drop`). A reply that loops (text.repetitive), is empty, or keeps less than half
   of itself when trimmed is refused, and with `refuse_boilerplate` one that dodges the request ("as a
   chatbot, I don't have the ability to …"). With `retries`, a refused reply is asked again, sampled, and the
   first usable retry is trained on; with none usable, that conversation keeps its corpus reply. All counted
   in phase.json.
4. The phase trains on the chosen conversations with those replies, packed afresh.

Replies are cached in TRAIN_DIR/replay/replies.jsonl, one line per conversation and written batch by
batch, so an interrupted run resumes without generating them again and every phase (the mixed phases
repeat earlier ones' records) reuses them.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emergent.text import assistant_boilerplate, repetitive
from emergent.train.config import ReplaySettings
from emergent.train.data import PhaseData

# The base model's replies: conversations (messages before the reply) and their tools -> (reply, ended).
Generate = Callable[[list[list[dict]], list[list[dict] | None]], list[tuple[str, bool]]]
# Its sampled replies for the retry `attempt` (1, 2, ...; each its own seed): conversations -> (reply, ended).
Sample = Callable[[list[list[dict]], int], list[tuple[str, bool]]]
REPLIES_FILE = Path("replay") / "replies.jsonl"


@dataclass
class ReplayStats:
    """phase.json's `replay` entry."""

    trained: int = 0  # conversations the phase's steps draw
    chosen: int = 0
    generated: int = 0  # replies generated for this phase (the rest came from the cache)
    seconds: float = 0.0
    replayed: Counter[str] = field(default_factory=Counter)  # by bucket
    trimmed: int = 0  # replayed replies cut after their last whole sentence
    resampled: int = 0  # replayed replies that are a sampled retry (the greedy one was refused)
    kept: Counter[str] = field(default_factory=Counter)  # chosen but kept the corpus reply, by reason

    def summary(self) -> dict:
        return {
            "trained": self.trained,
            "chosen": self.chosen,
            "replayed": sum(self.replayed.values()),
            "replayed_by_category": dict(self.replayed),
            "trimmed": self.trimmed,
            "resampled": self.resampled,
            "kept_corpus_reply": dict(self.kept),
            "generated": self.generated,
            "seconds": round(self.seconds, 1),
        }


def prompt_of(conv: dict, turn: str = "last") -> list[dict] | None:
    """The messages the replayed reply answers; None when the conversation cannot be replayed (tools in it,
    or no plain assistant reply to a user turn where `turn` looks).

    `last`: everything before the last message, which must be that reply (earlier turns stay the corpus's).
    `first`: the messages up to and including the first user turn, which the next message must answer;
    the replayed conversation ends with the base reply (its later turns are not trained on)."""
    msgs = conv["messages"]
    if conv.get("tools") or any(m["role"] == "tool" or m.get("tool_calls") for m in msgs):
        return None
    if turn == "first":
        u = next((i for i, m in enumerate(msgs) if m["role"] == "user"), None)
        if u is None or u + 1 >= len(msgs) or msgs[u + 1]["role"] != "assistant":
            return None
        return msgs[: u + 1]
    if len(msgs) < 2 or msgs[-1]["role"] != "assistant" or msgs[-2]["role"] != "user":
        return None
    return msgs[:-1]


def replayable(conv: dict, turn: str = "last") -> bool:
    return prompt_of(conv, turn) is not None


def prompt_key(messages: Sequence[dict]) -> str:
    """The cache key: the messages the reply answers (a record repeated across phases is generated once)."""
    text = json.dumps([[m["role"], m.get("content") or ""] for m in messages], ensure_ascii=False)
    return hashlib.sha1(text.encode()).hexdigest()


def trained_conversations(data: PhaseData, order: Callable[[int], int], positions: int) -> list[int]:
    """Indices (into the phase's conversations) of those in the rows at stream positions [0, positions),
    each once, in the order they are first drawn."""
    seen: dict[int, None] = {}
    for p in range(positions):
        for e in data.rows[order(p)]:
            seen.setdefault(data.conversation_index[e], None)
    return list(seen)


def choose(convs: list[dict], trained: list[int], settings: ReplaySettings, seed: int) -> list[int]:
    """A seeded `share` of the trained conversations that may be replayed (round half up, at least one
    where any is eligible)."""
    cats = set(settings.categories) if settings.categories else None
    excluded = set(settings.exclude_sources)
    pool = [
        i
        for i in trained
        if replayable(convs[i], settings.turn)
        and (cats is None or convs[i].get("_category") in cats)
        and convs[i].get("_source") not in excluded
    ]
    n = min(len(pool), max(1, int(settings.share * len(pool) + 0.5))) if pool else 0
    return sorted(random.Random(seed).sample(pool, n))


class ReplyCache:
    """TRAIN_DIR/replay/replies.jsonl: {"key", "reply", "ended"} per generated reply."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replies: dict[str, tuple[str, bool]] = {}
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        # An interrupted write leaves a last line without its newline; the next append starts a line of its own.
        self._torn = bool(text) and not text.endswith("\n")
        if text:
            for line in text.splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the last line of an interrupted write; that reply is generated again
                self.replies[row["key"]] = (row["reply"], row["ended"])

    def add(self, keys: list[str], replies: list[tuple[str, bool]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            if self._torn:  # the unfinished line stays alone on its line, skipped on read
                f.write("\n")
                self._torn = False
            for key, (reply, ended) in zip(keys, replies, strict=True):
                f.write(json.dumps({"key": key, "reply": reply, "ended": ended}, ensure_ascii=False) + "\n")
                self.replies[key] = (reply, ended)


def fill(
    cache: ReplyCache, convs: list[dict], chosen: list[int], generate: Generate, batch_size: int, turn: str = "last"
) -> int:
    """Generate the replies the cache lacks, `batch_size` conversations per call, saved after each call."""
    todo: dict[str, list[dict]] = {}
    for i in chosen:
        prompt = prompt_of(convs[i], turn)
        assert prompt is not None  # chosen from the replayable ones
        key = prompt_key(prompt)
        if key not in cache.replies:
            todo.setdefault(key, prompt)
    keys = list(todo)
    for start in range(0, len(keys), batch_size):
        batch = keys[start : start + batch_size]
        replies = generate([todo[k] for k in batch], [None] * len(batch))
        cache.add(batch, replies)
    return len(keys)


def retry_key(key: str, attempt: int) -> str:
    return f"{key}#{attempt}"


def pick(cache: ReplyCache, prompt: list[dict], settings: ReplaySettings) -> tuple[str | None, str, int]:
    """(the reply to train on or None, why (as `usable`; the greedy reply's refusal when all are refused), attempt):
    the greedy reply, else the first usable sampled retry in the cache."""
    key = prompt_key(prompt)
    request = (prompt[-1].get("content") or "") if settings.refuse_boilerplate else None
    reply, why = usable(*cache.replies[key], settings.unended, request)
    for attempt in range(1, settings.retries + 1):
        if reply is not None or retry_key(key, attempt) not in cache.replies:
            break
        again, again_why = usable(*cache.replies[retry_key(key, attempt)], settings.unended, request)
        if again is not None:
            return again, again_why, attempt
    return reply, why, 0


def fill_retries(
    cache: ReplyCache, convs: list[dict], chosen: list[int], sample: Sample, settings: ReplaySettings
) -> int:
    """Sampled retries for the chosen conversations whose replies so far are all refused, attempt by attempt,
    saved after each batch. Returns how many were generated."""
    made = 0
    for attempt in range(1, settings.retries + 1):
        todo: dict[str, list[dict]] = {}
        for i in chosen:
            prompt = prompt_of(convs[i], settings.turn)
            assert prompt is not None
            key = retry_key(prompt_key(prompt), attempt)
            if key not in cache.replies and key not in todo and pick(cache, prompt, settings)[0] is None:
                todo[key] = prompt
        keys = list(todo)
        for start in range(0, len(keys), settings.batch_size):
            batch = keys[start : start + settings.batch_size]
            cache.add(batch, sample([todo[k] for k in batch], attempt))
        made += len(keys)
    return made


# The end of a sentence: its mark, any closing quotes or brackets, then a space, a line end or the text's end.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s|$)")


def trim_to_sentence(text: str) -> str:
    """`text` up to the end of its last whole sentence; "" when it has none."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[: ends[-1]].rstrip() if ends else ""


def usable(reply: str, ended: bool, unended: str, request: str | None = None) -> tuple[str | None, str]:
    """(the reply to train on, or None when refused; why: "" for a reply used whole, "trimmed", or the refusal).

    With `request` (the user turn it answers), boilerplate that dodges it is refused too (text.assistant_boilerplate)."""
    if not reply.strip():
        return None, "empty"
    if repetitive(reply):
        return None, "repetitive"
    if request is not None and (why := assistant_boilerplate(reply, request)):
        return None, why
    if ended:
        return reply, ""
    if unended == "drop":
        return None, "unended"
    cut = trim_to_sentence(reply)
    if len(cut.split()) < 0.5 * len(reply.split()):
        return None, "unended"
    return cut, "trimmed"


def apply(
    convs: list[dict], chosen: list[int], cache: ReplyCache, stats: ReplayStats, settings: ReplaySettings
) -> list[dict]:
    """`convs` with each chosen one's reply (see `prompt_of`) replaced by the base model's where one is usable."""
    out = list(convs)
    for i in chosen:
        conv = convs[i]
        prompt = prompt_of(conv, settings.turn)
        assert prompt is not None  # chosen from the replayable ones
        reply, why, attempt = pick(cache, prompt, settings)
        if reply is None:
            stats.kept[why] += 1
            continue
        stats.trimmed += why == "trimmed"
        stats.resampled += attempt > 0
        answered = conv["messages"][len(prompt)]  # the corpus reply it replaces (keeps its other keys)
        out[i] = {**conv, "messages": [*prompt, {**answered, "content": reply}], "_replayed": True}
        stats.replayed[conv.get("_category") or "uncategorised"] += 1
    return out


def replay_phase(
    convs: list[dict],
    data: PhaseData,
    order: Callable[[int], int],
    positions: int,
    settings: ReplaySettings,
    path: Path,
    generate: Generate | None,
    barrier: Callable[[], None],
    seed: int,
    sample: Sample | None = None,
) -> tuple[list[dict], ReplayStats]:
    """The conversations the phase trains on, a share of them with the base model's replies.

    The process given `generate` (the main one) fills the cache at `path`, and with `settings.retries` asks
    `sample` again where the greedy reply is refused; every process waits at `barrier`, then reads the cache,
    so all of them train on the same conversations."""
    stats = ReplayStats()
    trained = trained_conversations(data, order, positions)
    chosen = choose(convs, trained, settings, seed)
    stats.trained, stats.chosen = len(trained), len(chosen)
    if generate is not None:
        began = time.perf_counter()
        cache = ReplyCache(path)
        stats.generated = fill(cache, convs, chosen, generate, settings.batch_size, settings.turn)
        if settings.retries:
            assert sample is not None, "replay.retries needs a sampler"
            stats.generated += fill_retries(cache, convs, chosen, sample, settings)
        stats.seconds = time.perf_counter() - began
    barrier()
    replayed = apply(convs, chosen, ReplyCache(path), stats, settings)
    return [replayed[i] for i in trained], stats
