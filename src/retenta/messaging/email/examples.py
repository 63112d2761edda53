"""A realistic promo email (4 languages, a product loop, prices, unsubscribe link): the
example message used by the tests, the benchmark and demo data."""

from __future__ import annotations

from retenta.messaging.email.render import EmailVersion

PROMO_MJML = """<mjml>
  <mj-head>
    <mj-attributes><mj-all font-family="Arial, sans-serif" /></mj-attributes>
    <mj-style>.price { color: #c00; font-weight: bold; } .muted { color: #888; }</mj-style>
  </mj-head>
  <mj-body background-color="#f4f4f4">
    <mj-section><mj-column>
      <mj-text font-size="20px">
        {{ greeting }}, {{ contact.first_name | default(friend) }}!</mj-text>
      <mj-text>{{ intro }}</mj-text>
    </mj-column></mj-section>
    <mj-raw>{% for p in products %}</mj-raw>
    <mj-section background-color="#ffffff"><mj-column>
      <mj-image src="{{ p.image_url }}" alt="{{ p.name }}" width="200px" />
      <mj-text><a href="{{ p.url }}">{{ p.name }}</a></mj-text>
      <mj-text css-class="price">
        <span class="price">{{ p.price | money(p.currency) }}</span></mj-text>
      <mj-button href="{{ p.url }}">{{ buy }}</mj-button>
    </mj-column></mj-section>
    <mj-raw>{% endfor %}</mj-raw>
    <mj-section><mj-column>
      <mj-text><span class="muted">{{ links.unsubscribe_text | default('') }}
        <a href="{{ links.unsubscribe }}">{{ unsubscribe }}</a></span></mj-text>
    </mj-column></mj-section>
  </mj-body>
</mjml>"""


def promo_version(language: str) -> EmailVersion:
    words = {
        "en": ("Hello", "friend", "New arrivals picked for you", "Buy", "Unsubscribe", "Sale"),
        "uk": ("Привіт", "друже", "Новинки для вас", "Купити", "Відписатися", "Розпродаж"),
        "ru": ("Привет", "друг", "Новинки для вас", "Купить", "Отписаться", "Распродажа"),
        "de": ("Hallo", "Freund", "Neuheiten für Sie", "Kaufen", "Abmelden", "Sale"),
    }[language]
    greeting, friend, intro, buy, unsubscribe, sale = words
    mjml = (
        PROMO_MJML.replace("{{ greeting }}", greeting)
        .replace("default(friend)", f"default('{friend}')")
        .replace("{{ intro }}", intro)
        .replace("{{ buy }}", buy)
        .replace("{{ unsubscribe }}", unsubscribe)
    )
    return EmailVersion(
        subject=f"{sale}: {{{{ contact.first_name | default('{friend}') }}}}, "
        "{{ products | length }} × {{ products[0].price | money(products[0].currency) }}",
        preheader=f"{intro} — {{{{ products[0].name }}}}",
        mjml=mjml,
    )
