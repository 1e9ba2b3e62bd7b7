"""The batch run behind ``./run_all.sh``, one job per module (each imports only those above it):

- ``dryrun``     what ``--dry-run`` keeps and shrinks
- ``render``     an executed notebook to offline HTML
- ``kernel``     the notebooks' Jupyter kernel, the git output filter, the kernels' environment
- ``lock``       one batch at a time per reports folder
- ``stopping``   Ctrl-C, SIGTERM and SIGHUP: the first stops the batch, none cuts the stopping short
- ``plan``       every input checked, and the runs in order (``Task``)
- ``execute``    one notebook through papermill, its progress in the terminal
- ``attempts``   stage folders, and an attempt put in place or into ``unfinished/``
- ``index``      the profile's index page and its rows (``IndexRow``)
- ``run``        one notebook run, start to end
- ``order``      which ready run starts first (``first_guess_seconds.yaml``)
- ``slurm``      reading Slurm's job states
- ``executors``  one at a time, several at once, or Slurm jobs
- ``leftovers``  what a killed batch left, recorded, completed or removed by the next
- ``main``       the command line (``./run_all.sh --help``) and the batch from start to end
"""
