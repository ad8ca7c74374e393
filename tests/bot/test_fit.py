"""Every text the bot builds fits Discord's limits, for any prompt and any number of jobs."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot import fit, messages
from bot.store import JobRecord, Status
from generation.types import Endpoint, GenerationRequest, Mode, Progress

prompts = st.text(min_size=1, max_size=600)
limits = st.integers(min_value=40, max_value=4000)


def _job(number: int, prompt: str, end: str | None = None) -> JobRecord:
    request = GenerationRequest(
        Mode.BLEND if end else Mode.RIFF,
        Endpoint(prompt, 2**32 - 1),
        end=Endpoint(end, 7) if end else None,
        negative_prompt=prompt,
        seed_image="og_beat",
    )
    return JobRecord(
        id=str(number),
        request=request,
        user_id=10**18,
        guild_id=1,
        channel_id=2,
        status=Status.FAILED,
        parent_id=str(number + 1),
        action="remix",
        error=prompt,
    )


@given(text=st.text(max_size=5000), limit=limits)
def test_clip_never_exceeds_the_limit_and_keeps_what_fits(text: str, limit: int) -> None:
    clipped = fit.clip(text, limit)
    assert len(clipped) <= limit
    if len(text) <= limit:
        assert clipped == text
    else:
        assert clipped.endswith(fit.ELLIPSIS)
        assert text.startswith(clipped[:-1])


line = st.text(alphabet=st.characters(blacklist_characters="\n\r"), max_size=700)


@given(head=line, rows=st.lists(line, max_size=80), limit=limits)
def test_fit_lines_keeps_rows_in_order_and_counts_the_rest(
    head: str, rows: list[str], limit: int
) -> None:
    text = fit.fit_lines(head, rows, limit=limit)
    assert len(text) <= limit
    more = re.search(r"\n\.\.\. and (\d+) more$", text)
    hidden = int(more.group(1)) if more else 0
    shown = text.split("\n")[1 : len(text.split("\n")) - (1 if more else 0)]
    assert len(shown) + hidden == len(rows)
    for row, original in zip(shown, rows, strict=False):
        assert row == original or (row.endswith(fit.ELLIPSIS) and original.startswith(row[:-1]))
    if len(head) <= limit // 2 and len(head) + sum(len(r) + 1 for r in rows) <= limit:
        assert not more


@settings(max_examples=60, deadline=None)
@given(prompt=prompts, other=prompts, count=st.integers(min_value=0, max_value=60))
def test_every_message_fits_for_any_prompts_and_job_counts(
    prompt: str, other: str, count: int
) -> None:
    jobs = [_job(n, prompt, other if n % 2 else None) for n in range(count)]
    texts = [
        messages.history_text(jobs, messages.safe(other, 40)),
        messages.queue_text([(job, n) for n, job in enumerate(jobs)], 10**18),
    ]
    for job in jobs[:3]:
        texts += [
            messages.info_text(job),
            messages.failed_text(job, other * 10),
            messages.cancelled_text(job),
            messages.result_text(job, job.user_id, "note"),
            messages.status_text(job, Progress(job.id, "running", 3, 10, eta_s=9.0), 1),
        ]
    for text in texts:
        assert len(text) <= fit.CONTENT


def test_a_long_list_says_how_many_rows_it_left_out() -> None:
    jobs = [_job(n, "a fairly ordinary prompt about warm lofi piano " * 3) for n in range(40)]
    text = messages.history_text(jobs, "you")
    shown = text.count("\n`#")
    assert 0 < shown < 40
    assert text.endswith(f"... and {40 - shown} more")
    assert len(text) <= fit.CONTENT
