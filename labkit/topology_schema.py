"""The topology's schema: what a person writes (YAML, a dict) checked for shape, types and ranges
with a strict pydantic model, and turned into labkit.topology's frozen dataclasses.

Kept apart from labkit.topology so that a daemon that only reads its lab's saved layout
(`Topology.from_saved`) never imports pydantic or PyYAML. The defaults are the dataclasses' own,
so there is one place for each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from labkit import names, specs
from labkit.errors import LabError

# -- the schema: shape, types and ranges (pydantic, strict) ---------------------------------------

class _Strict(BaseModel):
    """No unknown keys; no coercion ("90" is no int, "no" is no bool, true is no int)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _NodeSchema(_Strict):
    roles: list[str] = Field(default_factory=lambda: ["app"])
    priority: int = Field(specs.NodeSpec.priority, ge=1, le=254)  # VRRP's range for a backup


class _VrrpSchema(_Strict):
    advert_interval: float = Field(specs.VrrpSpec.advert_interval, ge=0.05, le=10)
    preempt: bool = specs.VrrpSpec.preempt


class _LbSchema(_Strict):
    # mod_proxy_hcheck's watchdog ticks every 100 ms: a shorter hcinterval is refused
    health_check_interval: float = Field(specs.LbSpec.health_check_interval, ge=0.1, le=60)
    # BalancerMember timeout= and ProxyTimeout take whole seconds, at least 1
    member_timeout: int = Field(specs.LbSpec.member_timeout, ge=1, le=300)
    slow_timeout: int = Field(specs.LbSpec.slow_timeout, ge=1, le=600)
    retry: int = Field(specs.LbSpec.retry, ge=0, le=300)
    fail_on_timeout: bool = specs.LbSpec.fail_on_timeout


class _DevicesSchema(_Strict):
    count: int = Field(specs.DevicesSpec.count, ge=0, le=5000)
    latency_ms: int = Field(specs.DevicesSpec.latency_ms, ge=0, le=60_000)
    auto_rebalance: bool = specs.DevicesSpec.auto_rebalance


#: a silence timer shorter than two of the watchers' polls (0.5 s) cannot be kept
_SILENCE = {"ge": 1.0, "le": 60}


class _MysqlSchema(_Strict):
    semi_sync: bool = specs.MysqlSpec.semi_sync
    failover_after: float = Field(specs.MysqlSpec.failover_after, **_SILENCE)
    alone_after: float = Field(specs.MysqlSpec.alone_after, **_SILENCE)


class _PostgresSchema(_Strict):
    synchronous: bool = specs.PostgresSpec.synchronous
    failover_after: float = Field(specs.PostgresSpec.failover_after, **_SILENCE)


class _CassandraSchema(_Strict):
    commitlog_sync: Literal["periodic", "batch"] = specs.CassandraSpec.commitlog_sync
    quota: str | int = specs.CassandraSpec.quota


class _LinkSchema(_Strict):
    endpoints: list[str] = Field(min_length=2, max_length=2)
    cut: bool = False
    loss: str | None = None
    rate: str | None = None
    one_way: bool = False
    delay: str | None = None
    jitter: str | None = None


class _TopologySchema(_Strict):
    name: str = specs.TOPOLOGY_NAME
    nodes: dict[str, _NodeSchema | None]  # `node3:` with nothing after it plays app
    vrrp: _VrrpSchema | None = None
    lb: _LbSchema | None = None
    devices: _DevicesSchema | None = None
    membership_timeout: float = Field(specs.MEMBERSHIP_TIMEOUT, ge=0.5, le=60)
    mysql: _MysqlSchema | None = None
    postgres: _PostgresSchema | None = None
    cassandra: _CassandraSchema | None = None
    links: list[_LinkSchema] = Field(default_factory=list)


_SECTIONS: dict[str, type[_Strict]] = {"vrrp": _VrrpSchema, "lb": _LbSchema,
                                       "devices": _DevicesSchema,
                                       "mysql": _MysqlSchema, "postgres": _PostgresSchema,
                                       "cassandra": _CassandraSchema}
#: what to write instead, by the key that is wrong
_EXAMPLES = {
    "nodes": "nodes: {node1: {roles: [lb, app]}, node2: {roles: [lb, app]}}",
    "node": "node1: {roles: [lb, app], priority: 100}",
    "roles": "roles: [lb, app]", "priority": "priority: 100", "name": "name: mylab",
    "vrrp": "vrrp: {advert_interval: 0.2, preempt: false}",
    "advert_interval": "advert_interval: 0.2", "preempt": "preempt: false",
    "lb": "lb: {health_check_interval: 0.2, member_timeout: 1, slow_timeout: 5, retry: 1}",
    "health_check_interval": "health_check_interval: 0.2", "member_timeout": "member_timeout: 1",
    "slow_timeout": "slow_timeout: 5", "retry": "retry: 1",
    "fail_on_timeout": "fail_on_timeout: true",
    "devices": "devices: {count: 100, latency_ms: 0, auto_rebalance: false}",
    "count": "count: 100", "latency_ms": "latency_ms: 0", "auto_rebalance": "auto_rebalance: false",
    "membership_timeout": "membership_timeout: 3.0",
    "mysql": "mysql: {semi_sync: true, failover_after: 1.0}", "semi_sync": "semi_sync: true",
    "failover_after": "failover_after: 1.0", "alone_after": "alone_after: 3.0",
    "postgres": "postgres: {synchronous: true}", "synchronous": "synchronous: true",
    "cassandra": "cassandra: {commitlog_sync: batch}",
    "commitlog_sync": "commitlog_sync: batch (or periodic)", "quota": "quota: 4GiB",
    "links": "links: [{endpoints: [node1, node3], loss: 5%}]",
    "endpoints": "endpoints: [node1, node3]", "loss": "loss: 5%", "rate": "rate: 1mbit",
    "cut": "cut: true", "one_way": "one_way: true", "delay": "delay: 50ms",
    "jitter": "jitter: 10ms (with delay)",
}
_TYPES = {"int_type": "must be an integer", "float_type": "must be a number",
          "bool_type": "must be true or false", "string_type": "must be a string",
          "list_type": "must be a list", "dict_type": "must be a mapping",
          "model_type": "must be a mapping"}
_SCALARS = ("int_type", "float_type", "bool_type")  #: a quoted "90" or "no" is a string


def parse(data: Any) -> _TopologySchema:
    """The schema's view of `data`, or the first problem as one LabError."""
    try:
        return _TopologySchema.model_validate(data)
    except ValidationError as exc:
        raise _schema_error(exc.errors(include_url=False)[0]) from None


def build(spec: _TopologySchema) -> dict[str, Any]:
    """A Topology's arguments, the frozen dataclasses, from a checked schema (Topology's
    __post_init__ then checks the rules across nodes)."""
    vrrp, devices = spec.vrrp or _VrrpSchema(), spec.devices or _DevicesSchema()
    lb = spec.lb or _LbSchema()
    my, pg = spec.mysql or _MysqlSchema(), spec.postgres or _PostgresSchema()
    cas = spec.cassandra or _CassandraSchema()
    nodes = tuple(specs.NodeSpec(name, tuple(body.roles), body.priority)
                  for name, body in spec.nodes.items() for body in [body or _NodeSchema()])
    return dict(nodes=nodes, name=spec.name,
                vrrp=specs.VrrpSpec(vrrp.advert_interval, vrrp.preempt),
                lb=specs.LbSpec(lb.health_check_interval, lb.member_timeout, lb.slow_timeout,
                                lb.retry, lb.fail_on_timeout),
                devices=specs.DevicesSpec(devices.count, devices.latency_ms,
                                          devices.auto_rebalance),
                membership_timeout=spec.membership_timeout,
                mysql=specs.MysqlSpec(my.semi_sync, my.failover_after, my.alone_after),
                postgres=specs.PostgresSpec(pg.synchronous, pg.failover_after),
                cassandra=specs.CassandraSpec(cas.commitlog_sync, str(cas.quota)),
                links=tuple(specs.LinkSpec((ln.endpoints[0], ln.endpoints[1]), ln.cut, ln.loss,
                                           ln.rate, ln.one_way, ln.delay, ln.jitter)
                            for ln in spec.links))


def _schema_error(err: ErrorDetails) -> LabError:
    """One pydantic error as the lab says it: the key path, the problem, what to write."""
    loc, kind, ctx = tuple(err["loc"]), err["type"], err.get("ctx") or {}
    if loc[-1:] == ("[key]",):
        return specs._fail(loc[:-1], f"a node name must be a string (got {_got(err['input'])})",
                     names.NODE_NAME_HINT)
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        known = ", ".join(model.model_fields) if model else "see the docs"
        return specs._fail(loc, "unknown key", f"known keys here: {known}")
    if kind == "missing":
        return specs._fail(loc, "is missing", f"write e.g. {_example(loc)}")
    if kind in ("greater_than_equal", "less_than_equal"):
        edge = "at least" if kind == "greater_than_equal" else "at most"
        bound = ctx.get("ge", ctx.get("le"))
        return specs._fail(loc, f"must be {edge} {bound} (got {_got(err['input'])})", _range(loc))
    if kind in _TYPES:
        bare = ", without quotes" if kind in _SCALARS else ""
        return specs._fail(loc, f"{_TYPES[kind]} (got {_got(err['input'])})",
                     f"write e.g. {_example(loc)}{bare}")
    return specs._fail(loc, f"{err['msg'][:1].lower()}{err['msg'][1:]} (got {_got(err['input'])})")


def _model_at(loc: tuple[Any, ...]) -> type[_Strict] | None:
    """The schema model whose keys live at `loc` (for listing the known ones)."""
    if loc == ():
        return _TopologySchema
    if len(loc) == 2 and loc[0] == "nodes":
        return _NodeSchema
    if len(loc) == 2 and loc[0] == "links":
        return _LinkSchema
    return _SECTIONS.get(loc[0]) if len(loc) == 1 else None


def _example(loc: tuple[Any, ...]) -> str:
    """What to write at `loc`: the nearest key with an example (roles.0 → roles)."""
    if len(loc) == 2 and loc[0] == "nodes":
        return _EXAMPLES["node"]
    key = next((k for k in reversed(loc) if isinstance(k, str) and k in _EXAMPLES), "nodes")
    return _EXAMPLES[key]


def _range(loc: tuple[Any, ...]) -> str | None:
    """The field's bounds as a hint ("choose a value from 1 to 254"), read from the schema."""
    model = _model_at(loc[:-1])
    info = model.model_fields.get(str(loc[-1])) if model else None
    if info is None:
        return None
    low = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in info.metadata if hasattr(m, "le")), None)
    return f"choose a value from {low} to {high}"


def _got(value: Any) -> str:
    """The offending value, on one line and short: repr escapes newlines."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- YAML ---------------------------------------------------------------------------------------
class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error: the plain loader
    keeps the last one silently, so `node1:` written twice would lose a node's roles."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` may be overridden by the keys after it
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
            except TypeError:
                pass  # an unhashable key: the base class says so
        return super().construct_mapping(node, deep)


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise LabError(f"topology file {path} does not exist",
                       "check the path given to --topology") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabError(f"topology file {path} cannot be read: {specs._one_line(exc)}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc)
        hint = ("a key may appear once per mapping: merge the two" if "duplicate key" in problem
                else "check the brackets, quotes and indentation there")
        raise LabError(f"topology file {path} is not valid YAML: {problem}", hint) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The problem and where, on one line (PyYAML's own text spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    if mark is None or problem is None:
        return specs._one_line(exc)
    return f"line {mark.line + 1}, column {mark.column + 1}: {specs._one_line(problem)}"
