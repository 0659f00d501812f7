"""The Celery app a hub worker runs (``hub worker`` starts ``celery -A hub.orchestration.celery_app
worker``): dagster-celery's step task, on the broker of the home ``HUB_HOME`` names. Imported
only by workers: importing it reads the home's config and the broker's password."""

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from hub.config import load_config
from hub.home import Home
from hub.orchestration.workers import broker_url

_home = Home.find()
app = make_app({"broker": broker_url(load_config(_home.require_config()).orchestration), "backend": "rpc://"})
execute_plan = create_task(app)
