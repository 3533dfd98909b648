"""Local fake vendor servers (Kommo, ...) for tests and the demo mode of ``make run``.

Each fake is a standard-library-only module that runs in-process (tests) or as its own process
(``python -m fakes.kommo``). Nothing here imports Django.
"""
