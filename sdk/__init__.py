"""bakeoff: record every LLM call of an application, then find out whether another model would do better.

Public API (see the project's CONTRACT): :func:`init`, :func:`tag`, :func:`last_event_id`,
:func:`feedback`, :func:`flush`, :func:`shutdown`.
"""

from __future__ import annotations

__version__ = "0.1.0"
