"""Text views of a conversation: what "the same text" means to dedup, decontamination and the contamination
check (overlap.py), and quick token estimates. Never written into training data."""

from __future__ import annotations

import hashlib
import json
import re
import string
import unicodedata

from emergent.schema import Conversation, conversation_text

# ASCII punctuation -> space: str.translate + split is ~3x faster than a \w+ regex at millions of records.
_PUNCT = str.maketrans({c: " " for c in string.punctuation})
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: what "the same text" means for exact dedup."""
    if text.isascii():  # O(1) in CPython; ASCII is already NFKC and casefold() is lower() there
        return " ".join(text.lower().split())
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


# Transient key: computed once per record and shared by the steps; never written (not in the schema).
_CACHE_KEY = "_dedup_text"


def dedup_text(conv: Conversation) -> str:
    """The whole conversation (every turn, roles and tool calls included), normalised; cached on the record.

    The tool schemas on offer are not in it: they enter the dedup keys through `tools_key`.
    """
    text = conv.get(_CACHE_KEY)
    if text is None:
        text = conv[_CACHE_KEY] = normalise(conversation_text(conv))
    return text


def tools_key(tools: list[dict] | None) -> int:
    """A 64-bit key of the tool schemas on offer (0 when none), folded into the dedup keys.

    The same question with one function or with distractor functions teaches different choices, so
    the schemas are part of what makes two records the same. They are a key, not shingles: schemas
    are long and shared by many records (BFCL's multi-turn class docs), and as text they would make
    different questions over the same tools look alike.
    """
    if not tools:
        return 0
    return exact_hash(json.dumps(tools, sort_keys=True, ensure_ascii=False, separators=(",", ":")))


def exact_key(conv: Conversation, tools: int | None = None) -> int:
    """The exact-dedup key: the normalised conversation and its tool schemas (`tools`: their
    tools_key when the caller has it already)."""
    return exact_hash(dedup_text(conv)) ^ (tools_key(conv.get("tools")) if tools is None else tools)


def words(text: str) -> list[str]:
    """Word tokens, ASCII punctuation dropped (for n-gram overlap and echo checks)."""
    return text.translate(_PUNCT).split()


def match_key(text: str) -> str:
    """What "the same prompt" means for decontamination: case, whitespace and punctuation (any script) ignored."""
    return " ".join(_WORD.findall(normalise(text)))


def role_text(conv: Conversation, role: str) -> str:
    return "\n".join(m.get("content") or "" for m in conv["messages"] if m["role"] == role)


def approx_tokens(text: str, chars_per_token: float) -> int:
    """A fast token estimate: characters / chars_per_token (no tokenizer call at 5M records)."""
    return int(len(text) / chars_per_token + 0.5)


def exact_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little", signed=True)


def repetitive(text: str, min_bytes: int = 200, max_ratio: float = 0.2) -> bool:
    """A reply that compresses below `max_ratio` of its size is mostly a loop of itself. No hand-written
    build reply of 200+ bytes compresses below 0.32; most replies labelled `none` are loops (RESULTS.md)."""
    import zlib

    data = text.encode()
    return len(data) >= min_bytes and len(zlib.compress(data)) / len(data) < max_ratio


# A reply that speaks of itself as a program ("as a chatbot, I don't have the ability to access personal data"):
# a small instruct model's commonest dodge of an ordinary request (SmolLM2-135M, the replay cache, session 20).
_SELF_REFERENCE = re.compile(
    r"\b(?:as|i'm|i am)(?: just| only)? an? (?:[\w-]+ ){0,3}?(?:ai|chatbot|language model|virtual assistant|bot)\b"
    r"|\bi (?:don't|do not) have the (?:ability|capability) to (?:access|browse)\b",
    re.IGNORECASE,
)
# An apology for something nobody mentioned: a confusion or mistake, or a loss.
_APOLOGY = re.compile(
    r"\bsorry for (?:any|the|my|this) (?:confusion|misunderstanding|inconvenience|mistake|error|oversight)s?\b",
    re.IGNORECASE,
)
_APOLOGY_CUE = re.compile(r"\b(?:confus\w*|misunderst\w*|mistake\w*|wrong|error\w*|inconvenien\w*)\b", re.IGNORECASE)
_CONDOLENCE = re.compile(r"\bsorry for your loss\b", re.IGNORECASE)
_CONDOLENCE_CUE = re.compile(
    r"\b(?:die|died|dies|dying|death|dead|passed|funeral|loss|lost|grie\w*|mourn\w*)\b", re.IGNORECASE
)


# What turns a self-reference into a dodge: the reply says what it cannot do instead of doing it.
_DISCLAIMER = re.compile(
    r"\bi (?:don't|do not|can't|cannot|am not|am unable)\b|\bi'm (?:not|unable)\b|\bno (?:ability|capability) to\b",
    re.IGNORECASE,
)


def dodge(reply: str, request: str) -> str | None:
    """Why `reply` dodges `request` instead of answering it ("stray_apology", "self_reference"), or None.

    Narrower than `assistant_boilerplate`, which the replay uses to refuse anything that may be a dodge. A
    judged reply fails on an apology or condolence for what the request never said, or on speaking of itself
    as a program where that is the point of the reply: it opens with it ("I'm a helpful AI assistant named
    SmolLM") or says what it cannot do ("as a chatbot, I don't have the ability to …"). A reply that answers
    and then mentions being an AI ("… I'm a helpful AI, happy to help with your practice") is not a dodge."""
    if _stray_apology(reply, request):
        return "stray_apology"
    found = _SELF_REFERENCE.search(reply)
    if found is None:
        return None
    opens = found.start() <= len(reply) - len(reply.lstrip()) + len(re.match(r"[^.!?\n]*", reply.lstrip()).group())
    return "self_reference" if opens or _DISCLAIMER.search(reply) else None


def _stray_apology(reply: str, request: str) -> bool:
    return bool(
        (_APOLOGY.search(reply) and not _APOLOGY_CUE.search(request))
        or (_CONDOLENCE.search(reply) and not _CONDOLENCE_CUE.search(request))
    )


def assistant_boilerplate(reply: str, request: str) -> str | None:
    """Why `reply` dodges `request` with boilerplate ("self_reference", "stray_apology"), or None."""
    if _SELF_REFERENCE.search(reply):
        return "self_reference"
    return "stray_apology" if _stray_apology(reply, request) else None
