"""Imports run one way (DESIGN.md, "Apps and what each owns"), read from the source with `ast`.

Every `.py` under `billing/`, `licensing/`, `usage/`, `credits_portal/` and `webhooks/` is parsed,
and every import in it counts, including the lazy ones inside functions. The rules:

- `billing` and `licensing` never import `usage`, and never import each other.
- Nothing imports `webhooks` but `credits_portal/urls.py` (its API router): it receives
  `credits_portal.events.event_published` and may import every app.
- `credits_portal` imports an app only in `credits_portal/urls.py` (the API routers) and
  `credits_portal/celery.py` (the beat schedule). Installed apps, admin and tasks are named by
  dotted strings (settings, `autodiscover_tasks`), which are not imports.
- `billing/services/ledger.py` is the foundation: of `billing` it imports only `billing.models`,
  `billing.exceptions` and `billing.money`; it announces a debit (`ledger.debited`) and the app
  wires what follows (`billing/signals.py`).
- No cycle among modules, except the Celery task idiom: a service queues its app's task (lazily,
  inside the function) and the task calls the service. So only an import of a `<app>.tasks`
  module from a `<app>.services...` module is left out of the graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("billing", "licensing", "usage", "credits_portal", "webhooks")
# What credits_portal may import from the apps, and where.
PORTAL_MAY_IMPORT_APPS = {"credits_portal.urls", "credits_portal.celery"}
LEDGER = "billing.services.ledger"
LEDGER_MAY_IMPORT = {"billing.models", "billing.exceptions", "billing.money"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports (anywhere in the file), each resolved to a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                targets.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                # `from billing.services import payments` imports the module billing.services.payments.
                submodule = f"{module}.{alias.name}"
                targets.add(submodule if submodule in known else module)
    resolved = set()
    for target in targets:
        # `import billing.services.ledger as x` or a name inside a module: the longest known prefix.
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def _app(module: str) -> str:
    return module.split(".")[0]


def _task_idiom(source: str, target: str) -> bool:
    return target.endswith(".tasks") and ".services" in source and _app(source) == _app(target)


def test_the_graph_is_read():
    graph = _graph()
    assert "billing.services.ledger" in graph["billing.services.payments"]
    assert "billing.tasks" in graph["billing.services.recharge"]  # a lazy import counts


def test_billing_and_licensing_import_neither_usage_nor_each_other():
    forbidden = {"billing": {"usage", "licensing"}, "licensing": {"usage", "billing"}}
    wrong = [
        f"{source} imports {target}"
        for source, targets in _graph().items()
        for target in sorted(targets)
        if _app(target) in forbidden.get(_app(source), ())
    ]
    assert wrong == []


def test_credits_portal_imports_apps_only_in_urls_and_celery():
    wrong = [
        f"{source} imports {target}"
        for source, targets in _graph().items()
        if _app(source) == "credits_portal" and source not in PORTAL_MAY_IMPORT_APPS
        for target in sorted(targets)
        if _app(target) != "credits_portal"
    ]
    assert wrong == []


def test_only_the_api_routes_import_webhooks():
    # The webhooks app receives events (credits_portal.events); no app calls it.
    wrong = [
        f"{source} imports {target}"
        for source, targets in _graph().items()
        if _app(source) != "webhooks" and source not in PORTAL_MAY_IMPORT_APPS
        for target in sorted(targets)
        if _app(target) == "webhooks"
    ]
    assert wrong == []


def test_the_ledger_imports_nothing_above_it():
    above = {
        target
        for target in _graph()[LEDGER]
        if _app(target) == "billing" and target not in LEDGER_MAY_IMPORT
    }
    assert above == set()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_but_the_task_idiom():
    graph = {
        source: {target for target in targets if not _task_idiom(source, target)}
        for source, targets in _graph().items()
    }
    assert _cycles(graph) == []


def test_a_cycle_is_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
