"""The v1 API router: one sub-router per resource."""

from fastapi import APIRouter

from vla_bench.server.api.routes import compare, leaderboards, media, protocols, submissions, utils, verification

api_router = APIRouter()
api_router.include_router(submissions.router)
api_router.include_router(verification.router)
api_router.include_router(media.router)
api_router.include_router(leaderboards.router)
api_router.include_router(protocols.router)
api_router.include_router(compare.router)
api_router.include_router(utils.router)
