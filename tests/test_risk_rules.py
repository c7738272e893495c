"""Rule packs: a table per category of paths from each ecosystem, and config overrides."""

from __future__ import annotations

import pytest

from bisect_runner.config import CategoryRule, RiskConfig
from bisect_runner.risk import build_rules

RULES = build_rules()


def _names(path: str, rules: object = RULES) -> list[str]:
    return [c.name for c in RULES.classify(path)] if rules is RULES else [c.name for c in rules.classify(path)]  # type: ignore[attr-defined]


def _ids(table: list[str]) -> list[str]:
    return [p.replace("/", "⁄") for p in table]


MIGRATION = [
    "shop/orders/migrations/0042_order_currency.py",  # Django
    "db/migrate/20260101120000_add_currency.rb",  # Rails
    "db/schema.rb", "db/structure.sql",
    "alembic/versions/3f2a1b_add_currency.py",  # Alembic
    "services/billing/migrations/versions/3f2a1b_add.py",
    "src/main/resources/db/migration/V42__add_currency.sql",  # Flyway
    "R__refresh_views.sql",
    "prisma/migrations/20260101_init/migration.sql", "prisma/schema.prisma",  # Prisma
    "src/main/resources/db/changelog/db.changelog-master.yaml",  # Liquibase
    "db/changelog.xml",
    "scripts/backfill_orders.sql",  # bare SQL
]
API = [
    "api/openapi.yaml", "docs-api/swagger.json", "proto/payments/v1/charge.proto", "schema/schema.graphql",
    "shop/urls.py", "config/routes.rb", "shop/orders/views.py", "shop/orders/serializers.py",
    "app/controllers/orders_controller.rb", "src/main/java/com/shop/OrderController.java",
    "services/web/api/orders.py", "internal/handlers/orders.go", "web/src/routes/checkout.ts",
]
INTEGRATION = [
    "shop/integrations/stripe/webhooks.py", "app/clients/shipping_client.py", "pkg/connectors/erp.go",
    "shop/payments/stripe_gateway.py", "lib/auth0_sync.rb", "notify/twilio_sms.py", "mail/sendgrid.ts",
    "app/webhooks/github.py",
]
DEPENDENCY = [
    "requirements.txt", "requirements/prod.txt", "Pipfile.lock", "pyproject.toml", "poetry.lock", "uv.lock",
    "package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "go.mod", "go.sum", "Cargo.toml",
    "Cargo.lock", "Gemfile", "Gemfile.lock", "pom.xml", "build.gradle", "build.gradle.kts",
    "gradle/libs.versions.toml", "services/web/package.json",
]
INFRA = [
    "Dockerfile", "deploy/Dockerfile.worker", "docker-compose.yml", "compose.yaml", "terraform/main.tf",
    "infra/prod.tfvars", "k8s/deployment.yaml", "charts/shop/Chart.yaml", "helm/shop/values.yaml",
    ".github/workflows/deploy.yml", "serverless.yml", "Procfile", "Jenkinsfile",
]
CONFIG = [
    "config/production.yml", "shop/settings.py", "shop/settings/production.py", ".env.production",
    "src/main/resources/application-prod.yml", "flags/checkout.yml", "shop/feature_flags.py", "setup.ini",
]
SECURITY = [
    "shop/auth/backends.py", "shop/accounts/permissions.py", "lib/crypto/keys.go", "app/session_store.rb",
    "shop/users/password_reset.py", "web/src/jwt.ts", "middleware/csrf.py",
]
UI = [
    "web/src/components/Button.tsx", "shop/templates/checkout.html", "shop/static/site.css",
    "assets/logo.svg", "web/src/App.vue", "locales/de.po",
]
TEST = [
    "tests/test_orders.py", "shop/orders/tests/test_migrations.py", "pkg/orders/orders_test.go",
    "web/src/cart.test.ts", "src/test/java/com/shop/OrderServiceTest.java", "spec/models/order_spec.rb",
    "conftest.py", "shop/migrations/tests/test_0042.py",
]
DOCS = ["README.md", "docs/runbook.md", "docs/architecture/overview.rst", "CHANGELOG.md", "LICENSE"]
CODE = ["shop/orders/models.py", "pkg/orders/service.go", "src/main/java/com/shop/OrderService.java",
        "lib/pricing.rb", "web/src/cart.ts"]


@pytest.mark.parametrize("path", MIGRATION, ids=_ids(MIGRATION))
def test_migration(path: str) -> None:
    assert _names(path)[0] == "migration"


@pytest.mark.parametrize("path", API, ids=_ids(API))
def test_api(path: str) -> None:
    assert "api" in _names(path)


@pytest.mark.parametrize("path", INTEGRATION, ids=_ids(INTEGRATION))
def test_integration(path: str) -> None:
    assert "integration" in _names(path)


@pytest.mark.parametrize("path", DEPENDENCY, ids=_ids(DEPENDENCY))
def test_dependency(path: str) -> None:
    assert "dependency" in _names(path)


@pytest.mark.parametrize("path", INFRA, ids=_ids(INFRA))
def test_infra(path: str) -> None:
    assert "infra" in _names(path)


@pytest.mark.parametrize("path", CONFIG, ids=_ids(CONFIG))
def test_config(path: str) -> None:
    assert "config" in _names(path)


@pytest.mark.parametrize("path", SECURITY, ids=_ids(SECURITY))
def test_security(path: str) -> None:
    assert "security" in _names(path)


@pytest.mark.parametrize("path", UI, ids=_ids(UI))
def test_ui(path: str) -> None:
    assert _names(path) == ["ui"]


@pytest.mark.parametrize("path", TEST, ids=_ids(TEST))
def test_tests_are_exclusive(path: str) -> None:
    assert _names(path) == ["test"]


@pytest.mark.parametrize("path", DOCS, ids=_ids(DOCS))
def test_docs_are_exclusive(path: str) -> None:
    assert _names(path) == ["docs"]


@pytest.mark.parametrize("path", CODE, ids=_ids(CODE))
def test_everything_else_is_code(path: str) -> None:
    assert _names(path) == ["code"]


def test_categories_are_ordered_by_weight() -> None:
    assert _names("shop/integrations/stripe/migrations/0003_refunds.py")[:2] == ["migration", "integration"]


def test_config_adds_a_category_with_any_and_all_globs() -> None:
    rules = build_rules(RiskConfig(categories=[
        CategoryRule(name="payments", weight=70, any=["**/payments/**", "**/billing/**"], all=["*.py"],
                     reason="touches money movement"),
    ]))
    assert _names("shop/payments/charge.py", rules)[0] == "payments"
    assert "payments" not in _names("shop/payments/README.txt", rules)  # `all` requires *.py
    assert _names("shop/orders/models.py", rules) == ["code"]
    assert next(c for c in rules.categories if c.name == "payments").reason == "touches money movement"


def test_config_overrides_a_builtin_weight_and_extends_or_replaces_its_globs() -> None:
    extended = build_rules(RiskConfig(categories=[CategoryRule(name="migration", weight=90, any=["schema/*.cql"])]))
    assert extended.weight_of("migration") == 90
    assert _names("schema/0001_users.cql", extended)[0] == "migration"
    assert _names("db/migrate/1_add.rb", extended)[0] == "migration"
    replaced = build_rules(RiskConfig(categories=[CategoryRule(name="migration", any=["schema/*.cql"],
                                                               replace=True)]))
    assert _names("schema/0001_users.cql", replaced)[0] == "migration"
    assert "migration" not in _names("db/migrate/1_add.rb", replaced)
    code = build_rules(RiskConfig(categories=[CategoryRule(name="code", weight=3)]))
    assert code.code.weight == 3


def test_ignore_globs() -> None:
    rules = build_rules(RiskConfig(ignore=["vendor/**", "*.min.js"]))
    assert rules.ignored("vendor/github.com/x/y.go") and rules.ignored("web/app.min.js")
    assert not rules.ignored("web/app.js")


@pytest.mark.parametrize("path", [
    "shop/auth.py", "shop/auth_backends.py", "shop/accounts/token_auth.py", "shop/UserAuth.java",
    "shop/authentication.py", "shop/authorization/policy.py", "web/src/AuthenticatedRoute.tsx",
    "shop/tls.py", "shop/certificates.py", "deploy/server.pem",
], ids=lambda p: str(p))
def test_security_names(path: str) -> None:
    assert "security" in [c.name for c in RULES.classify(path)]


@pytest.mark.parametrize("path", ["shop/authors.py", "shop/author_page.py", "shop/concert.py", "shop/uncertain.py"],
                         ids=lambda p: str(p))
def test_security_lookalikes_are_not_security(path: str) -> None:
    assert "security" not in [c.name for c in RULES.classify(path)]


def test_the_fast_matcher_agrees_with_pathspec_on_every_table_path() -> None:
    import pathspec

    from bisect_runner.risk.rules import BUILTIN, compile_globs

    paths = [*MIGRATION, *API, *INTEGRATION, *DEPENDENCY, *INFRA, *CONFIG, *SECURITY, *UI, *TEST, *DOCS, *CODE,
             "shop/payments", "a/b/c/d.txt", "Dockerfile.dev", "deep/er/migrations/x/y.py"]
    for category in BUILTIN:
        spec = pathspec.GitIgnoreSpec.from_lines(category.globs)
        match = compile_globs(category.globs)
        assert [p for p in paths if match(p)] == [p for p in paths if spec.match_file(p)], category.name
    negated = compile_globs(["shop/**", "!shop/vendor/**"])  # negation: pathspec's own evaluation
    assert negated("shop/a.py") and not negated("shop/vendor/x.py")


def test_the_cached_classification_agrees_with_matching_each_category() -> None:
    rules = build_rules(RiskConfig(categories=[CategoryRule(name="payments", weight=70, any=["**/payments/**"],
                                                            all=["*.py"])]))
    paths = [*MIGRATION, *API, *INTEGRATION, *DEPENDENCY, *INFRA, *CONFIG, *SECURITY, *UI, *TEST, *DOCS, *CODE,
             "shop/payments/charge.py", "shop/payments/README.txt"]
    for path in [*paths, *paths]:  # the second pass is answered from the caches
        matched = [c for c in rules.categories if c.matches(path)]
        exclusive = next((c for c in matched if c.name in ("test", "docs")), None)
        expected = [exclusive] if exclusive else sorted(matched, key=lambda c: -c.weight) or [rules.code]
        assert [c.name for c in rules.classify(path)] == [c.name for c in expected], path
