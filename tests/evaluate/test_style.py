from __future__ import annotations

from emergent.evaluate.style import FEATURES, expected_style_hit, feature_vector, style_features


def test_every_feature_is_reported_in_a_fixed_order():
    p = style_features("Hello there.")
    assert list(p) == list(FEATURES)
    assert len(feature_vector(p)) == len(FEATURES)


def test_code_json_and_tool_call_shape(styled):
    code = style_features(styled["technical"][1])
    assert code["code_block"] == 1 and code["code_lines"] > 0
    call = style_features(styled["tool_use"][0])
    assert call["json_valid"] == 1 and call["tool_call_shape"] == 1
    hermes = style_features(styled["tool_use"][2])  # the trainer's <tool_call> layout
    assert hermes["tool_call_shape"] == 1
    plain_json = style_features('{"city": "Lisbon"}')
    assert plain_json["json_valid"] == 1 and plain_json["tool_call_shape"] == 0
    prose = style_features("The weather in Lisbon is sunny.")
    assert prose["json_valid"] == 0 and prose["code_block"] == 0


def test_a_code_block_cut_off_before_its_closing_fence_is_still_a_code_block():
    """Replies stop at max_new_tokens, often inside their code: the opening fence alone counts (session 11:
    technical replies read as analytical or factual before, bench/RESULTS.md)."""
    cut = style_features("Here is the function:\n\n```python\ndef area(base, height):\n    return base * height / 2\n")
    assert cut["code_block"] == 1
    assert style_features("Use three backticks to start a block.")["code_block"] == 0


def test_lists_questions_hedging_and_sentiment():
    steps = style_features("1. Open the file.\n2. Read it.\n3. Close it.")
    assert steps["numbered_steps"] > 0 and steps["list_items"] > 0
    q = style_features("That sounds hard. How are you coping with it?")
    assert q["questions_back"] == 1
    hedge = style_features("It might depend on context; perhaps both views could be right.")
    assert hedge["hedging"] > 0
    assert style_features("I love this, it is wonderful!")["sentiment"] > 0.5
    assert style_features("This is terrible and awful.")["sentiment"] < -0.5
    assert style_features("")["words"] == 0


def test_expected_style_hits_the_styled_examples_and_misses_the_wrong_ones(styled):
    for ctx, texts in styled.items():
        for t in texts:
            assert expected_style_hit(ctx, style_features(t)), (ctx, t)
    assert not expected_style_hit("tool_use", style_features(styled["empathetic"][0]))
    assert not expected_style_hit("technical", style_features(styled["creative"][0]))
