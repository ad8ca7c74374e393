"""The gallery's queries: one guild's jobs, newest first, searched by prompt, with lineage.

Every query takes the guild id from the verified link and filters on it, so a job of another
server is "not found" here exactly as a made-up id is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db import Job, JobKind, lineage

MAX_CHILDREN = 200
MAX_DEPTH = 6


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def guild_jobs(
    session: Session,
    guild_id: int,
    *,
    query: str = "",
    page: int = 1,
    per_page: int = 12,
    include_radio: bool = False,
) -> tuple[list[Job], bool]:
    """A page of the guild's jobs (newest first) and whether another page follows.

    Radio clips (one every five seconds while it plays) are left out unless asked for, or
    they would bury everything people made on purpose.
    """
    stmt = select(Job).where(Job.guild_id == guild_id)
    if not include_radio:
        stmt = stmt.where(Job.kind != JobKind.RADIO)
    words = query.strip()[:200]
    if words:
        pattern = _like(words)
        stmt = stmt.where(
            or_(
                Job.prompt.ilike(pattern, escape="\\"),
                Job.end_prompt.ilike(pattern, escape="\\"),
            )
        )
    stmt = stmt.order_by(Job.created_at.desc(), Job.id.desc())
    stmt = stmt.offset((max(page, 1) - 1) * per_page).limit(per_page + 1)
    jobs = list(session.scalars(stmt).all())
    return jobs[:per_page], len(jobs) > per_page


def guild_job(session: Session, guild_id: int, job_id: int) -> Job | None:
    job = session.get(Job, job_id)
    return job if job is not None and job.guild_id == guild_id else None


@dataclass
class TreeNode:
    job: Job
    children: list[TreeNode] = field(default_factory=list)


@dataclass(frozen=True)
class Lineage:
    ancestors: list[Job]
    """Root first, ending with the job's parent."""
    tree: TreeNode
    """The job and its descendants (remixes, extensions, radio clips after it)."""


def job_lineage(session: Session, guild_id: int, job: Job) -> Lineage:
    """Parents and children of ``job``, only ever within the same guild."""
    chain = [j for j in lineage(session, job.id, max_depth=50)[1:] if j.guild_id == guild_id]
    root = TreeNode(job)
    level = [root]
    seen = 0
    for _ in range(MAX_DEPTH):
        by_id = {node.job.id: node for node in level}
        if not by_id or seen >= MAX_CHILDREN:
            break
        stmt = (
            select(Job)
            .where(Job.parent_id.in_(by_id), Job.guild_id == guild_id)
            .order_by(Job.id)
            .limit(MAX_CHILDREN - seen)
        )
        level = []
        for child in session.scalars(stmt).all():
            node = TreeNode(child)
            by_id[child.parent_id or 0].children.append(node)
            level.append(node)
            seen += 1
    return Lineage(ancestors=list(reversed(chain)), tree=root)
