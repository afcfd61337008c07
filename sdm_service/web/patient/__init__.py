"""Patient pages: welcome, invitation and resume links, one step per page, review, summary, PDF.

Everything works without JavaScript. The patient is known only by a random token in an HttpOnly
cookie (the same token is in their resume link); no URL carries a response id, so changing a
URL can never reach someone else's answers.

- flow.py: where a patient is and where each button leads (pure functions)
- visit.py: the patient's cookie, the `visit` dependency, the no-session and bad-link pages
- forms.py: reading and checking a step's form
- views.py: what the step, review and summary pages show
- routes.py: the handlers (parse, call services/responses.py, render)
- language.py, switch.py: the page's language and the language switch link
"""

from sdm_service.web.patient.flow import question_step_count, total_step_count
from sdm_service.web.patient.routes import routes as page_routes
from sdm_service.web.patient.switch import routes as switch_routes
from sdm_service.web.patient.visit import PATIENT_COOKIE

routes = [*page_routes, *switch_routes]

__all__ = ["PATIENT_COOKIE", "question_step_count", "routes", "total_step_count"]
