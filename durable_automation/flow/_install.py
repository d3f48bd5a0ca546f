"""How flow control plugs into the core: imported once, by ``durable_automation.flow``.

- every worker runs the per-key limiter workflow (``_limiter.py``) and the activity it
  watches carried-over slot holders with (``_watch.py``), and the local activity an
  agent asks a limiter for a slot with (``_acquire.py``);
- the engine starts limited runs through it (``_start.py``).

The start path is installed with :func:`~durable_automation._core.flow.set_flow_starter`
(kept beside the flow options in the core rather than in ``_core/hooks.py``: it is
the one hook of this package, and only the engine reads it).
"""

from __future__ import annotations

from .._core.flow import set_flow_starter
from .._core.hooks import WorkerComponent, add_worker_component
from ._acquire import acquire_activity
from ._limiter import LimiterWorkflow
from ._start import start_limited
from ._watch import await_close_activity

__all__: list[str] = []

add_worker_component(WorkerComponent("durable_automation.flow", workflows=(LimiterWorkflow,),
                                     activities=(await_close_activity, acquire_activity)))
set_flow_starter(start_limited)
