"""Verification settings derived from the server's: where artifacts live, the sample secret, the guarantee
per protocol, and the encryption of endpoint API keys (which the worker must be able to send back)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import platformdirs
from sqlalchemy.engine import make_url

from vla_bench.server.core.config import APP_NAME, Settings
from vla_bench.server.verification.sampling import SamplingPolicy


def artifacts_root(settings: Settings) -> Path:
    """``VLA_BENCH_ARTIFACTS_DIR``, else ``artifacts/`` beside a SQLite file, else in the user data directory.
    Workers on other machines need the same directory (a shared mount) or the same setting."""
    if settings.artifacts_dir is not None:
        return settings.artifacts_dir.expanduser()
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().parent / "artifacts"
    return Path(platformdirs.user_data_dir(APP_NAME)) / "artifacts"


def sample_secret(settings: Settings) -> bytes:
    """The key of the sample HMAC: ``VLA_BENCH_VERIFICATION_SECRET``, else derived from the server secret."""
    if settings.verification_secret:
        return settings.verification_secret.encode("utf-8")
    return hmac.new(settings.secret_key.encode("utf-8"), b"vla-bench-verification-sample", hashlib.sha256).digest()


def sampling_policy(settings: Settings, protocol_id: str) -> SamplingPolicy:
    """The server-wide guarantee, overridden per protocol by ``VLA_BENCH_VERIFY_PROTOCOLS`` (JSON:
    ``{"metaworld/mt50@v1": {"fraction": 0.2, "power": 0.9, "max_episodes": 20}}``) for costly protocols."""
    override = settings.verify_protocols.get(protocol_id, {})
    cap = override.get("max_episodes")
    return SamplingPolicy(fraction=float(override.get("fraction", settings.verify_fraction)),
                          power=float(override.get("power", settings.verify_power)),
                          max_episodes=int(cap) if cap else None)


def _fernet(settings: Settings):  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet  # noqa: PLC0415

    key = hashlib.sha256(b"vla-bench-endpoint-key|" + settings.secret_key.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_key(settings: Settings, api_key: str) -> str:
    """An endpoint's API key, encrypted with a key derived from the server secret (it is never hashed: the
    worker has to present it to the endpoint)."""
    token: bytes = _fernet(settings).encrypt(api_key.encode("utf-8"))
    return token.decode("ascii")


def decrypt_key(settings: Settings, stored: str) -> str:
    from cryptography.fernet import InvalidToken  # noqa: PLC0415

    try:
        plain: bytes = _fernet(settings).decrypt(stored.encode("ascii"))
    except InvalidToken:
        raise ValueError("the endpoint's API key cannot be decrypted: this worker's VLA_BENCH_SECRET_KEY differs "
                         "from the server's") from None
    return plain.decode("utf-8")
