"""Building blocks for your agent: the model-backed agent, the offline agent, tools.

Template-owned: `copier update` replaces these files. agent.py (yours) picks one of
these agents or wraps them (`model_agent.model_agent`, `offline.offline_agent`);
tools/ (yours) holds the function tools they run (`function_tools`).
"""
