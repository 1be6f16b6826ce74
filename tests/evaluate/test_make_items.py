"""The shipped suite is rebuilt byte for byte from ../shared/data by its own script.

The item files are committed, and every proof figure is scored on them; a script that no longer writes them
(as happened when the bundled sample was rebuilt and MBPP tasks were chosen anew) would move the suite on the
next rebuild without anyone meaning to.
"""

from __future__ import annotations

from pathlib import Path

from emergent.evaluate.items import make_items


def test_make_items_writes_the_committed_files(shared_data: Path, tmp_path: Path) -> None:
    make_items.main(shared_data, tmp_path)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.jsonl"))
    assert len(written) == 14  # 9 contexts, 5 dialogue kinds
    for rel in written:
        assert (tmp_path / rel).read_bytes() == (make_items.HERE / rel).read_bytes(), rel
