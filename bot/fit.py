"""Discord's size limits, and the one place every text the bot builds is kept inside them.

Discord refuses a whole message when any part is one character too long (content 2,000,
a button label 80, ...), and the person then sees only "Something went wrong". So lists are
cut to whole rows with "... and N more", and single texts are cut with an ellipsis, before
anything is sent. Counts are in characters (code points), as Discord counts them.
"""

from __future__ import annotations

from collections.abc import Sequence

CONTENT = 2000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELD_NAME = 256
EMBED_FIELD_VALUE = 1024
EMBED_FOOTER = 2048
EMBED_FIELDS = 25
EMBED_TOTAL = 6000
BUTTON_LABEL = 80
SELECT_PLACEHOLDER = 150
SELECT_OPTION_LABEL = 100
SELECT_OPTION_DESCRIPTION = 100
CHOICE_NAME = 100
MODAL_TITLE = 45
TEXT_INPUT_LABEL = 45
TEXT_INPUT_VALUE = 4000

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """``text`` if it fits, else its start and an ellipsis, ``limit`` characters at most.

    A cut must not leave a lone trailing backslash: in markdown it would escape the ellipsis
    (harmless) or, worse, the closing ``**`` a caller adds after it.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    head = text[: limit - len(ELLIPSIS)]
    trailing = len(head) - len(head.rstrip("\\"))
    if trailing % 2:
        head = head[:-1]
    return head + ELLIPSIS


def more_line(hidden: int) -> str:
    return f"... and {hidden} more"


def fit_lines(head: str, rows: Sequence[str], *, limit: int = CONTENT) -> str:
    """``head`` and as many whole ``rows`` as fit, one per line, then "... and N more".

    Rows keep their order; a single row longer than a message could hold is clipped, so
    a long prompt never hides every row. The result is at most ``limit`` characters.
    """
    head = clip(head, limit // 2)
    widest = limit - len(head) - len(more_line(len(rows))) - 2
    rows = [clip(row, widest) for row in rows]

    def length(shown: int) -> int:
        hidden = len(rows) - shown
        tail = len(more_line(hidden)) + 1 if hidden else 0
        return len(head) + sum(len(row) + 1 for row in rows[:shown]) + tail

    shown = len(rows)
    while shown and length(shown) > limit:
        shown -= 1
    lines = [head, *rows[:shown]]
    if shown < len(rows):
        lines.append(more_line(len(rows) - shown))
    return "\n".join(lines)
