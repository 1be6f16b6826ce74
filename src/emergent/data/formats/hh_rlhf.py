"""Anthropic HH-RLHF: the `chosen` transcript ("\\n\\nHuman: ...\\n\\nAssistant: ...") as turns.

Mixed content (helpful chat, red-team prompts), so CATEGORY is None and the classifier decides.
In harmless-base, "chosen" only means the less harmful of two replies ("Don't shoot any security
guards."), so a transcript becomes a supervised record only where its replies pass the harm check
below (`options: {harm_check: strict | lenient | off}`, default strict); the others are quarantined as
`harmful_reply`, and a final reply that stops mid-sentence as `cut_off_reply`. The pair's final
replies travel beside the record as `_chosen` and `_rejected` (the prompt is every message before
the last), for preference training.

The harm check is rules, measured on tests/data/hh_rlhf_harm_labels.jsonl (230 chosen replies of
the test file labelled by hand): `lenient` flags a reply that agrees or offers help, or that does
not decline a request naming harm; `strict` also flags a final reply that does not decline,
discourage or ask what is meant, since on red-team prompts that is the reply worth teaching.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from emergent.data.formats._common import assistant, choice_option, field, user
from emergent.errors import Reject

CATEGORY = None
LICENSE = "MIT"
OPTIONS = {
    "harm_check": "strict (default) | lenient | off: which chosen replies that comply with a harmful request go",
}

_TURN = re.compile(r"\n\n(Human|Assistant):")
# A speaker label inside a turn is a generation artifact; training on it teaches the model to speak for the user.
_INLINE_SPEAKER = re.compile(r"\b(Human|Assistant):")


def parse_transcript(text: str) -> list[dict]:
    """Human/Assistant turns of one transcript; Reject when they do not alternate or one is empty."""
    pieces = _TURN.split("\n\n" + text.lstrip("\n"))
    if pieces[0].strip():
        raise Reject("malformed_transcript", 'text before the first "Human:" turn')
    speakers, texts = pieces[1::2], pieces[2::2]
    if not speakers:
        raise Reject("malformed_transcript", 'no "\\n\\nHuman:" / "\\n\\nAssistant:" turns')
    messages = []
    for i, (speaker, content) in enumerate(zip(speakers, texts, strict=True)):
        expected = "Human" if i % 2 == 0 else "Assistant"
        if speaker != expected:
            raise Reject(
                "malformed_transcript", f"turn {i + 1} is {speaker}, expected {expected} (turns must alternate)"
            )
        if not content.strip():
            raise Reject("malformed_transcript", f"turn {i + 1} ({speaker}) is empty")
        inline = _INLINE_SPEAKER.search(content)
        if inline:
            raise Reject(
                "malformed_transcript", f"turn {i + 1} ({speaker}) contains an inline {inline.group(0)!r} label"
            )
        messages.append(user(content) if speaker == "Human" else assistant(content))
    if speakers[-1] != "Assistant":
        raise Reject("malformed_transcript", "the transcript ends with a Human turn that has no answer")
    return messages


HARM_CHECKS = ("strict", "lenient", "off")
_Q = "['’]"
# Declining, discouraging or pointing elsewhere.
_DECLINES = re.compile(
    rf"\b(sorry|apologi[sz]e|can{_Q}?t|cannot|won{_Q}?t|not (?:comfortable|able|going to|allowed|programmed|prepared|sure|familiar)"
    rf"|(?:don{_Q}?t|wouldn{_Q}?t|do not) (?:recommend|think|want|know|condone|help|understand)|not a good idea"
    rf"|advise against|illegal|against the law|please don{_Q}?t|shouldn{_Q}?t|should not|unethical|wrong|harmful"
    rf"|not okay|professional|hotline|therapist|no,? you don{_Q}?t|tell the truth|unhealthy|you{_Q}?re welcome"
    rf"|my pleasure|thank you)\b",
    re.I,
)
# Asking what is meant or why, rather than how to go on.
_ASKS = re.compile(
    rf"^(?:what do you mean|how do you mean|do you mean|can you (?:elaborate|clarify)|could you (?:be more specific|say more)"
    rf"|why\b|how what|what is that|i don{_Q}?t understand|sorry, i didn{_Q}?t|how do you know"
    rf"|are you (?:worried|concerned|thinking|looking for|trying))",
    re.I,
)
# Help given despite a hedge: "I have no desire to contribute to murder, but I don't really mind ...".
_HELPS_ANYWAY = re.compile(
    rf"(?:don{_Q}?t really mind|but I do agree|I can help you with that|worth a shot|who could help you"
    rf"|the (?:quickest|easiest|best|simplest|most painless)(?: and \w+(?: \w+)?)? way to)",
    re.I,
)
_AGREES = re.compile(
    rf"^(?:sure\b|yes\b|yeah\b|okay\.|ok\.|of course\b|absolutely\b|definitely\b|maybe!|i can (?:try|help)|i could\b"
    rf"|let me\b|let{_Q}s (?:work|do|try|see)|i have (?:some|a few) ideas|here{_Q}?s|here (?:is|are)\b"
    rf"|that (?:seems|sounds) (?:relatively |pretty |fairly )?(?:straightforward|easy|simple|doable|possible))",
    re.I,
)
_OFFERS = re.compile(
    rf"(?:but I can (?:see|try|look|find|help)|I could (?:just )?(?:describe|tell|look|find)"
    rf"|let me (?:look|research|find|check)|you{_Q}?ll need|you will need|I would suggest|I{_Q}d suggest)",
    re.I,
)
_HARM_WORDS = re.compile(
    r"\b(steal\w*|stole|rob\w*|kill\w*|murder\w*|poison\w*|hack\w*|drugs?|heroin|cocaine|meth|benzos?|weapons?|guns?"
    r"|bombs?|explo\w+|scam\w*|fraud|defraud|lie to|cheat\w*|hurt|harm|insult\w*|racis\w*|slurs?|stereotyp\w*"
    r"|antisemit\w*|address|track(?:ing)?|spy\w*|secretly|without (?:them|him|her) (?:knowing|noticing)|suicid\w*"
    r"|fake|forg\w+|counterfeit|sabotage|disrupt|damag\w+|break into|locks?|illegal|get away with|revenge|prank\w*"
    r"|tortur\w*|skin|disintegrate|cops|police|caught|sneak\w*|blackmail|affair|dirty|sex\w*|naked|nude|ass|tits"
    r"|hot body|bitch|fuck\w*|shit|ugly|jews?|blacks?|mexicans?|muslims?|gay|immigrants?)\b",
    re.I,
)
# A reply that stops mid-sentence (or at a colon, before the list it announces) teaches stopping there.
# Short replies without a full stop ("Ok", "One sec") are complete.
_FINISHED = re.compile(r"""[.?!…"”'’)\]*]\s*$|[:;]-?[)D(]\s*$""")
_DANGLING = re.compile(r"(?:[:,;\-–—]|\b(?:and|but|or|the|a|an|to|of|that|with|for|if|is|are|I|you|my|your))\s*$", re.I)


def cut_off(reply: str) -> bool:
    """True when the reply stops mid-sentence."""
    if _FINISHED.search(reply):
        return False
    return bool(_DANGLING.search(reply)) or len(reply.split()) >= 6


def harm_check(source: Any) -> str:
    """The source's `harm_check` option (default strict); ConfigError for anything else."""
    return choice_option(source, "harm_check", HARM_CHECKS, "strict")


def check_options(source: Any) -> None:
    harm_check(source)


def rows(source: Any) -> Iterator[tuple[str, Any]]:
    """Every row of the files (or the hub split); the options are checked before the first."""
    from emergent.data.readers import iter_source_rows

    harm_check(source)
    yield from iter_source_rows(source)


def harmful(reply: str, asked: str, strict: bool) -> str | None:
    """Why `reply` (to the user turns `asked`) is not worth teaching, or None."""
    reply = reply.strip()
    if _HELPS_ANYWAY.search(reply):
        return "helps despite a hedge"
    if _DECLINES.search(reply) or _ASKS.search(reply):
        return None
    if _AGREES.search(reply) or _OFFERS.search(reply):
        return "agrees or offers help"
    if strict:
        return "does not decline, discourage or ask what is meant"
    found = _HARM_WORDS.search(asked)
    return f"does not decline a request about {found.group(0)!r}" if found else None


def convert(row: dict, source: Any) -> dict:
    mode = harm_check(source) if source is not None else "off"
    messages = parse_transcript(field(row, "chosen"))
    final = messages[-1]["content"]
    if cut_off(final):
        raise Reject("cut_off_reply", f"the final reply stops mid-sentence: …{final[-60:]!r}")
    if mode != "off":
        for i, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            asked = " ".join(u["content"] for u in messages[:i] if u["role"] == "user")
            why = harmful(m["content"], asked, strict=mode == "strict" and i == len(messages) - 1)
            if why:
                raise Reject("harmful_reply", f"assistant turn {i // 2 + 1}: {why}: {m['content'][:120]!r}")
    record: dict[str, Any] = {"messages": messages, "tools": None}
    rejected = _final_reply(row.get("rejected"), messages[:-1])
    if rejected is not None:
        record.update(_chosen=final, _rejected=rejected)
    return record


def _final_reply(transcript: Any, prompt: list[dict]) -> str | None:
    """The rejected transcript's last reply when it answers the same prompt, else None."""
    if not isinstance(transcript, str):
        return None
    try:
        messages = parse_transcript(transcript)
    except Reject:
        return None
    return messages[-1]["content"] if messages[:-1] == prompt else None
