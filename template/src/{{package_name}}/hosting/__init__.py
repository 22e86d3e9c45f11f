"""The hosting layer: the RESPONSES protocol server and what it needs.

Template-owned: `copier update` replaces these files. Your code goes in agent.py
and tools/, which the template never touches after creating them. The seam between
the two is turn.py; the building blocks for agents are in ../agentkit/.
"""

from .manifest import Manifest, ManifestError
from .settings import Settings
from .turn import (
    Agent,
    AgentError,
    FunctionCall,
    FunctionCallOutput,
    Incomplete,
    Output,
    Reasoning,
    Turn,
    Usage,
)

__all__ = [
    "Agent",
    "AgentError",
    "FunctionCall",
    "FunctionCallOutput",
    "Incomplete",
    "Manifest",
    "ManifestError",
    "Output",
    "Reasoning",
    "Settings",
    "Turn",
    "Usage",
]
