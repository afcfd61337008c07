"""Patient pages: welcome, invitation and resume links, one step per page, review, summary, PDF.

Everything works without JavaScript. The patient is known only by a random token in an HttpOnly
cookie (the same token is in their resume link); no URL carries a response id, so changing a
URL can never reach someone else's answers.

- flow.py: where a patient is and where each button leads (pure functions)
- visit.py: the patient's cookie, the `visit` dependency, the no-session and bad-link pages
- forms.py: reading and checking a step's form
- views.py: what the step, review and summary pages show
- routes.py: the handlers (parse, call services/responses.py, render)
"""

from sdm_service.web.patient.flow import question_step_count, total_step_count
from sdm_service.web.patient.routes import routes
from sdm_service.web.patient.visit import PATIENT_COOKIE

__all__ = ["PATIENT_COOKIE", "question_step_count", "routes", "total_step_count"]
