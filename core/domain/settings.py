"""Settings from ACTLAB_* environment variables, read once through get_settings()."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service. Embedded-mode defaults need no configuration at all."""

    model_config = SettingsConfigDict(env_prefix="ACTLAB_", extra="ignore")
    _secret: bytes | None = PrivateAttr(None)

    data_dir: Path = Path("./actlab-data")
    # None means the embedded default: SQLite files in data_dir.
    database_url: str | None = None
    broker_url: str | None = None
    queue: str = "actlab"

    max_runs_per_request: int = Field(100, ge=1)
    max_runs_per_sweep: int = Field(5000, ge=1)
    max_epochs: int = Field(1000, ge=1)
    max_body_bytes: int = Field(1_000_000, ge=1024)
    # Requests inside one API process at once (the rest wait); below db_pool_size +
    # db_max_overflow, so requests never wait on each other for connections (api/middleware.py,
    # Admission).
    api_concurrency: int = Field(16, ge=1)
    db_pool_size: int = Field(10, ge=1)
    db_max_overflow: int = Field(10, ge=0)

    # Reliability (docs/explanation/reliability.md).
    heartbeat_seconds: float = Field(5.0, gt=0)
    stale_after_seconds: float = Field(120.0, gt=0)
    requeue_after_seconds: float = Field(300.0, gt=0)
    sweeper_interval_seconds: float = Field(15.0, gt=0)
    sweeper: bool = True
    max_attempts: int = Field(3, ge=1)
    # How long a worker keeps retrying a write (with backoff) while the database is away.
    db_retry_seconds: float = Field(120.0, ge=0)
    # Hard time limit of one training task; the broker's visibility timeout is set above it.
    task_time_limit_seconds: int = Field(48 * 3600, ge=60)

    # Artifacts (core/store/artifacts.py): s3://bucket/prefix, or unset for data_dir/artifacts.
    artifacts_url: str | None = None
    s3_endpoint_url: str | None = None
    # A checkpoint is written once this many seconds passed since the last one (0: every
    # epoch), and never skipped for an epoch longer than that; bounds the write load.
    checkpoint_seconds: float = Field(30.0, ge=0)
    # Trained weights kept: every run's (all), the best run's of each experiment by
    # best_val_accuracy (best), or none.
    keep_weights: Literal["all", "best", "none"] = "all"

    # Security (docs/how-to/security.md). With auth on, every /api/v1 path but health needs a key
    # (`actlab keys create`); the keys' HMACs are taken under secret_key, which has no default
    # outside the embedded mode (there it is generated once into data_dir/secret.key).
    auth: bool = False
    secret_key: SecretStr | None = None
    # Per-key quotas, each overridable per key (`actlab keys create --max-queued ...`).
    quota_queued_runs: int = Field(500, ge=1)
    quota_runs_per_day: int = Field(5000, ge=1)
    quota_requests_per_minute: int = Field(600, ge=1)
    # Models refused at submit when their estimate is above these (core/domain/sizing.py).
    max_model_params: int = Field(100_000_000, ge=1)
    max_activation_bytes: int = Field(64 * 2**30, ge=1)

    # The queued seeds of one experiment a worker claims and trains together, in one process
    # (worker/group_run.py): set-up, data and every epoch's write are shared. 1: one at a time.
    group_seeds: int = Field(5, ge=1, le=64)
    # How a group trains: `vmap`, as one model (worker/training/batched.py; numbers agree with
    # the seeds trained alone within float tolerance), wherever the model allows it, else
    # `lockstep`, each seed its own model stepped in turn (bit-identical to alone).
    seed_batching: Literal["vmap", "lockstep"] = "vmap"
    torch_threads: int | None = Field(None, ge=1)
    # Import torch and the trainer in each worker child when it starts, not at its first run.
    warm_workers: bool = True
    device: str = "auto"
    # The kinds of runs (resources.device) this worker claims besides its own device's and
    # "any": e.g. "cpu" lets a GPU worker take CPU-only runs too (trained on its CPU).
    worker_serves: str = ""
    # Exit once nothing this worker serves is queued and it trains nothing (a SLURM job's
    # worker: `actlab worker --until-empty`).
    until_empty: bool = False
    # Deterministic CUDA kernels (slower); CPU runs are always deterministic.
    cuda_deterministic: bool = False

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'actlab.sqlite').resolve()}"

    def resolved_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite').resolve()}"

    def resolved_secret(self) -> bytes:
        """The server secret for key HMACs: ACTLAB_SECRET_KEY, or on the embedded default a
        random one kept in data_dir/secret.key (readable by the owner only). Read once: every
        authenticated request asks for it."""
        if self._secret is None:
            self._secret = self._read_secret()
        return self._secret

    def _read_secret(self) -> bytes:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        if not self.embedded:
            raise RuntimeError("ACTLAB_SECRET_KEY must be set when the database is not the "
                               "embedded default (it signs the API keys' hashes)")
        path = self.data_dir / "secret.key"
        if not path.exists():
            import os
            import secrets
            import tempfile

            # Written aside, then linked into place: processes starting together agree on
            # one secret and never read a half-written file.
            fd, tmp = tempfile.mkstemp(dir=self.data_dir)  # mode 0600
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        return path.read_text().strip().encode()

    @property
    def checkpoint_dir(self) -> Path:
        return self.data_dir / "checkpoints"

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
