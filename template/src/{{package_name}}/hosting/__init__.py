"""The hosting layer: the RESPONSES protocol server and what it needs.

Template-owned: `copier update` replaces these files. Your code goes in agent.py
and tools/, which the template never touches after creating them.
"""

from .manifest import Manifest, ManifestError
from .offline import offline_agent
from .settings import Settings
from .turn import Agent, AgentError, FunctionCall, FunctionCallOutput, Output, Reasoning, Turn

__all__ = [
    "Agent",
    "AgentError",
    "FunctionCall",
    "FunctionCallOutput",
    "Manifest",
    "ManifestError",
    "Output",
    "Reasoning",
    "Settings",
    "Turn",
    "offline_agent",
]
