"""Departments (承办单位) and the category catalogue, from ``config/catalogue.yaml``.

Both are trees. A category names the departments that usually handle it; the
suggestion for a new ticket is 属地优先: among those departments and their
sub-units, the ones serving the ticket's district come first. The catalogue
is validated here once, then kept in step with the database, where a code
that leaves the file is marked inactive (old tickets still point at it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.db.models import Category, Department
from callcenter.errors import ConfigError
from callcenter.yamlfile import YamlDocument, load_yaml, validate_document

CODE = r"^[A-Za-z0-9_.-]{1,32}$"


class DepartmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1, max_length=128)
    districts: list[str] = Field(default_factory=list)
    units: list[DepartmentIn] = Field(default_factory=list)  # sub-units, e.g. district bureaus


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1, max_length=128)
    departments: list[str] = Field(default_factory=list)
    children: list[CategoryIn] = Field(default_factory=list)


class CatalogueIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    departments: list[DepartmentIn] = Field(default_factory=list)
    categories: list[CategoryIn] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DepartmentNode:
    code: str
    name: str
    parent: str | None
    districts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CategoryNode:
    code: str
    name: str
    parent: str | None
    departments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Suggestion:
    lead: str | None  # 主办
    co_handlers: tuple[str, ...]  # 协办 candidates
    why: str


class Catalogue:
    def __init__(self, departments: list[DepartmentNode], categories: list[CategoryNode]) -> None:
        self.departments = {d.code: d for d in departments}
        self.categories = {c.code: c for c in categories}

    def units(self, code: str) -> Iterator[DepartmentNode]:
        """``code`` and every unit under it, parents first."""
        yield self.departments[code]
        for d in self.departments.values():
            if d.parent == code:
                yield from self.units(d.code)

    def category_and_below(self, code: str) -> list[str]:
        """``code`` and every category under it (a search by 城乡建设 finds 供水)."""
        found = [code]
        for c in self.categories.values():
            if c.parent == code:
                found += self.category_and_below(c.code)
        return found

    def handlers(self, category: str) -> tuple[str, ...]:
        """The category's departments, inherited from the nearest parent that names some."""
        node = self.categories.get(category)
        while node is not None:
            if node.departments:
                return node.departments
            node = self.categories.get(node.parent) if node.parent else None
        return ()

    def suggest(self, category: str | None, district: str) -> Suggestion:
        """属地优先: a unit of a handling department serving ``district`` leads."""
        handlers = self.handlers(category) if category else ()
        # The district's own government first, then units serving it.
        local = sorted(
            (d for d in self.departments.values() if district and district in d.districts),
            key=lambda d: d.parent is not None,
        )
        if not handlers:
            if local:
                return Suggestion(local[0].code, (), f"serves {district}; no category handler")
            return Suggestion(None, (), "no handling department known: the agent chooses")
        ranked: list[str] = []
        for code in handlers:
            units = list(self.units(code))
            serving = [u.code for u in units if district and district in u.districts]
            ranked += serving or [code]
        lead, *co = dict.fromkeys(ranked)
        if district in self.departments[lead].districts:
            return Suggestion(lead, tuple(co), f"handles {category} in {district}")
        # A city department leads; the district's government co-handles on the spot.
        co += [d.code for d in local if d.parent is None and d.code not in co]
        return Suggestion(lead, tuple(co), f"handles {category}")


def _flatten_departments(
    items: list[DepartmentIn], parent: str | None, path: tuple[int | str, ...]
) -> Iterator[tuple[DepartmentNode, tuple[int | str, ...]]]:
    for i, d in enumerate(items):
        here = (*path, i)
        yield DepartmentNode(d.code, d.name, parent, tuple(d.districts)), here
        yield from _flatten_departments(d.units, d.code, (*here, "units"))


def _flatten_categories(
    items: list[CategoryIn], parent: str | None, path: tuple[int | str, ...]
) -> Iterator[tuple[CategoryNode, tuple[int | str, ...]]]:
    for i, c in enumerate(items):
        here = (*path, i)
        yield CategoryNode(c.code, c.name, parent, tuple(c.departments)), here
        yield from _flatten_categories(c.children, c.code, (*here, "children"))


def _where(doc: YamlDocument, loc: tuple[int | str, ...]) -> str:
    line, column = doc.locate(loc)
    return f"{doc.path}:{line}:{column}: {'.'.join(map(str, loc))}"


def load_catalogue(path: Path) -> Catalogue:
    """Read and check the catalogue; ConfigError names file, line and field."""
    if not path.exists():
        return Catalogue([], [])
    doc = load_yaml(path)
    parsed = validate_document(doc, CatalogueIn, doc.data or {})
    departments = list(_flatten_departments(parsed.departments, None, ("departments",)))
    categories = list(_flatten_categories(parsed.categories, None, ("categories",)))
    problems: list[str] = []
    seen: set[str] = set()
    nodes: list[tuple[DepartmentNode | CategoryNode, tuple[int | str, ...]]] = [
        *departments,
        *categories,
    ]
    for node, loc in nodes:
        kind = "department" if isinstance(node, DepartmentNode) else "category"
        key = f"{kind}:{node.code}"
        if key in seen:
            problems.append(f"{_where(doc, (*loc, 'code'))}: {kind} code {node.code!r} twice")
        seen.add(key)
    known = {d.code for d, _ in departments}
    for node, loc in categories:
        for i, code in enumerate(node.departments):
            if code not in known:
                problems.append(
                    f"{_where(doc, (*loc, 'departments', i))}: no department {code!r} "
                    f"(known: {', '.join(sorted(known)) or 'none'})"
                )
    if problems:
        raise ConfigError("\n".join(problems))
    return Catalogue([d for d, _ in departments], [c for c, _ in categories])


async def sync_catalogue(sessions: async_sessionmaker[AsyncSession], catalogue: Catalogue) -> None:
    """Make the database's departments and categories those of the file."""
    async with sessions.begin() as session:
        await _upsert(
            session,
            Department,
            [
                {
                    "code": d.code,
                    "name": d.name,
                    "parent_code": d.parent,
                    "districts": list(d.districts),
                    "active": True,
                }
                for d in catalogue.departments.values()
            ],
        )
        await _upsert(
            session,
            Category,
            [
                {
                    "code": c.code,
                    "name": c.name,
                    "parent_code": c.parent,
                    "departments": list(c.departments),
                    "active": True,
                }
                for c in catalogue.categories.values()
            ],
        )
        for model, codes in ((Department, catalogue.departments), (Category, catalogue.categories)):
            await session.execute(
                update(model).where(model.code.not_in(list(codes))).values(active=False)
            )


async def _upsert(session: AsyncSession, model: type, rows: list[dict[str, object]]) -> None:
    # Parents first (the file order is a tree walk), so foreign keys hold row by row.
    for row in rows:
        statement = insert(model).values(**row)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["code"],
                set_={k: statement.excluded[k] for k in row if k != "code"},
            )
        )
