"""The dashboard layer: Streamlit glue between the pages and ``landscape_core``.

Data flows one way: ``pages/`` and ``app.py`` -> ``ui`` -> ``landscape_core``. Each module is one
concern:

- ``state``: the experiment selection, the center recipe and the uploads, mirrored in the URL;
- ``minima``: which minima a selection has (trained seeds and uploads, by cache key), training
  and uploads;
- ``calls``: cached calls into the core, keyed by references (minimum keys, ``CenterRef``);
  they read results, they never pick one that was not asked for;
- ``jobs``: long-running work: cost estimates, progress bars, Stop, threads;
- ``widgets``: charts with captions and downloads, recipe captions, the cache summary;
- ``errors``: the one error boundary and the escaping of user-supplied text.

No module here defines science: recipes, references, costs and reports live in the core.
"""
