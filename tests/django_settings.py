"""Django settings for the test suite (``DJANGO_SETTINGS_MODULE = "tests.django_settings"``).

SQLite by default, on a fresh file per run (a file, not memory: worker threads use
the ORM too). ``DURABLE_AUTOMATION_TEST_DB=postgres`` selects the PostgreSQL server
at 127.0.0.1:5432 (trust auth; ``PGUSER`` or ``postgres``), test database ``test``
with a per-process name so parallel runs do not collide.
"""

from __future__ import annotations

import os
import tempfile

SECRET_KEY = "tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.django_integration.testapp.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_integration",
    "tests.django_integration.testapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

if os.environ.get("DURABLE_AUTOMATION_TEST_DB", "sqlite").lower() in {"postgres", "postgresql"}:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": 5432,
            "USER": os.environ.get("PGUSER", "postgres"),
            "NAME": "test",
            "TEST": {"NAME": f"test_durable_automation_{os.getpid()}"},
        }
    }
else:
    _dir = tempfile.mkdtemp(prefix="da-django-tests-")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(_dir, "db.sqlite3"),
            "TEST": {"NAME": os.path.join(_dir, "test.sqlite3")},
            # Worker threads write too: wait for the lock instead of failing, and take
            # the write lock at BEGIN so two writers cannot deadlock on an upgrade.
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
    }

DURABLE_AUTOMATION: dict[str, object] = {}
