"""Alembic environment: runs on the connection Argus hands over (see ``Database.migrate``)."""

from alembic import context

from api.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Argus runs migrations itself at start-up (Database.migrate); no URL mode.")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
