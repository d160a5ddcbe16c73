"""The web pages, one module each; templates and static files live in ``vla_bench.web``."""

from fastapi import APIRouter

from vla_bench.server.pages import api_reference, compare, exports, leaderboard, overview, robustness, submission
from vla_bench.server.pages.common import page

router = APIRouter(include_in_schema=False)
for module in (overview, exports, leaderboard,  # exports' .csv/.json before the board's path route
               robustness, submission, compare, api_reference):
    router.include_router(module.router)

__all__ = ["page", "router"]
