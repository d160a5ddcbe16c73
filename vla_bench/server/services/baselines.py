"""Reference baselines: the results bundles committed under ``results/``, loaded when a database is new.

They pass the same checks as any submission (a committed bundle whose scores no longer recompute is
reported, not published). Loading is remembered in ``server_meta`` so that an admin who deletes a
baseline does not see it come back at the next start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from vla_bench.server import crud
from vla_bench.server.bundle_io import is_bundle_dir, read_bundle_document, training_csv, training_log_file
from vla_bench.server.core.db import Database
from vla_bench.server.models import Submission, SubmissionEvent, SubmissionTrainingLog, utcnow
from vla_bench.server.services.submissions import store_bundle
from vla_bench.server.training_log import parse_training_log
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
    """Load ``root``'s bundles if this database has never had baselines loaded and holds no submissions; on a
    database that has them, give the reference baselines loaded before training logs existed their logs."""
    with db.session() as session:
        loaded_before = crud.get_meta(session=session, key=LOADED_KEY) is not None or \
            bool(crud.count_submissions(session=session))
    if loaded_before:
        if root is not None:
            attach_training_logs(db, root / "agents")
        return []
    outcomes = load_baselines(db, root, rel_tol=rel_tol) if root is not None else []
    with db.write() as session:
        crud.set_meta(session=session, key=LOADED_KEY, value=utcnow().isoformat())
    loaded = sum(1 for o in outcomes if o.created)
    if outcomes:
        log.info("loaded %d reference baseline(s) from %s", loaded, root)
    return outcomes


def attach_training_logs(db: Database, agents_dir: Path) -> int:
    """Give each reference baseline without a training log the log committed with its agent
    (``agents_dir/NAME/train.csv`` for ``baseline:NAME``, when its manifest names the same model): databases
    loaded before logs travelled with bundles get their curves. Returns how many were added."""
    with db.session() as session:
        missing = session.execute(
            select(Submission.id, Submission.agent_spec, Submission.agent_sha256)
            .outerjoin(SubmissionTrainingLog, SubmissionTrainingLog.submission_id == Submission.id)
            .where(Submission.is_baseline.is_(True), Submission.agent_sha256.is_not(None),
                   Submission.agent_spec.startswith("baseline:"), SubmissionTrainingLog.submission_id.is_(None))
        ).all()
    added = 0
    for submission_id, spec, sha256 in missing:
        found = training_log_file({"spec": spec, "sha256": sha256}, agents_dir)
        if found is None:
            continue
        stored = parse_training_log({"csv": training_csv(found)}).to_json()
        with db.write() as session:
            session.add(SubmissionTrainingLog(submission_id=submission_id, columns=stored["columns"],
                                              rows=stored["rows"], n_rows=len(stored["rows"])))
            session.add(SubmissionEvent(submission_id=submission_id, state="training log added", at=utcnow(),
                                        actor="results/", note=f"{found.parent.name}/{found.name}"))
        added += 1
    if added:
        log.info("added the committed training logs of %d reference baseline(s) from %s", added, agents_dir)
    return added
