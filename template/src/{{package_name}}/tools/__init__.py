"""Your function tools: one module per tool, each defining a function of the same name.

This folder is yours: `copier update` adds stubs for new tools and never
overwrites a file here.
"""
