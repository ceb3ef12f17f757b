"""``kemu top nodes`` and ``kemu top pods``: what ``kubectl top`` prints.

kubectl asks ``metrics.k8s.io`` (metrics-server, or kemu's HTTP front door).
kemu's CLI scrapes the kubelets itself, as ``kemu logs`` goes to the kubelet
itself: the Nodes from the apiserver, then every Ready node's kubelet asked
for its ``stats`` in parallel (:class:`kemu.metrics.Scraper`, the code the
front door serves the API from), and kubectl's columns and formatting
(:func:`kemu.metrics.top_nodes_rows`, :func:`kemu.metrics.top_pods_rows`).
Errors are kubectl's: ``error: metrics not available yet`` when nothing
answered, ``Error from server (NotFound): podmetrics.metrics.k8s.io
"default/web" not found`` for a pod without figures.
"""

from __future__ import annotations


import click

from kemu import metrics
from kemu.api import errors, selectors
from kemu.cli.base import Ctx, fail, server_error
from kemu.types import Obj

__all__ = ["COMMANDS", "top"]


def _scrape(ctx: Ctx) -> tuple[list[Obj], list[metrics.NodeStats]]:
    try:
        nodes = list(ctx.client.list("Node").get("items") or [])
    except errors.ApiError as exc:
        fail(server_error(exc))
    scraper = metrics.Scraper(lambda: nodes, resolution=0.0, timeout=min(ctx.timeout, metrics.DEFAULT_SCRAPE_TIMEOUT))
    try:
        return nodes, scraper.scrape()
    finally:
        scraper.close()


def _selector(text: str | None) -> selectors.LabelSelector:
    try:
        return selectors.LabelSelector.parse(text or "")
    except ValueError as exc:
        fail(f"error: {exc}")


@click.group()
def top() -> None:
    """Display resource (CPU/memory) usage of nodes or pods."""


@top.command("nodes")
@click.argument("name", required=False)
@click.option("-l", "--selector", default=None, help="Label selector on the nodes.")
@click.option("--sort-by", type=click.Choice(["cpu", "memory"]), default=None)
@click.option("--no-headers", is_flag=True)
@click.option("--show-capacity", is_flag=True, help="Percentages of capacity instead of allocatable.")
@click.pass_obj
def top_nodes(ctx: Ctx, name: str | None, selector: str | None, sort_by: str | None, no_headers: bool,
              show_capacity: bool) -> None:
    """kemu top nodes [NAME]: CPU and memory of every node (or one)."""
    labels = _selector(selector)
    nodes, scraped = _scrape(ctx)
    found = [metrics.node_metrics(s) for s in scraped]
    if name is not None:
        if not any(n["metadata"]["name"] == name for n in nodes):
            fail(f'Error from server (NotFound): nodes "{name}" not found')
        found = [m for m in found if m["metadata"]["name"] == name]
        if not found:
            fail(f'Error from server (NotFound): nodemetrics.metrics.k8s.io "{name}" not found')
        nodes = [n for n in nodes if n["metadata"]["name"] == name]
    else:
        nodes = [n for n in nodes if labels.matches((n.get("metadata") or {}).get("labels"))]
        wanted = {n["metadata"]["name"] for n in nodes}
        found = [m for m in found if m["metadata"]["name"] in wanted]
    if not found:
        fail("error: metrics not available yet")
    header, rows = metrics.top_nodes_rows(found, nodes, sort_by=sort_by, show_capacity=show_capacity)
    table = metrics.format_table(header, rows)
    if no_headers:
        table = "".join(table.splitlines(keepends=True)[1:])
    click.echo(table, nl=False)


@top.command("pods")
@click.argument("name", required=False)
@click.option("-n", "--namespace", default=None)
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("-l", "--selector", default=None, help="Label selector on the pods.")
@click.option("--field-selector", default=None, help="metadata.name=... / metadata.namespace=...")
@click.option("--containers", is_flag=True, help="One row per container.")
@click.option("--sort-by", type=click.Choice(["cpu", "memory"]), default=None)
@click.option("--no-headers", is_flag=True)
@click.pass_obj
def top_pods(ctx: Ctx, name: str | None, namespace: str | None, all_namespaces: bool, selector: str | None,
             field_selector: str | None, containers: bool, sort_by: str | None, no_headers: bool) -> None:
    """kemu top pods [NAME]: CPU and memory of the pods of a namespace (or all)."""
    ns = namespace or "default"
    labels = _selector(selector)
    try:
        fields = selectors.FieldSelector.parse(field_selector or "").validate("PodMetrics")
    except ValueError as exc:
        fail(f"error: {exc}")
    _nodes, scraped = _scrape(ctx)
    found = [m for s in scraped for m in metrics.pod_metrics(s)]
    if not all_namespaces or name is not None:
        found = [m for m in found if m["metadata"]["namespace"] == ns]
    if name is not None:
        found = [m for m in found if m["metadata"]["name"] == name]
        if not found:
            try:
                ctx.client.get("Pod", name, ns)
            except errors.ApiError as exc:
                fail(server_error(exc))
            fail(f'Error from server (NotFound): podmetrics.metrics.k8s.io "{ns}/{name}" not found')
    else:
        found = [m for m in found if labels.matches(m["metadata"].get("labels")) and fields.matches(m, kind="PodMetrics")]
    if not found:
        if all_namespaces:
            fail("No resources found")
        fail(f"No resources found in {ns} namespace.")
    header, rows = metrics.top_pods_rows(found, all_namespaces=all_namespaces and name is None,
                                         containers=containers, sort_by=sort_by)
    table = metrics.format_table(header, rows)
    if no_headers:
        table = "".join(table.splitlines(keepends=True)[1:])
    click.echo(table, nl=False)


top.add_command(top_nodes, "node")
top.add_command(top_nodes, "no")
top.add_command(top_pods, "pod")
top.add_command(top_pods, "po")


COMMANDS: list[click.Command] = [top]
"""What this module adds to the ``kemu`` group."""
