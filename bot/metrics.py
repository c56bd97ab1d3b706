"""Prometheus metrics of one running bot, on a registry of its own (served as /metrics by bot/web.py).

Each Application gets its own `Metrics` (in `bot_data["metrics"]`), so tests that build several applications
in one process do not add up each other's counters. Figures that live elsewhere are read when scraped:
the panel client's process-wide PANEL_METRICS by a custom collector, the outbox from the database by
`refresh()`, which the /metrics handler awaits before rendering (collectors themselves are synchronous).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from telegram import Update

from bot.panel import PANEL_METRICS

if TYPE_CHECKING:
    from bot.deps import Deps

log = logging.getLogger(__name__)

# Outcomes of the panel client (bot/panel/client.py `_attempt`): "ok", "interrupted" (the caller was
# cancelled), or the PanelError class name. These mean the panel gave no usable answer; the other error
# names (InvalidKey, NotEnoughFunds, BadRequest ...) are the panel's own, well-formed refusals.
PANEL_FAILURES = frozenset({"PanelUnavailable", "OutcomeUnknown", "RateLimited", "ProtocolError"})


def update_kind(update: object) -> str:
    """message, callback_query, my_chat_member ...: the first field of Update.ALL_TYPES that is set."""
    if not isinstance(update, Update):
        return type(update).__name__.lower()
    for kind in Update.ALL_TYPES:
        if getattr(update, kind, None) is not None:
            return kind
    return "other"


def panel_summary() -> dict[str, dict[str, int]]:
    """action -> {"requests", "failures", "refusals"} since the process started, from PANEL_METRICS."""
    summary: dict[str, dict[str, int]] = {}
    for (action, outcome), count in list(PANEL_METRICS.items()):
        row = summary.setdefault(action, {"requests": 0, "failures": 0, "refusals": 0})
        row["requests"] += count
        if outcome in PANEL_FAILURES:
            row["failures"] += count
        elif outcome not in ("ok", "interrupted"):
            row["refusals"] += count
    return summary


class _PanelCollector(Collector):
    """PANEL_METRICS (a plain Counter the panel client keeps) as Prometheus counters, read at scrape time."""

    def collect(self) -> Iterable[Any]:
        requests = CounterMetricFamily(
            "smmbot_panel_requests",
            "HTTP attempts to panels by action and outcome (ok, or the error's class name)",
            labels=["action", "outcome"],
        )
        errors = CounterMetricFamily(
            "smmbot_panel_errors",
            "Panel attempts without a usable answer (unreachable, 5xx, rate-limited, malformed), by action",
            labels=["action"],
        )
        failures: dict[str, int] = {}
        for (action, outcome), count in sorted(PANEL_METRICS.items()):
            requests.add_metric([action, outcome], count)
            failures[action] = failures.get(action, 0) + (count if outcome in PANEL_FAILURES else 0)
        for action, count in sorted(failures.items()):
            errors.add_metric([action], count)
        yield requests
        yield errors

    def describe(self) -> Iterable[Any]:
        return []  # unknown label sets until scraped; registering without describe() is fine


class _PollCollector(Collector):
    """The last status-poll cycle, from whatever the tracker stored in deps.last_poll."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Any]:
        deps = self._metrics.deps
        if deps is None or deps.last_poll is None:
            return
        finished = poll_finished_at(deps)
        if finished is not None:
            yield GaugeMetricFamily(
                "smmbot_last_poll_timestamp_seconds", "When the last status-poll cycle ended", value=finished
            )
        duration = poll_duration(deps.last_poll)
        if duration is not None:
            yield GaugeMetricFamily(
                "smmbot_last_poll_duration_seconds",
                "How long the last status-poll cycle took",
                value=duration,
            )

    def describe(self) -> Iterable[Any]:
        return []


def poll_duration(report: Any) -> float | None:
    """Seconds the cycle took, if the report says (CycleReport.duration_s)."""
    for name in ("duration_s", "duration", "elapsed"):
        value = getattr(report, name, None)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, timedelta):
            return value.total_seconds()
    return None


def poll_finished_at(deps: Deps) -> float | None:
    """Unix time the last poll cycle ended: Deps.record_poll's stamp, else the report's own, if any."""
    if deps.last_poll_at is not None:
        return deps.last_poll_at.timestamp()
    for name in ("finished_at", "ended_at", "at"):
        value = getattr(deps.last_poll, name, None)
        if isinstance(value, datetime):
            return value.timestamp()
    return None


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.deps: Deps | None = None  # set by bot.app when the application is built
        self.started = time.time()
        self.updates = Counter(
            "smmbot_updates",
            "Telegram updates handled, by kind (message, callback_query ...)",
            ["kind"],
            registry=self.registry,
        )
        self.handling = Histogram(
            "smmbot_update_handling_seconds",
            "Time spent handling one update (after waiting for the chat's earlier updates)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.webhook_rejected = Counter(
            "smmbot_webhook_rejected",
            "Webhook requests refused (wrong or missing secret token, malformed body)",
            ["reason"],
            registry=self.registry,
        )
        self.outbox = Gauge(
            "smmbot_outbox_messages",
            "Notifications in the outbox: pending (queue depth), sent, failed (given up)",
            ["state"],
            registry=self.registry,
        )
        self.polling_conflicts = Counter(
            "smmbot_polling_conflicts",
            "getUpdates answered 409 Conflict: another instance polls with this token",
            registry=self.registry,
        )
        self.job_runs = Counter(
            "smmbot_job_runs",
            "Runs of the repeating jobs (tracking, balance, delivery ...) by outcome",
            ["job", "outcome"],
            registry=self.registry,
        )
        self.job_last_run = Gauge(
            "smmbot_job_last_run_timestamp_seconds",
            "When each repeating job last finished",
            ["job"],
            registry=self.registry,
        )
        self.registry.register(_PanelCollector())
        self.registry.register(_PollCollector(self))
        self._last_conflict_log = float("-inf")

    def observe_update(self, update: object, seconds: float) -> None:
        """The update processor's observer: one handled update and its handling time."""
        self.updates.labels(update_kind(update)).inc()
        self.handling.observe(seconds)

    def updates_handled(self) -> int:
        return int(
            sum(s.value for m in self.updates.collect() for s in m.samples if s.name.endswith("_total"))
        )

    def conflict_should_log(self, every: float = 60.0) -> bool:
        """Count a 409 Conflict; True at most once per `every` seconds (the caller logs then)."""
        self.polling_conflicts.inc()
        now = time.monotonic()
        if now - self._last_conflict_log < every:
            return False
        self._last_conflict_log = now
        return True

    def watch_jobs(self, application: Any) -> None:
        """Listen to the JobQueue's scheduler: count job runs, and stamp each tracking cycle's report
        (bot/jobs.py keeps it in bot_data["tracking_report"]) into deps.last_poll with its time."""
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED  # type: ignore[import-untyped]

        from bot.jobs import TRACKING_JOB

        job_queue = application.job_queue
        if job_queue is None:
            return

        def on_event(event: Any) -> None:
            job = job_queue.scheduler.get_job(event.job_id)
            if job is None or not job.name:  # a one-off job (conversation timeout), already removed
                return
            self.job_runs.labels(job.name, "error" if event.exception else "ok").inc()
            self.job_last_run.labels(job.name).set_to_current_time()
            report = application.bot_data.get("tracking_report")
            deps = self.deps
            # a new report only: a failed cycle leaves the old one (and jobs.py may have recorded it itself)
            if (
                job.name == TRACKING_JOB
                and deps is not None
                and report is not None
                and report is not deps.last_poll
            ):
                deps.record_poll(report)

        job_queue.scheduler.add_listener(on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    async def refresh(self) -> None:
        """Read the database figures into the gauges (call before rendering)."""
        if self.deps is None:
            return
        from storage import repo

        try:
            async with self.deps.sessions() as session:
                counts = await repo.outbox.state_counts(session)
        except Exception as exc:  # a scrape must still answer; /healthz reports the database itself
            log.warning("metrics: could not read the outbox: %s", exc)
            return
        for state in ("pending", "sent", "failed"):
            self.outbox.labels(state).set(counts.get(state, 0))

    async def render(self) -> bytes:
        await self.refresh()
        return generate_latest(self.registry)
