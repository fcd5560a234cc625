import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "credits_portal.settings")
application = get_wsgi_application()
# The URLconf (the API's routers and their schemas: about a third of a second) imported now, once
# in gunicorn's master under --preload, not by the first request each worker serves: that request
# may be a call waiting to be authorized.
_ = get_resolver().url_patterns
