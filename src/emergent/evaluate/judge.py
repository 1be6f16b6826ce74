"""Optional LLM judge over an OpenAI-compatible API: a per-context 1–5 rubric and pairwise preferences.

Items are sampled, seeded, evenly over the strata context x kind (a single prompt, or a dialogue whose
last turn is judged with the whole conversation shown), and the ids of each stratum are recorded. The
judge sees every reply in full and may give a short reason; the last 'Score: N' / 'Winner: X' counts.
Pairwise is asked in both orders; when the two verdicts disagree the pair is a tie (position bias
cancels instead of deciding). Reported beside the win rate: parse rate, flip rate (order changed the
verdict), P(prefers longer) and a length-controlled win rate (logistic regression of the verdict on the
length difference, read off at equal length — AlpacaEval 2's idea, in its simplest form), each with a
bootstrap CI over items. The API key comes from the environment and is never written to logs or eval.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from emergent.evaluate.config import JudgeConfig
from emergent.evaluate.http import api_key, chat_completion, message_text
from emergent.evaluate.metrics import bootstrap
from emergent.evaluate.suite import Item

RUBRIC: dict[str, str] = {
    "technical": "precise and correct; code in blocks when code helps; no padding",
    "empathetic": "acknowledges and validates feelings, warm, addresses the person, gentle next steps",
    "creative": "imaginative, vivid, original, follows the requested form",
    "analytical": "step-by-step reasoning, correct numbers, a clear conclusion",
    "tool_use": "calls the right function with correct JSON arguments, or asks for what is missing",
    "ethical": "weighs several perspectives, nuanced, honest about trade-offs, not preachy",
    "conversational": "natural, friendly, engaged, keeps the conversation going",
    "factual": "correct, direct and concise",
    "instructional": "follows every instruction of the request exactly (format, length, constraints)",
}
ANCHORS = (
    "1 = wrong register and unhelpful; 2 = mostly the wrong register or largely unhelpful; "
    "3 = acceptable but generic; 4 = good, fits the request's register; 5 = excellent, exactly the register "
    "and depth the request calls for"
)
_SCORE = re.compile(r"(?:score|rating)\s*[:=]?\s*\**\s*([1-5])\b|^\s*([1-5])\s*$", re.I | re.M)
_VERDICT = re.compile(r"(?:winner|verdict|better)\s*[:=]?\s*\**\s*\[?\b(A|B|tie)\b", re.I)
DIALOGUE = "dialogue"  # the kind of every multi-turn item in a stratum; its own kind is kept per id
UNPARSED_KEPT = 5  # judge answers kept verbatim (shortened) when they did not parse: why the parse rate is low


@dataclass(frozen=True)
class JudgeItem:
    """One suite item answered by both sides: its user turns and each side's reply to every turn.

    The last reply is the one judged; a dialogue's earlier turns are shown to the judge as context.
    """

    id: str
    kind: str  # the suite kind: prompt, consistency, transition, memory, ...
    context: str  # the judged (last) turn's expected context
    turns: list[str]
    replies: dict[str, list[str]]  # side → its reply to each turn
    tools: list[dict] | None = None

    @property
    def stratum(self) -> str:
        return f"{self.context}/{'prompt' if len(self.turns) == 1 else DIALOGUE}"


def judge_items(
    suite_items: Sequence[Item], rows_by_side: Mapping[str, list[dict[str, Any]]], sides: Sequence[str]
) -> list[JudgeItem]:
    """The suite items every one of `sides` answered in full (generations.jsonl rows), as judge input."""
    replies: dict[str, dict[str, dict[int, str]]] = {s: {} for s in sides}
    for side in sides:
        for r in rows_by_side[side]:
            replies[side].setdefault(r["id"], {})[int(r.get("turn", 0))] = r["response"]
    out = []
    for it in suite_items:
        n = len(it.turns)
        per_side = {s: replies[s].get(it.id, {}) for s in sides}
        if all(len(per_side[s]) >= n and all(t in per_side[s] for t in range(n)) for s in sides):
            out.append(
                JudgeItem(
                    id=it.id,
                    kind=it.kind,
                    context=it.contexts[-1],
                    turns=list(it.turns),
                    replies={s: [per_side[s][t] for t in range(n)] for s in sides},
                    tools=it.tools,
                )
            )
    return out


def sample(items: Sequence[JudgeItem], max_items: int, seed: int) -> tuple[list[JudgeItem], dict[str, Any]]:
    """Up to `max_items`, spread evenly over the strata (context x prompt/dialogue), seeded.

    Strata take one item each per pass; the pass order visits every context before any context's second
    stratum, so a budget of at least one item per context reaches every context. Returns the sample and
    what was sampled: the strata with their available count and the ids taken.
    """
    rng = np.random.default_rng(seed)
    strata: dict[str, list[JudgeItem]] = {}
    for it in sorted(items, key=lambda it: it.id):
        strata.setdefault(it.stratum, []).append(it)
    pools = {s: [pool[i] for i in rng.permutation(len(pool))] for s, pool in sorted(strata.items())}
    by_context: dict[str, list[str]] = {}
    for s in pools:
        by_context.setdefault(s.split("/")[0], []).append(s)
    names = sorted(by_context)
    contexts = [names[i] for i in rng.permutation(len(names))]
    kinds = {c: [by_context[c][i] for i in rng.permutation(len(by_context[c]))] for c in contexts}
    order = [
        kinds[c][r]
        for r in range(max((len(k) for k in kinds.values()), default=0))
        for c in contexts
        if r < len(kinds[c])
    ]
    taken: dict[str, list[JudgeItem]] = {s: [] for s in order}
    left = max_items
    while left > 0 and any(len(taken[s]) < len(pools[s]) for s in order):
        for s in order:
            if left > 0 and len(taken[s]) < len(pools[s]):
                taken[s].append(pools[s][len(taken[s])])
                left -= 1
    chosen = [it for s in order for it in taken[s]]
    record = {
        "seed": seed,
        "max_items": max_items,
        "available": len(items),
        "sampled": len(chosen),
        "strata": {s: {"available": len(pools[s]), "ids": [it.id for it in taken[s]]} for s in sorted(order)},
    }
    return chosen, record


def _tools_block(tools: list[dict] | None) -> str:
    if not tools:
        return ""
    return f"[Tools offered to the assistant]\n{json.dumps(tools, ensure_ascii=False)}\n\n"


def _exchange(turns: list[str], replies: list[str], label: str) -> str:
    """A single request and its reply, or a conversation up to its last user turn and the judged reply."""
    if len(turns) == 1:
        return f"[Reply{label}]\n{replies[0]}"
    lines = []
    for t, (user, reply) in enumerate(zip(turns, replies, strict=True)):
        lines.append(f"User: {user}")
        if t < len(turns) - 1:
            lines.append(f"Assistant: {reply}")
    return f"[Conversation{label}]\n" + "\n".join(lines) + f"\n\n[Reply{label} to the last user turn]\n{replies[-1]}"


def rubric_prompt(item: JudgeItem, side: str) -> str:
    request = f"[Request]\n{item.turns[0]}\n\n" if len(item.turns) == 1 else ""
    where = "a request" if len(item.turns) == 1 else "the last turn of a conversation"
    return (
        f"Rate the assistant's reply to {where} in the '{item.context}' context. What good looks like: "
        f"{RUBRIC.get(item.context, 'helpful and appropriate')}.\nScale: {ANCHORS}.\n\n"
        f"{_tools_block(item.tools)}{request}{_exchange(item.turns, item.replies[side], '')}\n\n"
        "Give a one-sentence reason, then end with one line: 'Score: N'."
    )


def pairwise_prompt(item: JudgeItem, side_a: str, side_b: str) -> str:
    if len(item.turns) == 1:
        what = "Which reply fits the request better"
        body = f"[Request]\n{item.turns[0]}\n\n{_exchange(item.turns, item.replies[side_a], ' A')}\n\n"
        body += _exchange(item.turns, item.replies[side_b], " B")
    else:
        what = "Two assistants held the same conversation. Which reply to the last user turn fits it better"
        body = f"{_exchange(item.turns, item.replies[side_a], ' A')}\n\n{_exchange(item.turns, item.replies[side_b], ' B')}"
    return (
        f"{what}, in content and in register (tone, format, depth)? Ignore length unless it matters for the "
        f"request.\n\n{_tools_block(item.tools)}{body}\n\n"
        "Give a one-sentence reason, then end with one line: 'Winner: A', 'Winner: B' or 'Winner: tie'."
    )


def parse_score(text: str) -> int | None:
    """The last 'Score: N' (or a bare digit line) of the judge's answer."""
    found = list(_SCORE.finditer(text))
    return int(found[-1].group(1) or found[-1].group(2)) if found else None


def parse_verdict(text: str) -> str | None:
    """The last 'Winner: A|B|tie' of the judge's answer."""
    found = list(_VERDICT.finditer(text))
    return found[-1].group(1).upper().replace("TIE", "tie") if found else None


def _words(text: str) -> int:
    return len(text.split())


class Judge:
    def __init__(self, cfg: JudgeConfig) -> None:
        self.cfg = cfg
        self.key = api_key(cfg.api_key_env)

    def ask(self, content: str) -> tuple[str, str | None]:
        """(answer, None), or ("", the error) when the call failed: counted, never fatal to the evaluation."""
        payload = {
            "model": self.cfg.model,
            "messages": [{"role": "user", "content": content}],
            "temperature": 0.0,
            "max_tokens": self.cfg.max_tokens,
        }
        try:
            return message_text(chat_completion(self.cfg.base_url, payload, self.key, self.cfg.timeout_s)), None
        except RuntimeError as err:
            return "", str(err)

    def _map(self, prompts: list[str]) -> list[tuple[str, str | None]]:
        with ThreadPoolExecutor(self.cfg.concurrency) as pool:
            return list(pool.map(self.ask, prompts))

    def run(self, items: Sequence[JudgeItem], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
        """Sample, ask the rubric for both sides and the pair in both orders; the eval.json `judge` block."""
        first, second = self.cfg.pair
        chosen, sampling = sample(items, self.cfg.max_items, seed)
        rub_prompts = [rubric_prompt(it, side) for it in chosen for side in (first, second)]
        pair_prompts = []
        for it in chosen:
            pair_prompts.append(pairwise_prompt(it, second, first))  # first side is B
            pair_prompts.append(pairwise_prompt(it, first, second))  # first side is A
        rub_answers, pair_answers = self._map(rub_prompts), self._map(pair_prompts)
        rub = [parse_score(t) for t, _ in rub_answers]
        ver = [parse_verdict(t) for t, _ in pair_answers]
        calls = {
            "rubric": _call_counts(rub_answers, rub),
            "pairwise": _call_counts(pair_answers, ver),
        }
        asked = len(rub) + len(ver)
        parsed = calls["rubric"]["parsed"] + calls["pairwise"]["parsed"]
        result: dict[str, Any] = {
            "model": self.cfg.model,
            "pair": [first, second],
            "items": len(chosen),
            "sampling": sampling,
            "calls": calls,
            "parse_rate": round(parsed / asked, 4) if asked else None,
            "errors": sorted({e for _, e in rub_answers + pair_answers if e})[:3],
            "unparsed_examples": [
                t[:300] for (t, e), v in zip(rub_answers + pair_answers, rub + ver, strict=True) if v is None and not e
            ][:UNPARSED_KEPT],
        }
        for side, off in ((first, 0), (second, 1)):
            result[f"rubric_{side}"] = bootstrap([float(s) for s in rub[off::2] if s is not None], n_boot, seed)
        judged, outcomes, flips, longer, len_diff = [], [], [], [], []
        verdicts = []
        for i, it in enumerate(chosen):
            v1, v2 = ver[2 * i], ver[2 * i + 1]
            la, lb = _words(it.replies[first][-1]), _words(it.replies[second][-1])
            row: dict[str, Any] = {"id": it.id, "stratum": it.stratum, "kind": it.kind, "words": [la, lb]}
            row["verdicts"] = [v1, v2]
            verdicts.append(row)
            if v1 is None or v2 is None:
                continue
            # Who won each ask: the first side was B in the first ask and A in the second.
            w1 = {"B": first, "A": second, "tie": "tie"}[v1]
            w2 = {"A": first, "B": second, "tie": "tie"}[v2]
            flips.append(float(w1 != w2))
            winner = w1 if w1 == w2 else "tie"
            row["winner"] = winner
            judged.append(it)
            outcomes.append({first: 1.0, second: 0.0, "tie": 0.5}[winner])
            len_diff.append(la - lb)
            if winner != "tie" and la != lb:
                longer.append(float((winner == first) == (la > lb)))
        result["win_rate"] = bootstrap(outcomes, n_boot, seed)
        result["length_controlled_win_rate"] = length_controlled(outcomes, len_diff, n_boot, seed)
        result["flip_rate"] = bootstrap(flips, n_boot, seed)
        result["p_prefers_longer"] = bootstrap(longer, n_boot, seed)
        result["per_context"] = _grouped([it.context for it in judged], outcomes, n_boot, seed)
        result["per_kind"] = _grouped([it.stratum.split("/")[1] for it in judged], outcomes, n_boot, seed)
        result["verdicts"] = verdicts
        return result


def _call_counts(answers: list[tuple[str, str | None]], parsed: list[Any]) -> dict[str, int]:
    return {
        "asked": len(answers),
        "failed": sum(1 for _, e in answers if e),
        "parsed": sum(1 for v in parsed if v is not None),
    }


def _grouped(keys: list[str], outcomes: list[float], n_boot: int, seed: int) -> dict[str, Any]:
    """The win rate per group (context or kind), each with its n and CI."""
    groups: dict[str, list[float]] = {}
    for k, o in zip(keys, outcomes, strict=True):
        groups.setdefault(k, []).append(o)
    return {k: bootstrap(v, n_boot, seed) for k, v in sorted(groups.items())}


def length_controlled(outcomes: list[float], len_diff: list[int], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """P(first side wins) at zero length difference, with a bootstrap CI (items resampled, model refitted).

    A logistic regression of the outcome on the tanh-scaled word-count difference; a tie counts half a win
    and half a loss, so at no length effect the estimate equals the raw win rate.
    """
    if not outcomes:
        return {"mean": None, "ci95": [None, None], "n": 0}
    o = np.asarray(outcomes, dtype=np.float64)
    d = np.asarray(len_diff, dtype=np.float64)
    scale = d.std()
    x = np.tanh(d / scale) if scale > 0 else np.zeros_like(d)
    point = _lc_fit(o, x)
    rng = np.random.default_rng(seed)
    draws = np.array([_lc_fit(o[idx], x[idx]) for idx in rng.integers(0, o.size, (n_boot, o.size))])
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {"mean": round(point, 4), "ci95": [round(float(lo), 4), round(float(hi), 4)], "n": int(o.size)}


def _lc_fit(o: np.ndarray, x: np.ndarray, ridge: float = 0.1) -> float:
    """sigmoid(a) of the weighted logistic fit o ~ a + b·x (Newton; a small ridge on b keeps separation finite)."""
    if o.min() == o.max() or np.all(x == x[0]):
        return float(o.mean())  # no loss (or no win) to fit, or no length spread: nothing to control for
    a = float(np.log(o.mean() / (1 - o.mean()))) if 0 < o.mean() < 1 else 0.0
    b = 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(a + b * x)))
        r = o - p  # each item is o wins and 1 - o losses: the gradient of the weighted log-likelihood
        g = np.array([r.sum(), (r * x).sum() - ridge * b])
        w = p * (1 - p)
        h = np.array([[w.sum(), (w * x).sum()], [(w * x).sum(), (w * x * x).sum() + ridge]])
        step = np.linalg.solve(h + 1e-9 * np.eye(2), g)
        step *= min(1.0, 5.0 / (np.abs(step).max() + 1e-12))  # damped: separated data must not overshoot
        a, b = a + step[0], b + step[1]
        if np.abs(step).max() < 1e-9:
            break
    return float(1 / (1 + np.exp(-a)))
