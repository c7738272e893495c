"""Rule packs: which paths belong to which risk category, as data.

Globs are gitignore-style (pathspec): a pattern without a slash matches a file or folder name at
any depth, so `*stripe*` catches `shop/integrations/stripe/webhooks.py`. A file belongs to every
category it matches, except that tests and docs are exclusive: a test of a migration is a test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pathspec

from bisect_runner.config import CategoryRule, RiskConfig

EXCLUSIVE = ("test", "docs")


@dataclass(frozen=True)
class BuiltinCategory:
    name: str
    weight: float
    reason: str
    globs: tuple[str, ...]


BUILTIN: tuple[BuiltinCategory, ...] = (
    BuiltinCategory("test", 1, "changes tests", (
        "**/tests/**", "**/test/**", "**/__tests__/**", "**/spec/**", "**/testdata/**", "**/fixtures/**",
        "test_*.py", "*_test.py", "conftest.py", "*_test.go", "*.test.js", "*.test.ts", "*.test.tsx",
        "*.test.jsx", "*.spec.js", "*.spec.ts", "*.spec.tsx", "*Test.java", "*Tests.java", "*Test.kt",
        "*Tests.kt", "*_spec.rb", "*_test.rb", "**/src/test/**", "**/cypress/**", "**/e2e/**",
    )),
    BuiltinCategory("docs", 0, "changes documentation", (
        "*.md", "*.rst", "*.adoc", "*.markdown", "**/docs/**", "**/doc/**", "LICENSE*", "CHANGELOG*",
        "AUTHORS*", "CODEOWNERS", "*.mdx",
    )),
    BuiltinCategory("migration", 45, "touches a database migration", (
        "**/migrations/*.py", "**/migrations/**", "db/migrate/**", "**/db/migrate/**", "db/schema.rb",
        "**/db/schema.rb", "db/structure.sql", "**/db/structure.sql", "**/alembic/versions/*.py",
        "**/alembic/**/versions/*.py", "**/migrations/versions/*.py", "V*__*.sql", "R__*.sql",
        "**/db/migration/**", "**/prisma/migrations/**", "schema.prisma", "*changelog*.xml",
        "*changelog*.yaml", "*changelog*.yml", "*changelog*.json", "*changelog*.sql", "**/liquibase/**",
        "*.sql", "**/migrate/**",
    )),
    BuiltinCategory("api", 30, "changes the API surface", (
        "openapi*.yaml", "openapi*.yml", "openapi*.json", "swagger*.yaml", "swagger*.yml", "swagger*.json",
        "*.proto", "*.graphql", "*.graphqls", "*.gql", "**/routes/**", "routes.rb", "routes.py", "routes.ts",
        "routes.js", "router.ts", "router.js", "urls.py", "**/controllers/**", "*Controller.java",
        "*Controller.kt", "*_controller.rb", "*controller.ts", "*controller.js", "views.py", "**/views/*.py",
        "serializers.py", "**/serializers/**", "**/api/**", "**/apis/**", "**/handlers/**", "**/endpoints/**",
        "**/resolvers/**",
    )),
    BuiltinCategory("integration", 30, "changes a third-party integration", (
        "**/integrations/**", "**/integration/**", "**/clients/**", "**/connectors/**", "**/webhooks/**",
        "*webhook*", "*stripe*", "*paypal*", "*braintree*", "*adyen*", "*checkout_com*", "*auth0*", "*okta*",
        "*twilio*", "*sendgrid*", "*mailgun*", "*postmark*", "*segment*", "*salesforce*", "*hubspot*",
        "*shopify*", "*plaid*", "*firebase*", "*pagerduty*", "*slack_client*", "*vendor_api*",
    )),
    BuiltinCategory("security", 30, "touches security-sensitive code (auth, permissions, crypto)", (
        "**/auth/**", "auth.*", "auth_*", "*_auth.*", "*_auth_*", "*Auth.*", "*authenticat*", "*Authenticat*",
        "*authoriz*", "*Authoriz*", "*authn*", "*authz*", "**/permissions/**", "*permission*", "*crypto*", "*security*", "*session*", "*password*",
        "*oauth*", "*jwt*", "*secret*", "*csrf*", "*rbac*", "**/policies/**", "*saml*", "tls.*", "*_tls.*", "*certificate*", "*.pem", "*.crt",
    )),
    BuiltinCategory("dependency", 25, "changes dependencies", (
        "requirements*.txt", "**/requirements/*.txt", "Pipfile", "Pipfile.lock", "pyproject.toml",
        "poetry.lock", "uv.lock", "setup.py", "setup.cfg", "constraints*.txt", "package.json",
        "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", ".yarnrc*", ".npmrc",
        "go.mod", "go.sum", "Cargo.toml", "Cargo.lock", "Gemfile", "Gemfile.lock", "*.gemspec", "pom.xml",
        "build.gradle", "build.gradle.kts", "gradle.lockfile", "settings.gradle", "settings.gradle.kts",
        "libs.versions.toml", "composer.json", "composer.lock", "mix.exs", "mix.lock",
    )),
    BuiltinCategory("infra", 25, "changes infrastructure or deployment", (
        "Dockerfile", "Dockerfile.*", "*.dockerfile", "docker-compose*.yml", "docker-compose*.yaml",
        "compose.yml", "compose.yaml", "*.tf", "*.tfvars", "*.hcl", "**/terraform/**", "**/k8s/**",
        "**/kubernetes/**", "**/manifests/**", "**/helm/**", "**/charts/**", "Chart.yaml",
        "kustomization.yaml", ".github/workflows/**", ".github/actions/**", "serverless.yml",
        "serverless.yaml", "Procfile", "**/deploy/**", "**/deployment/**", "**/ansible/**", "Jenkinsfile",
        ".gitlab-ci.yml", ".circleci/**", "nginx*.conf", "**/infra/**", "**/infrastructure/**",
        "gunicorn*.py", "Makefile",
    )),
    BuiltinCategory("config", 20, "changes configuration or feature flags", (
        "**/config/**", "**/configs/**", "**/settings/**", "settings.py", "settings.*.py", "*.env",
        ".env*", "*.ini", "*.properties", "application*.yml", "application*.yaml", "appsettings*.json",
        "**/flags/**", "*flags*.yml", "*flags*.yaml", "*flags*.json", "*feature_flag*", "*featureflag*",
        "*toggles*", "config.*", "*.config.js", "*.config.ts",
    )),
    BuiltinCategory("ui", 4, "changes UI or static assets", (
        "*.css", "*.scss", "*.sass", "*.less", "*.html", "*.htm", "*.jinja", "*.jinja2", "*.j2", "*.hbs",
        "*.erb", "*.vue", "*.svelte", "*.jsx", "*.tsx", "**/templates/**", "**/static/**", "**/assets/**",
        "**/public/**", "**/components/**", "**/locales/**", "**/i18n/**", "*.po", "*.png", "*.jpg",
        "*.jpeg", "*.gif", "*.svg", "*.ico", "*.webp", "*.woff", "*.woff2", "*.ttf",
    )),
)

CODE = BuiltinCategory("code", 10, "changes application code", ())


@dataclass
class Category:
    """A category as used for matching: labeler-style `any` and `all` globs."""

    name: str
    weight: float
    reason: str
    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    _any_spec: pathspec.GitIgnoreSpec | None = field(default=None, repr=False)
    _all_specs: tuple[pathspec.GitIgnoreSpec, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        self._any_spec = pathspec.GitIgnoreSpec.from_lines(self.any) if self.any else None
        self._all_specs = tuple(pathspec.GitIgnoreSpec.from_lines([g]) for g in self.all)

    def matches(self, path: str) -> bool:
        if self._any_spec is None and not self._all_specs:
            return False
        if self._any_spec is not None and not self._any_spec.match_file(path):
            return False
        return all(spec.match_file(path) for spec in self._all_specs)


@dataclass
class RulePack:
    """Categories in precedence order (user-defined first), plus the fallback `code`."""

    categories: list[Category]
    ignore: pathspec.GitIgnoreSpec | None = None
    code: Category = field(default_factory=lambda: Category(CODE.name, CODE.weight, CODE.reason))

    def classify(self, path: str) -> list[Category]:
        """Every category of `path`, highest weight first; tests and docs are exclusive."""
        found: list[Category] = []
        for category in self.categories:
            if category.matches(path):
                if category.name in EXCLUSIVE:
                    return [category]
                found.append(category)
        if not found:
            return [self.code]
        return sorted(found, key=lambda c: -c.weight)

    def ignored(self, path: str) -> bool:
        return self.ignore is not None and self.ignore.match_file(path)

    def weight_of(self, name: str) -> float:
        for category in [*self.categories, self.code]:
            if category.name == name:
                return category.weight
        return 0.0


def build_rules(config: RiskConfig | None = None, overrides: Sequence[CategoryRule] | None = None) -> RulePack:
    """The built-in rule packs merged with the config's categories.

    A config category named like a built-in one sets its weight and reason, and adds its globs
    (or, with `replace: true`, replaces them). A new name adds a category that takes precedence
    over the built-in ones, so teams can carve out e.g. `payments` from `code`.
    """
    config = config or RiskConfig()
    rules = list(overrides if overrides is not None else config.categories)
    by_name = {rule.name: rule for rule in rules}
    custom: list[Category] = []
    for rule in rules:
        if rule.name in {b.name for b in BUILTIN} or rule.name == CODE.name:
            continue
        custom.append(Category(rule.name, rule.weight if rule.weight is not None else 20.0,
                               rule.reason or f"touches {rule.name}", tuple(rule.any), tuple(rule.all)))
    builtin: list[Category] = []
    code = Category(CODE.name, CODE.weight, CODE.reason)
    for base in (*BUILTIN, CODE):
        override = by_name.get(base.name)
        weight, reason = base.weight, base.reason
        any_globs: tuple[str, ...] = base.globs
        all_globs: tuple[str, ...] = ()
        if override is not None:
            rule = override
            weight = rule.weight if rule.weight is not None else weight
            reason = rule.reason or reason
            any_globs = tuple(rule.any) if rule.replace else (*base.globs, *rule.any)
            all_globs = tuple(rule.all)
        category = Category(base.name, weight, reason, any_globs, all_globs)
        if base.name == CODE.name:
            code = category
        else:
            builtin.append(category)
    ignore = pathspec.GitIgnoreSpec.from_lines(config.ignore) if config.ignore else None
    return RulePack(categories=[*custom, *builtin], ignore=ignore, code=code)
