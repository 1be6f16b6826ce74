"""The judge against a real OpenAI-compatible server: llama.cpp serving the embedded SmolLM2 GGUF.

SmolLM2-135M is a weak judge, so only what a real server guarantees is asserted: every call answered,
both orders asked, the parse rate reported, every figure in range, and the eval.json block written by
`emergent eval` end to end.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import llama_cpp.server  # noqa: F401 — `make test` installs it (requirements-test.lock): missing fails, never skips
import pytest
from eval_helpers import tiny_eval_config
from typer.testing import CliRunner

from emergent.evaluate.config import JudgeConfig
from emergent.evaluate.judge import Judge, JudgeItem
from emergent.evaluate.suite import load_suite

pytestmark = pytest.mark.slow

POSTS = '"POST /v1/chat/completions HTTP/1.1" 200'  # uvicorn's access log line of an answered call


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, log: Path) -> None:
        self.url, self.log = url, log

    def answered(self) -> int:
        return self.log.read_text(errors="replace").count(POSTS)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from emergent.lm.registry import embedded_gguf_path

    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_gguf_path())]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.time() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama.cpp server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as resp:
                    if json.loads(resp.read())["data"]:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"llama.cpp server not ready after 120 s:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield Server(url, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RecordingJudge(Judge):
    """The judge, keeping every prompt it sent."""

    def __init__(self, cfg: JudgeConfig) -> None:
        super().__init__(cfg)
        self.sent: list[str] = []

    def ask(self, content: str) -> tuple[str, str | None]:
        self.sent.append(content)
        return super().ask(content)


def test_judge_on_real_items_against_llama_cpp(llama_server: Server):
    suite = load_suite(["default"], prompts_per_context=1, consistency_dialogues=0, transition_dialogues=0)
    suite_items = suite.prompts[:3] + [d for d in suite.dialogues if d.kind == "memory"][:1]
    items = []
    for it in suite_items:
        n = len(it.turns)
        gold = it.reference or (it.references[-1] if it.references else None) or "Here is a careful answer."
        base = [f"BASE{t}: I am not sure." for t in range(n)]
        adapter = [f"ADAPTER{t}: {gold}" for t in range(n)]
        items.append(JudgeItem(it.id, it.kind, it.contexts[-1], list(it.turns), {"base": base, "adapter": adapter}))
    cfg = JudgeConfig(enabled=True, base_url=llama_server.url, model="smollm2", max_items=4, max_tokens=48)
    cfg = cfg.model_copy(update={"api_key_env": "EMERGENT_TEST_NO_KEY", "timeout_s": 300, "concurrency": 2})
    before = llama_server.answered()
    judge = RecordingJudge(cfg)
    t0 = time.time()
    r = judge.run(items, n_boot=200, seed=1)
    seconds = time.time() - t0

    assert r["items"] == 4 and r["pair"] == ["adapter", "base"]
    assert r["calls"]["rubric"]["asked"] == 8 and r["calls"]["pairwise"]["asked"] == 8
    assert r["calls"]["rubric"]["failed"] == 0 and r["calls"]["pairwise"]["failed"] == 0, r["errors"]
    assert llama_server.answered() - before == 16  # the server itself answered every call
    assert 0.0 <= r["parse_rate"] <= 1.0
    # Both orders: each item's adapter reply is once reply A and once reply B.
    pairwise = [p for p in judge.sent if "[Reply A" in p]
    assert len(pairwise) == 8
    for it in items:
        mine = [p for p in pairwise if all(t in p for t in it.turns)]
        a_first = [p.index("ADAPTER") < p.index("BASE") for p in mine]
        assert sorted(a_first) == [False, True], it.id
    assert any("[Conversation A]" in p and "Assistant: ADAPTER0" in p for p in pairwise)  # the dialogue in full
    for key in ("win_rate", "length_controlled_win_rate", "flip_rate", "p_prefers_longer"):
        m = r[key]["mean"]
        assert m is None or 0.0 <= m <= 1.0, key
    for side in ("adapter", "base"):
        m = r[f"rubric_{side}"]["mean"]
        assert m is None or 1.0 <= m <= 5.0
    assert sum(len(s["ids"]) for s in r["sampling"]["strata"].values()) == 4
    assert len(r["verdicts"]) == 4 and seconds < 280


def test_emergent_eval_writes_the_judge_block_end_to_end(
    llama_server: Server, tmp_path: Path, tiny_model_dir: Path, make_tiny_adapter
):
    from emergent.cli import app

    adapter = make_tiny_adapter(tiny_model_dir, tmp_path / "adapter", ["q_proj", "v_proj"], seed=2)
    config = tiny_eval_config(
        tmp_path / "eval.yaml",
        tiny_model_dir,
        tmp_path / "run",
        prompts_per_context=1,
        judge={
            "enabled": True,
            "base_url": llama_server.url,
            "model": "smollm2",
            "api_key_env": "EMERGENT_TEST_NO_KEY",
            "max_items": 3,
            "max_tokens": 32,
            "timeout_s": 300,
        },
    )
    before = llama_server.answered()
    res = CliRunner().invoke(
        app, ["eval", str(config), "--adapter", str(adapter), "-o", str(tmp_path / "out"), "--quiet"]
    )
    assert (tmp_path / "out" / "eval.json").is_file(), res.output
    j = json.loads((tmp_path / "out" / "eval.json").read_text())["judge"]
    assert j["pair"] == ["adapter", "base"] and j["items"] == 3 and j["model"] == "smollm2"
    assert j["calls"]["rubric"] == {"asked": 6, "failed": 0, "parsed": j["calls"]["rubric"]["parsed"]}
    assert j["calls"]["pairwise"]["asked"] == 6 and j["calls"]["pairwise"]["failed"] == 0
    assert llama_server.answered() - before == 12
    # Three items over the strata: three different contexts, ids recorded per stratum.
    strata = {s: v["ids"] for s, v in j["sampling"]["strata"].items() if v["ids"]}
    assert len(strata) == 3 and len({s.split("/")[0] for s in strata}) == 3
    assert 0.0 <= j["parse_rate"] <= 1.0
    for key in ("win_rate", "length_controlled_win_rate", "flip_rate", "p_prefers_longer"):
        assert set(j[key]) == {"mean", "ci95", "n"}, key
    assert res.exit_code == 0, res.output  # the printed summary reads the judge block too
    assert "judge (adapter vs base, 3 items)" in res.output
