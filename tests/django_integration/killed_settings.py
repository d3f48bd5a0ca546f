"""Settings of the process ``test_faults`` kills: the test's own database and Temporal."""

import json
import os

from tests.django_settings import *

DATABASES = json.loads(os.environ["DA_KILL_DATABASES"])
DURABLE_AUTOMATION = {"ADDRESS": os.environ["DA_KILL_ADDRESS"],
                      "TASK_QUEUE": os.environ["DA_KILL_TASK_QUEUE"]}
