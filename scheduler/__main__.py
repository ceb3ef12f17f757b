"""``python -m scheduler --server ADDR``: the scheduler as its own process.

The main thread only waits: the informers, the scheduling thread and the
binder threads do the work (see :mod:`scheduler.scheduler`). SIGTERM or
SIGINT sets an event; the scheduler then stops its scheduling thread and
informers, waits for bindings under way, and the client is closed in a
``finally``.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from kemu.client import DEFAULT_SERVER, Client
from kemu.log import LEVELS, configure, get_logger
from scheduler.scheduler import DEFAULT_SCHEDULER_NAME, Scheduler

__all__ = ["main"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--server", default=DEFAULT_SERVER, envvar="KEMU_SERVER", show_default=True, help="The apiserver's request address (tcp:// or ipc://).")
@click.option("--log-level", type=click.Choice(LEVELS), default="info", show_default=True)
@click.option(
    "--retry-interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds after which an unschedulable pod is tried again even if the cluster did not change.",
)
@click.option("--scheduler-name", default=DEFAULT_SCHEDULER_NAME, show_default=True,
              help="Schedule the pods whose spec.schedulerName is this.")
@click.option("--bind-workers", type=click.IntRange(min=1), default=4, show_default=True,
              help="Threads sending bindings and status updates.")
def main(server: str, log_level: str, retry_interval: float, scheduler_name: str, bind_workers: int) -> None:
    """Run the kemu scheduler: place pending pods on nodes."""
    configure("scheduler", level=log_level)
    log = get_logger()
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal received, stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    client = Client(server)
    scheduler = None
    try:
        scheduler = Scheduler(
            client, scheduler_name=scheduler_name, retry_interval=retry_interval, bind_workers=bind_workers
        ).start()
        log.info("scheduler running", server=server, scheduler_name=scheduler_name, retry_interval=retry_interval)
        while not stop.wait(1.0):
            pass
    finally:
        if scheduler is not None:
            scheduler.stop()
        client.close()
        log.info("scheduler stopped")


if __name__ == "__main__":
    main()
