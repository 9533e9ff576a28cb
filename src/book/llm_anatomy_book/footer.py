"""The build date shown in the site's footer (``theme/partials/copyright.html``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime


def build_date(environ: Mapping[str, str] = os.environ) -> str:
    """The date the site is built, as ``YYYY-MM-DD`` in UTC.

    ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention: seconds since 1970) fixes it,
    so that two builds of one commit can be byte-identical; otherwise it is today.

    Raises:
        ValueError: if ``SOURCE_DATE_EPOCH`` is set but is not a whole number of seconds.
    """
    epoch = environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        return datetime.now(UTC).date().isoformat()
    if not epoch.strip().isdigit():
        raise ValueError(f"SOURCE_DATE_EPOCH must be a whole number of seconds, got {epoch!r}")
    return datetime.fromtimestamp(int(epoch), UTC).date().isoformat()
