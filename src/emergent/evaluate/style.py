"""Style features of one response: cheap, offline, interpretable (no model needed except VADER's lexicon).

Each feature is a number; `FEATURES` fixes their order so profiles turn into vectors for the collapse
metric and the scorer's head. Rates are per 100 words so long and short answers compare fairly.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

FEATURES: tuple[str, ...] = (
    "words",
    "log_words",
    "sentences",
    "mean_sentence_words",
    "code_block",
    "code_lines",
    "json_valid",
    "tool_call_shape",
    "list_items",
    "numbered_steps",
    "second_person",
    "validating",
    "questions_back",
    "narrative",
    "dialogue_quotes",
    "hedging",
    "perspectives",
    "reasoning",
    "numbers",
    "formality",
    "casual",
    "sentiment",
    "sentiment_abs",
    "exclamations",
)

_WORD = re.compile(r"[A-Za-z']+|\d+(?:[.,]\d+)?")
_SENT = re.compile(r"[^.!?\n]+[.!?]?")
_FENCE = re.compile(r"```")
_CODE_LINE = re.compile(
    r"^\s*(def |class |return |import |from \w+ import|for .+:|if .+:|while .+:|print\(|#include|"
    r"function |const |let |var |SELECT |CREATE |\}|\{|public |private |[\w.]+\s*=\s*.+[;)]?$)",
    re.I | re.M,
)
_LIST = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\S", re.M)
_NUMBERED = re.compile(r"^\s*(?:\d+[.)]|step \d+)\s*", re.I | re.M)
_SECOND = re.compile(r"\b(you|your|you're|yourself|you've|you'll)\b", re.I)
_VALIDATING = re.compile(
    r"\b(it's (?:okay|ok|normal|understandable)|that sounds|i'm sorry|i am sorry|i hear you|"
    r"it makes sense|understandable|you're not alone|valid|feel(?:ing|s)?|support|cope|"
    r"be kind to yourself|take care|difficult|hard time|overwhelm\w*|stress\w*|anxi\w+|"
    r"therap\w+|counsel\w*|emotion\w*|hurt\w*)\b",
    re.I,
)
_NARRATIVE = re.compile(
    r"\b(once upon a time|long ago|one day|there (?:was|lived)|suddenly|whispered|"
    r"she said|he said|they said|the end|moral|forest|king|village|dragon|stars?|moon|"
    r"wandered|smiled|laughed|replied|cried|ran|flew|lived)\b",
    re.I,
)
_QUOTES = re.compile(r"[\"“][^\"”]{2,}[\"”]")
_HEDGE = re.compile(
    r"\b(might|may|could|perhaps|possibly|likely|unlikely|it depends|depends on|generally|"
    r"typically|often|some people|arguably|in some cases|not necessarily|uncertain)\b",
    re.I,
)
_PERSPECTIVES = re.compile(
    r"\b(on the other hand|however|although|while some|others argue|trade-?offs?|both sides|"
    r"ethic\w*|moral\w*|consider\w*|perspective\w*|values?|harm\w*|fair\w*|rights?|"
    r"responsib\w+|wrong|acceptable|should(?:n't)?)\b",
    re.I,
)
_REASONING = re.compile(
    r"\b(therefore|thus|hence|so|because|since|first|second|then|finally|step|total|"
    r"equals?|calculate|means|which gives|in total|answer is)\b|[=+×*/]",
    re.I,
)
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b")
_FORMAL = re.compile(
    r"\b(furthermore|moreover|additionally|consequently|regarding|therefore|however|"
    r"utili[sz]e|ensure|approximately|respectively|recommend\w*|typically)\b",
    re.I,
)
_CASUAL = re.compile(
    r"\b(hey|hi|hello|yeah|yep|nope|cool|awesome|lol|haha|gonna|wanna|kinda|oh|wow|"
    r"i think|i love|i like|me too|really|pretty|fun|sure|thanks|nice|great)\b",
    re.I,
)
_QUESTION_BACK = re.compile(r"\b(you|your)\b[^?]*\?", re.I)


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _json_objects(text: str) -> list[Any]:
    """JSON values in the text: the whole text, fenced blocks, or the outermost {...}/[...] span."""
    candidates = [text.strip()]
    candidates += re.findall(r"```(?:json)?\s*(.*?)```", text, re.S)
    for open_, close in (("{", "}"), ("[", "]")):
        i, j = text.find(open_), text.rfind(close)
        if 0 <= i < j:
            candidates.append(text[i : j + 1])
    found = []
    for c in candidates:
        try:
            found.append(json.loads(c))
        except (ValueError, TypeError):
            continue
    return found


def _is_tool_call(obj: Any) -> bool:
    """{"name": ..., "arguments"|"parameters": {...}} or a list of them, or an OpenAI tool_calls entry."""
    if isinstance(obj, list):
        return bool(obj) and all(_is_tool_call(o) for o in obj)
    if not isinstance(obj, dict):
        return False
    if "function" in obj and isinstance(obj["function"], dict):
        return _is_tool_call(obj["function"])
    if "tool_calls" in obj:
        return _is_tool_call(obj["tool_calls"])
    args = obj.get("arguments", obj.get("parameters"))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return False
    return isinstance(obj.get("name"), str) and isinstance(args, dict)


def style_features(text: str) -> dict[str, float]:
    """The style profile of one response (see FEATURES for the order)."""
    words = _WORD.findall(text)
    n = max(len(words), 1)
    per100 = 100.0 / n
    sentences = [s for s in _SENT.findall(text) if s.strip()]
    objs = _json_objects(text)
    vs = _vader().polarity_scores(text[:5000])["compound"] if text.strip() else 0.0
    # An opening fence alone counts: replies cut off at max_new_tokens often stop inside their code block.
    fences = len(_FENCE.findall(text))
    return {
        "words": float(len(words)),
        "log_words": math.log1p(len(words)),
        "sentences": float(len(sentences)),
        "mean_sentence_words": len(words) / max(len(sentences), 1),
        "code_block": float(fences > 0),
        "code_lines": min(len(_CODE_LINE.findall(text)) * per100, 100.0),
        "json_valid": float(any(isinstance(o, (dict, list)) for o in objs)),
        "tool_call_shape": float(any(_is_tool_call(o) for o in objs)),
        "list_items": len(_LIST.findall(text)) * per100,
        "numbered_steps": len(_NUMBERED.findall(text)) * per100,
        "second_person": len(_SECOND.findall(text)) * per100,
        "validating": len(_VALIDATING.findall(text)) * per100,
        "questions_back": float(len(_QUESTION_BACK.findall(text))),
        "narrative": len(_NARRATIVE.findall(text)) * per100,
        "dialogue_quotes": float(len(_QUOTES.findall(text))),
        "hedging": len(_HEDGE.findall(text)) * per100,
        "perspectives": len(_PERSPECTIVES.findall(text)) * per100,
        "reasoning": len(_REASONING.findall(text)) * per100,
        "numbers": len(_NUMBER.findall(text)) * per100,
        "formality": len(_FORMAL.findall(text)) * per100,
        "casual": len(_CASUAL.findall(text)) * per100,
        "sentiment": vs,
        "sentiment_abs": abs(vs),
        "exclamations": float(text.count("!")),
    }


def feature_vector(profile: dict[str, float]) -> list[float]:
    """The profile as a list in FEATURES order."""
    return [float(profile[f]) for f in FEATURES]


# What "the expected style" means per context: a readable rule over the profile, reported beside the
# embedding-based prediction so a reader sees *which* trait was present or missing.
EXPECTED_STYLE: dict[str, str] = {
    "technical": "code block or code lines, or numbered steps",
    "empathetic": "validating language addressed to the user (second person), non-negative sentiment",
    "creative": "narrative markers or dialogue, few list items",
    "analytical": "reasoning connectives or numbers, or numbered steps",
    "tool_use": "a JSON tool call: {name, arguments}",
    "ethical": "several perspectives or hedging",
    "conversational": "casual register or a question back, short (< 120 words)",
    "factual": "direct answer: short (< 80 words), little hedging",
}


def expected_style_hit(context: str, p: dict[str, float]) -> bool:
    """Whether the response shows the trait its context calls for (see EXPECTED_STYLE)."""
    if context == "technical":
        return p["code_block"] > 0 or p["code_lines"] >= 5 or p["numbered_steps"] >= 3
    if context == "empathetic":
        return p["validating"] >= 2 and p["second_person"] >= 2 and p["sentiment"] > -0.5
    if context == "creative":
        return (p["narrative"] >= 2 or p["dialogue_quotes"] >= 1) and p["list_items"] < 5
    if context == "analytical":
        return p["reasoning"] >= 4 or p["numbers"] >= 3 or p["numbered_steps"] >= 3
    if context == "tool_use":
        return p["tool_call_shape"] > 0
    if context == "ethical":
        return p["perspectives"] >= 2 or p["hedging"] >= 2
    if context == "conversational":
        return (p["casual"] >= 2 or p["questions_back"] >= 1) and p["words"] < 120
    if context == "factual":
        return 0 < p["words"] < 80 and p["hedging"] < 5
    return False
