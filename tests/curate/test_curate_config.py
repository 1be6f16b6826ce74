from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from emergent.curate.config import CurateConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", ["seed.yaml", "quickstart.yaml"])
def test_shipped_curate_sections_validate_and_equal_the_seed_defaults(name):
    section = yaml.safe_load((CONFIGS / name).read_text())["curate"]
    shipped = CurateConfig.model_validate(section)
    if name == "seed.yaml":  # the one deliberate difference: same-prompt dedup for the Aesop retellings
        assert shipped.prompt_dedup.model_dump() == {"enabled": True, "sources": ["aesop"]}
        shipped.prompt_dedup = CurateConfig().prompt_dedup
    if name == "quickstart.yaml":  # a smaller held-out set, sized for the CPU budget
        assert shipped.validation.examples_per_category == 4
        shipped.validation = CurateConfig().validation
        # The evaluation sets and parts name files and sources, which the defaults cannot (seed.yaml
        # takes them from corpora.yaml).
        assert shipped.decontaminate.evaluation_parts == ["nq_open", "hh_rlhf"]
        assert [s.name for s in shipped.decontaminate.sets] == [
            "gsm8k_test",
            "humaneval",
            "mbpp_test",
            "ifeval",
            "eq_bench",
        ]
        shipped.decontaminate = CurateConfig().decontaminate
    assert shipped == CurateConfig()


def test_unknown_keys_and_bad_values_fail():
    with pytest.raises(ValidationError, match="extra"):
        CurateConfig.model_validate({"near_dedup": {"treshold": 0.8}})
    with pytest.raises(ValidationError, match="bands and rows"):
        CurateConfig.model_validate({"near_dedup": {"bands": 8}})
    with pytest.raises(ValidationError, match="extra"):  # the phases are the run's `curriculum:` section
        CurateConfig.model_validate({"phases": [{"name": "p", "categories": "all"}]})
    with pytest.raises(ValidationError, match="share of the output"):
        CurateConfig.model_validate({"caps": {"sources": {"gsm8k": 1.5}}})


def test_seed_aliases_are_accepted_in_targets():
    cfg = CurateConfig.model_validate({"targets": {"code_technical": [0.2, 0.3]}})
    assert cfg.targets == {"technical": (0.2, 0.3)}
