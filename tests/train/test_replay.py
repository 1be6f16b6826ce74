"""Self-distillation replay (`training.replay`): which conversations get the base model's reply, which
replies are refused, the cache a resume reuses, and the trainer's use of it on the tiny and the real model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from emergent.train import replay
from emergent.train.config import ReplaySettings, TrainingConfig
from emergent.train.data import PhaseData
from emergent.train.trainer import CurriculumTrainer, train

from .conftest import conversations, make_config

SETTINGS = ReplaySettings(share=0.5)


def _conv(i: int, category: str = "empathetic", turns: int = 1) -> dict:
    msgs = []
    for t in range(turns):
        msgs += [{"role": "user", "content": f"request {i}.{t}"}, {"role": "assistant", "content": f"corpus {i}.{t}"}]
    return {"_id": f"id{i}", "_category": category, "messages": msgs}


def test_only_plain_replies_to_a_user_turn_are_replayable():
    tool, plain, two_turns = conversations(4)[0], _conv(1), _conv(2, turns=2)
    assert tool.get("tools") and not replay.replayable(tool)
    assert replay.replayable(plain) and replay.replayable(two_turns)
    ends_on_user = {"messages": [*plain["messages"], {"role": "user", "content": "and?"}]}
    assert not replay.replayable(ends_on_user)
    after_tool = {"messages": [{"role": "tool", "content": "{}"}, {"role": "assistant", "content": "ok"}]}
    assert not replay.replayable(after_tool)


def test_the_first_turn_cuts_the_conversation_after_the_base_reply(tmp_path):
    system = {"role": "system", "content": "Be kind."}
    conv = {**_conv(1, turns=3), "messages": [system, *_conv(1, turns=3)["messages"]]}
    assert replay.prompt_of(conv, "first") == conv["messages"][:2]
    assert replay.prompt_of(conv, "last") == conv["messages"][:-1]
    assert replay.prompt_of({"messages": [system, {"role": "user", "content": "hi"}]}, "first") is None
    cache = replay.ReplyCache(tmp_path / "replies.jsonl")
    cache.add([replay.prompt_key(conv["messages"][:2])], [("The base model's first reply.", True)])
    out = replay.apply([conv], [0], cache, replay.ReplayStats(), ReplaySettings(share=1.0, turn="first"))[0]
    assert out["messages"] == [*conv["messages"][:2], {"role": "assistant", "content": "The base model's first reply."}]
    asked = []
    generate = lambda msgs, tools: asked.extend(msgs) or [("r", True)] * len(msgs)  # noqa: E731
    replay.fill(replay.ReplyCache(tmp_path / "other.jsonl"), [conv], [0], generate, 4, turn="first")
    assert asked == [conv["messages"][:2]]


def test_a_seeded_share_of_the_trained_eligible_conversations_is_chosen():
    convs = [_conv(i, "empathetic" if i % 2 else "technical") for i in range(40)]
    trained = list(range(0, 40, 2)) + list(range(1, 21, 2))  # 20 technical, 10 empathetic
    chosen = replay.choose(convs, trained, SETTINGS, seed=3)
    assert len(chosen) == 15 and set(chosen) <= set(trained)
    assert chosen == replay.choose(convs, trained, SETTINGS, seed=3) != replay.choose(convs, trained, SETTINGS, seed=4)
    only = replay.choose(convs, trained, ReplaySettings(share=1.0, categories=["empathetic"]), seed=3)
    assert only == list(range(1, 21, 2))


def test_excluded_sources_are_never_chosen():
    convs = [{**_conv(i), "_source": "hh_rlhf" if i % 2 else "esconv"} for i in range(20)]
    chosen = replay.choose(convs, list(range(20)), ReplaySettings(share=1.0, exclude_sources=["hh_rlhf"]), seed=0)
    assert chosen == list(range(0, 20, 2))


# Replies SmolLM2-135M-Instruct gave to the proof's chat requests (the session-20 replay cache), shortened.
DODGES = [
    (
        "I went straight to the gym from work today.",
        "I'm sorry for your loss, but as a chatbot, I don't have the ability to access personal data unless it's "
        "provided by a trusted source.",
        "self_reference",
    ),
    (
        "I am going to be showing my dog at the AKC today.",
        "I'm sorry for your loss, but as a dog-friendly AI, I'm unable to assist with your dog's care.",
        "self_reference",
    ),
    (
        "I majorly embarrassed myself today.",
        "I'm sorry for your loss. I'm here to help, and I'm always there to support you.",
        "stray_apology",
    ),
    (
        "I'm really trying not to play video games today.",
        "I'm sorry for any misunderstanding. I'm here to help you with whatever you're struggling with.",
        "stray_apology",
    ),
]
ANSWERS = [
    (
        "My grandfather died last week.",
        "I'm sorry for your loss. Losing a grandparent is hard; how are you holding up?",
    ),
    ("You got my name wrong earlier.", "Sorry for the confusion, Sam. Thanks for telling me."),
    ("Are you a fan of the Cowboys?", "As a big football fan, I love a Cowboys game on a Sunday."),
    ("Hi, how are you doing today?", "How's it going, friend? How's your day been?"),
]


def test_boilerplate_that_dodges_the_request_is_refused_when_asked():
    for request, reply, why in DODGES:
        assert replay.usable(reply, True, "trim", request) == (None, why), reply
        assert replay.usable(reply, True, "trim") == (reply, "")  # without the request: not checked
    for request, reply in ANSWERS:
        assert replay.usable(reply, True, "trim", request) == (reply, ""), reply


def test_refused_boilerplate_keeps_the_corpus_reply_and_is_counted(tmp_path):
    convs = [_conv(i) for i in range(2)]
    cache = replay.ReplyCache(tmp_path / "replies.jsonl")
    replies = [("As an AI, I cannot go outside.", True), ("That sounds like a lovely walk.", True)]
    cache.add([replay.prompt_key(c["messages"][:-1]) for c in convs], replies)
    stats = replay.ReplayStats()
    out = replay.apply(convs, [0, 1], cache, stats, ReplaySettings(share=1.0, refuse_boilerplate=True))
    assert [o["messages"][-1]["content"] for o in out] == ["corpus 0.0", "That sounds like a lovely walk."]
    assert stats.kept == {"self_reference": 1} and stats.summary()["kept_corpus_reply"] == {"self_reference": 1}


def test_a_refused_reply_is_asked_again_and_the_first_usable_retry_is_trained_on(tmp_path):
    convs = [_conv(i) for i in range(3)]
    greedy = {
        "request 0.0": ("As an AI, I cannot go outside.", True),  # refused, retried
        "request 1.0": ("A fine greedy reply.", True),  # used, never retried
        "request 2.0": ("I'm sorry for any confusion, as a chatbot I can't.", True),  # refused, every retry too
    }
    sampled = {  # attempt -> request -> reply
        1: {"request 0.0": "As a language model I cannot.", "request 2.0": "As an AI, no."},
        2: {"request 0.0": "What a lovely walk that sounds.", "request 2.0": "As a bot, no."},
    }
    asked: list[tuple[int, list[str]]] = []

    def sample(prompts, attempt):
        asked.append((attempt, [p[-1]["content"] for p in prompts]))
        return [(sampled[attempt][p[-1]["content"]], True) for p in prompts]

    settings = ReplaySettings(share=1.0, refuse_boilerplate=True, retries=2)
    cache = replay.ReplyCache(tmp_path / "replies.jsonl")
    replay.fill(cache, convs, [0, 1, 2], lambda c, t: [greedy[m[-1]["content"]] for m in c], 8)
    assert replay.fill_retries(cache, convs, [0, 1, 2], sample, settings) == 4
    assert asked == [(1, ["request 0.0", "request 2.0"]), (2, ["request 0.0", "request 2.0"])]
    assert replay.fill_retries(replay.ReplyCache(tmp_path / "replies.jsonl"), convs, [0, 1, 2], sample, settings) == 0
    stats = replay.ReplayStats()
    out = replay.apply(convs, [0, 1, 2], replay.ReplyCache(tmp_path / "replies.jsonl"), stats, settings)
    assert [o["messages"][-1]["content"] for o in out] == [
        "What a lovely walk that sounds.",
        "A fine greedy reply.",
        "corpus 2.0",
    ]
    assert stats.resampled == 1 and stats.kept == {"self_reference": 1}
    # Without retries the same cache gives the greedy verdicts only.
    stats = replay.ReplayStats()
    no_retry = ReplaySettings(share=1.0, refuse_boilerplate=True)
    out = replay.apply(convs, [0, 1, 2], replay.ReplyCache(tmp_path / "replies.jsonl"), stats, no_retry)
    assert [o["messages"][-1]["content"] for o in out][::2] == ["corpus 0.0", "corpus 2.0"] and stats.resampled == 0


def test_the_trained_conversations_are_those_in_the_rows_the_steps_draw():
    data = PhaseData(examples=[], rows=[[0, 1], [2], [3, 4]], conversation_index=[0, 2, 3, 5, 6])
    order = {0: 2, 1: 0, 2: 1}.__getitem__  # rows drawn in the order 2, 0, 1
    assert replay.trained_conversations(data, order, 2) == [5, 6, 0, 2]
    assert replay.trained_conversations(data, order, 3) == [5, 6, 0, 2, 3]


def test_replies_that_did_not_end_loop_or_are_empty_keep_the_corpus_reply(tmp_path):
    convs = [_conv(i, turns=2) for i in range(4)]
    replies = {
        0: ("A reply of the base model, in full.", True),
        1: ("Cut off in the mid", False),
        2: ("I am glad you enjoyed it. " * 20, True),
        3: ("  ", True),
    }
    cache = replay.ReplyCache(tmp_path / "replies.jsonl")
    cache.add([replay.prompt_key(convs[i]["messages"][:-1]) for i in replies], list(replies.values()))
    stats = replay.ReplayStats()
    out = replay.apply(convs, [0, 1, 2, 3], cache, stats, SETTINGS)
    assert out[0]["messages"][-1]["content"] == "A reply of the base model, in full." and out[0]["_replayed"]
    assert out[0]["messages"][:-1] == convs[0]["messages"][:-1]  # the earlier turns are the corpus's
    assert [o["messages"][-1]["content"] for o in out[1:]] == ["corpus 1.1", "corpus 2.1", "corpus 3.1"]
    assert stats.kept == {"unended": 1, "repetitive": 1, "empty": 1} and stats.replayed == {"empathetic": 1}


def test_an_unended_reply_is_cut_after_its_last_whole_sentence_or_refused():
    long = "The first sentence carries most of the words here. The second one as well, (a note.) And then it is cu"
    cut = "The first sentence carries most of the words here. The second one as well, (a note.)"
    assert replay.trim_to_sentence(long) == cut
    assert replay.usable(long, False, "trim") == (cut, "trimmed")
    assert replay.usable(long, False, "drop") == (None, "unended")
    assert replay.usable("Short. Then a long tail that never reaches its end at all", False, "trim") == (
        None,
        "unended",
    )
    assert replay.usable(long, True, "trim") == (long, "")
    assert replay.trim_to_sentence("e.g. 3.14 is pi. Next") == "e.g. 3.14 is pi."


def test_the_replayed_marker_never_reaches_the_training_text(tokenizer_dir):
    from transformers import AutoTokenizer

    from emergent.lm.render import render

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    marked = {**_conv(1), "_replayed": True}
    assert "_replayed" not in render(marked, tok).text
    assert render(marked, tok).text == render(_conv(1), tok).text


def test_the_cache_generates_only_what_it_lacks_and_survives_a_torn_line(tmp_path):
    convs = [_conv(i) for i in range(5)] + [{**_conv(0), "_id": "again"}]  # the same request twice
    asked: list[list[dict]] = []

    def generate(msgs, tools):
        asked.extend(msgs)
        return [(f"reply to {m[-1]['content']}", True) for m in msgs]

    path = tmp_path / "replay" / "replies.jsonl"
    assert replay.fill(replay.ReplyCache(path), convs, [0, 1, 5], generate, batch_size=2) == 2
    assert [m[-1]["content"] for m in asked] == ["request 0.0", "request 1.0"]
    with path.open("a") as f:
        f.write('{"key": "torn')  # an interrupted write
    cache = replay.ReplyCache(path)
    assert len(cache.replies) == 2
    assert replay.fill(cache, convs, [0, 1, 2, 3, 4], generate, batch_size=2) == 3
    assert len(replay.ReplyCache(path).replies) == 5


def test_replay_settings_refuse_unknown_or_empty_buckets():
    with pytest.raises(ValueError, match="unknown category"):
        TrainingConfig(replay={"share": 0.5, "categories": ["ethics"]})
    with pytest.raises(ValueError, match="empty"):
        TrainingConfig(replay={"share": 0.5, "categories": []})
    with pytest.raises(ValueError):
        TrainingConfig(replay={"share": 0.0})
    assert TrainingConfig(replay={"share": 1, "categories": ["adversarial_moral"]}).replay.categories == ["ethical"]


def _phase_json(out: Path, name: str) -> dict:
    return json.loads((out / "phases" / name / "phase.json").read_text())


QUICK = {"max_steps_per_phase": 2, "validation": {"enabled": False}}


def test_the_trainer_replays_real_generations_and_a_resume_reuses_them(tiny_model_dir, phase_dir, tmp_path):
    """The tiny random model's own replies, generated by the trainer: rarely ended, so mostly refused and
    counted; all of them cached, so a phase trained again generates nothing."""
    settings = {"share": 1.0, "categories": ["empathetic", "technical"], "max_new_tokens": 6, "batch_size": 4}
    cfg = make_config(tiny_model_dir, tmp_path, replay=settings, **QUICK)
    out = tmp_path / "train"
    summary = train(cfg, phase_dir, out, show_progress=False)
    cached = (out / replay.REPLIES_FILE).read_text().splitlines()
    total = 0
    for p in summary["phases"]:
        r = p["replay"]
        assert r == _phase_json(out, p["name"])["replay"]
        assert 0 < r["chosen"] <= r["trained"] == p["examples"]
        assert r["replayed"] + sum(r["kept_corpus_reply"].values()) == r["chosen"]
        total += r["generated"]
    assert total == len(cached) > 0
    assert all(set(json.loads(line)) == {"key", "reply", "ended"} for line in cached)

    last = summary["phases"][-1]["name"]
    shutil.rmtree(out / "phases" / last)  # the run stopped before its last phase finished
    again = train(cfg, phase_dir, out, resume=True, show_progress=False)
    assert again["phases"][-1]["replay"]["generated"] == 0
    assert again["phases"][-1]["replay"]["chosen"] == summary["phases"][-1]["replay"]["chosen"]
    assert len((out / replay.REPLIES_FILE).read_text().splitlines()) == len(cached)


def test_the_trainer_samples_retries_for_refused_replies(tiny_model_dir, phase_dir, tmp_path):
    """The tiny model's greedy replies rarely end within 6 tokens, so most are refused: with `retries` the
    trainer asks the base model again, sampled, once per refused conversation, and caches those apart."""
    settings = {"share": 1.0, "categories": ["empathetic"], "max_new_tokens": 6, "batch_size": 4, "retries": 1}
    out = tmp_path / "train"
    summary = train(
        make_config(tiny_model_dir, tmp_path, replay=settings, **QUICK), phase_dir, out, show_progress=False
    )
    rows = [json.loads(line) for line in (out / replay.REPLIES_FILE).read_text().splitlines()]
    greedy = {r["key"]: r["reply"] for r in rows if "#" not in r["key"]}
    retried = {r["key"].split("#")[0]: r["reply"] for r in rows if r["key"].endswith("#1")}
    assert retried and set(retried) <= set(greedy) and len(rows) == len(greedy) + len(retried)
    assert any(retried[k] != greedy[k] for k in retried)  # sampled, not the greedy reply again
    assert sum(p["replay"]["generated"] for p in summary["phases"]) == len(rows)


def test_the_trainer_trains_on_the_replies_it_accepts(tiny_model_dir, phase_dir, tmp_path, monkeypatch):
    """With replies that always end, every chosen conversation trains on its replacement: the phase's
    loss-bearing tokens are the replies', and a curriculum: false run replays its one phase too (first turns)."""
    reply = "A base reply. " * 3

    def base_replies(self, convs, tools):
        return [(reply, True)] * len(convs)

    monkeypatch.setattr(CurriculumTrainer, "_base_replies", base_replies)
    cfg = make_config(tiny_model_dir, tmp_path, replay={"share": 1.0}, **QUICK)
    summary = train(cfg, phase_dir, tmp_path / "train", show_progress=False)
    for p in summary["phases"]:
        r = p["replay"]
        assert r["replayed"] == r["chosen"] > 0 and not r["kept_corpus_reply"]
    plain = train(make_config(tiny_model_dir, tmp_path, **QUICK), phase_dir, tmp_path / "plain", show_progress=False)
    assert "replay" not in plain["phases"][0] or plain["phases"][0]["replay"] is None
    assert [p["loss_first"] for p in summary["phases"]] != [p["loss_first"] for p in plain["phases"]]
    mixed = train(
        make_config(tiny_model_dir, tmp_path, replay={"share": 1.0, "turn": "first"}, curriculum=False, **QUICK),
        phase_dir, tmp_path / "mixed", show_progress=False,
    )  # fmt: skip
    assert mixed["phases"][0]["replay"]["replayed"] > 0


@pytest.mark.slow
def test_smollm2_replies_report_whether_they_ended(tmp_path):
    """The real model: a short answer ends within the budget, a cut one does not."""
    from emergent.lm.config import DecodingConfig
    from emergent.lm.generation import LocalGenerator
    from emergent.lm.registry import resolve_model_path

    path = resolve_model_path("smollm2-135m-instruct")
    ask = [[{"role": "user", "content": "Reply with the single word: yes."}]]
    full = LocalGenerator(path, None, DecodingConfig(max_new_tokens=48, do_sample=False), 1, "cpu")
    text, ended = full.generate_ended(ask, [None], use_adapter=False)[0]
    assert ended and text
    cut = LocalGenerator(path, None, DecodingConfig(max_new_tokens=2, do_sample=False), 1, "cpu")
    assert cut.generate_ended([[{"role": "user", "content": "Write a long story about a dragon."}]], [None], False) == [
        (cut.generate([[{"role": "user", "content": "Write a long story about a dragon."}]], [None], False)[0], False)
    ]
