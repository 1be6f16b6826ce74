"""The code sandbox holds against the ways untrusted code misbehaves, and still runs honest code."""

from __future__ import annotations

import os
import time

import pytest

from emergent.evaluate.checks.sandbox import Limits, layers, run_python

FAST = Limits(timeout_s=3.0, memory_mb=256, file_size_mb=1)


def test_honest_code_passes_and_a_failed_assertion_fails():
    assert run_python("assert sum(range(10)) == 45", FAST).passed
    out = run_python("assert 1 == 2, 'nope'", FAST)
    assert not out.passed and "AssertionError" in out.stderr and not out.timed_out


def test_an_infinite_loop_is_killed_at_the_timeout():
    start = time.time()
    out = run_python("while True:\n    pass", Limits(timeout_s=1.5))
    assert out.timed_out and not out.passed
    assert time.time() - start < 10


def test_a_memory_bomb_hits_the_memory_limit():
    out = run_python("x = bytearray(2 * 1024 ** 3)\nassert False, 'allocated'", FAST)
    assert not out.passed and "MemoryError" in out.stderr


def test_a_huge_file_write_hits_the_file_size_limit(tmp_path):
    out = run_python("open('big.bin', 'wb').write(b'0' * (8 * 1024 * 1024))", FAST)
    assert not out.passed and ("File too large" in out.stderr or out.returncode == -25)  # SIGXFSZ


def test_network_access_fails_even_around_the_socket_prelude():
    out = run_python("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)", FAST)
    assert not out.passed and "network access is disabled" in out.stderr
    raw = "import _socket\ns = _socket.socket()\ns.settimeout(2)\ns.connect(('1.1.1.1', 80))"
    out = run_python(raw, FAST)
    assert not out.passed
    if layers()["network_namespace"]:  # an empty namespace has no route at all
        assert "unreachable" in out.stderr.lower()


def test_the_child_sees_an_empty_temp_dir_and_no_environment():
    os.environ["EMERGENT_TEST_SECRET"] = "hunter2"
    try:
        code = "import os\nassert os.listdir('.') == ['program.py'], os.listdir('.')\nassert 'EMERGENT_TEST_SECRET' not in os.environ"
        assert run_python(code, FAST).passed
    finally:
        del os.environ["EMERGENT_TEST_SECRET"]


@pytest.mark.skipif(not layers()["runs_as_nobody"], reason="process limits bind only when the child is not root")
def test_a_fork_bomb_hits_the_process_limit_and_files_outside_stay_untouched():
    out = run_python("import os\nfor _ in range(200):\n    os.fork()", Limits(timeout_s=5, processes=8))
    assert not out.passed and ("Resource temporarily unavailable" in out.stderr or out.timed_out)
    out = run_python("open('/etc/emergent-sandbox-test', 'w').write('x')", FAST)
    assert not out.passed and not os.path.exists("/etc/emergent-sandbox-test")
