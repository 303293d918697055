"""Check modules of the course's labs, one per lab.

``labNN.py`` holds the public checks of ``labNN_slug`` (students run them with ``check()``);
``labNN_hidden.py`` holds its hidden checks (only the grader imports it; ``consistency-lab
release`` leaves every ``*_hidden.py`` out of the student copy).  See ``../AUTHORING.md``.
"""
