from os import PathLike
from typing import Callable, List, Optional, Tuple, Union

__version__: str
PROTOCOL_VERSION: int

class AgentError(Exception):
    """Raised with `(code, message)` when an agent answers with an error."""

def start(
    handler: Callable[[str, str], str],
    argv: List[str],
    cwd: str,
    python_version: str,
    python_executable: str,
    agent_version: str,
    runtime_dir: Optional[Union[str, PathLike]] = None,
    listen: Optional[str] = None,
) -> str: ...
def stop() -> None: ...
def address() -> Optional[str]: ...
def commit(ops: List[Tuple[int, object, Optional[str], object]]) -> None: ...
def list_agents(runtime_dir: Optional[Union[str, PathLike]] = None) -> str: ...
def runtime_dir() -> str: ...

class Client:
    def __init__(self, address: str, token: Optional[str] = None, timeout: Optional[float] = None) -> None: ...
    @property
    def agent_json(self) -> str: ...
    def call(self, method: str, params_json: Optional[str] = None) -> str: ...
