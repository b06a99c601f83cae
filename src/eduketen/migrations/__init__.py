"""Alembic migrations, with helpers to run them from the CLI and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from eduketen.core import models as _core_models  # noqa: F401  (tables register on Base)
from eduketen.core.db import Base
from eduketen.doorstroomtoets import models as _dt_models  # noqa: F401
from eduketen.keurmerk import models as _keurmerk_models  # noqa: F401
from eduketen.register import models as _register_models  # noqa: F401
from eduketen.core.oauth import models as _oauth_models  # noqa: F401
from eduketen.toetsresultaten import models as _results_models  # noqa: F401
from eduketen.insight import models as _insight_models  # noqa: F401
from eduketen.leervoortgang import models as _progress_models  # noqa: F401

target_metadata = Base.metadata


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def current(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from eduketen.core.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
