"""The shared secret stream agents present to the server's internal API (``Argus-Agent-Key``).

``agent.key`` from the config, or one generated at first start into ``<data_dir>/agent_key``
(mode 0600), which the embedded agent of ``argus run`` reads from the same data dir. Creation
is atomic (hard link of a complete file), so processes starting together agree on one key.
"""

from __future__ import annotations

import os
import secrets

from api.config import Config

FILE_NAME = "agent_key"


def agent_key(config: Config) -> str:
    if config.agent.key:
        return config.agent.key
    path = config.data_path / FILE_NAME
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(32))
    try:
        os.link(draft, path)  # fails if another process got there first: then use its key
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()
