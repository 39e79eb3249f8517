"""Talking to agents from Python: discovery and a blocking client over the real protocol."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from . import _agent


def list_agents(runtime_dir: Optional[str] = None) -> List[Dict[str, Any]]:
    """Records of this user's live agents (records of dead processes are cleaned up). Raises
    OSError when the runtime folder is not a private folder of this user; records that could
    be someone else's are left out."""
    return json.loads(_agent.list_agents(runtime_dir))


class Client:
    """One connection to one agent; every method is one request and raises `AgentError`
    when the agent answers with an error."""

    def __init__(self, address: str, token: Optional[str] = None, timeout: Optional[float] = 30.0):
        self._native = _agent.Client(address, token, timeout)
        self.agent: Dict[str, Any] = json.loads(self._native.agent_json)

    def call(self, method: str, params: Optional[Dict[str, Any]] = None) -> Any:
        raw = self._native.call(method, None if params is None else json.dumps(params))
        return json.loads(raw)

    def ping(self) -> Dict[str, Any]:
        return self.call("ping")

    def patch(self, path: str, definitions: List[Dict[str, str]], source: Optional[str] = None):
        params: Dict[str, Any] = {"path": path, "definitions": definitions}
        if source is not None:
            params["source"] = source
        return self.call("patch", params)

    def revert(self, path: str, qualnames: List[str]):
        return self.call("revert", {"path": path, "qualnames": qualnames})

    def loaded(self, path: str):
        return self.call("loaded", {"path": path})


def connect(pid: Optional[int] = None, runtime_dir: Optional[str] = None, timeout: float = 30.0) -> Client:
    """Connects to the agent of process `pid` (default: the only agent running)."""
    agents = list_agents(runtime_dir)
    if pid is not None:
        agents = [a for a in agents if a["pid"] == pid]
    if len(agents) != 1:
        where = runtime_dir or _agent.runtime_dir()
        found = ", ".join(str(a["pid"]) for a in agents) or "none"
        raise LookupError(f"expected one agent{'' if pid is None else f' with pid {pid}'} in {where}, found {found}")
    record = agents[0]
    return Client(record["address"], record.get("token"), timeout)
