"""Templates: the sandbox holds against the classic escapes, locale filters, per-send failures."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from retenta.messaging.context import (
    CartVars,
    ContactVars,
    EventVars,
    LineItemVars,
    OrderVars,
    ProductVars,
    RenderContext,
)
from retenta.messaging.templates import RenderError, compile_template, render_many


def render(source: str, **variables: object) -> str:
    return compile_template(source, name="t").render(variables)


def render_error(source: str, **variables: object) -> RenderError:
    with pytest.raises(RenderError) as info:
        render(source, **variables)
    return info.value


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{{ self._TemplateReference__context }}",
        "{{ self.__init__.__globals__ }}",
        "{{ x.__class__.__base__ }}",
        "{{ '{0.__class__}'.format(x) }}",
        "{{ '{0.__class__.__mro__}'.format('') }}",
        "{{ ''.format_map }}{{ '{x.__init__}'.format_map({'x': x}) }}",
        "{{ (1).__add__(1) }}",
        "{{ x|attr('__class__') }}",
        "{{ namespace.__init__ }}",
        "{% set l = [1] %}{{ l.append(2) }}",
        "{% set d = {} %}{{ d.update({'a': 1}) }}",
    ],
)
def test_classic_sandbox_escapes_fail(payload: str) -> None:
    err = render_error(payload, x="a")
    assert err.template == "t"
    assert err.line == 1
    assert "not allowed" in err.reason or "undefined" in err.reason


@pytest.mark.parametrize(
    "name",
    [
        "request",
        "config",
        "settings",
        "os",
        "environ",
        "__builtins__",
        "lipsum.__globals__",
        "url_for.__globals__",
        "get_flashed_messages.__globals__",
    ],
)
def test_names_not_given_to_the_template_render_empty(name: str) -> None:
    assert render("[{{ " + name + " }}]") == "[]"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("{% for i in range(10**9) %}x{% endfor %}", "range of 1000000000 items"),
        (
            "{% for i in range(9000) %}{% for j in range(9000) %}{% endfor %}{% endfor %}",
            "exceeds the limit",
        ),
        ("{{ 'a' * 10**9 }}", "repetition"),
        ("{{ [1] * 10**9 }}", "repetition"),
        ("{{ 2 ** 1000000 }}", "power"),
        ("{{ '%999999999d' % 1 }}", "format width"),
        ("{{ '%*d' % (999999999, 1) }}", "'*' widths"),
        ("{{ '%999999999d' | format(1) }}", "format width"),
        ("{{ '{:>999999999}'.format(1) }}", "format width"),
        ("{{ x | center(999999999) }}", "format width"),
        ("{{ x | indent(999999999) }}", "format width"),
        ("{% for i in range(10000) %}{{ 'a' * 1000 }}{% endfor %}", "output exceeds"),
    ],
)
def test_denial_of_service_is_bounded(payload: str, reason: str) -> None:
    assert reason in render_error(payload, x="a").reason


def test_ordinary_loops_and_formatting_still_work() -> None:
    out = render(
        "{% for i in range(3) %}{{ i }}{% endfor %} "
        "{{ '%05.1f' % 3.14159 }} {{ '{}-{}'.format(1, 2) }}"
    )
    assert out == "012 003.1 1-2"


def test_autoescape_in_html_not_in_text() -> None:
    assert render("{{ name }}", name="<b>Ann & Co</b>") == "&lt;b&gt;Ann &amp; Co&lt;/b&gt;"
    text = compile_template("{{ name }}", name="s", html=False)
    assert text.render({"name": "<b>Ann & Co</b>"}) == "<b>Ann & Co</b>"


def test_default_covers_missing_and_none_values() -> None:
    src = "Hi {{ contact.first_name | default('friend') }}, {{ contact.attributes.city.name }}!"
    assert render(src, contact={"first_name": None, "attributes": {}}) == "Hi friend, !"
    assert render(src, contact={"first_name": "Ann", "attributes": {}}) == "Hi Ann, !"
    assert render("{{ order.total | default(0) }}", order=None) == "0"
    assert render("{{ x | default('-', true) }}", x="") == "-"


LOCALE_SOURCE = (
    "{{ 1234.5 | money('EUR') }}|{{ 1234567.891 | number }}|{{ 1234.5 | number(2) }}|"
    "{{ 0.15 | percent }}|{{ at | date('long') }}|{{ at | datetime('short') }}"
)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "en",
            "€1,234.50|1,234,567.891|1,234.50|15%|November 29, 2026|11/29/26, 1:30\u202fAM",
        ),
        (
            "de",
            "1.234,50\xa0€|1.234.567,891|1.234,50|15\xa0%|29. November 2026|29.11.26, 01:30",
        ),
        (
            "ru",
            "1\xa0234,50\xa0€|1\xa0234\xa0567,891|1\xa0234,50|15\xa0%|29 ноября 2026\u202fг.|"
            "29.11.2026, 01:30",
        ),
        (
            "uk",
            "1\xa0234,50\xa0EUR|1\xa0234\xa0567,891|1\xa0234,50|15%|29 листопада 2026\u202fр.|"
            "29.11.26, 01:30",
        ),
    ],
)
def test_locale_filters(locale: str, expected: str) -> None:
    at = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)  # 01:30 next day in Kyiv
    assert render(LOCALE_SOURCE, locale=locale, timezone="Europe/Kyiv", at=at) == expected


def test_money_in_the_currencies_of_the_region() -> None:
    src = "{{ 1999 | money('UAH') }}|{{ 1999 | money('RUB') }}"
    assert render(src, locale="uk") == "1\xa0999,00\xa0₴|1\xa0999,00\xa0RUB"
    assert render(src, locale="ru") == "1\xa0999,00\xa0₴|1\xa0999,00\xa0₽"


def test_filters_on_missing_values_render_empty() -> None:
    assert render("[{{ x | money('EUR') }}{{ x | number }}{{ x | date }}]", locale="de") == "[]"


def test_typed_context_gives_contact_event_order_cart_and_catalog() -> None:
    ctx = RenderContext(
        contact=ContactVars(contact_id=7, first_name="Олена", attributes={"tier": "gold"}),
        locale="uk",
        event=EventVars(name="Product Viewed", properties={"sku": "MUG"}),
        order=OrderVars(
            order_id="A-1",
            total=Decimal("1250.00"),
            currency="UAH",
            items=(LineItemVars(sku="MUG", name="Горнятко", quantity=2, price=625),),
        ),
        cart=CartVars(total=99, currency="UAH", url="https://shop.example/cart"),
        catalog={"MUG": ProductVars(sku="MUG", name="Горнятко", price=625, currency="UAH")},
    )
    src = (
        "{{ contact.first_name }} ({{ contact.attributes.tier }}) "
        "{{ catalog[event.properties.sku].name }}: "
        "{% for item in order['items'] %}"
        "{{ item.quantity }}×{{ item.price | money(order.currency) }}"
        "{% endfor %} = {{ order.total | money(order.currency) }}; "
        "{{ cart.url }}"
    )
    assert render(src, **ctx.variables()) == (
        "Олена (gold) Горнятко: 2×625,00\xa0₴ = 1\xa0250,00\xa0₴; https://shop.example/cart"
    )


def test_context_values_are_read_only() -> None:
    ctx = RenderContext(contact=ContactVars(contact_id=1, attributes={"a": 1}))
    err = render_error("{{ contact.attributes.update({'a': 2}) }}", **ctx.variables())
    assert "not allowed" in err.reason


def test_one_failing_contact_fails_only_its_send() -> None:
    t = compile_template("Total: {{ 100 / order.count }}", name="promo.subject")
    results = render_many(
        t, [{"order": {"count": 4}}, {"order": {"count": 0}}, {"order": {"count": 5}}]
    )
    assert results[0] == "Total: 25.0"
    assert results[2] == "Total: 20.0"
    failure = results[1]
    assert isinstance(failure, RenderError)
    assert failure.as_dict() == {
        "template": "promo.subject",
        "line": 1,
        "reason": "ZeroDivisionError: division by zero",
    }


def test_errors_name_the_line() -> None:
    err = render_error("line one\nline two\n{{ 1 / x }}", x=0)
    assert err.line == 3
    with pytest.raises(RenderError) as info:
        compile_template("ok\n{% for x in y %}\nno end", name="body.html")
    assert info.value.template == "body.html"
    assert info.value.line == 3
    assert "endfor" in info.value.reason
