"""Show exactly the text the model trains on, with the loss-bearing spans marked."""

from __future__ import annotations

from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from emergent.lm.config import ModelConfig
from emergent.lm.loading import load_tokenizer
from emergent.lm.render import Rendered, render, tokenize
from emergent.schema import Conversation

LOSS_STYLE = "bold green"
# Without colour (a pipe, NO_COLOR) the spans are bracketed instead; the markers are not training text.
OPEN, CLOSE = "⟦", "⟧"


def rendered_text(r: Rendered, colour: bool) -> Text:
    """A rendered conversation's training text as rich Text: loss-bearing spans styled (or bracketed without colour)."""
    out = Text()
    pos = 0
    for start, end in r.spans:
        out.append(r.text[pos:start])
        if colour:
            out.append(r.text[start:end], style=LOSS_STYLE)
        else:
            out.append(f"{OPEN}{r.text[start:end]}{CLOSE}")
        pos = end
    out.append(r.text[pos:])
    return out


def print_rendered(
    convs: list[Conversation],
    model_name: str,
    console: Console,
    chat_template: str | None = None,
    last_turn_only: bool = False,
) -> None:
    """Print each conversation as rendered by `model_name`'s chat template, loss spans marked.

    The header line (id, source, category, token counts) is metadata shown for orientation only;
    everything below it, and nothing else, is the training text.
    """
    tokenizer = load_tokenizer(ModelConfig(name=model_name, chat_template=chat_template))
    colour = console.color_system is not None
    legend = f"[{LOSS_STYLE}]green[/]" if colour else f"{OPEN}bracketed{CLOSE}"
    console.print(f"loss-bearing tokens are {legend}; everything else is context (no loss)", highlight=False)
    for conv in convs:
        rendered = render(conv, tokenizer, last_turn_only=last_turn_only)
        example = tokenize(rendered, tokenizer)
        head = (
            f"{conv.get('_id')} · {conv.get('_source')} · {conv.get('_category')} · "
            f"{len(example.input_ids)} tokens, {example.loss_tokens} with loss"
        )
        console.print(Rule(head, style="dim"))
        console.print(rendered_text(rendered, colour), highlight=False, markup=False, end="")
        console.print()
