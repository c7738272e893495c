"""Rule packs: which paths belong to which risk category, as data.

Globs are gitignore-style (pathspec): a pattern without a slash matches a file or folder name at
any depth, so `*stripe*` catches `shop/integrations/stripe/webhooks.py`. A file belongs to every
category it matches, except that tests and docs are exclusive: a test of a migration is a test.
"""

from __future__ import annotations

import re
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
    _any_match: GlobMatcher | None = field(default=None, repr=False)
    _all_matches: tuple[GlobMatcher, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        self._any_match = compile_globs(self.any) if self.any else None
        self._all_matches = tuple(compile_globs([g]) for g in self.all)

    def matches(self, path: str, parts: Sequence[str] | None = None) -> bool:
        """Labeler-style: at least one `any` glob (when there are any) and every `all` glob."""
        if self._any_match is None and not self._all_matches:
            return False
        parts = path.split("/") if parts is None else parts
        if self._any_match is not None and not self._any_match.match_parts(path, parts):
            return False
        return all(match.match_parts(path, parts) for match in self._all_matches)


_ANY_DEPTH = "^(?:.+/)?"  # how pathspec starts a pattern that may match at any depth
_NAME_END = "(?:(?P<ps_d>/)|$)"  # ... and ends one that names a file or a folder
_DIR_ENDS = ("(?P<ps_d>/)", "/")  # ... and one that names only a folder (`name/`, `**/name/**`)


class GlobMatcher:
    """Gitignore-style globs, matched fast over thousands of paths.

    pathspec evaluates a path against every pattern in a Python loop, which dominated `risk` over a
    2,000-commit range. Without negations, the patterns that name one path component (`*stripe*`,
    `Dockerfile`, `**/tests/**`) are answered per component from a cache (folder names repeat), and
    the rest are one combined regex. With a negation (`!x`) pathspec's own last-match-wins applies.
    Same answers as pathspec.GitIgnoreSpec.match_file (tests/test_risk_rules.py compares them).
    """

    def __init__(self, globs: Sequence[str]) -> None:
        self.spec = pathspec.GitIgnoreSpec.from_lines(globs)
        patterns = [p for p in self.spec.patterns if p.include is not None]
        regexes: list[re.Pattern[str]] = [
            r for p in patterns if p.include and isinstance(r := getattr(p, "regex", None), re.Pattern)]
        self.exact = len(regexes) != len(patterns) or any(r.flags & ~re.UNICODE for r in regexes)
        names: list[str] = []
        folders: list[str] = []
        paths: list[str] = []
        for regex in regexes:
            text = regex.pattern
            body = text[len(_ANY_DEPTH):] if text.startswith(_ANY_DEPTH) else None
            if body is not None and body.endswith(_NAME_END) and _one_component(body[:-len(_NAME_END)]):
                names.append(body[:-len(_NAME_END)])
                continue
            folder = next((body[:-len(end)] for end in _DIR_ENDS if body is not None and body.endswith(end)), None)
            if folder is not None and _one_component(folder):
                folders.append(folder)
                continue
            paths.append(text.replace("(?P<ps_d>", "(?:"))
        self._name = _alternation(names)
        self._folder = _alternation(folders)
        self._path = _alternation(paths)
        self._components: dict[str, tuple[bool, bool]] = {}

    def __call__(self, path: str) -> bool:
        return self.match_parts(path, path.split("/"))

    def component_hits(self, part: str) -> tuple[bool, bool]:
        """(a pattern names this file or folder, a folder-only pattern names it), cached."""
        hit = self._components.get(part)
        if hit is None:
            hit = self._components[part] = (
                self._name is not None and self._name.fullmatch(part) is not None,
                self._folder is not None and self._folder.fullmatch(part) is not None,
            )
        return hit

    def path_hit(self, path: str) -> bool:
        return self._path is not None and self._path.search(path) is not None

    def match_parts(self, path: str, parts: Sequence[str]) -> bool:
        if self.exact:
            return bool(self.spec.match_file(path))
        last = len(parts) - 1
        for index, part in enumerate(parts):
            name, folder = self.component_hits(part)
            if name or (folder and index < last):
                return True
        return self.path_hit(path)


def _one_component(regex: str) -> bool:
    """True when `regex` (from pathspec) cannot match a slash, so it matches within one component."""
    return "/" not in regex.replace("[^/]", "") and "." not in regex.replace("\\.", "").replace("[^/]", "")


def _alternation(regexes: Sequence[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{r})" for r in regexes)) if regexes else None


def compile_globs(globs: Sequence[str]) -> GlobMatcher:
    """A matcher for gitignore-style `globs` (see GlobMatcher)."""
    return GlobMatcher(globs)


@dataclass
class RulePack:
    """Categories in precedence order (user-defined first), plus the fallback `code`."""

    categories: list[Category]
    ignore: pathspec.GitIgnoreSpec | None = None
    code: Category = field(default_factory=lambda: Category(CODE.name, CODE.weight, CODE.reason))

    def __post_init__(self) -> None:
        # Categories whose matching splits into per-folder, per-file-name and whole-path parts get
        # one bit each; a path's bits come from caches keyed by its folder and its file name.
        self._simple: list[tuple[int, GlobMatcher]] = []
        for index, category in enumerate(self.categories):
            matcher = category._any_match
            if matcher is not None and not matcher.exact and not category._all_matches:
                self._simple.append((1 << index, matcher))
        self._with_path = [(bit, m) for bit, m in self._simple if m._path is not None]
        self._any_path = _alternation([m._path.pattern for _, m in self._simple if m._path is not None])
        self._simple_bits = sum(bit for bit, _ in self._simple)
        # Most names (f00042.py, models.py) match no category: one regex says so for all of them.
        self._any_name = _alternation([m._name.pattern for _, m in self._simple if m._name is not None])
        self._any_component = _alternation([r.pattern for _, m in self._simple
                                            for r in (m._name, m._folder) if r is not None])
        self._folder_bits: dict[str, int] = {}
        self._name_bits: dict[str, int] = {}
        self._classified: dict[str, list[Category]] = {}

    def _bits(self, path: str) -> int:
        folder, _, name = path.rpartition("/")
        bits = self._folder_bits.get(folder)
        if bits is None:
            bits = 0
            for part in folder.split("/") if folder else ():
                if self._any_component is None or self._any_component.fullmatch(part) is None:
                    continue
                for bit, matcher in self._simple:
                    if any(matcher.component_hits(part)):
                        bits |= bit
            self._folder_bits[folder] = bits
        name_bits = self._name_bits.get(name)
        if name_bits is None:
            name_bits = 0
            for bit, matcher in self._simple if self._any_name and self._any_name.fullmatch(name) else ():
                if matcher.component_hits(name)[0]:
                    name_bits |= bit
            self._name_bits[name] = name_bits
        bits |= name_bits
        if self._any_path is None or self._any_path.search(path) is None:
            return bits  # no whole-path glob of any category matches: skip asking each one
        for bit, matcher in self._with_path:
            if not bits & bit and matcher.path_hit(path):
                bits |= bit
        return bits

    def classify(self, path: str) -> list[Category]:
        """Every category of `path`, highest weight first; tests and docs are exclusive."""
        cached = self._classified.get(path)
        if cached is not None:
            return list(cached)
        bits = self._bits(path)
        found: list[Category] = []
        parts = path.split("/")
        result: list[Category] | None = None
        for index, category in enumerate(self.categories):
            bit = 1 << index
            if (bits & bit) if self._simple_bits & bit else category.matches(path, parts):
                if category.name in EXCLUSIVE:
                    result = [category]
                    break
                found.append(category)
        if result is None:
            result = sorted(found, key=lambda c: -c.weight) if found else [self.code]
        self._classified[path] = result
        return list(result)

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
