"""Templates, static assets and view helpers (number formatting, SVG chart geometry) of the leaderboard pages.

Server-rendered, no build step, nothing fetched from elsewhere: the pages work offline. The page routes
live in ``vla_bench.server.pages``; this package imports nothing of the server.
"""

STATIC_PACKAGE = ("vla_bench.web", "static")
TEMPLATE_PACKAGE = ("vla_bench.web", "templates")
