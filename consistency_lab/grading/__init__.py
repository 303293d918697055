"""Labs: the check registry, the student's ``check()``, building ``labs/``, grading submissions.

Students use ``use_lab``, ``check`` and ``check_all`` (and meet ``needs`` in demo cells); lab
authors use ``check_for``.
See ``AUTHORING.md`` next to this file for the notebook format and the check-module rules.
Only light modules are imported here; the builder and the grader load on demand.
"""

from .checks import CheckRegistrationError, StudentNamespace, check_for
from .student import CheckReport, check, check_all, needs, use_lab

__all__ = ["check", "check_all", "use_lab", "needs", "check_for", "CheckReport", "CheckRegistrationError",
           "StudentNamespace"]
