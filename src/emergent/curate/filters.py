"""Quality filters: length, repetition spam, assistant echoes, offensive content."""

from __future__ import annotations

from collections import Counter

from emergent.curate.config import FilterConfig
from emergent.curate.steps import Filter, Verdict
from emergent.schema import Conversation, conversation_text
from emergent.text import approx_tokens, role_text, words

MAX_SCORED_CHARS = 2000


class LengthFilter(Filter):
    """Too short / too long in approximate tokens of the whole conversation."""

    name = "length"

    def __init__(self, min_tokens: int | None, max_tokens: int | None, chars_per_token: float) -> None:
        self.min_tokens, self.max_tokens, self.chars_per_token = min_tokens, max_tokens, chars_per_token

    def keep(self, conv: Conversation) -> Verdict:
        n = approx_tokens(conversation_text(conv), self.chars_per_token)
        if self.min_tokens is not None and n < self.min_tokens:
            return False, "too_short"
        if self.max_tokens is not None and n > self.max_tokens:
            return False, "too_long"
        return True


def duplicate_line_fraction(text: str) -> float:
    """Share of (non-trivial) lines that repeat an earlier line; trivial lines ("}", "") are ignored."""
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if len(ln) > 3]
    if len(lines) < 4:
        return 0.0
    return 1.0 - len(set(lines)) / len(lines)


def top_ngram_fraction(tokens: list[str], n: int) -> float:
    """Share of characters covered by the most frequent word n-gram (Gopher's repetition signal)."""
    grams = Counter(zip(*(tokens[i:] for i in range(n)), strict=False))
    if not grams:
        return 0.0
    gram, count = grams.most_common(1)[0]
    if count < 2:
        return 0.0
    return count * len("".join(gram)) / max(1, len("".join(tokens)))


class RepetitionFilter(Filter):
    """Spam: many repeated lines, or one word n-gram covering too much of the text."""

    name = "repetition"

    def __init__(self, cfg: FilterConfig) -> None:
        self.cfg = cfg

    def keep(self, conv: Conversation) -> Verdict:
        for m in conv["messages"]:
            text = m.get("content") or ""
            if self.cfg.repeated_lines and duplicate_line_fraction(text) > self.cfg.max_duplicate_line_fraction:
                return False, "repeated_lines"
            if self.cfg.repeated_ngrams:
                # Whitespace tokens, so code like `arr[i]` stays one token (\w+ words flag ordinary code).
                tokens = text.lower().split()
                if len(tokens) >= self.cfg.min_words_for_ngram_check:
                    if top_ngram_fraction(tokens, self.cfg.ngram_size) > self.cfg.max_top_ngram_fraction:
                        return False, "repeated_ngrams"
        return True


def _letters(text: str) -> str:
    return "".join(words(text.casefold()))


class EchoFilter(Filter):
    """An assistant turn that only repeats the user turn before it (ignoring case, spaces, punctuation)."""

    name = "echo"

    def keep(self, conv: Conversation) -> Verdict:
        prev_user = None
        for m in conv["messages"]:
            if m["role"] == "user":
                prev_user = _letters(m.get("content") or "")
            elif m["role"] == "assistant" and prev_user and not m.get("tool_calls"):
                raw = m.get("content") or ""
                if len(raw) > 2 * len(prev_user) + 20:  # far longer than the prompt: cannot be an echo
                    continue
                answer = _letters(raw)
                # Equal, or the prompt copied back with a few characters of wrapping ("Sure: ...").
                if prev_user in answer and len(answer) - len(prev_user) <= max(8, 0.1 * len(prev_user)):
                    return False, "assistant_echo"
        return True


class OffensiveFilter(Filter):
    """alt-profanity-check on assistant and user text.

    An offensive assistant turn drops the record. An offensive user turn is usually a red-team prompt
    whose safe answer is exactly what the ethical bucket should teach, so by default user turns are
    not scored and such records are kept; `drop_offensive_user` drops them instead. Records in
    `skip_categories` (default: creative) are not scored: the model flags archaic words such as
    "Ass" and "Cock" in Aesop's fables (20 of 541 fables at 0.9, measured).
    """

    name = "offensive"

    def __init__(self, threshold: float, drop_user: bool, skip_categories: list[str]) -> None:
        from profanity_check import predict_prob

        self.predict_prob = predict_prob
        self.threshold, self.drop_user = threshold, drop_user
        self.skip_categories = set(skip_categories)

    def keep_batch(self, convs: list[Conversation]) -> list[Verdict]:
        checked = [i for i, c in enumerate(convs) if c.get("_category") not in self.skip_categories]
        out: list[Verdict] = [True] * len(convs)
        if not checked:
            return out
        # The model is a bag of words: the first MAX_SCORED_CHARS carry the signal and bound the cost.
        assistant = self.predict_prob([role_text(convs[i], "assistant")[:MAX_SCORED_CHARS] for i in checked])
        for i, a in zip(checked, assistant, strict=True):
            if a >= self.threshold:
                out[i] = (False, "offensive_assistant")
        if self.drop_user:  # scoring costs as much as the assistant side: only when it can drop
            rest = [i for i in checked if out[i] is True]
            user = self.predict_prob([role_text(convs[i], "user")[:MAX_SCORED_CHARS] for i in rest]) if rest else []
            for i, u in zip(rest, user, strict=True):
                if u >= self.threshold:
                    out[i] = (False, "offensive_user")
        return out


def quality_filters(cfg: FilterConfig) -> list[Filter]:
    """The enabled quality filters, cheapest first."""
    steps: list[Filter] = []
    if cfg.min_tokens is not None or cfg.max_tokens is not None:
        steps.append(LengthFilter(cfg.min_tokens, cfg.max_tokens, cfg.chars_per_token))
    if cfg.repeated_lines or cfg.repeated_ngrams:
        steps.append(RepetitionFilter(cfg))
    if cfg.assistant_echo:
        steps.append(EchoFilter())
    if cfg.offensive:
        steps.append(OffensiveFilter(cfg.offensive_threshold, cfg.drop_offensive_user, cfg.offensive_skip_categories))
    return steps
