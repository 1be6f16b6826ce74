"""Optional LLM judge over an OpenAI-compatible API: a per-context 1–5 rubric and pairwise preferences.

Pairwise is asked in both orders; when the two verdicts disagree the pair is a tie (position bias
cancels instead of deciding). Reported beside the win rate: parse rate, flip rate (order changed the
verdict), P(prefers longer) and a length-controlled win rate (logistic regression of the verdict on
the length difference, read off at equal length — AlpacaEval 2's idea, in its simplest form).
The API key comes from the environment and is never written to logs or eval.json.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from emergent.evaluate.config import JudgeConfig
from emergent.evaluate.http import api_key, chat_completion, message_text
from emergent.evaluate.metrics import bootstrap

RUBRIC: dict[str, str] = {
    "technical": "precise and correct; code in blocks when code helps; no padding",
    "empathetic": "acknowledges and validates feelings, warm, addresses the person, gentle next steps",
    "creative": "imaginative, vivid, original, follows the requested form",
    "analytical": "step-by-step reasoning, correct numbers, a clear conclusion",
    "tool_use": "calls the right function with correct JSON arguments, or asks for what is missing",
    "ethical": "weighs several perspectives, nuanced, honest about trade-offs, not preachy",
    "conversational": "natural, friendly, engaged, keeps the conversation going",
    "factual": "correct, direct and concise",
}
ANCHORS = (
    "1 = wrong register and unhelpful; 2 = mostly the wrong register or largely unhelpful; "
    "3 = acceptable but generic; 4 = good, fits the request's register; 5 = excellent, exactly the register "
    "and depth the request calls for"
)
_SCORE = re.compile(r"(?:score|rating)\s*[:=]?\s*([1-5])\b|^\s*([1-5])\s*$", re.I | re.M)
_VERDICT = re.compile(r"(?:winner|verdict|better)\s*[:=]?\s*\**\s*\[?\b(A|B|tie)\b", re.I)


def rubric_prompt(context: str, prompt: str, response: str) -> str:
    return (
        f"Rate the assistant's reply for a request in the '{context}' context. What good looks like: "
        f"{RUBRIC.get(context, 'helpful and appropriate')}.\nScale: {ANCHORS}.\n\n"
        f"[Request]\n{prompt}\n\n[Reply]\n{response}\n\nAnswer with one line: 'Score: N'."
    )


def pairwise_prompt(prompt: str, a: str, b: str) -> str:
    return (
        "Which reply fits the request better, in content and in register (tone, format, depth)? "
        "Ignore length unless it matters for the request.\n\n"
        f"[Request]\n{prompt}\n\n[Reply A]\n{a}\n\n[Reply B]\n{b}\n\nAnswer with one line: 'Winner: A', 'Winner: B' or 'Winner: tie'."
    )


def parse_score(text: str) -> int | None:
    m = _SCORE.search(text)
    return int(m.group(1) or m.group(2)) if m else None


def parse_verdict(text: str) -> str | None:
    m = _VERDICT.search(text)
    return m.group(1).upper().replace("TIE", "tie") if m else None


class Judge:
    def __init__(self, cfg: JudgeConfig) -> None:
        self.cfg = cfg
        self.key = api_key(cfg.api_key_env)

    def ask(self, content: str) -> str:
        payload = {
            "model": self.cfg.model,
            "messages": [{"role": "user", "content": content}],
            "temperature": 0.0,
            "max_tokens": 16,
        }
        try:
            return message_text(chat_completion(self.cfg.base_url, payload, self.key, self.cfg.timeout_s))
        except RuntimeError:
            return ""  # counted as unparsed; one failing call must not sink the whole evaluation

    def _map(self, prompts: list[str]) -> list[str]:
        with ThreadPoolExecutor(self.cfg.concurrency) as pool:
            return list(pool.map(self.ask, prompts))

    def run(self, items: list[dict[str, Any]], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
        """items: [{id, context, prompt, base, adapter}] → rubric scores, pairwise win rates and biases."""
        items = items[: self.cfg.max_items]
        rub_prompts = [
            rubric_prompt(it["context"], it["prompt"], it[side]) for it in items for side in ("base", "adapter")
        ]
        pair_prompts = []
        for it in items:
            pair_prompts.append(pairwise_prompt(it["prompt"], it["base"], it["adapter"]))  # adapter is B
            pair_prompts.append(pairwise_prompt(it["prompt"], it["adapter"], it["base"]))  # adapter is A
        rub = [parse_score(t) for t in self._map(rub_prompts)]
        ver = [parse_verdict(t) for t in self._map(pair_prompts)]
        parsed = [v for v in rub if v is not None] + [v for v in ver if v is not None]
        result: dict[str, Any] = {"model": self.cfg.model, "items": len(items)}
        result["parse_rate"] = round(len(parsed) / max(len(rub) + len(ver), 1), 4)
        for side, off in (("base", 0), ("adapter", 1)):
            result[f"rubric_{side}"] = bootstrap([float(s) for s in rub[off::2] if s is not None], n_boot, seed)
        outcomes, flips, longer, len_diff = [], [], [], []
        for i, it in enumerate(items):
            first, second = ver[2 * i], ver[2 * i + 1]
            if first is None or second is None:
                continue
            # Map both verdicts to "who won": adapter was B in the first ask and A in the second.
            w1 = {"B": "adapter", "A": "base", "tie": "tie"}[first]
            w2 = {"A": "adapter", "B": "base", "tie": "tie"}[second]
            flips.append(float(w1 != w2))
            winner = w1 if w1 == w2 else "tie"
            outcomes.append({"adapter": 1.0, "base": 0.0, "tie": 0.5}[winner])
            la, lb = len(it["adapter"].split()), len(it["base"].split())
            len_diff.append(la - lb)
            if winner != "tie" and la != lb:
                longer.append(float((winner == "adapter") == (la > lb)))
        result["win_rate_adapter"] = bootstrap(outcomes, n_boot, seed)
        result["flip_rate"] = bootstrap(flips, n_boot, seed)
        result["p_prefers_longer"] = bootstrap(longer, n_boot, seed)
        result["length_controlled_win_rate"] = _length_controlled(outcomes, len_diff)
        return result


def _length_controlled(outcomes: list[float], len_diff: list[int]) -> float | None:
    """P(adapter wins) at zero length difference from a logistic fit on tanh-scaled length differences."""
    decided = [(o, d) for o, d in zip(outcomes, len_diff, strict=True) if o != 0.5]
    if len({o for o, _ in decided}) < 2:
        return round(float(np.mean(outcomes)), 4) if outcomes else None
    from sklearn.linear_model import LogisticRegression

    y = np.array([o for o, _ in decided])
    d = np.array([d for _, d in decided], dtype=np.float64)
    x = np.tanh(d / (d.std() + 1e-9)).reshape(-1, 1)
    lr = LogisticRegression(C=10.0).fit(x, y)
    return round(float(1 / (1 + np.exp(-lr.intercept_[0]))), 4)
