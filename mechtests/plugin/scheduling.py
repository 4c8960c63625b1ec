"""xdist scheduling: tests that share a model go to the same worker (--dist loadgroup).

The plugin marks each test with `xdist_group("mechtests-arm" | "mechtests-mdm" |
"mechtests-pair")` and makes loadgroup the default under -n, so each model loads on few
workers. Grouping saves work only: results are keyed by hypothesis and model, never by node
id, so they are the same under any grouping.

xdist 3.8's loadgroup scheduler puts a crashed worker's whole work unit back in the queue,
the test that crashed it included, so that test kills worker after worker. The scheduler
here counts the crashing test as done (xdist reports it as a crash) and requeues the rest.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadGroupScheduling


class CrashSafeLoadGroupScheduling(LoadGroupScheduling):
    def remove_node(self, node: Any) -> str | None:
        workload = self.assigned_work.pop(node)
        if not self._pending_of(workload):
            return None
        crashitem = next(
            nodeid for unit in workload.values() for nodeid, completed in unit.items() if not completed
        )
        for unit in workload.values():
            if crashitem in unit:
                unit[crashitem] = True
        self.workqueue.update({scope: unit for scope, unit in workload.items() if not all(unit.values())})
        for other in self.assigned_work:
            self._reschedule(other)
        return crashitem
