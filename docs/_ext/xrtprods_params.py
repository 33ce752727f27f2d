# Licensed under a 3-clause BSD style license - see LICENSE
"""
Sphinx directive ``.. xrtprods-params::`` rendering the parameter catalogue as a table.

The tables are built from `xrtprods_astro.params.catalogue_table` at build time,
so the documentation cannot drift from the catalogue::

    .. xrtprods-params:: lightcurve

    .. xrtprods-params:: globals

    .. xrtprods-params:: lightcurve
       :columns: ukssdc, name
       :headers: swifttools (UKSSDC) name, xrtprods_astro name

The argument is any product spelling, ``globals`` (the global parameters, the
shared position parameters excluded) or ``all``.
"""
from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

_DEFAULT_COLUMNS = ("name", "ukssdc", "kind", "unit", "default", "allowed", "doc")
_HEADERS = {"name": "Name", "ukssdc": "UKSSDC name", "wire": "Wire key", "kind": "Kind",
            "unit": "Unit", "default": "Server default", "allowed": "Allowed values",
            "doc": "Meaning", "product": "Product"}
_LITERAL = {"name", "ukssdc", "wire", "product"}


def _table(scope):
    from xrtprods_astro import params as P
    if scope == "all":
        return P.catalogue_table()
    if scope == "globals":
        table = P.catalogue_table()
        shared = {p.name for p in P.PARAMS if p.is_global and p.shared_name}
        keep = [row["product"] == "" and row["name"] not in shared for row in table]
        table = table[keep]
        table.remove_column("product")
        return table
    if scope == "position_shared":
        table = P.catalogue_table("standard_position")
        own = {p.name for p in P.params_for("standard_position") if not p.is_global}
        return table[[row["name"] not in own for row in table]]
    return P.catalogue_table(scope)


def _cell(column, value):
    text = str(value).replace("\n", " ").strip()
    if not text:
        return ""
    if column in _LITERAL:
        return f"``{text}``"
    if column == "allowed":
        return ", ".join(f"``{v.strip()}``" for v in text.split(","))
    if column == "default":
        return f"``{text}``"
    # Plain text: keep rst inline markup characters harmless.
    return text.replace("*", r"\*").replace("`", r"\`").replace("|", r"\|")


class ParamsTable(SphinxDirective):
    """Insert the catalogue table of one product (or the globals) as a list-table."""

    required_arguments = 1
    final_argument_whitespace = False
    option_spec = {"columns": directives.unchanged, "headers": directives.unchanged,
                   "class": directives.class_option}

    def run(self):
        scope = self.arguments[0].strip()
        try:
            table = _table(scope)
        except Exception as exc:  # noqa: BLE001 - a bad argument is a build error, said clearly
            raise self.error(f"xrtprods-params: cannot build the table of {scope!r}: {exc}")
        columns = [c.strip() for c in self.options.get("columns", ",".join(_DEFAULT_COLUMNS)).split(",")]
        for column in columns:
            if column not in table.colnames:
                raise self.error(f"xrtprods-params: unknown column {column!r}; "
                                 f"known: {', '.join(table.colnames)}")
        headers = ([h.strip() for h in self.options["headers"].split(",")] if "headers" in self.options
                   else [_HEADERS[c] for c in columns])
        if len(headers) != len(columns):
            raise self.error("xrtprods-params: give as many headers as columns")
        lines = [".. list-table::", "   :header-rows: 1", "   :class: xrtprods-params", ""]
        lines.append("   * - " + headers[0])
        lines.extend(f"     - {h}" for h in headers[1:])
        for row in table:
            cells = [_cell(c, row[c]) for c in columns]
            lines.append("   * - " + (cells[0] or " "))
            lines.extend(f"     - {c}" if c else "     -" for c in cells[1:])
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=f"<xrtprods-params {scope}>"), self.content_offset,
                                container)
        return container.children


class ConfTable(SphinxDirective):
    """Insert the table of `xrtprods_astro.conf` items (name, default, meaning), read from the package."""

    def run(self):
        from astropy.config import ConfigItem
        from xrtprods_astro import Conf
        lines = [".. list-table::", "   :header-rows: 1", "   :class: xrtprods-conf", "",
                 "   * - Item", "     - Default", "     - Meaning"]
        for name, item in vars(Conf).items():
            if not isinstance(item, ConfigItem):
                continue
            default = repr(item.defaultvalue)
            lines += [f"   * - ``{name}``", f"     - ``{default}``",
                      "     - " + _cell("doc", " ".join(item.description.split()))]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="<xrtprods-conf>"), self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("xrtprods-params", ParamsTable)
    app.add_directive("xrtprods-conf", ConfTable)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
