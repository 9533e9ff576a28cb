"""The machinery that turns ``src/`` and ``docs/{en,zh,ru}`` into a verified book.

Used by the mkdocs hooks (``mkdocs_hooks.py``), by the tests, and from the command line::

    python -m llm_anatomy_book translations      # which translations are stale or missing
    python -m llm_anatomy_book stamp docs/zh/07-autograd.md
    python -m llm_anatomy_book notebooks build/notebooks
"""
