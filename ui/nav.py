"""Which pages a signed-in user gets: every role browses; imports and the audit log are administrators' pages.

Hiding a page is for clarity only — the library refuses a write the role may not make
whichever page it comes from (:mod:`layers.access`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from layers.access import Actor

__all__ = ["PageSpec", "page_specs"]


@dataclass(frozen=True)
class PageSpec:
    render: Callable[[], None]
    title_key: str
    icon: str
    url_path: str
    default: bool = False


def page_specs(actor: Actor) -> list[PageSpec]:
    """The pages of ``actor``'s navigation, in order."""
    from ui import import_page, map_page
    from ui.pages import (
        audit,
        compare,
        evaluation,
        integration,
        low_efficiency,
        parks,
        redevelopment,
        shortlist as shortlist_page,
        siting,
    )

    pages = [
        PageSpec(map_page.render, "page_map", ":material/map:", "map", default=True),
        PageSpec(evaluation.render, "page_evaluation", ":material/leaderboard:", "evaluation"),
        PageSpec(low_efficiency.render, "page_low_efficiency", ":material/report:", "low_efficiency"),
        PageSpec(redevelopment.render, "page_redevelopment", ":material/construction:", "redevelopment"),
        PageSpec(siting.render, "page_siting", ":material/local_shipping:", "siting"),
        PageSpec(integration.render, "page_integration", ":material/join_inner:", "integration"),
        PageSpec(parks.render, "page_parks", ":material/factory:", "parks"),
        PageSpec(compare.render, "page_compare", ":material/compare_arrows:", "compare"),
        PageSpec(shortlist_page.render, "page_shortlist", ":material/checklist:", "shortlist"),
    ]
    if actor.role == "admin":
        pages.insert(1, PageSpec(import_page.render, "page_import", ":material/upload_file:", "import"))
        pages.append(PageSpec(audit.render, "page_audit", ":material/history:", "audit"))
    return pages
