"""Email rendering: MJML compiled once, CSS inlined, plain text, preheader, per-contact parts."""

from __future__ import annotations

import pytest

from retenta.messaging.context import ContactVars, ProductVars, RenderContext
from retenta.messaging.email.examples import promo_version
from retenta.messaging.email.render import (
    EmailVersion,
    RenderedEmail,
    compile_email,
)
from retenta.messaging.templates import RenderError

PRODUCTS = (
    ProductVars(
        sku="MUG",
        name="Mug <Classic> & Co",
        price=12.5,
        currency="EUR",
        url="https://shop.example/p/mug?a=1&b=2",
        image_url="https://cdn.example/mug.png",
    ),
    ProductVars(
        sku="TEE", name="T-shirt", price=1999, currency="UAH", url="https://shop.example/p/tee"
    ),
)


def variables(language: str | None, first_name: str | None = "Ann") -> dict[str, object]:
    contact = ContactVars(contact_id=1, first_name=first_name, language=language)
    ctx = RenderContext(
        contact=contact,
        locale=language or "en",
        products=PRODUCTS,
        links={"unsubscribe": "https://t.example/u/abc"},
    )
    return ctx.variables()


@pytest.fixture(scope="module")
def promo():  # type: ignore[no-untyped-def]
    versions = {lang: promo_version(lang) for lang in ("en", "uk", "de")}
    return compile_email("promo", versions, default_language="en")


def rendered(result: RenderedEmail | RenderError) -> RenderedEmail:
    assert isinstance(result, RenderedEmail), result
    return result


def test_html_is_mjml_compiled_with_css_inlined_and_values_escaped(promo) -> None:  # type: ignore[no-untyped-def]
    email = rendered(promo.render(variables("en")))
    assert email.html.lower().startswith('<!doctype html><html lang="en"')
    assert "<mj-" not in email.html
    # the mj-style class was inlined into the element that uses it
    assert '<span class="price" style="color: #c00;font-weight: bold;">€12.50' in email.html
    assert "Mug &lt;Classic&gt; &amp; Co" in email.html
    assert 'href="https://shop.example/p/mug?a=1&amp;b=2"' in email.html
    assert "€12.50" in email.html
    assert email.html.count('alt="') == 2  # the loop ran once per product


def test_plain_text_part_is_derived_from_the_html(promo) -> None:  # type: ignore[no-untyped-def]
    email = rendered(promo.render(variables("en")))
    text = email.text
    assert text.startswith("Hello, Ann!")
    assert "Mug <Classic> & Co (https://shop.example/p/mug?a=1&b=2)" in text
    assert "€12.50" in text
    assert "UAH1,999.00" in text
    assert "Unsubscribe (https://t.example/u/abc)" in text
    assert "<" not in text.replace("<Classic>", "")
    assert "color" not in text  # no CSS
    assert "New arrivals picked for you — Mug" not in text  # the hidden preheader is not text


def test_preheader_and_personalized_subject(promo) -> None:  # type: ignore[no-untyped-def]
    email = rendered(promo.render(variables("en")))
    assert email.subject == "Sale: Ann, 2 × €12.50"
    assert email.preheader == "New arrivals picked for you — Mug <Classic> & Co"
    # MJML puts the preheader hidden at the top of the body
    body = email.html.split("<body", 1)[1]
    assert body.index("New arrivals picked for you — Mug &lt;Classic&gt;") < body.index("Hello")
    anonymous = rendered(promo.render(variables("en", first_name=None)))
    assert anonymous.subject == "Sale: friend, 2 × €12.50"


@pytest.mark.parametrize(
    ("language", "greeting", "price"),
    [
        ("uk", "Привіт, Ann!", "12,50\xa0EUR"),
        ("uk-UA", "Привіт, Ann!", "12,50\xa0EUR"),
        ("de-AT", "Hallo, Ann!", "€\xa012,50"),  # Austrian German puts € first
        ("fr", "Hello, Ann!", "12,50\xa0€"),  # English text, the contact's own locale
        (None, "Hello, Ann!", "€12.50"),
    ],
)
def test_contact_language_picks_the_version(promo, language, greeting, price) -> None:  # type: ignore[no-untyped-def]
    email = rendered(promo.render(variables(language)))
    assert email.text.startswith(greeting)
    assert price in email.text


def test_browser_language_then_workspace_default(promo) -> None:  # type: ignore[no-untyped-def]
    by_browser = rendered(promo.render(variables(None), browser_languages=["fr", "de-DE"]))
    assert by_browser.language == "de"
    by_workspace = rendered(promo.render(variables("pl"), workspace_default="uk"))
    assert by_workspace.language == "uk"


def test_subject_cannot_inject_headers() -> None:
    email = compile_email("x", {"en": EmailVersion(subject="{{ s }}", mjml="<mjml></mjml>")})
    result = rendered(email.render({"s": "Hi\r\nBcc: victim@example.com"}))
    assert result.subject == "Hi Bcc: victim@example.com"


def test_a_failing_contact_gets_a_reason_naming_part_and_line() -> None:
    version = EmailVersion(
        subject="ok",
        mjml="<mjml><mj-body><mj-section><mj-column>\n<mj-text>{{ 10 / n }}</mj-text>"
        "</mj-column></mj-section></mj-body></mjml>",
    )
    email = compile_email("order", {"en": version})
    assert isinstance(email.render({"n": 2}), RenderedEmail)
    failure = email.render({"n": 0})
    assert isinstance(failure, RenderError)
    assert failure.template == "order[en].html"
    assert failure.reason == "ZeroDivisionError: division by zero"
    assert failure.line is not None


def test_broken_templates_fail_at_compile_naming_the_version() -> None:
    with pytest.raises(RenderError) as info:
        compile_email("m", {"de": EmailVersion(subject="{{ oops", mjml="<mjml></mjml>")})
    assert info.value.template == "m[de].subject"
    with pytest.raises(RenderError) as info:
        compile_email("m", {"en": EmailVersion(subject="s", mjml="<mjml><mj-body><mj-sect")})
    assert info.value.template == "m[en].mjml"
    assert "invalid MJML" in info.value.reason


def test_literal_braces_in_css_and_text_survive() -> None:
    mjml = (
        "<mjml><mj-head><mj-style>.a{color:red}</mj-style></mj-head><mj-body><mj-section>"
        "<mj-column><mj-text>&#123;&#123; not jinja }} {{ v }}</mj-text></mj-column>"
        "</mj-section></mj-body></mjml>"
    )
    email = rendered(compile_email("b", {"en": EmailVersion("s", mjml)}).render({"v": 1}))
    assert "{{ not jinja }} 1" in email.text
