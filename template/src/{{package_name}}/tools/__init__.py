"""Your function tools: one module per tool, each defining a function of the same name.

The model sees each function's name, the first paragraph of its docstring as the
description, and its parameters: types from the signature, descriptions from the
docstring's `Args:` section. For full control, give the module a PARAMETERS dict with
the JSON schema of the arguments. Tools may be sync or async; an exception or a
timeout (TOOL_TIMEOUT_SECONDS) becomes the tool's output, which the model reads.
Modules whose name starts with `_` are helpers shared by tools, not tools.

This folder is yours: `copier update` adds stubs for new tools and never
overwrites a file here.
"""
