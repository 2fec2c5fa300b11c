"""Curbside: a forum where verified physicians discuss de-identified clinical cases."""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, has_request_context, request
from werkzeug.middleware.proxy_fix import ProxyFix

from forum import config as settings
from forum.extensions import csrf, db, limiter, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


class CurbsideFlask(Flask):
    """Flask that logs where an error happened but never its message, which may quote data."""

    def log_exception(self, exc_info: Any) -> None:
        """Log the exception type and stack, without the message or SQL parameters."""
        kind, _, trace = exc_info
        frames = "".join(traceback.format_list(traceback.extract_tb(trace)))
        name = kind.__name__ if kind else "Exception"
        self.logger.error("%s on %s %s\n%s", name, request.method, request.endpoint, frames)


def _configure_sqlite(app: Flask) -> None:
    """WAL, a busy timeout and foreign keys; writers take the lock when their transaction begins.

    A deferred transaction that reads and then writes fails at once when another writer got in
    between; BEGIN IMMEDIATE makes it wait (up to the busy timeout) instead. Reads by GET
    requests keep deferred transactions so they never queue behind writers.
    """
    timeout = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(connection: Any, _record: Any) -> None:
        connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {timeout}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        reading = has_request_context() and request.method in {"GET", "HEAD", "OPTIONS"}
        if reading and request.endpoint:
            view = app.view_functions.get(request.endpoint)
            reading = not getattr(view, "writes_on_get", False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def _configure_logging(app: Flask) -> None:
    level = getattr(logging, str(app.config["LOG_LEVEL"]).upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("forum").setLevel(level)


def _register_blueprints(app: Flask) -> None:
    from forum.accounts.views import bp as accounts_bp
    from forum.admin.views import bp as admin_bp
    from forum.cases.media_views import bp as media_bp
    from forum.cases.views import bp as cases_bp
    from forum.digest.views import bp as digest_bp
    from forum.moderation.views import bp as moderation_bp
    from forum.notifications.views import bp as notifications_bp
    from forum.pages import bp as pages_bp
    from forum.phi_views import bp as phi_bp
    from forum.search.views import bp as search_bp
    from forum.verification.review import bp as review_bp
    from forum.verification.views import bp as verification_bp

    for blueprint in (pages_bp, accounts_bp, verification_bp, review_bp, admin_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(media_bp)
    app.register_blueprint(cases_bp)
    app.register_blueprint(moderation_bp)
    app.register_blueprint(phi_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(search_bp)
    app.register_blueprint(digest_bp)


def _register_cli(app: Flask) -> None:
    from forum.accounts.cli import users_cli
    from forum.cases.cli import cases_cli
    from forum.demo import demo_cli
    from forum.digest.cli import digest_cli
    from forum.mail import mail_cli
    from forum.notifications.cli import notifications_cli
    from forum.phi.cli import phi_cli
    from forum.search.cli import search_cli
    from forum.verification.cli import verification_cli
    from forum.verification.registry_cli import registry_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(cases_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(digest_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(notifications_cli)
    app.cli.add_command(phi_cli)
    app.cli.add_command(registry_cli)
    app.cli.add_command(search_cli)
    app.cli.add_command(verification_cli)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; `config` overrides the environment (tests use it)."""
    values = settings.load(os.environ, config, ROOT)
    app = CurbsideFlask(
        __name__,
        instance_path=values["INSTANCE_PATH"],
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(settings.flask_settings(values))
    app.config.update(values)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    _configure_logging(app)

    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from forum import access, http, models  # noqa: F401 - models: complete metadata
    from forum.accounts import sessions
    from forum.search import service as search_service
    from forum.templating import register as register_templating

    db.init_app(app)
    _configure_sqlite(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    # Session expiry, then access, run before CSRF and rate limits: a stranger posting to a
    # members' page is sent to sign in rather than told about tokens.
    app.before_request(sessions.expire_stale_session)
    app.before_request(access.enforce_access)
    csrf.init_app(app)
    limiter.init_app(app)

    search_service.init_app(app)
    _register_blueprints(app)
    http.register(app)
    register_templating(app)
    _register_cli(app)
    return app
