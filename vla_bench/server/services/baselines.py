"""Reference baselines: the results bundles committed under ``results/``, loaded when a database is new.

They pass the same checks as any submission (a committed bundle whose scores no longer recompute is
reported, not published). Loading is remembered in ``server_meta`` so that an admin who deletes a
baseline does not see it come back at the next start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from vla_bench.server import crud
from vla_bench.server.bundle_io import is_bundle_dir, read_bundle_document
from vla_bench.server.core.db import Database
from vla_bench.server.models import utcnow
from vla_bench.server.services.submissions import store_bundle
from vla_bench.server.validation import BundleRejectedError, validate_bundle
from vla_bench.spec.errors import UserError

log = logging.getLogger("vla_bench.server")
LOADED_KEY = "baselines_loaded_at"


@dataclass(frozen=True)
class BaselineOutcome:
    directory: Path
    submission_id: int | None
    created: bool
    error: str | None


def bundle_dirs(root: Path) -> list[Path]:
    """Every bundle directory under ``root`` (at any depth), in a stable order."""
    if not root.is_dir():
        return []
    found = [root] if is_bundle_dir(root) else []
    found += sorted(p.parent for p in root.rglob("summary.json") if p.parent != root and is_bundle_dir(p.parent))
    return found


def load_baselines(db: Database, root: Path, *, rel_tol: float) -> list[BaselineOutcome]:
    outcomes = []
    for directory in bundle_dirs(root):
        try:
            # the bundled agents' exports (results/agents/NAME) bring their training logs
            document = read_bundle_document(directory, agents_dir=root / "agents")
            accepted = validate_bundle(document, rel_tol=rel_tol, allow_deprecated=True)
        except (BundleRejectedError, UserError) as exc:
            message = exc.message if isinstance(exc, BundleRejectedError) else str(exc)
            log.warning("reference bundle %s not loaded: %s", directory, message)
            outcomes.append(BaselineOutcome(directory, None, False, message))
            continue
        result = store_bundle(db, accepted, user_id=None, received_at=utcnow(), publish=True, is_baseline=True)
        outcomes.append(BaselineOutcome(directory, result.submission_id, result.created, None))
    return outcomes


def load_baselines_on_first_start(db: Database, root: Path | None, *, rel_tol: float) -> list[BaselineOutcome]:
    """Load ``root``'s bundles if this database has never had baselines loaded and holds no submissions."""
    with db.session() as session:
        if crud.get_meta(session=session, key=LOADED_KEY) is not None or crud.count_submissions(session=session):
            return []
    outcomes = load_baselines(db, root, rel_tol=rel_tol) if root is not None else []
    with db.write() as session:
        crud.set_meta(session=session, key=LOADED_KEY, value=utcnow().isoformat())
    loaded = sum(1 for o in outcomes if o.created)
    if outcomes:
        log.info("loaded %d reference baseline(s) from %s", loaded, root)
    return outcomes
