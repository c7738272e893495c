"""A staging slot deployed by a GitHub Actions workflow (workflow_dispatch).

`--deploy-workflow deploy-staging.yml` makes GitHub Actions the engine that runs the deploys:
each slot dispatches the workflow with inputs `sha` and `slot`, finds the run it started, and
polls it with backoff until it completes. `success` means deployed; any other conclusion, or no
conclusion before the deploy timeout, means the commit could not be tested (a skip, never
evidence). Slots deploy in parallel; runs are claimed so that two slots dispatching the same
workflow at the same moment never mistake each other's run.

Finding the run: GitHub returns the run's id from the dispatch when it supports
`return_run_details`; otherwise we list the workflow's workflow_dispatch runs created since the
dispatch, prefer one whose title shows our sha and slot (give the workflow a
`run-name: Deploy ${{ inputs.sha }} to ${{ inputs.slot }}`), else take the oldest unclaimed one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bisect_runner.bisect.model import Deployer, DeployResult
from bisect_runner.config import BisectConfig, SlotConfig
from bisect_runner.errors import ExternalServiceError, UserError
from bisect_runner.github import (
    CallBudgetExceeded,
    GitHubClient,
    GitHubNotFound,
    GitHubPermissionError,
    GitHubSession,
    WorkflowRunInfo,
    retry_scale,
)

_claimed: set[int] = set()
_claim_lock = threading.Lock()


class WorkflowDeployer:
    """Deploys one commit to one slot by dispatching a workflow and waiting for its run."""

    def __init__(self, name: str, url: str | None, client: GitHubClient, workflow: str, ref: str, *,
                 timeout_s: float = 900.0, poll_s: float = 5.0, max_poll_s: float = 30.0,
                 find_timeout_s: float = 120.0, scale: float | None = None,
                 on_run: Callable[[str, WorkflowRunInfo], None] | None = None) -> None:
        if not workflow.strip():
            raise UserError("--deploy-workflow is empty; pass the workflow file, e.g. deploy-staging.yml")
        self.name = name
        self.url = url
        self.client = client
        self.workflow = workflow.rsplit("/", 1)[-1]  # .github/workflows/x.yml -> x.yml
        self.ref = ref
        self.timeout_s = timeout_s
        self.find_timeout_s = min(find_timeout_s, timeout_s)
        self.scale = retry_scale() if scale is None else scale
        self.poll_s = poll_s
        self.max_poll_s = max_poll_s
        self.on_run = on_run
        self.last_run: WorkflowRunInfo | None = None

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds * self.scale)

    def deploy(self, sha: str, worktree: Path | None) -> DeployResult:
        started = time.monotonic()
        try:
            return self._deploy(sha, started)
        except (GitHubNotFound, GitHubPermissionError, CallBudgetExceeded, UserError):
            raise  # configuration, not luck: every deploy would fail the same way
        except ExternalServiceError as exc:
            return DeployResult(ok=False, detail=f"workflow {self.workflow}: {exc}",
                                seconds=time.monotonic() - started)

    def _deploy(self, sha: str, started: float) -> DeployResult:
        try:
            dispatch = self.client.dispatch_workflow(self.workflow, self.ref, {"sha": sha, "slot": self.name})
        except ExternalServiceError as exc:
            if "422" in str(exc):
                raise UserError(
                    f"GitHub refused to dispatch {self.workflow} on {self.ref}: {exc}; the workflow must run "
                    "on workflow_dispatch with inputs `sha` and `slot`, and --workflow-ref must exist"
                ) from None
            raise
        run = self._find_run(sha, dispatch.run_id, dispatch.dispatched_at.timestamp(), started)
        if run is None:
            return DeployResult(ok=False, seconds=time.monotonic() - started,
                                detail=f"no run of {self.workflow} appeared within {self.find_timeout_s:g}s of the dispatch")
        self.last_run = run
        if self.on_run is not None:
            self.on_run(self.name, run)
        interval = self.poll_s
        while not run.completed:
            if time.monotonic() - started > self.timeout_s:
                return DeployResult(ok=False, seconds=time.monotonic() - started,
                                    detail=f"workflow run {run.url} still {run.status} after {self.timeout_s:g}s")
            self._sleep(interval)
            interval = min(interval * 1.5, self.max_poll_s)
            run = self.client.get_run(run.id)
        self.last_run = run
        seconds = time.monotonic() - started
        if run.conclusion == "success":
            return DeployResult(ok=True, detail=f"workflow run {run.url}: success", seconds=seconds)
        return DeployResult(ok=False, detail=f"workflow run {run.url}: {run.conclusion or 'no conclusion'}",
                            seconds=seconds)

    def _find_run(self, sha: str, run_id: int | None, dispatched_at: float, started: float) -> WorkflowRunInfo | None:
        if run_id is not None:
            with _claim_lock:
                _claimed.add(run_id)
            return self.client.get_run(run_id)
        since = datetime.fromtimestamp(dispatched_at, UTC)
        interval = min(self.poll_s, 2.0)
        while True:
            # The claim lock spans find + claim so parallel slots never take the same run.
            with _claim_lock:
                run = self.client.find_dispatched_run(self.workflow, self.ref, since, match=[sha[:7], self.name],
                                                      exclude=set(_claimed))
                if run is not None:
                    _claimed.add(run.id)
                    return run
            if time.monotonic() - started > self.find_timeout_s:
                return None
            self._sleep(interval)
            interval = min(interval * 1.5, self.max_poll_s)


def workflow_slots(session: GitHubSession, workflow: str, ref: str | None, *, staging_urls: list[str],
                   config: BisectConfig, timeout_s: float) -> list[Deployer]:
    """`--deploy-workflow FILE`: every slot deploys through the workflow. Slots are the
    --staging-url list (slot-1..K), else bisect.slots from the config, else one slot."""
    client = session.client
    dispatch_ref = ref or client.default_branch()
    slots: list[tuple[str, str | None]]
    if staging_urls:
        slots = [(f"slot-{i}", url) for i, url in enumerate(staging_urls, start=1)]
    elif config.slots:
        slots = [(slot.name, slot.url) for slot in config.slots]
    else:
        slots = [("slot-1", None)]
    return [WorkflowDeployer(name, url, client, workflow, dispatch_ref, timeout_s=timeout_s) for name, url in slots]


def workflow_factory(session: GitHubSession, ref: str | None, *, timeout_s: float) -> Callable[[SlotConfig], Deployer]:
    """For bisect.slots entries that name a `workflow` (and no deploy command)."""

    def make(slot: SlotConfig) -> Deployer:
        assert slot.workflow is not None
        client = session.client
        return WorkflowDeployer(slot.name, slot.url, client, slot.workflow,
                                slot.workflow_ref or ref or client.default_branch(), timeout_s=timeout_s)

    return make
